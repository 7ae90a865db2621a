"""Reading the delivery log: newest first, filtered, paged by log entry id.

An attempt is stored once, in its endpoint's log (a stream; `doc`: the entry's JSON). An order's
log is a sorted set of references to those entries (`<entry id> <endpoint id>`, scored 1, 2, …),
read back here in one round trip per page; its ids are `<ms>-<score>`. An order's log written
before that is a stream of copies (`doc`), read as it is until the order's next attempt moves it
into the sorted set (`lua/log.lua`), where a copy is a member `<id> <JSON>`; what a worker of the
version before writes to the stream after that (a rolling upgrade) is moved by the next read
(`lua/move.lua`). A reference whose entry is gone (its endpoint was deleted, and its log with it)
is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from gateway.storage.keys import TenantKeys
from webhooks.queue import script

MOVE = script("log.lua", "move.lua")  # an order's log: what a stream still holds, into its set
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


async def order_page(
    client: Redis,
    keys: TenantKeys,
    order: tuple[str, str],
    *,
    cursor: str | None,
    limit: int,
    oldest: str = "-",
) -> tuple[list[Json], str | None]:
    """The attempts of the order's changes to any endpoint, newest first, not older than
    `oldest` (a stream id), after `cursor`, and the cursor of the next page (None at the end)."""
    key, stream = keys.order_deliveries(*order), keys.order_deliveries_stream(*order)
    async with client.pipeline(transaction=False) as pipe:
        pipe.exists(key)
        pipe.exists(stream)
        in_set, in_stream = await pipe.execute()
    if not in_set:  # nothing logged since its log was a stream
        return await page(client, stream, cursor=cursor, limit=limit, oldest=oldest)
    if in_stream:
        await client.register_script(MOVE)(keys=[key, stream])
    oldest_ms = int(oldest.partition("-")[0]) if oldest != "-" else 0
    high = f"({cursor.partition('-')[2]}" if cursor else "+inf"
    found: list[Json] = []
    while len(found) < limit:
        count = limit - len(found)
        rows = cast(
            list[tuple[str, float]],
            await client.zrange(
                key, high, "-inf", byscore=True, desc=True, offset=0, num=count, withscores=True
            ),
        )
        # A member is `<entry id> <endpoint id>`, or `<id> <JSON>` for a copy moved from a stream.
        parts = [member.partition(" ") for member, _ in rows]
        entries = [
            (at, {"doc": rest} if rest[:1] == "{" else {"endpoint": rest, "at": at})
            for at, _, rest in parts
        ]
        docs = await _docs(client, entries, keys.webhook_log)
        for (_, score), (at, _), doc in zip(rows, entries, docs, strict=True):
            high = f"({int(score)}"
            ms = int(at.partition("-")[0])
            if doc is None or ms < oldest_ms:
                continue
            found.append({"id": f"{ms}-{int(score)}", **doc})
        if len(rows) < count:
            return found, None
    return found, found[-1]["id"]


async def _docs(
    client: Redis,
    rows: Sequence[tuple[str, dict[str, str]]],
    log_of: Callable[[str], str],
) -> list[Json | None]:
    """The attempt each row records: its own `doc`, or the endpoint log's entry it refers to
    (None when that is gone), fetched in one round trip."""
    refs = [fields for _, fields in rows if "doc" not in fields]
    found: dict[tuple[str, str], Json] = {}
    if refs:
        async with client.pipeline(transaction=False) as pipe:
            for ref in refs:
                pipe.xrange(log_of(ref["endpoint"]), ref["at"], ref["at"])
            replies = cast(list[list[tuple[str, dict[str, str]]]], await pipe.execute())
        found = {
            (ref["endpoint"], ref["at"]): orjson.loads(entries[0][1]["doc"])
            for ref, entries in zip(refs, replies, strict=True)
            if entries
        }
    return [
        orjson.loads(fields["doc"])
        if "doc" in fields
        else found.get((fields.get("endpoint", ""), fields.get("at", "")))
        for _, fields in rows
    ]


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
