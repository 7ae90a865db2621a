"""Reading the delivery log (`webhooks.log`): an endpoint's log holds the attempts, an order's log
refers to them (or, written before that, holds copies); pages go newest first by log id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.keys import TenantKeys
from webhooks import log as delivery_log

Json = dict[str, Any]
ORDER = ("cscart", "7")


def run(settings: Settings, test: Callable[[Redis, TenantKeys], Awaitable[None]]) -> None:
    async def main() -> None:
        client = client_for(settings.redis_url or "")
        try:
            await test(client, TenantKeys(settings.redis_prefix, f"l{uuid.uuid4().hex[:10]}"))
        finally:
            await client.aclose()

    asyncio.run(main())


def attempt(endpoint: str, n: int) -> Json:
    return {"endpoint_id": endpoint, "platform": ORDER[0], "order_id": ORDER[1], "attempt": n}


async def log(client: Redis, keys: TenantKeys, endpoint: str, n: int) -> str:
    """Log attempt `n` to `endpoint` as the worker does: in the endpoint's log, and a reference
    to it in the order's log; the order log entry's id."""
    entry = orjson.dumps(attempt(endpoint, n)).decode()
    at = await client.xadd(keys.webhook_log(endpoint), {"doc": entry})
    ref = {"endpoint": endpoint, "at": at}
    return str(await client.xadd(keys.order_deliveries(*ORDER), ref))  # type: ignore[arg-type]


async def read(client: Redis, keys: TenantKeys, limit: int, cursor: str | None = None) -> Any:
    return await delivery_log.page(
        client,
        keys.order_deliveries(*ORDER),
        cursor=cursor,
        limit=limit,
        log_of=keys.webhook_log,
    )


def test_an_order_log_reads_its_references_and_older_copies_newest_first(
    settings: Settings,
) -> None:
    async def test(client: Redis, keys: TenantKeys) -> None:
        copy = attempt("ep_old", 1)
        old = await client.xadd(keys.order_deliveries(*ORDER), {"doc": orjson.dumps(copy).decode()})
        first = await log(client, keys, "ep_a", 1)
        second = await log(client, keys, "ep_b", 2)
        found, cursor = await read(client, keys, 10)
        assert found == [
            {"id": second, **attempt("ep_b", 2)},
            {"id": first, **attempt("ep_a", 1)},
            {"id": old, **copy},
        ]
        assert cursor is None

    run(settings, test)


def test_a_reference_whose_entry_is_gone_is_skipped(settings: Settings) -> None:
    """A deleted endpoint's log goes with it: the order's log shows the others."""

    async def test(client: Redis, keys: TenantKeys) -> None:
        kept = await log(client, keys, "ep_a", 1)
        await log(client, keys, "ep_gone", 1)
        await client.delete(keys.webhook_log("ep_gone"))
        newest = await log(client, keys, "ep_a", 2)
        found, cursor = await read(client, keys, 2)
        assert [e["id"] for e in found] == [newest, kept]
        assert cursor == kept  # a full page: the next one starts below it (and is empty)
        assert await read(client, keys, 2, cursor) == ([], None)

    run(settings, test)


def test_pages_of_references_follow_the_cursor(settings: Settings) -> None:
    async def test(client: Redis, keys: TenantKeys) -> None:
        ids = [await log(client, keys, "ep_a", n) for n in range(5)]
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            found, cursor = await read(client, keys, 2, cursor)
            pages.append([e["id"] for e in found])
            if cursor is None:
                break
        assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]

    run(settings, test)
