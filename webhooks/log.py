"""Reading the delivery log: newest first, filtered, paged by log entry id."""

from __future__ import annotations

from typing import Any, cast

import orjson
from redis.asyncio import Redis

SCAN_BATCH = 200
SCAN_LIMIT = 20_000  # entries looked at for one page before it is answered short, with a cursor
Json = dict[str, Any]


async def page(
    client: Redis,
    key: str,
    *,
    cursor: str | None,
    limit: int,
    result: str | None = None,
    platform: str | None = None,
    order_id: str | None = None,
    endpoint_id: str | None = None,
    oldest: str = "-",
) -> tuple[list[Json], str | None]:
    """Entries of the log stream `key` older than `cursor` and not older than `oldest` (the
    retention: streams are trimmed only roughly), matching the filters, and the cursor of the
    next page (None when the log has nothing older)."""
    found: list[Json] = []
    if cursor == "0-0":  # nothing is older than the first possible id
        return found, None
    high = f"({cursor}" if cursor else "+"
    scanned = 0
    while len(found) < limit and scanned < SCAN_LIMIT:
        rows = cast(
            list[tuple[str, dict[str, str]]],
            await client.xrevrange(key, max=high, min=oldest, count=SCAN_BATCH),
        )
        if not rows:
            return found, None
        scanned += len(rows)
        for entry_id, fields in rows:
            high = f"({entry_id}"
            doc: Json = orjson.loads(fields["doc"])
            if result and doc.get("result") != result:
                continue
            if platform is not None and doc.get("platform") != platform:
                continue
            if order_id is not None and doc.get("order_id") != order_id:
                continue
            if endpoint_id and doc.get("endpoint_id") != endpoint_id:
                continue
            found.append({"id": entry_id, **doc})
            if len(found) == limit:
                return found, entry_id
        if len(rows) < SCAN_BATCH:
            return found, None
    return found, high[1:]


async def latest(client: Redis, keys: list[str], oldest: str = "-") -> list[Json | None]:
    """The newest entry of each log stream in `keys` not older than `oldest` (None for none), in
    one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.xrevrange(key, max="+", min=oldest, count=1)
        replies = cast(list[list[tuple[str, dict[str, str]]]], await pipe.execute())
    return [
        {"id": rows[0][0], **orjson.loads(rows[0][1]["doc"])} if rows else None for rows in replies
    ]
