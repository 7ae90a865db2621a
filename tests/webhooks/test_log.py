"""Reading the delivery log (`webhooks.log`): an endpoint's log holds the attempts; an order's log
is a sorted set of references to them, or, written before that, a stream of copies that the
order's next attempt moves into it. Pages go newest first."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys
from webhooks import log as delivery_log
from webhooks.queue import DeliveryQueue, Settled

Json = dict[str, Any]
ORDER = ("cscart", "7")
Test = Callable[[DeliveryQueue, Redis, TenantKeys], Awaitable[None]]


def run(settings: Settings, test: Test) -> None:
    async def main() -> None:
        client = client_for(settings.redis_url or "")
        try:
            queue = DeliveryQueue(client, settings.redis_prefix, settings.history_days)
            tenant = f"l{uuid.uuid4().hex[:10]}"
            await test(queue, client, queue.keys(tenant))
        finally:
            await client.aclose()

    asyncio.run(main())


def attempt(endpoint: str, n: int) -> Json:
    return {"endpoint_id": endpoint, "platform": ORDER[0], "order_id": ORDER[1], "attempt": n}


async def log(queue: DeliveryQueue, keys: TenantKeys, *attempts: tuple[str, int]) -> None:
    """Log attempts (endpoint, n) of the order as the worker does (`lua/settle.lua`)."""
    settled = [Settled(endpoint, attempt(endpoint, n), ORDER) for endpoint, n in attempts]
    await queue.settle(keys.tenant, settled, [])


async def read(client: Redis, keys: TenantKeys, limit: int, cursor: str | None = None) -> Any:
    return await delivery_log.order_page(client, keys, ORDER, cursor=cursor, limit=limit)


async def copies(client: Redis, keys: TenantKeys, *attempts: Json) -> list[str]:
    """An order's log as written before: a stream of copies; their ids."""
    stream = keys.order_deliveries_stream(*ORDER)
    return [str(await client.xadd(stream, {"doc": orjson.dumps(a).decode()})) for a in attempts]


async def members(client: Redis, keys: TenantKeys) -> list[str]:
    return cast(list[str], await client.zrange(keys.order_deliveries(*ORDER), 0, -1))


def test_an_order_log_refers_to_its_endpoints_entries_newest_first(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, client: Redis, keys: TenantKeys) -> None:
        await log(queue, keys, ("ep_a", 1), ("ep_b", 1))
        await log(queue, keys, ("ep_a", 2))
        found, cursor = await read(client, keys, 10)
        assert [{k: e[k] for k in ("endpoint_id", "attempt")} for e in found] == [
            {"endpoint_id": "ep_a", "attempt": 2},
            {"endpoint_id": "ep_b", "attempt": 1},
            {"endpoint_id": "ep_a", "attempt": 1},
        ]
        assert [e["id"].partition("-")[2] for e in found] == ["3", "2", "1"]
        assert cursor is None
        ep_a = cast(list[tuple[str, Json]], await client.xrange(keys.webhook_log("ep_a")))
        refs = [m.split(" ") for m in await members(client, keys)]
        assert [endpoint for _, endpoint in refs] == ["ep_a", "ep_b", "ep_a"]
        assert [refs[0][0], refs[2][0]] == [entry_id for entry_id, _ in ep_a]

    run(settings, test)


def test_a_log_written_as_a_stream_reads_as_it_is(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, client: Redis, keys: TenantKeys) -> None:
        ids = await copies(client, keys, attempt("ep_old", 1), attempt("ep_old", 2))
        found, cursor = await read(client, keys, 10)
        assert found == [
            {"id": ids[1], **attempt("ep_old", 2)},
            {"id": ids[0], **attempt("ep_old", 1)},
        ]
        assert cursor is None

    run(settings, test)


