"""The MeaSoft connector against a MeaSoft-like API on 127.0.0.1: credentials sealed, changes
pulled into timelines, confirmed only after they are stored, faults recorded in the health."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.connectors import polling
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from tests.connectors.conftest import KEY, poll, put_connector
from tests.connectors.measoft_server import MeasoftServer, measoft_api
from tests.factories import Tenant, assert_problem, changes

Json = dict[str, Any]


@pytest.fixture
def api() -> Iterator[MeasoftServer]:
    with measoft_api() as server:
        yield server


def connect(client: TestClient, tenant: Tenant, api: MeasoftServer, **extra: Any) -> Json:
    body = {
        "login": api.login,
        "password": api.password,
        "extra": api.extra,
        "stream_id": 150,
        "api_url": api.url,
        **extra,
    }
    return put_connector(client, tenant, "measoft", body)


def run(client: TestClient, tenant: Tenant) -> Json:
    return poll(client, tenant, "measoft")


def test_without_a_secret_key_credentials_are_refused(
    client: TestClient, tenant: Tenant, api: MeasoftServer
) -> None:
    body = {"login": "l", "password": "p", "extra": "1", "api_url": api.url}
    response = client.put("/v1/connectors/measoft", json=body, headers=tenant.headers)
    problem = assert_problem(response, 503)
    assert problem["type"] == "/problems/secret-key-missing"
    assert "GATEWAY_SECRET_KEY" in problem["detail"]
    assert_problem(client.get("/v1/connectors/measoft", headers=tenant.headers), 404)


def test_the_password_is_sealed_and_never_shown(
    keyed: TestClient, tenant: Tenant, api: MeasoftServer, settings: Settings
) -> None:
    shown = connect(keyed, tenant, api)
    assert shown["password"] == "set"
    assert (shown["login"], shown["extra"], shown["stream_id"]) == (api.login, api.extra, 150)
    again = keyed.get("/v1/connectors/measoft", headers=tenant.headers)
    assert api.password not in again.text

    raw = redis.Redis.from_url(settings.redis_url or "", decode_responses=True).hget(
        TenantKeys(settings.redis_prefix, tenant.tenant).connectors, "measoft"
    )
    assert raw
    assert api.password not in raw


@pytest.mark.parametrize("platform", ["ozon", "kak2c"])
def test_other_platforms_have_no_connector_yet(
    keyed: TestClient, tenant: Tenant, platform: str
) -> None:
    response = keyed.get(f"/v1/connectors/{platform}", headers=tenant.headers)
    assert assert_problem(response, 404)["valid"] == ["measoft", "cscart", "cloudcart"]


def test_changes_are_pulled_into_timelines_and_confirmed_after(
    keyed: TestClient, tenant: Tenant, api: MeasoftServer, settings: Settings
) -> None:
    api.add("SHOP-1", "NEW", "2024-05-13 07:15:02")
    api.add("SHOP-1", "DELIVERY", "2024-05-14 06:40:05")
    api.add("SHOP-2", "NEW", "2024-05-14 08:00:00")
    connect(keyed, tenant, api)
    health = run(keyed, tenant)
    assert (health["runs"], health["orders_seen"], health["events_seen"]) == (1, 2, 3)
    assert health["last_error"] is None
    assert health["lag_s"] is not None
    assert api.requests == ["statusreq", "commitlaststatus"]
    order = keyed.get("/v1/orders/measoft/SHOP-1", headers=tenant.headers).json()
    assert [e["native"]["code"] for e in order["timeline"]] == ["NEW", "DELIVERY"]
    assert order["current"]["code"] == "out_for_delivery"
    # nothing changed since: the next poll finds nothing
    assert run(keyed, tenant)["events_seen"] == 3
    api.add("SHOP-1", "COMPLETE", "2024-05-14 15:02:13")
    run(keyed, tenant)
    order = keyed.get("/v1/orders/measoft/SHOP-1", headers=tenant.headers).json()
    assert order["sequence"] == 3
    assert [c["sequence"] for c in changes(settings, tenant) if c["order_id"] == "SHOP-1"] == [
        "1",
        "2",
        "3",
    ]


def test_a_failed_confirmation_brings_the_same_changes_again_and_nothing_twice(
    keyed: TestClient, tenant: Tenant, api: MeasoftServer, settings: Settings
) -> None:
    api.add("SHOP-9", "NEW", "2024-05-13 07:15:02")
    api.add("SHOP-9", "DELIVERY", "2024-05-14 06:40:05")
    api.fail_next["commitlaststatus"] = 1  # stored, then the confirmation is lost
    connect(keyed, tenant, api)
    failed = run(keyed, tenant)
    assert failed["last_error"]["class"] == "ConnectorUnavailable"
    assert "commitlaststatus" in failed["last_error"]["message"]
    recovered = run(keyed, tenant)  # MeaSoft sends the same changes again
    assert recovered["failures_in_row"] == 0
    assert api.requests == ["statusreq", "commitlaststatus"] * 2
    order = keyed.get("/v1/orders/measoft/SHOP-9", headers=tenant.headers).json()
    assert len(order["timeline"]) == 2
    assert order["sequence"] == 2
    assert len([c for c in changes(settings, tenant) if c["order_id"] == "SHOP-9"]) == 2


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [("http", "ConnectorUnavailable"), ("xml", "MalformedXml")],
)
def test_faults_are_recorded_and_nothing_is_confirmed(
    keyed: TestClient, tenant: Tenant, api: MeasoftServer, fault: str, error_class: str
) -> None:
    api.add("SHOP-3", "NEW", "2024-05-13 07:15:02")
    if fault == "http":
        api.fail_next["statusreq"] = 1
    else:
        api.broken_next = 1
    connect(keyed, tenant, api)
    health = run(keyed, tenant)
    assert health["last_error"]["class"] == error_class
    assert api.requests == ["statusreq"]  # no commit after a failed pull
    assert api.password not in str(health)
    assert run(keyed, tenant)["last_error"]["class"] == error_class  # the last one stays shown
    assert keyed.get("/v1/orders/measoft/SHOP-3", headers=tenant.headers).status_code == 200


def test_repeated_auth_failures_pause_the_connector_and_tell_operations(
    keyed: TestClient, tenant: Tenant, api: MeasoftServer, settings: Settings
) -> None:
    connect(keyed, tenant, api, extra="999")  # a wrong service code
    for _ in range(3):
        health = run(keyed, tenant)
    assert health["last_error"]["class"] == "InvalidPayload"
    assert "Authorization error" in health["last_error"]["message"]
    shown = keyed.get("/v1/connectors/measoft", headers=tenant.headers).json()
    assert "authorisation failures" in shown["paused"]
    assert [c["type"] for c in changes(settings, tenant)] == ["connector.paused"]
    connect(keyed, tenant, api)  # fixed credentials resume it
    assert keyed.get("/v1/connectors/measoft", headers=tenant.headers).json()["paused"] is None


def test_the_worker_polls_without_being_asked(
    settings: Settings, runtime: Runtime, tenant: Tenant, api: MeasoftServer
) -> None:
    live = settings.model_copy(update={"secret_key": KEY, "worker_in_process": True})
    api.add("SHOP-5", "NEW", "2024-05-13 07:15:02")
    with TestClient(create_app(live, runtime)) as client:
        connect(client, tenant, api, interval_s=5)
        for _ in range(100):
            found = client.get("/v1/orders/measoft/SHOP-5", headers=tenant.headers)
            if found.status_code == 200:
                break
            time.sleep(0.05)
        assert found.status_code == 200, "the worker never polled"
    assert "commitlaststatus" in api.requests


def test_poll_now_while_a_worker_polls_answers_after_that_poll(
    keyed: TestClient, tenant: Tenant, api: MeasoftServer, settings: Settings
) -> None:
    """Another process holds the connector's lease (its poll is under way): `POST …/run`
    starts no second poll; it answers once that poll has ended, with the health it left."""
    connect(keyed, tenant, api)
    store = redis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    keys = TenantKeys(settings.redis_prefix, tenant.tenant)
    store.set(keys.connector_lease("measoft"), "another-worker", px=30_000)

    def other_poll_ends() -> None:
        time.sleep(0.4)
        store.hset(keys.connector_health("measoft"), mapping={"runs": 7, "orders_seen": 3})
        store.delete(keys.connector_lease("measoft"))

    ending = threading.Thread(target=other_poll_ends)
    started = time.monotonic()
    ending.start()
    try:
        health = run(keyed, tenant)
    finally:
        ending.join()
    assert time.monotonic() - started >= 0.4
    assert (health["runs"], health["orders_seen"]) == (7, 3)
    assert api.requests == []  # no poll of its own


def test_poll_now_while_a_poll_runs_too_long_is_a_conflict(
    keyed: TestClient,
    tenant: Tenant,
    api: MeasoftServer,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect(keyed, tenant, api)
    monkeypatch.setattr(polling, "RUNNING_WAIT_S", 0.3)
    store = redis.Redis.from_url(settings.redis_url or "", decode_responses=True)
    lease = TenantKeys(settings.redis_prefix, tenant.tenant).connector_lease("measoft")
    store.set(lease, "another-worker", px=30_000)
    try:
        answer = keyed.post("/v1/connectors/measoft/run", headers=tenant.headers)
    finally:
        store.delete(lease)
    problem = assert_problem(answer, 409)
    assert "running for over 0.3 s; ask again once it ends" in problem["detail"]
    assert problem["type"] == "/problems/conflict"
    assert api.requests == []


def test_delete_disconnects(keyed: TestClient, tenant: Tenant, api: MeasoftServer) -> None:
    connect(keyed, tenant, api)
    assert keyed.delete("/v1/connectors/measoft", headers=tenant.headers).status_code == 204
    assert_problem(keyed.get("/v1/connectors/measoft", headers=tenant.headers), 404)
    assert_problem(keyed.delete("/v1/connectors/measoft", headers=tenant.headers), 404)
