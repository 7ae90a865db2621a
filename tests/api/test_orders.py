"""GET /v1/orders/{platform}/{order_id} and GET /v1/orders: state, timeline, pages, filters."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.settings import Settings
from tests.factories import Tenant, assert_problem, at, event, make_tenant

Json = dict[str, Any]
TIMELINE_FIELDS = {
    "n",
    "native",
    "canonical",
    "occurred_at",
    "received_at",
    "time_source",
    "event_id",
    "applied",
    "changed",
    "sequence",
    "regression",
    "late",
    "violation",
    "supersedes",
    "superseded_by",
}


def record(client: TestClient, tenant: Tenant, *events: Json) -> None:
    response = client.post("/v1/events/batch", json={"events": events}, headers=tenant.headers)
    assert response.status_code == 202, response.text
    assert all("error" not in r for r in response.json()["results"]), response.text


def listing(client: TestClient, tenant: Tenant, **params: Any) -> Json:
    response = client.get("/v1/orders", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    page: Json = response.json()
    return page


def names(page: Json) -> list[tuple[str, str]]:
    return [(o["platform"], o["order_id"]) for o in page["orders"]]


def cursor(value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def test_an_order_answers_its_state_and_whole_timeline(client: TestClient, tenant: Tenant) -> None:
    record(client, tenant, event("1207", "O", at(0), event_id="a"))
    record(client, tenant, event("1207", "P", at(60)))
    response = client.get("/v1/orders/cscart/1207", headers=tenant.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-language"] == "en"
    body = response.json()
    assert set(body) == {
        "platform",
        "order_id",
        "lang",
        "sequence",
        "current",
        "native",
        "occurred_at",
        "created_at",
        "updated_at",
        "violations",
        "timeline",
        "mapping_version",
    }
    assert (body["platform"], body["order_id"], body["lang"]) == ("cscart", "1207", "en")
    assert (body["sequence"], body["violations"]) == (2, 0)
    assert body["current"]["code"] == "confirmed"
    assert body["native"]["code"] == "P"
    assert body["occurred_at"] == "2024-05-14T07:01:00Z"
    assert body["created_at"] < body["updated_at"]
    first, second = body["timeline"]
    assert set(first) == set(second) == TIMELINE_FIELDS
    assert (first["n"], first["event_id"], first["sequence"]) == (1, "a", 1)
    assert (second["n"], second["event_id"], second["sequence"]) == (2, None, 2)
    assert first["native"]["code"] == "O"
    assert first["canonical"]["code"] == "pending"
    assert first["occurred_at"] == "2024-05-14T07:00:00Z"
    assert first["received_at"] == body["created_at"]
    assert second["received_at"] == body["updated_at"]
    for entry in body["timeline"]:
        assert entry["time_source"] == "source"
        assert (entry["applied"], entry["changed"], entry["late"]) == (True, True, False)
        assert (entry["regression"], entry["violation"]) == (False, None)
        assert entry["supersedes"] is entry["superseded_by"] is None


@pytest.mark.parametrize(
    ("lang", "canonical", "native"),
    [
        ("en", "Confirmed", "Processed"),
        ("ru", "Подтвержден", "Обработан"),
        ("fr", "Confirmée", "Traité"),
        ("el", "Επιβεβαιώθηκε", "Επεξεργασία"),
    ],
)
def test_labels_are_localized(
    client: TestClient, tenant: Tenant, lang: str, canonical: str, native: str
) -> None:
    record(client, tenant, event("1", "P", at(0)))
    for request in (
        {"params": {"lang": lang}},
        {"headers": {"Accept-Language": f"{lang};q=0.9"}},
    ):
        headers = {**tenant.headers, **request.get("headers", {})}
        response = client.get("/v1/orders/cscart/1", params=request.get("params"), headers=headers)
        assert response.headers["content-language"] == lang
        body = response.json()
        assert body["lang"] == lang
        assert body["current"]["label"] == canonical
        assert body["native"]["label"] == native
        assert body["timeline"][0]["canonical"]["label"] == canonical
        assert body["timeline"][0]["native"]["label"] == native
        page = listing(client, tenant, lang=lang)
        assert page["lang"] == lang
        assert page["orders"][0]["current"]["label"] == canonical


def test_an_unsupported_lang_is_422(client: TestClient, tenant: Tenant) -> None:
    record(client, tenant, event("1", "P", at(0)))
    response = client.get("/v1/orders/cscart/1?lang=de", headers=tenant.headers)
    assert assert_problem(response, 422)["type"] == "/problems/unsupported-language"


def test_an_unknown_order_is_404(client: TestClient, tenant: Tenant) -> None:
    record(client, tenant, event("1", "P", at(0)))
    problem = assert_problem(client.get("/v1/orders/cscart/2", headers=tenant.headers), 404)
    assert (problem["type"], problem["parameter"]) == ("/problems/not-found", "order_id")
    # The same id on another platform is another order.
    assert_problem(client.get("/v1/orders/kak2c/1", headers=tenant.headers), 404)


def test_an_unknown_platform_is_404_listing_the_platforms(
    client: TestClient, tenant: Tenant
) -> None:
    problem = assert_problem(client.get("/v1/orders/shopify/1", headers=tenant.headers), 404)
    assert (problem["type"], problem["parameter"]) == ("/problems/unknown-platform", "platform")
    assert problem["valid"] == ["cloudcart", "courier", "cscart", "kak2c", "measoft"]
    listed = assert_problem(client.get("/v1/orders?platform=shopify", headers=tenant.headers), 404)
    assert listed["parameter"] == "platform"


def test_the_courier_alias_reads_measoft_orders(client: TestClient, tenant: Tenant) -> None:
    record(client, tenant, event("SHOP-1", "DELIVERY", at(0), platform="measoft"))
    for path in ("/v1/orders/courier/SHOP-1", "/v1/orders/measoft/SHOP-1"):
        body = client.get(path, headers=tenant.headers).json()
        assert (body["platform"], body["order_id"]) == ("measoft", "SHOP-1")
        assert body["current"]["code"] == "out_for_delivery"
    assert names(listing(client, tenant, platform="courier")) == [("measoft", "SHOP-1")]


def test_an_order_id_with_a_slash_can_be_read_back(client: TestClient, tenant: Tenant) -> None:
    record(client, tenant, event("SHOP/10482", "NEW", at(0), platform="measoft"))
    assert names(listing(client, tenant)) == [("measoft", "SHOP/10482")]
    response = client.get("/v1/orders/measoft/SHOP%2F10482", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["order_id"] == "SHOP/10482"


# ---- GET /v1/orders ----


def test_the_list_is_paged_with_next_cursor_without_duplicates_or_gaps(
    client: TestClient, tenant: Tenant
) -> None:
    for i in range(4):  # one call each: four different activity times
        record(client, tenant, event(f"s{i}", "P", at(i)))
    # One call: five orders with the same activity time, ordered by name among themselves.
    record(client, tenant, *(event(f"b{i}", "C", at(0)) for i in reversed(range(5))))
    record(client, tenant, event("s0", "C", at(60)))  # new activity moves s0 to the end
    expected = [f"s{i}" for i in (1, 2, 3)] + [f"b{i}" for i in range(5)] + ["s0"]
    seen: list[str] = []
    pages = 0
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = listing(client, tenant, **params)
        pages += 1
        assert len(page["orders"]) <= 2
        seen += [o["order_id"] for o in page["orders"]]
        if page["next_cursor"] is None:
            break
        assert len(page["orders"]) == 2  # only the last page may be short
        params["cursor"] = page["next_cursor"]
        assert pages < 20
    assert pages >= 5
    assert seen == expected
    # A last page that is exactly full says there is nothing after it.
    exact = listing(client, tenant, limit=len(expected))
    assert (len(exact["orders"]), exact["next_cursor"]) == (len(expected), None)
    whole = listing(client, tenant)
    assert [o["order_id"] for o in whole["orders"]] == expected
    assert whole["next_cursor"] is None
    first = whole["orders"][0]
    assert set(first) == {
        "platform",
        "order_id",
        "sequence",
        "current",
        "occurred_at",
        "updated_at",
    }
    assert (first["sequence"], first["current"]["code"]) == (1, "confirmed")
    assert whole["orders"][-1]["sequence"] == 2


def test_the_list_filters_by_platform_status_and_stage(client: TestClient, tenant: Tenant) -> None:
    record(
        client,
        tenant,
        event("c1", "P", at(0)),
        event("c2", "C", at(0)),
        event("k1", "ORDER_INFO_SHIPPED", at(0), platform="kak2c"),
        event("m1", "DELIVERY", at(0), platform="measoft"),
        event("cc1", {"order": "paid", "payment": "completed"}, at(0), platform="cloudcart"),
    )

    def ids(**params: Any) -> set[str]:
        orders = listing(client, tenant, **params)["orders"]
        return {o["order_id"] for o in orders}

    assert ids() == {"c1", "c2", "k1", "m1", "cc1"}
    assert ids(platform="cscart") == {"c1", "c2"}
    assert ids(platform="CSCART") == {"c1", "c2"}
    assert ids(platform="courier") == {"m1"}
    assert ids(status="confirmed") == {"c1", "cc1"}
    assert ids(status="confirmed", platform="cloudcart") == {"cc1"}
    assert ids(stage="delivery") == {"c2", "k1", "m1"}
    assert ids(stage="fulfillment") == {"c1", "cc1"}
    assert ids(stage="returns") == set()
    assert ids(status="shipped", stage="delivery") == {"k1"}
    assert ids(platform="cscart", limit=1, status="completed") == {"c2"}


def test_filters_still_page_without_gaps(client: TestClient, tenant: Tenant) -> None:
    for i in range(6):
        record(client, tenant, event(f"p{i}", "P", at(0)), event(f"c{i}", "C", at(0)))
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "status": "completed"}
    for _ in range(10):
        page = listing(client, tenant, **params)
        seen += [o["order_id"] for o in page["orders"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [f"c{i}" for i in range(6)]


def test_updated_after_lists_only_orders_with_later_activity(
    client: TestClient, tenant: Tenant
) -> None:
    record(client, tenant, event("old", "P", at(0)))
    mark = listing(client, tenant)["orders"][0]["updated_at"]
    record(client, tenant, event("new", "P", at(0)))
    assert names(listing(client, tenant, updated_after=mark)) == [("cscart", "new")]
    record(client, tenant, event("old", "C", at(60)))  # new activity on the old order
    assert names(listing(client, tenant, updated_after=mark)) == [
        ("cscart", "new"),
        ("cscart", "old"),
    ]
    assert listing(client, tenant, updated_after="2999-01-01T00:00:00Z")["orders"] == []
    assert len(listing(client, tenant, updated_after="2000-01-01T00:00:00+03:00")["orders"]) == 2


def test_another_tenants_orders_are_never_listed(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    other = make_tenant(settings)
    record(client, tenant, event("mine", "P", at(0)))
    record(client, other, event("theirs", "P", at(0)))
    assert names(listing(client, tenant)) == [("cscart", "mine")]
    assert names(listing(client, other)) == [("cscart", "theirs")]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "!!!!"}, "cursor"),
        ({"cursor": cursor({"score": 1})}, "cursor"),
        ({"cursor": cursor([1.5, "x"])}, "cursor"),
        ({"cursor": cursor([1, 2])}, "cursor"),
        ({"cursor": cursor([1, "x", 3])}, "cursor"),
        ({"cursor": cursor(None)}, "cursor"),
        ({"cursor": "x" * 601}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "teleported"}, "status"),
        ({"stage": "nowhere"}, "stage"),
        ({"updated_after": "2024-05-14T10:00:00"}, "updated_after"),
        ({"updated_after": "soon"}, "updated_after"),
    ],
)
def test_a_bad_query_is_a_422_problem_naming_the_parameter(
    client: TestClient, tenant: Tenant, params: dict[str, Any], parameter: str
) -> None:
    record(client, tenant, event("1", "P", at(0)))
    problem = assert_problem(client.get("/v1/orders", params=params, headers=tenant.headers), 422)
    named = [problem.get("parameter")] + [e.get("parameter") for e in problem.get("errors") or []]
    assert parameter in named, problem


def test_a_bad_cursor_is_an_invalid_cursor_problem(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/v1/orders", params={"cursor": "garbage"}, headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert (problem["type"], problem["parameter"]) == ("/problems/invalid-cursor", "cursor")


@pytest.mark.parametrize("score", [True, False])
def test_a_cursor_with_a_boolean_score_is_an_invalid_cursor_problem(
    app: FastAPI, tenant: Tenant, score: bool
) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        record(client, tenant, event("1", "P", at(0)))
        response = client.get(
            "/v1/orders", params={"cursor": cursor([score, "x"])}, headers=tenant.headers
        )
        assert assert_problem(response, 422)["type"] == "/problems/invalid-cursor"
