"""CS-Cart stores whose version lacks `updated_at_from` (they ignore it and list every order):
noticed on the first poll and daily after, paged newest first by date, each change recorded
once; and the connector's memory of each order's letter, written only for the orders recorded."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from gateway.connectors import cscart
from gateway.connectors.memory import RedisMemory
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from tests.connectors.cscart_server import CscartServer, cscart_api
from tests.connectors.test_cscart import connect, order, run
from tests.factories import Tenant, changes

Json = dict[str, Any]
LETTERS = "OPCIDFBY"
STEP_S = 8_640  # an order every tenth of a day: 300 in the 30 days a by-date poll reads


@pytest.fixture
def api() -> Iterator[CscartServer]:
    with cscart_api() as server:
        yield server


def store(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url or "", decode_responses=True)


def keys(settings: Settings, tenant: Tenant) -> TenantKeys:
    return TenantKeys(settings.redis_prefix, tenant.tenant)


def cursor(settings: Settings, tenant: Tenant) -> Json:
    raw = store(settings).hget(keys(settings, tenant).connector_health("cscart"), "cursor")
    assert isinstance(raw, str)
    found: Json = orjson.loads(raw)
    return found


def place(api: CscartServer, count: int) -> None:
    """`count` orders, the n-th placed (and last changed) n - ½ tenths of a day ago."""
    now = int(time.time())
    for n in range(1, count + 1):
        at = now - n * STEP_S + STEP_S // 2
        api.set(str(n), LETTERS[n % len(LETTERS)], updated=at, placed=at)


def timelines(client: TestClient, tenant: Tenant, *order_ids: str) -> list[int]:
    return [len(order(client, tenant, o)["timeline"]) for o in order_ids]


def test_a_store_without_updated_at_from_is_paged_by_date(
    keyed: TestClient, tenant: Tenant, api: CscartServer, settings: Settings
) -> None:
    api.ignores_updated_at_from = True
    place(api, 450)
    connect(keyed, tenant, api)
    health = run(keyed, tenant)
    assert health["last_error"] is None
    assert health["mode"] == "by_date"
    assert (health["orders_seen"], health["events_seen"]) == (450, 450)
    assert api.pages() == ["1", "2", "3", "4", "5"]  # the first poll reads every order
    assert all(
        (q["sort_by"], q["sort_order"], q["items_per_page"]) == ("date", "desc", "100")
        and "updated_at_from" not in q
        for q in api.listings()
    )

    # nothing changed: the last 30 days are read again (page 4 reaches older orders), and
    # nothing is recorded again
    api.requests.clear()
    health = run(keyed, tenant)
    assert api.pages() == ["1", "2", "3", "4"]
    assert (health["last_error"], health["events_seen"]) == (None, 450)

    # an order placed ten days ago changes, a new one comes: both recorded, once
    api.set("100", "C")
    api.set("451", "O")
    health = run(keyed, tenant)
    assert health["events_seen"] == 452
    assert order(keyed, tenant, "100")["current"]["code"] == "completed"
    assert order(keyed, tenant, "451")["current"]["code"] == "pending"
    health = run(keyed, tenant)
    assert health["events_seen"] == 452
    assert timelines(keyed, tenant, "1", "100", "300", "450", "451") == [1, 2, 1, 1, 1]
    assert [c["sequence"] for c in changes(settings, tenant) if c["order_id"] == "100"] == [
        "1",
        "2",
    ]

    # an order placed before the window is not compared any more: the list has no time of
    # change to find it by (platform-apis.md §3.2)
    api.set("400", "C")
    assert run(keyed, tenant)["events_seen"] == 452


@pytest.mark.parametrize(
    ("ignores", "mode", "then"),
    [(False, "updated_at_from", "by_date"), (True, "by_date", "updated_at_from")],
    ids=["honoured-then-ignored", "ignored-then-honoured"],
)
def test_the_mode_is_asked_once_and_again_a_day_later(
    keyed: TestClient,
    tenant: Tenant,
    api: CscartServer,
    settings: Settings,
    ignores: bool,
    mode: str,
    then: str,
) -> None:
    api.ignores_updated_at_from = ignores
    api.set("1", "O", updated=int(time.time()) - 3600)
    connect(keyed, tenant, api)
    assert run(keyed, tenant)["mode"] == mode
    assert run(keyed, tenant)["events_seen"] == 1
    assert api.probes() == 1
    shown = keyed.get("/v1/connectors/cscart", headers=tenant.headers).json()
    assert shown["health"]["mode"] == mode

    # a day later the store was upgraded (or restored from an old version): asked again
    api.ignores_updated_at_from = not ignores
    aged = {**cursor(settings, tenant), "mode_at": int(time.time()) - cscart.MODE_EVERY_S}
    store(settings).hset(
        keys(settings, tenant).connector_health("cscart"), "cursor", orjson.dumps(aged)
    )
    api.set("1", "P")
    health = run(keyed, tenant)
    assert (health["mode"], api.probes(), health["events_seen"]) == (then, 2, 2)
    assert cursor(settings, tenant)["mode"] == then
    assert order(keyed, tenant, "1")["current"]["code"] == "confirmed"


def test_rows_older_than_the_filter_switch_to_by_date_at_once(
    keyed: TestClient, tenant: Tenant, api: CscartServer
) -> None:
    api.lists_updated_at = True
    hour_ago = int(time.time()) - 3600
    api.set("1", "O", updated=hour_ago)
    api.set("2", "P", updated=hour_ago)
    connect(keyed, tenant, api)
    assert run(keyed, tenant)["mode"] == "updated_at_from"

    api.ignores_updated_at_from = True  # both come back, changed an hour before the filter
    api.requests.clear()
    health = run(keyed, tenant)
    assert (health["mode"], health["events_seen"], api.probes()) == ("by_date", 2, 0)
    api.set("2", "C")
    api.requests.clear()
    health = run(keyed, tenant)
    assert health["events_seen"] == 3
    assert all(q["sort_by"] == "date" for q in api.listings())
    assert timelines(keyed, tenant, "1", "2") == [1, 2]


@contextmanager
def watching(settings: Settings) -> Iterator[list[str]]:
    """Every command the Redis server runs meanwhile (MONITOR), as `CMD arg arg …`."""
    client = store(settings)
    seen: list[str] = []
    ready = threading.Event()
    marker = f"stop-watching-{uuid.uuid4().hex}"

    def watch() -> None:
        with client.monitor() as monitor:  # type: ignore[no-untyped-call]  # untyped in redis-py
            ready.set()
            for info in monitor.listen():
                if marker in info["command"]:
                    return
                seen.append(info["command"])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield seen
    finally:
        client.echo(marker)
        thread.join(5)


@pytest.mark.parametrize("ignores", [False, True], ids=["updated_at_from", "by_date"])
def test_a_poll_writes_the_memory_of_the_orders_it_recorded_only(
    keyed: TestClient, tenant: Tenant, api: CscartServer, settings: Settings, ignores: bool
) -> None:
    api.ignores_updated_at_from = ignores
    place(api, 200)
    connect(keyed, tenant, api)
    assert run(keyed, tenant)["events_seen"] == 200
    memory = keys(settings, tenant).connector_last("cscart")
    assert store(settings).hlen(memory) == 200
    before = store(settings).hgetall(memory)

    api.set("7", "C")
    api.set("42", "I")
    with watching(settings) as seen:
        health = run(keyed, tenant)
    assert health["events_seen"] == 202
    writes = [c.split(" ") for c in seen if f" {memory} " in c and not c.startswith("HMGET")]
    assert [w[:2] for w in writes] == [["HSET", memory]]  # one write, of the two orders
    assert dict(zip(writes[0][2::2], writes[0][3::2], strict=True)) == {"7": "C", "42": "I"}
    assert store(settings).hgetall(memory) == {**before, "7": "C", "42": "I"}
    # the cursor stays small: no map of every order in it any more
    assert "last" not in cursor(settings, tenant)
    assert len(orjson.dumps(cursor(settings, tenant))) < 200


def test_a_cursor_from_before_the_memory_is_moved_into_it(
    keyed: TestClient, tenant: Tenant, api: CscartServer, settings: Settings
) -> None:
    api.set("1", "O")
    api.set("2", "P")
    connect(keyed, tenant, api)
    assert run(keyed, tenant)["events_seen"] == 2
    k = keys(settings, tenant)
    old = {**cursor(settings, tenant), "last": {"1": "O", "2": "P"}}
    store(settings).delete(k.connector_last("cscart"))
    store(settings).hset(k.connector_health("cscart"), "cursor", orjson.dumps(old))
    api.set("2", "C")
    assert run(keyed, tenant)["events_seen"] == 3  # order 1, listed again, is not re-recorded
    assert store(settings).hgetall(k.connector_last("cscart")) == {"1": "O", "2": "C"}
    assert "last" not in cursor(settings, tenant)
    assert timelines(keyed, tenant, "1", "2") == [1, 2]


def test_the_memory_keeps_the_last_orders_recorded_in_two_generations(
    settings: Settings,
) -> None:
    async def main() -> None:
        client = Redis.from_url(settings.redis_url or "", decode_responses=True)
        k = TenantKeys(settings.redis_prefix, f"memory-{uuid.uuid4().hex[:8]}")
        memory = RedisMemory(client, k, "cscart", limit=3)
        try:
            await memory.remember({"1": "O", "2": "O", "3": "O"})
            assert await memory.recall(["1", "2", "3", "4"]) == {"1": "O", "2": "O", "3": "O"}
            await memory.remember({"4": "P"})  # 4 > 3: this generation becomes the older one
            assert not await client.exists(k.connector_last("cscart"))
            assert await memory.recall(["1", "4"]) == {"1": "O", "4": "P"}
            await memory.remember({"1": "C"})
            assert await memory.recall(["1"]) == {"1": "C"}  # the newer generation wins
            await memory.remember({"5": "O", "6": "O", "7": "O"})  # the first one is dropped
            assert await memory.recall(["1", "2", "3", "4", "5"]) == {"1": "C", "5": "O"}
            assert await client.hlen(k.connector_last_old("cscart")) == 4
        finally:
            await client.delete(*memory.keys())
            await client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("stamps", "before", "expected"),
    [
        ([30, 20, 20, 10], None, True),
        ([30, 20, 10], 30, True),
        ([30, 20, 10], 25, False),  # the page starts newer than the previous one ended
        ([10, 20, 30], None, False),  # oldest first: a store that ignores `sort_by`
        ([30, None, 10], None, False),  # a row without its time
        ([], 5, True),
    ],
)
def test_only_pages_newest_first_stop_a_by_date_poll(
    stamps: list[int | None], before: int | None, expected: bool
) -> None:
    assert cscart.newest_first(stamps, before) is expected


NOW = 1_715_689_331


@pytest.mark.parametrize(
    ("updated_from", "expected"),
    [
        (None, None),  # the first poll reads every order
        (NOW - 60, NOW - cscart.DATE_WINDOW_S),  # the window
        # the last poll is longer ago than the window (a paused connector): back to it
        (NOW - 40 * 86_400, NOW - 40 * 86_400),
    ],
)
def test_the_horizon_of_a_by_date_poll(updated_from: int | None, expected: int | None) -> None:
    assert cscart.horizon(updated_from, NOW) == expected
