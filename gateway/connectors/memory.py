"""What a connector remembers per order between polls: the status it recorded last, in Redis.

CS-Cart's list carries no time of a status change, and CloudCart's re-lists an order for any
edit, so a poll records an order only when its status differs from the one recorded last. That
map used to live in the cursor, rewritten whole (up to ~1 MB) on every poll; here it is a Redis
hash that a poll reads only for the orders it lists (HMGET) and writes only for the orders it
recorded (HSET).

It stays bounded with two generations: writes go to the newer hash, and once it holds more than
`limit` orders it becomes the older one (RENAME, which drops the previous older one). A recall
reads both, so the last `limit` orders recorded are always remembered, and never more than
twice `limit`. An order forgotten that way and merely listed again is recorded once more, as an
unchanged status (it is remembered again from then on).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import cast

from redis.asyncio import Redis

from gateway.storage.keys import TenantKeys

MAX_REMEMBERED = 50_000  # orders per generation
CHUNK = 1_000  # fields per HMGET / HSET, so no single command is huge


class RedisMemory:
    """The memory of one tenant's connector (both keys share the tenant's hash tag, so RENAME
    works on Redis Cluster)."""

    def __init__(
        self, client: Redis, keys: TenantKeys, platform: str, limit: int = MAX_REMEMBERED
    ) -> None:
        self._r = client
        self._new = keys.connector_last(platform)
        self._old = keys.connector_last_old(platform)
        self._limit = limit

    async def recall(self, order_ids: Collection[str]) -> dict[str, str]:
        """The status recorded last for each of `order_ids` that has one."""
        ids = list(dict.fromkeys(order_ids))
        found: dict[str, str] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.hmget(self._new, chunk)
                pipe.hmget(self._old, chunk)
                newer, older = cast(list[list[str | None]], await pipe.execute())
            for order_id, new, old in zip(chunk, newer, older, strict=True):
                value = new if new is not None else old
                if value is not None:
                    found[order_id] = value
        return found

    async def remember(self, values: Mapping[str, str]) -> None:
        """Store the status just recorded for each order (only those)."""
        items = list(values.items())
        for start in range(0, len(items), CHUNK):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._new, mapping=dict(items[start : start + CHUNK]))
                pipe.hlen(self._new)
                _, size = await pipe.execute()
            if int(size) > self._limit:
                await self._r.rename(self._new, self._old)

    def keys(self) -> tuple[str, str]:
        """Both generations' key names (to delete them)."""
        return self._new, self._old
