"""GET/POST /v1/translate and the batch: the contract's shape, languages, caching, CORS."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.i18n import LANGUAGES
from gateway.tables import Tables

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))
VERSION = re.compile(r"^\d+\+[0-9a-f]{12}$")


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.stem)
def test_golden_answers(client: TestClient, golden: Path) -> None:
    case = json.loads(golden.read_text(encoding="utf-8"))
    response = client.get(case["request"]["url"], headers=case["request"]["headers"])
    assert response.status_code == 200
    body = response.json()
    assert VERSION.match(body.pop("mapping_version"))
    assert body == case["response"]
    assert response.headers["content-language"] == case["response"]["lang"]


def test_spec_example_shape(client: TestClient, tables: Tables) -> None:
    body = client.get("/v1/translate/cscart/P?lang=fr&target=kak2c").json()
    assert set(body) == {"platform", "lang", "native", "canonical", "target", "mapping_version"}
    assert body["mapping_version"] == tables.version
    assert body["target"] == {
        "platform": "kak2c",
        "code": "ORDER_INFO_READY_TO_PACK",
        "label": body["target"]["label"],
        "exact": True,
    }
    assert set(body["canonical"]) >= {
        "code",
        "stage",
        "detail",
        "terminal",
        "provisional",
        "paid",
        "payment",
        "fulfillment",
        "action_required",
        "label",
        "description",
    }


def test_target_is_only_present_when_asked(client: TestClient) -> None:
    assert "target" not in client.get("/v1/translate/cscart/P").json()
    none = client.get("/v1/translate/cloudcart/refunded?target=kak2c").json()["target"]
    assert none == {"platform": "kak2c", "code": None, "label": None, "exact": False}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("platform", "code"),
    [
        ("kak2c", "ORDER_INFO_DELIVERED"),
        ("measoft", "DELIVERY"),
        ("cscart", "I"),
        ("cloudcart", "pending"),
    ],
)
def test_every_platform_answers_in_every_language(
    client: TestClient, platform: str, code: str, lang: str
) -> None:
    response = client.get(f"/v1/translate/{platform}/{code}", params={"lang": lang})
    assert response.status_code == 200
    body = response.json()
    assert body["lang"] == lang
    assert response.headers["content-language"] == lang
    english = client.get(f"/v1/translate/{platform}/{code}").json()
    labels = (body["canonical"]["label"], body["native"]["label"])
    if lang != "en":
        assert labels != (english["canonical"]["label"], english["native"]["label"])


def test_lang_query_beats_accept_language(client: TestClient) -> None:
    response = client.get("/v1/translate/cscart/P?lang=el", headers={"Accept-Language": "ru"})
    assert response.json()["lang"] == "el"
    by_header = client.get("/v1/translate/cscart/P", headers={"Accept-Language": "fr-CA,en;q=0.5"})
    assert by_header.json()["lang"] == "fr"


def test_lenient_mode_keeps_the_raw_code(client: TestClient) -> None:
    body = client.get("/v1/translate/cscart/A?lenient=true&lang=ru").json()
    assert body["canonical"]["code"] == "unknown"
    assert body["canonical"]["stage"] is None
    assert re.search("[А-Яа-я]", body["canonical"]["label"])  # noqa: RUF001
    assert body["native"] == {"code": "A", "label": None, "description": None}


def test_cloudcart_parts_by_query(client: TestClient) -> None:
    body = client.get(
        "/v1/translate/cloudcart/pending?payment=requested&fulfillment=fulfilled"
    ).json()
    assert body["canonical"]["code"] == "shipped"
    assert body["native"]["payment"]["code"] == "requested"
    assert body["native"]["fulfillment"]["code"] == "fulfilled"


@pytest.mark.parametrize(
    ("query", "code", "fulfillment"),
    [
        ("fulfillment=fulfilled", "shipped", "shipped"),
        ("payment=completed", "pending", "not_fulfilled"),
    ],
)
def test_cloudcart_one_part_by_query(
    client: TestClient, query: str, code: str, fulfillment: str
) -> None:
    body = client.get(f"/v1/translate/cloudcart/pending?{query}").json()
    assert (body["canonical"]["code"], body["canonical"]["fulfillment"]) == (code, fulfillment)


def test_post_translate(client: TestClient) -> None:
    response = client.post(
        "/v1/translate",
        json={
            "platform": "cloudcart",
            "lang": "el",
            "target": "cscart",
            "status": {"order": "paid", "payment": "completed", "fulfillment": "fulfilled"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["canonical"]["code"] == "completed"
    assert body["target"]["code"] == "C"
    assert response.headers["content-language"] == "el"
    plain = client.post("/v1/translate", json={"platform": "courier", "status": "COMPLETE"})
    assert plain.json()["platform"] == "measoft"


def test_post_translate_lenient(client: TestClient) -> None:
    body = client.post(
        "/v1/translate", json={"platform": "measoft", "status": "STORETAKE", "lenient": True}
    ).json()
    assert body["canonical"]["code"] == "unknown"
    assert body["native"]["code"] == "STORETAKE"


# ---- caching ----


def test_get_answers_carry_etag_and_cache_control(client: TestClient) -> None:
    response = client.get("/v1/translate/cscart/P?lang=fr")
    etag = response.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert "max-age=" in response.headers["cache-control"]
    assert "Accept-Language" in response.headers["vary"]
    again = client.get("/v1/translate/cscart/P?lang=fr", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = client.get("/v1/translate/cscart/P?lang=fr", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304


def test_etag_differs_by_language_and_content(client: TestClient) -> None:
    fr = client.get("/v1/translate/cscart/P?lang=fr").headers["etag"]
    ru = client.get("/v1/translate/cscart/P?lang=ru").headers["etag"]
    assert fr != ru
    stale = client.get("/v1/translate/cscart/P?lang=ru", headers={"If-None-Match": fr})
    assert stale.status_code == 200


def test_cors_is_open_for_get_and_post(client: TestClient) -> None:
    preflight = client.options(
        "/v1/translate",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    simple = client.get("/v1/translate/cscart/P", headers={"Origin": "https://shop.example"})
    assert simple.headers["access-control-allow-origin"] == "*"
    assert "ETag" in simple.headers["access-control-expose-headers"]


# ---- batch ----


def _items(tables: Tables) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name, table in tables.platforms.items():
        items += [{"platform": name, "status": code} for code in table.statuses]
    return items


def test_batch_keeps_order_and_isolates_a_bad_item(client: TestClient, tables: Tables) -> None:
    good = _items(tables)
    middle = len(good) // 2
    items = [*good[:middle], {"platform": "cscart", "status": "Q"}, *good[middle:]]
    response = client.post("/v1/translate/batch", json={"items": items, "lang": "ru"})
    assert response.status_code == 200
    assert response.headers["content-language"] == "ru"
    results = response.json()["results"]
    assert len(results) == len(items)
    bad = results[middle]
    assert set(bad) == {"error"}
    assert bad["error"]["status"] == 422
    assert bad["error"]["pointer"] == f"#/items/{middle}/status"
    assert bad["error"]["valid"] == list(tables.platforms["cscart"].statuses)
    others = results[:middle] + results[middle + 1 :]
    assert [r["native"]["code"] for r in others] == [i["status"] for i in good]
    assert all(r["lang"] == "ru" for r in others)


def test_batch_items_override_batch_defaults(client: TestClient) -> None:
    response = client.post(
        "/v1/translate/batch",
        json={
            "lang": "ru",
            "target": "kak2c",
            "items": [
                {"platform": "cscart", "status": "P"},
                {"platform": "cscart", "status": "P", "lang": "el", "target": "measoft"},
                {"platform": "cscart", "status": "ZZ"},
                {"platform": "cscart", "status": "ZZ", "lenient": True},
                {"platform": "cloudcart", "status": {"order": "paid", "fulfillment": "shipped"}},
            ],
        },
        headers={"Accept-Language": "fr"},
    )
    first, second, unknown, lenient, cloud = response.json()["results"]
    assert (first["lang"], first["target"]["code"]) == ("ru", "ORDER_INFO_READY_TO_PACK")
    assert (second["lang"], second["target"]["platform"], second["target"]["code"]) == (
        "el",
        "measoft",
        None,
    )
    assert unknown["error"]["type"] == "/problems/unknown-status-code"
    assert lenient["canonical"]["code"] == "unknown"
    assert cloud["canonical"]["code"] == "completed"


@pytest.mark.parametrize(
    ("item", "pointer"),
    [
        ({"platform": 3, "status": "P"}, "#/items/1/platform"),
        ({"platform": "cscart"}, "#/items/1/status"),
        ({"platform": "cscart", "status": "P", "colour": "red"}, "#/items/1/colour"),
        ("P", "#/items/1"),
        ({"platform": "nowhere", "status": "P"}, "#/items/1/platform"),
        ({"platform": "cscart", "status": "P", "lang": "de"}, "#/items/1/lang"),
        ({"platform": "cscart", "status": {"order": "P"}}, "#/items/1/status"),
        (
            {"platform": "cloudcart", "status": {"order": "paid", "payment": "nope"}},
            "#/items/1/status/payment",
        ),
        ({"platform": "cscart", "status": "P", "target": "nowhere"}, "#/items/1/target"),
    ],
)
def test_batch_item_errors_point_at_the_item(client: TestClient, item: Any, pointer: str) -> None:
    items = [{"platform": "cscart", "status": "P"}, item, {"platform": "cscart", "status": "C"}]
    response = client.post("/v1/translate/batch", json={"items": items})
    assert response.status_code == 200
    first, bad, last = response.json()["results"]
    assert first["canonical"]["code"] == "confirmed"
    assert last["canonical"]["code"] == "completed"
    error = bad["error"]
    assert 400 <= error["status"] < 500
    where = [error.get("pointer")] + [e.get("pointer") for e in error.get("errors", [])]
    assert pointer in where


def test_batch_of_ten_thousand(client: TestClient, tables: Tables) -> None:
    good = _items(tables)
    items = [good[i % len(good)] for i in range(10_000)]
    response = client.post("/v1/translate/batch", json={"items": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 10_000
    assert not [r for r in results if "error" in r]
    assert results[9_999]["native"]["code"] == items[9_999]["status"]


def test_empty_batch(client: TestClient) -> None:
    assert client.post("/v1/translate/batch", json={"items": []}).json() == {"results": []}


def test_fast_and_validated_batch_items_give_the_same_answers(
    client: TestClient, tables: Tables
) -> None:
    # "lenient": 1 is valid for pydantic (lax bool) but not plain, so it takes the validated path.
    plain = [
        {"platform": "cscart", "status": "P", "lenient": True},
        {"platform": "cloudcart", "status": {"order": "paid", "fulfillment": "shipped"}},
    ]
    validated = [
        {"platform": "cscart", "status": "P", "lenient": 1},
        {
            "platform": "cloudcart",
            "status": {"order": "paid", "fulfillment": "shipped"},
            "variant": None,
            "lenient": "false",
        },
    ]
    fast = client.post("/v1/translate/batch", json={"items": plain}).json()["results"]
    slow = client.post("/v1/translate/batch", json={"items": validated}).json()["results"]
    assert fast == slow


def test_a_repeated_bad_item_points_at_each_index(client: TestClient) -> None:
    items = [{"platform": "cscart", "status": "Q"}] * 3
    results = client.post("/v1/translate/batch", json={"items": items}).json()["results"]
    assert [r["error"]["pointer"] for r in results] == [f"#/items/{i}/status" for i in range(3)]
