"""The CS-Cart connector against a CS-Cart-like API on 127.0.0.1: every page of orders pulled,
nothing recorded twice, the store's own letters suggested, faults recorded in the health."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.custom import field_name
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from tests.connectors.conftest import KEY, order as shared_order, poll, put_connector
from tests.connectors.cscart_server import CscartServer, cscart_api
from tests.factories import Tenant, changes

Json = dict[str, Any]


@pytest.fixture
def api() -> Iterator[CscartServer]:
    with cscart_api() as server:
        yield server


def connect(client: TestClient, tenant: Tenant, api: CscartServer, **extra: Any) -> Json:
    body = {"store_url": api.url, "email": api.email, "api_key": api.api_key, **extra}
    return put_connector(client, tenant, "cscart", body)


def run(client: TestClient, tenant: Tenant) -> Json:
    return poll(client, tenant, "cscart")


def order(client: TestClient, tenant: Tenant, order_id: str) -> Json:
    return shared_order(client, tenant, "cscart", order_id)


def test_the_api_key_is_sealed_and_never_shown(
    keyed: TestClient, tenant: Tenant, api: CscartServer
) -> None:
    shown = connect(keyed, tenant, api)
    assert shown["api_key"] == "set"
    assert (shown["store_url"], shown["email"]) == (api.url, api.email)
    assert api.api_key not in keyed.get("/v1/connectors/cscart", headers=tenant.headers).text


def test_every_page_is_pulled_and_nothing_is_recorded_twice(
    keyed: TestClient, tenant: Tenant, api: CscartServer, settings: Settings
) -> None:
    letters = "OPCIDFBY"
    for n in range(1, 251):
        api.set(str(n), letters[n % len(letters)])
    connect(keyed, tenant, api)
    health = run(keyed, tenant)
    assert health["last_error"] is None
    assert (health["orders_seen"], health["events_seen"]) == (250, 250)
    assert api.paths() == ["/api/2/statuses/"] + ["/api/2/orders/"] * 3
    assert (api.probes(), health["mode"]) == (1, "updated_at_from")  # asked once, remembered
    pages = api.listings()
    assert api.pages() == ["1", "2", "3"]
    assert all(q["items_per_page"] == "100" and q["sort_order"] == "asc" for q in pages)
    assert "updated_at_from" not in pages[0]
    assert order(keyed, tenant, "1")["current"]["code"] == "confirmed"  # P
    assert order(keyed, tenant, "3")["current"]["code"] == "canceled"  # I
    assert order(keyed, tenant, "250")["current"]["code"] == "completed"  # C

    # nothing changed: the store lists the last minute again, nothing is recorded again
    api.requests.clear()
    health = run(keyed, tenant)
    assert health["events_seen"] == 250
    assert api.paths() == ["/api/2/orders/"] * 3  # the statuses are read once a day
    assert api.probes() == 0  # so is the mode
    assert all("updated_at_from" in q for _, q in api.requests)
    assert len(order(keyed, tenant, "1")["timeline"]) == 1

    api.set("1", "C")
    health = run(keyed, tenant)
    assert health["events_seen"] == 251
    found = order(keyed, tenant, "1")
    assert found["sequence"] == 2
    assert found["current"]["code"] == "completed"
    assert [c["sequence"] for c in changes(settings, tenant) if c["order_id"] == "1"] == [
        "1",
        "2",
    ]


def test_the_stores_own_letters_are_suggested_and_recorded_as_unknown(
    keyed: TestClient, tenant: Tenant, api: CscartServer, settings: Settings
) -> None:
    api.set("7", "A")
    connect(keyed, tenant, api)
    assert run(keyed, tenant)["last_error"] is None
    stored = redis.Redis.from_url(settings.redis_url or "", decode_responses=True).hgetall(
        TenantKeys(settings.redis_prefix, tenant.tenant).suggestions
    )
    expected = {"A": "confirmed", "E": "canceled", "G": "on_hold"}
    assert set(stored) == {field_name("cscart", letter) for letter in expected}
    for letter, canonical in expected.items():
        suggestion = orjson.loads(stored[field_name("cscart", letter)])
        assert suggestion["canonical"] == canonical
        assert suggestion["label"]
        assert suggestion["reason"]
    assert order(keyed, tenant, "7")["current"]["code"] == "unknown"
    unmapped = keyed.get("/v1/unmapped", headers=tenant.headers).json()["unmapped"]
    a = next(u for u in unmapped if (u["platform"], u["code"]) == ("cscart", "A"))
    assert (a["count"], a["order_id"], a["mapped"]) == (1, "7", False)
    assert a["suggested"]["canonical"] == "confirmed"


@pytest.mark.parametrize(
    ("fault", "error_class", "words"),
    [
        (509, "ConnectorUnavailable", ["509", "per hour", "Retry-After: 3600"]),
        (503, "ConnectorUnavailable", ["503", "closed"]),
        (500, "ConnectorUnavailable", ["500"]),
        ("json", "InvalidPayload", ["not JSON"]),
    ],
)
def test_faults_are_recorded_and_the_next_run_recovers(
    keyed: TestClient,
    tenant: Tenant,
    api: CscartServer,
    fault: int | str,
    error_class: str,
    words: list[str],
) -> None:
    api.set("3", "O")
    connect(keyed, tenant, api)
    run(keyed, tenant)
    api.set("3", "P")
    api.fail_next.append(fault)
    health = run(keyed, tenant)
    assert health["last_error"]["class"] == error_class
    assert all(w in health["last_error"]["message"] for w in words), health["last_error"]
    assert (health["failures_in_row"], health["events_seen"]) == (1, 1)
    assert order(keyed, tenant, "3")["current"]["code"] == "pending"
    health = run(keyed, tenant)
    assert (health["failures_in_row"], health["events_seen"]) == (0, 2)
    assert order(keyed, tenant, "3")["current"]["code"] == "confirmed"


def test_a_wrong_api_key_pauses_the_connector_after_three_runs(
    keyed: TestClient, tenant: Tenant, api: CscartServer, settings: Settings
) -> None:
    connect(keyed, tenant, api, api_key="not-the-key")
    for _ in range(3):
        health = run(keyed, tenant)
    assert health["last_error"]["class"] == "InvalidPayload"
    assert "HTTP 401" in health["last_error"]["message"]
    shown = keyed.get("/v1/connectors/cscart", headers=tenant.headers).json()
    assert "authorisation failures" in shown["paused"]
    assert "not-the-key" not in str(shown)
    assert [c["type"] for c in changes(settings, tenant)] == ["connector.paused"]


def test_a_rate_limited_store_is_left_alone_as_long_as_it_asks(
    keyed: TestClient, tenant: Tenant, api: CscartServer, settings: Settings
) -> None:
    connect(keyed, tenant, api, interval_s=5)
    api.fail_next.append(509)  # answers with Retry-After: 3600
    run(keyed, tenant)
    health_key = TenantKeys(settings.redis_prefix, tenant.tenant).connector_health("cscart")
    store = redis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    later = datetime.fromisoformat(str(store.hget(health_key, "next_poll_at")))
    assert later.timestamp() - time.time() > 3500  # the store's Retry-After, not the interval
    metrics = keyed.get("/metrics").text
    assert 'gateway_connector_polls_total{platform="cscart",result="failed"} 1.0' in metrics
    run(keyed, tenant)  # asked for explicitly: polls anyway, and a success clears the wait
    assert store.hget(health_key, "next_poll_at") is None
    assert 'gateway_connector_polls_total{platform="cscart",result="ok"} 1.0' in (
        keyed.get("/metrics").text
    )


def test_a_store_that_does_not_answer_in_time_is_a_recorded_timeout(
    settings: Settings, runtime: Runtime, tenant: Tenant, api: CscartServer
) -> None:
    impatient = settings.model_copy(update={"secret_key": KEY, "connector_timeout_s": 0.3})
    api.set("3", "O")
    with TestClient(create_app(impatient, runtime)) as client:
        connect(client, tenant, api)
        api.delay_s = 1.0
        health = run(client, tenant)
        assert health["last_error"]["class"] == "ConnectorUnavailable"
        assert "Timeout" in health["last_error"]["message"]
        assert client.get("/v1/orders/cscart/3", headers=tenant.headers).status_code == 404
        api.delay_s = 0.0
        assert run(client, tenant)["failures_in_row"] == 0
        assert client.get("/v1/orders/cscart/3", headers=tenant.headers).status_code == 200