def test_the_next_attempt_moves_a_stream_log_into_the_sorted_set(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, client: Redis, keys: TenantKeys) -> None:
        ids = await copies(client, keys, attempt("ep_old", 1), attempt("ep_old", 2))
        await log(queue, keys, ("ep_a", 1))
        assert not await client.exists(keys.order_deliveries_stream(*ORDER))
        found, _ = await read(client, keys, 10)
        assert [(e["id"], e["endpoint_id"], e["attempt"]) for e in found] == [
            (f"{found[0]['id'].partition('-')[0]}-3", "ep_a", 1),
            (f"{ids[1].partition('-')[0]}-2", "ep_old", 2),
            (f"{ids[0].partition('-')[0]}-1", "ep_old", 1),
        ]

    run(settings, test)


def test_what_an_older_worker_wrote_to_the_stream_after_the_move_is_moved_by_a_read(
    settings: Settings,
) -> None:
    """A rolling upgrade: the order's log is already a sorted set when a worker of the version
    before logs an attempt as a stream copy; reading the order's log moves it in after the rest
    (the stream goes), so the order's view misses nothing."""

    async def test(queue: DeliveryQueue, client: Redis, keys: TenantKeys) -> None:
        await log(queue, keys, ("ep_a", 1))
        await copies(client, keys, attempt("ep_old", 2))
        found, _ = await read(client, keys, 10)
        assert [(e["endpoint_id"], e["attempt"]) for e in found] == [("ep_old", 2), ("ep_a", 1)]
        assert [e["id"].partition("-")[2] for e in found] == ["2", "1"]
        assert not await client.exists(keys.order_deliveries_stream(*ORDER))
        await log(queue, keys, ("ep_a", 3))  # numbered on after what was moved
        found, _ = await read(client, keys, 10)
        assert [e["attempt"] for e in found] == [3, 2, 1]

    run(settings, test)


def test_a_reference_whose_entry_is_gone_is_skipped(settings: Settings) -> None:
    """A deleted endpoint's log goes with it: the order's log shows the others."""

    async def test(queue: DeliveryQueue, client: Redis, keys: TenantKeys) -> None:
        await log(queue, keys, ("ep_a", 1), ("ep_gone", 1), ("ep_a", 2))
        await client.delete(keys.webhook_log("ep_gone"))
        found, cursor = await read(client, keys, 2)
        assert [(e["endpoint_id"], e["attempt"]) for e in found] == [("ep_a", 2), ("ep_a", 1)]
        assert cursor == found[-1]["id"]  # a full page: the next one starts below it (empty)
        assert await read(client, keys, 2, cursor) == ([], None)

    run(settings, test)


def test_pages_follow_the_cursor(settings: Settings) -> None:
    async def test(queue: DeliveryQueue, client: Redis, keys: TenantKeys) -> None:
        await log(queue, keys, *[("ep_a", n) for n in range(5)])
        pages: list[list[int]] = []
        cursor: str | None = None
        while True:
            found, cursor = await read(client, keys, 2, cursor)
            pages.append([e["attempt"] for e in found])
            if cursor is None:
                break
        assert pages == [[4, 3], [2, 1], [0]]

    run(settings, test)


def test_what_the_history_no_longer_keeps_is_not_shown_and_is_trimmed(settings: Settings) -> None:
    """Every 16th attempt trims the order's log of what is older than the history; until then,
    reading skips it."""

    async def test(queue: DeliveryQueue, client: Redis, keys: TenantKeys) -> None:
        await log(queue, keys, ("ep_a", 0))
        old_ms = int(time.time() * 1000) - int(queue.history_ms) - 60_000
        key = keys.order_deliveries(*ORDER)
        await client.zadd(key, {f"{old_ms}-0 ep_a": 0})  # an attempt from before the history
        await log(queue, keys, *[("ep_a", n) for n in range(1, 15)])
        oldest = queue.keep_from(int(time.time() * 1000))
        found, _ = await delivery_log.order_page(
            client, keys, ORDER, cursor=None, limit=50, oldest=oldest
        )
        assert [e["attempt"] for e in found] == list(range(14, -1, -1))
        assert len(await members(client, keys)) == 16
        await log(queue, keys, ("ep_a", 15))  # the 16th
        assert len(await members(client, keys)) == 16
        assert f"{old_ms}-0 ep_a" not in await members(client, keys)

    run(settings, test)
