"""Replay: which change-feed entries `POST /v1/webhooks/{id}/replay` sends again.

A call names one order (`order_id`, with its `platform` when the id is on more than one), a time
range (`since`, `until`), or both; `platform` alone narrows a range to one platform. What it
selects then passes the endpoint's filter like any new event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from redis.asyncio import Redis

from gateway.errors import InvalidInput, NotFound
from gateway.storage.keys import TenantKeys
from gateway.tables import Tables

REPLAY_MAX = 100_000  # changes one call may send again
Entries = list[tuple[str, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class Window:
    """Change-feed ids between two times, in the feed's milliseconds, both ends included."""

    low_ms: int
    high_ms: int

    def holds(self, feed_id: str) -> bool:
        return self.low_ms <= int(feed_id.partition("-")[0]) <= self.high_ms


def window(since: datetime | None, until: datetime | None, now: datetime) -> Window:
    """`since` (else the feed's beginning) to `until` (else now). The feed holds nothing before
    1970, so earlier times read as its beginning."""
    if since is not None and until is not None and until < since:
        raise InvalidInput("`until` is before `since`", where="#/until")
    low = max(0, _ms(since)) if since is not None else 0
    return Window(low, _ms(until if until is not None else now))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a call asked for, checked: one order's changes, or a range (of one platform)."""

    order: tuple[str, str] | None
    platform: str | None
    window: Window


async def order_platform(
    client: Redis, keys: TenantKeys, tables: Tables, order_id: str, platform: str | None
) -> str:
    """The platform of `order_id`: the one given, or the only one that has changes of it."""
    if platform is not None:
        return tables.platform(platform, where="#/platform").platform
    names = sorted(tables.platforms)
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(keys.order_changes(name, order_id))
        found = [n for n, hit in zip(names, await pipe.execute(), strict=True) if hit]
    if len(found) > 1:
        raise InvalidInput(
            f"order {order_id!r} exists on {', '.join(found)}: send its `platform` too",
            where="#/platform",
        )
    if not found:
        raise NotFound(f"no changes of an order {order_id!r}", where="#/order_id")
    return found[0]


async def entries(client: Redis, keys: TenantKeys, selection: Selection) -> Entries:
    """The change-feed entries `selection` names, oldest first (at most REPLAY_MAX)."""
    span = selection.window
    if selection.order is not None:
        platform, order_id = selection.order
        ids = cast(list[str], await client.lrange(keys.order_changes(platform, order_id), 0, -1))
        if not ids:
            raise NotFound(f"no changes of order {platform}/{order_id}", where="#/order_id")
        return await _read(client, keys.changes, [i for i in ids if span.holds(i)])
    if span.high_ms < span.low_ms:
        return []
    found = cast(
        Entries,
        await client.xrange(
            keys.changes, f"{span.low_ms}-0", f"{span.high_ms}-{2**64 - 1}", count=REPLAY_MAX + 1
        ),
    )
    if len(found) > REPLAY_MAX:
        raise InvalidInput(
            f"more than {REPLAY_MAX:,} changes from `since` to `until`: replay a shorter range",
            where="#/since",
        )
    if selection.platform is None:
        return found
    return [(i, fields) for i, fields in found if fields.get("platform") == selection.platform]


async def _read(client: Redis, stream: str, ids: Sequence[str]) -> Entries:
    """The entries of `ids` that the feed still holds, in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for feed_id in ids:
            pipe.xrange(stream, feed_id, feed_id)
        replies = cast(list[Entries], await pipe.execute())
    return [entry for reply in replies for entry in reply]
