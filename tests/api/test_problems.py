"""Problem documents at the edges of the API: requests no route takes, bodies that cannot be read
as JSON, list limits and non-finite numbers. Every answer is a full RFC 9457 document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway import openapi
from gateway.settings import Settings
from tests.factories import Tenant, assert_problem, at, event

MALFORMED_JSON = "/problems/malformed-json"
VALIDATION_ERROR = "/problems/validation-error"


def _json_body_operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation that declares a JSON request body."""
    return sorted(
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if "application/json" in (op.get("requestBody") or {}).get("content", {})
    )


# The committed contract (kept equal to the app's by tests/api/test_openapi.py, and to the live
# routes by test_every_json_body_route_is_covered below), read at collection to parametrize.
JSON_BODY_OPERATIONS = _json_body_operations(
    json.loads(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))
)

# A value for each path parameter that gets a request as far as reading its body.
PATH_VALUES = {
    "platform": "cscart",
    "code": "P",
    "endpoint_id": "wh_missing",
    "order_id": "R-1",
    "shipment_id": "shp_missing",
    "step": "packed",
}


def _fill(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a parameter of {path}"
    return path


# ---- requests no route takes: 404 and 405 say what was wrong ----


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("PUT", "/v1/webhooks", ["GET", "POST"]),
        ("DELETE", "/v1/translate/cscart/P", ["GET"]),
        ("GET", "/v1/translate", ["POST"]),
        ("DELETE", "/v1/events", ["POST"]),
    ],
)
def test_a_method_no_route_takes_is_405_naming_the_allowed_ones(
    client: TestClient, tenant: Tenant, method: str, url: str, allowed: list[str]
) -> None:
    response = client.request(method, url, headers=tenant.headers)
    body = assert_problem(response, 405)
    assert (body["type"], body["title"], body["instance"]) == (
        "about:blank",
        "Method Not Allowed",
        url,
    )
    assert response.headers["allow"] == ", ".join(allowed)
    assert body["detail"] == f"{method} is not allowed on {url}; allowed: {', '.join(allowed)}"


@pytest.mark.parametrize(
    ("method", "url", "hint"),
    [
        ("GET", "/v1/nonexistent", None),
        ("GET", "/v2/nothing", None),
        ("GET", "/v1/public/orders/", None),
        ("GET", "/v1/webhooks/a%2Fb", "%2F"),
        ("GET", "/v1/webhooks/a%2Fb/deliveries", "%2F"),
        ("POST", "/v1/webhooks/a%2Fb/test", "%2F"),
    ],
)
def test_a_path_no_route_matches_is_404_saying_so(
    client: TestClient, tenant: Tenant, method: str, url: str, hint: str | None
) -> None:
    body = assert_problem(client.request(method, url, headers=tenant.headers), 404)
    assert (body["type"], body["title"]) == ("about:blank", "Not Found")
    assert body["detail"].startswith(f"no route matches the path {url}")
    if hint is not None:
        assert "encoded slash" in body["detail"]
    else:
        assert "encoded slash" not in body["detail"]


# ---- bodies that cannot be read as JSON: 400 malformed-json on every route ----


def test_every_json_body_route_is_covered(app: FastAPI) -> None:
    assert _json_body_operations(app.openapi()) == JSON_BODY_OPERATIONS
    assert ("POST", "/v1/fbo/schedule") in JSON_BODY_OPERATIONS
    assert ("POST", "/v1/events") in JSON_BODY_OPERATIONS


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"platform": "cscart", "status": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        pytest.param(b'{"platform": "cscart", "status": ', id="truncated"),
        pytest.param(b'{"units": ' + b"9" * 5000 + b"}", id="number-too-long"),
    ],
)
@pytest.mark.parametrize(("method", "path"), JSON_BODY_OPERATIONS)
def test_a_body_that_is_not_json_is_400_malformed_json(
    client: TestClient, tenant: Tenant, method: str, path: str, content: bytes
) -> None:
    url = _fill(path)
    headers = {**tenant.headers, "content-type": "application/json"}
    body = assert_problem(client.request(method, url, content=content, headers=headers), 400)
    assert (body["type"], body["title"]) == (MALFORMED_JSON, "Malformed JSON")
    assert body["detail"].startswith("the body is not valid JSON: ")
    assert body["instance"] == url


# ---- list limits: both batch routes answer a validation problem ----


@pytest.mark.parametrize(
    ("url", "member", "item", "limit"),
    [
        (
            "/v1/translate/batch",
            "items",
            {"platform": "cscart", "status": "P"},
            "batch_max_items",
        ),
        (
            "/v1/events/batch",
            "events",
            event("R-1", "P", at(0)),
            "events_batch_max_items",
        ),
    ],
)
def test_a_batch_over_its_item_limit_is_a_validation_problem(
    client: TestClient,
    settings: Settings,
    tenant: Tenant,
    url: str,
    member: str,
    item: dict[str, Any],
    limit: str,
) -> None:
    most: int = getattr(settings, limit)
    response = client.post(url, json={member: [item] * (most + 1)}, headers=tenant.headers)
    body = assert_problem(response, 422)
    assert (body["type"], body["title"]) == (VALIDATION_ERROR, "Invalid request")
    assert [e["pointer"] for e in body["errors"]] == [f"#/{member}"]
    assert f"at most {most} {member} per call (got {most + 1})" in body["detail"]


# ---- non-finite numbers are refused as such, not by a range check ----

NON_FINITE = ["NaN", "Infinity", "-Infinity", '"NaN"', '"inf"']


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize("url", ["/v1/fbo/schedule", "/v1/fbo/shipments"])
def test_a_non_finite_float_is_refused_as_such(
    client: TestClient, tenant: Tenant, url: str, number: str
) -> None:
    # The body model refuses it before any check of the day, so any day will do.
    content = f'{{"order_id": "K-1", "shipment_date": "2026-11-27", "lead_hours": {number}}}'
    if url == "/v1/fbo/schedule":
        content = content.replace('"order_id": "K-1", ', "")
    headers = {**tenant.headers, "content-type": "application/json"}
    body = assert_problem(client.post(url, content=content, headers=headers), 422)
    assert body["type"] == VALIDATION_ERROR
    assert [(e["pointer"], e["detail"]) for e in body["errors"]] == [
        ("#/lead_hours", "Input should be a finite number")
    ]
