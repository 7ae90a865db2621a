"""The CloudCart connector against a CloudCart-like JSON:API on 127.0.0.1: every page of orders
pulled, a change that sent no webhook caught on the next poll, nothing recorded twice, faults
recorded in the health, a wrong key pausing the connector."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.settings import Settings
from tests.connectors.cloudcart_server import CloudcartServer, cloudcart_api
from tests.connectors.conftest import order as shared_order, poll, put_connector
from tests.factories import Tenant, changes

Json = dict[str, Any]
# (order status, payment status, fulfilment status) → canonical
TRIPLES: list[tuple[tuple[str, str | None, str], str]] = [
    (("pending", "requested", "not_fulfilled"), "pending"),
    (("paid", "completed", "not_fulfilled"), "confirmed"),
    (("paid", "completed", "fulfilled"), "completed"),
    (("cancelled", None, "not_fulfilled"), "canceled"),
]


@pytest.fixture
def api() -> Iterator[CloudcartServer]:
    with cloudcart_api() as server:
        yield server


def connect(client: TestClient, tenant: Tenant, api: CloudcartServer, **extra: Any) -> Json:
    body = {"store_url": api.url, "api_key": api.api_key, **extra}
    return put_connector(client, tenant, "cloudcart", body)


def run(client: TestClient, tenant: Tenant) -> Json:
    return poll(client, tenant, "cloudcart")


def order(client: TestClient, tenant: Tenant, order_id: str) -> Json:
    return shared_order(client, tenant, "cloudcart", order_id)


def test_the_api_key_is_sealed_and_never_shown(
    keyed: TestClient, tenant: Tenant, api: CloudcartServer
) -> None:
    shown = connect(keyed, tenant, api)
    assert shown["api_key"] == "set"
    assert shown["store_url"] == api.url
    assert api.api_key not in keyed.get("/v1/connectors/cloudcart", headers=tenant.headers).text
    assert api.api_key not in str(shown)


def test_every_page_is_pulled_and_nothing_is_recorded_twice(
    keyed: TestClient, tenant: Tenant, api: CloudcartServer, settings: Settings
) -> None:
    start = int(time.time()) - 10_000
    for n in range(1, 121):
        (status, payment, fulfillment), _ = TRIPLES[n % len(TRIPLES)]
        api.set(str(n), status, payment, fulfillment, updated=start + n * 10)
    connect(keyed, tenant, api)
    health = run(keyed, tenant)
    assert health["last_error"] is None
    assert (health["orders_seen"], health["events_seen"]) == (120, 120)
    assert api.pages() == ["1", "2"]
    assert all(
        q["page[size]"] == "100" and q["sort"] == "-updated_at" and q["include"] == "payment"
        for q in api.requests
    )
    assert set(api.keys_seen) == {api.api_key}
    for n in range(4, 8):
        found = order(keyed, tenant, str(n))
        assert found["current"]["code"] == TRIPLES[n % len(TRIPLES)][1], found
        assert len(found["timeline"]) == 1
        (status, payment, fulfillment), _ = TRIPLES[n % len(TRIPLES)]
        native = found["native"]
        assert (native["code"], native["fulfillment"]["code"]) == (status, fulfillment)
        assert (native.get("payment") or {}).get("code") == payment
    recorded = order(keyed, tenant, "5")["timeline"][0]
    occurred = recorded["occurred_at"]
    assert datetime.fromisoformat(occurred.replace("Z", "+00:00")).timestamp() == start + 50

    # nothing changed: the newest minute is read again (page 1 only), nothing recorded again
    api.requests.clear()
    health = run(keyed, tenant)
    assert (health["last_error"], health["events_seen"]) == (None, 120)
    assert api.pages() == ["1"]
    assert len(order(keyed, tenant, "120")["timeline"]) == 1

    # changed on the store with no webhook (a gateway-driven pending → paid): the next poll
    api.set("4", "paid", "completed", "not_fulfilled")
    api.requests.clear()
    health = run(keyed, tenant)
    assert (health["last_error"], health["events_seen"]) == (None, 121)
    assert api.pages() == ["1"]
    found = order(keyed, tenant, "4")
    assert found["current"]["code"] == "confirmed"
    assert len(found["timeline"]) == 2
    assert [c["sequence"] for c in changes(settings, tenant) if c["order_id"] == "4"] == [
        "1",
        "2",
    ]

    # re-saved without a status change (a note, an address): listed, not recorded
    api.set("4", "paid", "completed", "not_fulfilled")
    health = run(keyed, tenant)
    assert health["events_seen"] == 121
    assert len(order(keyed, tenant, "4")["timeline"]) == 2
    for n in (1, 60, 120):
        assert len(order(keyed, tenant, str(n))["timeline"]) == 1


def test_times_without_an_offset_are_utc(
    keyed: TestClient, tenant: Tenant, api: CloudcartServer
) -> None:
    api.naive_times = True
    api.set("9", "pending", "requested", updated=1_715_680_000)
    connect(keyed, tenant, api)
    assert run(keyed, tenant)["last_error"] is None
    recorded = order(keyed, tenant, "9")["timeline"][0]
    occurred = recorded["occurred_at"]
    assert datetime.fromisoformat(occurred.replace("Z", "+00:00")).timestamp() == 1_715_680_000


@pytest.mark.parametrize(
    ("fault", "error_class", "words"),
    [
        (429, "ConnectorUnavailable", ["429", "too many", "Retry-After: 120"]),
        (503, "ConnectorUnavailable", ["503", "Retry-After: 120"]),
        (500, "ConnectorUnavailable", ["500"]),
        ("json", "InvalidPayload", ["not JSON"]),
    ],
)
def test_faults_are_recorded_and_the_next_run_recovers(
    keyed: TestClient,
    tenant: Tenant,
    api: CloudcartServer,
    fault: int | str,
    error_class: str,
    words: list[str],
) -> None:
    api.set("3", "pending", "requested")
    connect(keyed, tenant, api)
    run(keyed, tenant)
    api.set("3", "paid", "completed")
    api.fail_next.append(fault)
    health = run(keyed, tenant)
    assert health["last_error"]["class"] == error_class
    assert all(w in health["last_error"]["message"] for w in words), health["last_error"]
    assert (health["failures_in_row"], health["events_seen"]) == (1, 1)
    assert order(keyed, tenant, "3")["current"]["code"] == "pending"
    health = run(keyed, tenant)
    assert (health["failures_in_row"], health["events_seen"]) == (0, 2)
    found = order(keyed, tenant, "3")
    assert found["current"]["code"] == "confirmed"
    assert len(found["timeline"]) == 2


def test_a_wrong_api_key_pauses_the_connector_after_three_runs(
    keyed: TestClient, tenant: Tenant, api: CloudcartServer, settings: Settings
) -> None:
    connect(keyed, tenant, api, api_key="not-the-key")
    for _ in range(3):
        health = run(keyed, tenant)
    assert health["last_error"]["class"] == "InvalidPayload"
    assert "HTTP 401" in health["last_error"]["message"]
    shown = keyed.get("/v1/connectors/cloudcart", headers=tenant.headers).json()
    assert "authorisation failures" in shown["paused"]
    assert "not-the-key" not in str(shown)
    assert [c["type"] for c in changes(settings, tenant)] == ["connector.paused"]


def test_an_order_dated_ahead_of_the_clock_is_refused_and_does_not_stall_the_cursor(
    keyed: TestClient, tenant: Tenant, api: CloudcartServer
) -> None:
    """The recorder refuses a status dated in 2100 (it would freeze the order); the poll goes on
    with the others, and its cursor stays behind the clock, so what changes next is still seen."""
    now = int(time.time())
    api.set("9001", "paid", "completed", "not_fulfilled", updated=4_102_444_800)
    api.set("9002", "pending", "requested", "not_fulfilled", updated=now - 100)
    connect(keyed, tenant, api)
    health = run(keyed, tenant)
    assert health["last_error"] is None
    assert order(keyed, tenant, "9002")["current"]["code"] == "pending"
    assert keyed.get("/v1/orders/cloudcart/9001", headers=tenant.headers).status_code == 404
    [entry] = keyed.get("/v1/connectors/cloudcart", headers=tenant.headers).json()["rejected"]
    assert entry["order_id"] == "9001"
    assert "2100" in entry["detail"]
    api.set("9003", "pending", "requested", "not_fulfilled", updated=now + 1)
    assert run(keyed, tenant)["last_error"] is None
    assert order(keyed, tenant, "9003")["current"]["code"] == "pending"


def test_a_time_out_of_range_sets_the_order_aside_not_the_poll(
    keyed: TestClient, tenant: Tenant, api: CloudcartServer
) -> None:
    api.set("9004", "pending", "requested", "not_fulfilled", updated=-62_135_596_800 + 86_400)
    api.set("9005", "pending", "requested", "not_fulfilled")
    connect(keyed, tenant, api)
    health = run(keyed, tenant)
    assert health["last_error"] is None
    assert order(keyed, tenant, "9005")["current"]["code"] == "pending"
    [entry] = keyed.get("/v1/connectors/cloudcart", headers=tenant.headers).json()["rejected"]
    assert entry["order_id"] == "9004"
    assert "out of range" in entry["detail"]
