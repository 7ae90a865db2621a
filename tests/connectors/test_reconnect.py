"""Storing a connector again: for another account (store or API address, MeaSoft login, service
code or stream) it starts over, for new credentials or a new interval it carries on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, cast

import pytest
import redis
from fastapi.testclient import TestClient

from gateway.custom import field_name
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from tests.connectors.cloudcart_server import CloudcartServer, cloudcart_api
from tests.connectors.conftest import poll, put_connector
from tests.connectors.cscart_server import DEFAULT_STATUSES, CscartServer, cscart_api
from tests.connectors.measoft_server import MeasoftServer, measoft_api
from tests.connectors.test_backfill import wait
from tests.factories import Tenant, assert_problem, free_port

Json = dict[str, Any]
Fake = MeasoftServer | CscartServer | CloudcartServer
SINCE = {"since": "2026-01-01"}


@pytest.fixture
def api() -> Iterator[CscartServer]:
    with cscart_api() as server:
        yield server


def serving(platform: str) -> AbstractContextManager[Fake]:
    if platform == "measoft":
        return measoft_api()
    return cscart_api() if platform == "cscart" else cloudcart_api()


def body(api: Fake) -> Json:
    if isinstance(api, MeasoftServer):
        return {
            "login": api.login,
            "password": api.password,
            "extra": api.extra,
            "stream_id": 150,
            "api_url": api.url,
        }
    if isinstance(api, CscartServer):
        return {"store_url": api.url, "email": api.email, "api_key": api.api_key}
    return {"store_url": api.url, "api_key": api.api_key}


def seed(api: Fake) -> None:
    if isinstance(api, MeasoftServer):
        api.add("SHOP-1", "NEW", "2026-01-10 09:00:00")
    elif isinstance(api, CscartServer):
        api.set("1", "O")
        api.set("2", "A")  # the store's own letter: a suggestion
    else:
        api.set("1", "pending", "requested")


def break_next_poll(api: Fake) -> None:
    if isinstance(api, MeasoftServer):
        api.fail_next["statusreq"] = 1
    else:
        api.fail_next.append(500)


def store(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url or "", decode_responses=True)


def state(settings: Settings, tenant: Tenant, platform: str) -> Json:
    """What belongs to the account read so far: health fields, memory, suggestions, backfill."""
    k = TenantKeys(settings.redis_prefix, tenant.tenant)
    r = store(settings)
    health = r.hgetall(k.connector_health(platform))
    suggested = cast(list[str], r.hkeys(k.suggestions))
    return {
        **{name: health.get(name) for name in ("cursor", "mode", "next_poll_at", "last_error")},
        "memory": r.hgetall(k.connector_last(platform)),
        "suggestions": sorted(n for n in suggested if n.startswith(field_name(platform, ""))),
        "backfill": r.hget(k.connector_backfill(platform), "since"),
    }


OTHER = f"http://127.0.0.1:{free_port()}/"
CASES: list[tuple[str, Json, bool]] = [
    ("measoft", {"api_url": OTHER}, True),
    ("measoft", {"login": "another-login"}, True),
    ("measoft", {"extra": "246"}, True),
    ("measoft", {"stream_id": 151}, True),
    ("measoft", {"stream_id": None}, True),
    ("measoft", {"password": "another-password"}, False),
    ("measoft", {"interval_s": 30}, False),
    ("cscart", {"store_url": OTHER}, True),
    ("cscart", {"store_url": "unslashed"}, False),  # the same address without its last '/'
    ("cscart", {"email": "another@example.com"}, False),
    ("cscart", {"api_key": "another-key"}, False),
    ("cscart", {"interval_s": 30}, False),
    ("cloudcart", {"store_url": OTHER}, True),
    ("cloudcart", {"api_key": "another-key"}, False),
    ("cloudcart", {"interval_s": 30}, False),
]


@pytest.mark.parametrize(
    ("platform", "change", "starts_over"),
    CASES,
    ids=[f"{p}-{'-'.join(c)}" for p, c, _ in CASES],
)
def test_another_account_starts_over_and_new_credentials_carry_on(
    keyed: TestClient,
    tenant: Tenant,
    settings: Settings,
    platform: str,
    change: Json,
    starts_over: bool,
) -> None:
    with serving(platform) as api:
        seed(api)
        first = body(api)
        put_connector(keyed, tenant, platform, first)
        assert poll(keyed, tenant, platform)["last_error"] is None
        response = keyed.post(
            f"/v1/connectors/{platform}/backfill", json=SINCE, headers=tenant.headers
        )
        assert response.status_code == 202, response.text
        assert wait(keyed, tenant, platform)["error"] is None
        break_next_poll(api)
        assert poll(keyed, tenant, platform)["last_error"] is not None
        before = state(settings, tenant, platform)
        assert all(before[name] for name in ("next_poll_at", "last_error", "backfill"))
        if platform != "measoft":  # MeaSoft keeps its own cursor (what was committed)
            assert all(before[name] for name in ("cursor", "memory"))
        if platform == "cscart":
            assert before["mode"] == "updated_at_from"
            assert before["suggestions"] == [field_name("cscart", c) for c in "AEG"]

        if change.get("store_url") == "unslashed":
            change = {"store_url": api.url.rstrip("/")}
        shown = put_connector(keyed, tenant, platform, {**first, **change})

    after = state(settings, tenant, platform)
    if starts_over:
        empty: Json = {"memory": {}, "suggestions": [], "backfill": None}
        assert after == {**dict.fromkeys(before), **empty}
        assert (shown["health"]["last_error"], shown["health"]["mode"]) == (None, None)
        response = keyed.get(f"/v1/connectors/{platform}/backfill", headers=tenant.headers)
        assert_problem(response, 404)
    else:
        assert after == before
    assert shown["health"]["failures_in_row"] == 0  # stored again: the count starts again


def test_another_store_is_read_from_scratch(
    keyed: TestClient, tenant: Tenant, settings: Settings
) -> None:
    with cscart_api() as old, cscart_api() as new:
        for api in (old, new):
            api.set("1", "O")
            api.set("2", "P")
        new.statuses = [*DEFAULT_STATUSES[:8], ("H", "Handed to the courier", "D", "Y")]
        put_connector(keyed, tenant, "cscart", body(old))
        assert poll(keyed, tenant, "cscart")["events_seen"] == 2
        assert poll(keyed, tenant, "cscart")["events_seen"] == 2  # remembered

        put_connector(keyed, tenant, "cscart", {**body(old), "store_url": new.url})
        health = poll(keyed, tenant, "cscart")
        # the same order ids are other orders there: listed in full and recorded
        assert (health["last_error"], health["events_seen"]) == (None, 4)
        assert new.paths() == ["/api/2/statuses/", "/api/2/orders/"]
        assert new.probes() == 1
        assert "updated_at_from" not in new.listings()[0]
        assert state(settings, tenant, "cscart")["suggestions"] == [field_name("cscart", "H")]
        assert poll(keyed, tenant, "cscart")["events_seen"] == 4


def test_another_account_waits_for_a_running_poll_or_backfill(
    keyed: TestClient, tenant: Tenant, settings: Settings
) -> None:
    with cscart_api() as api:
        first = body(api)
        put_connector(keyed, tenant, "cscart", first)
        lease = TenantKeys(settings.redis_prefix, tenant.tenant).connector_lease("cscart")
        store(settings).set(lease, "another-worker", px=60_000)
        moved = {**first, "store_url": f"{api.url}shop/"}
        response = keyed.put("/v1/connectors/cscart", json=moved, headers=tenant.headers)
        assert "busy" in assert_problem(response, 409)["detail"]
        assert keyed.get("/v1/connectors/cscart", headers=tenant.headers).json()["store_url"] == (
            api.url
        )
        put_connector(keyed, tenant, "cscart", {**first, "interval_s": 30})  # no need to wait
        assert store(settings).get(lease) == "another-worker"
        store(settings).delete(lease)
        assert put_connector(keyed, tenant, "cscart", moved)["store_url"] == moved["store_url"]
        assert store(settings).get(lease) is None  # taken for the change, then given back


def test_delete_forgets_the_account(
    keyed: TestClient, tenant: Tenant, settings: Settings, api: CscartServer
) -> None:
    seed(api)
    put_connector(keyed, tenant, "cscart", body(api))
    poll(keyed, tenant, "cscart")
    assert state(settings, tenant, "cscart")["memory"]
    assert keyed.delete("/v1/connectors/cscart", headers=tenant.headers).status_code == 204
    assert state(settings, tenant, "cscart") == {
        **dict.fromkeys(("cursor", "mode", "next_poll_at", "last_error", "backfill")),
        "memory": {},
        "suggestions": [],
    }


@pytest.mark.parametrize("platform", ["measoft", "cscart", "cloudcart"])
@pytest.mark.parametrize("interval", ["NaN", "nan", "Infinity", "-Infinity", "inf"])
def test_a_poll_interval_must_be_a_finite_number(
    keyed: TestClient, tenant: Tenant, platform: str, interval: str
) -> None:
    with serving(platform) as api:
        answer = keyed.put(
            f"/v1/connectors/{platform}",
            json={**body(api), "interval_s": interval},
            headers=tenant.headers,
        )
    problem = assert_problem(answer, 422)
    assert "finite number" in str(problem["errors"])
    assert keyed.get(f"/v1/connectors/{platform}", headers=tenant.headers).status_code == 404
