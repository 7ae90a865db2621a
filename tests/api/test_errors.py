"""Every error path answers an RFC 9457 problem (4xx for bad input), never a bare 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.factories import assert_problem


def test_unknown_platform_in_path_is_404_listing_platforms(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/translate/shopify/paid"), 404)
    assert body["type"] == "/problems/unknown-platform"
    assert body["parameter"] == "platform"
    assert body["valid"] == ["cloudcart", "courier", "cscart", "kak2c", "measoft"]
    assert "shopify" in body["detail"]
    assert body["instance"] == "/v1/translate/shopify/paid"


def test_unknown_platform_in_body_is_422_with_pointer(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/translate", json={"platform": "x", "status": "P"}), 422)
    assert (body["type"], body["pointer"]) == ("/problems/unknown-platform", "#/platform")


def test_unknown_code_lists_valid_codes(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/translate/kak2c/FLYING"), 422)
    assert body["type"] == "/problems/unknown-status-code"
    assert body["parameter"] == "code"
    assert "ORDER_INFO_DRAFT" in body["valid"]
    assert "lenient" in body["detail"]


def test_unknown_target_platform(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/translate/cscart/P?target=nowhere"), 404)
    assert body["parameter"] == "target"
    post = assert_problem(
        client.post("/v1/translate", json={"platform": "cscart", "status": "P", "target": "x"}), 422
    )
    assert post["pointer"] == "#/target"


@pytest.mark.parametrize(
    "url",
    [
        "/v1/translate/cscart/P?lang=de",
        "/v1/statuses?lang=xx",
        "/v1/platforms/cscart/statuses?lang=english",
    ],
)
def test_unsupported_lang_is_422_listing_languages(client: TestClient, url: str) -> None:
    body = assert_problem(client.get(url), 422)
    assert body["type"] == "/problems/unsupported-language"
    assert body["valid"] == ["ru", "en", "fr", "el"]
    assert body["parameter"] == "lang"


def test_unsupported_lang_in_body(client: TestClient) -> None:
    body = assert_problem(
        client.post("/v1/translate", json={"platform": "cscart", "status": "P", "lang": "de"}), 422
    )
    assert body["pointer"] == "#/lang"
    batch = assert_problem(
        client.post("/v1/translate/batch", json={"items": [], "lang": "de"}), 422
    )
    assert batch["pointer"] == "#/lang"


def test_unknown_variant(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/translate/kak2c/PACKED?variant=express"), 422)
    assert (body["type"], body["parameter"], body["valid"]) == (
        "/problems/unknown-variant",
        "variant",
        ["fbo"],
    )


@pytest.mark.parametrize("part", ["payment", "fulfillment"])
def test_a_status_part_on_a_single_part_platform(client: TestClient, part: str) -> None:
    body = assert_problem(client.get(f"/v1/translate/cscart/P?{part}=paid"), 422)
    assert (body["type"], body["parameter"]) == ("/problems/invalid-status", part)
    posted = assert_problem(
        client.post(
            "/v1/translate", json={"platform": "cscart", "status": {"order": "P", part: "x"}}
        ),
        422,
    )
    assert posted["pointer"] == f"#/status/{part}"


@pytest.mark.parametrize("path", ["/v1/translate", "/v1/translate/batch"])
def test_malformed_json_is_400(client: TestClient, path: str) -> None:
    response = client.post(
        path, content=b'{"platform": ', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["type"] == "/problems/malformed-json"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"platform=cscart&status=P", "application/x-www-form-urlencoded"),
        (b'{"platform": "cscart", "status": "P"}', "text/plain"),
    ],
)
def test_a_body_that_is_not_json_is_415(
    client: TestClient, content: bytes, content_type: str
) -> None:
    response = client.post("/v1/translate", content=content, headers={"content-type": content_type})
    assert assert_problem(response, 415)["type"] == "/problems/unsupported-media-type"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"platform": "cscart"}, "#/status"),
        ({"platform": "cscart", "status": "P", "extra": 1}, "#/extra"),
        ({"platform": "cscart", "status": 5}, "#/status"),
        ({"platform": "cscart", "status": "P" * 200}, "#/status"),
        ({"platform": "cscart", "status": "P", "lenient": "maybe"}, "#/lenient"),
        ([1, 2], "#"),
        ({"items": "all"}, "#/items"),
    ],
)
def test_invalid_fields_are_422_with_pointer(client: TestClient, body: Any, pointer: str) -> None:
    path = "/v1/translate/batch" if isinstance(body, dict) and "items" in body else "/v1/translate"
    problem = assert_problem(client.post(path, json=body), 422)
    assert problem["type"] == "/problems/validation-error"
    pointers = [e.get("pointer") for e in problem["errors"]]
    assert any(p == pointer or (p or "").startswith(pointer) for p in pointers), pointers
    assert all(e["detail"] for e in problem["errors"])


def test_invalid_query_parameter_names_it(client: TestClient) -> None:
    problem = assert_problem(client.get("/v1/translate/cscart/P?lenient=perhaps"), 422)
    assert problem["errors"][0]["parameter"] == "lenient"
    long = assert_problem(client.get("/v1/translate/cscart/" + "P" * 200), 422)
    assert long["errors"][0]["parameter"] == "code"


def test_unknown_route_is_404_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/v2/nothing"), 404)
    assert (body["type"], body["title"]) == ("about:blank", "Not Found")


def test_wrong_method_is_405_problem_with_allow(client: TestClient) -> None:
    response = client.delete("/v1/translate/cscart/P")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


def _client_with(**overrides: Any) -> TestClient:
    settings = Settings(_env_file=None, **overrides)
    return TestClient(create_app(settings, Runtime.load(settings)))


def test_body_over_the_limit_is_413() -> None:
    with _client_with(max_body_bytes=2048) as small:
        items = [{"platform": "cscart", "status": "P"}] * 200
        body = assert_problem(small.post("/v1/translate/batch", json={"items": items}), 413)
        assert body["title"] == "Content Too Large"
        chunks = iter([b'{"items": [', b'{"platform": "cscart", "status": "P"},' * 100, b"]}"])
        streamed = small.post(
            "/v1/translate/batch", content=chunks, headers={"content-type": "application/json"}
        )
        assert assert_problem(streamed, 413)["detail"] == body["detail"]


def test_batch_over_the_item_limit_is_422() -> None:
    with _client_with(batch_max_items=3) as small:
        items = [{"platform": "cscart", "status": "P"}] * 4
        body = assert_problem(small.post("/v1/translate/batch", json={"items": items}), 422)
        [error] = body["errors"]  # the same validation problem as POST /v1/events/batch's
        assert error["pointer"] == "#/items"
        assert "at most 3 items per call (got 4)" in error["detail"]
        ok = small.post("/v1/translate/batch", json={"items": items[:3]})
        assert ok.status_code == 200


def test_unexpected_error_is_500_without_internals(app: FastAPI) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom", headers={"X-Request-Id": "req-42"})
        body = assert_problem(response, 500)
    assert set(body) == {"type", "title", "status", "instance", "request_id"}
    assert (body["instance"], body["request_id"]) == ("/boom", "req-42")
    assert response.headers["x-request-id"] == "req-42"  # the access log line's id
    assert "secret" not in str(body)


def test_problem_types_are_documented(client: TestClient) -> None:
    page = client.get("/problems/unknown-status-code")
    assert page.status_code == 200
    assert "unknown-status-code" in page.text
    assert_problem(client.get("/problems/no-such-problem"), 404)
