"""CS-Cart (and Multi-Vendor) orders, polled through the REST API (`/api/2/orders/`).

CS-Cart sends no order webhooks, so the gateway polls (`../shared/reference/platform-apis.md`
§3.6), in HTTP Basic auth with the admin's e-mail and API key. The list carries no time of the
status change, so each order's letter is recorded with no time of its own, and only when it
differs from the letter the connector recorded last for that order (its memory,
`gateway.connectors.memory`). Which orders a poll lists depends on the store's version (§3.2):

- `updated_at_from` (newer versions): every page of the orders changed since the last poll, with
  a minute of overlap.
- `by_date` (versions without that filter, which ignore it and list every order): the orders
  newest first by the time they were placed (`sort_by=date&sort_order=desc`, the list's only time,
  `timestamp`), down to those placed `DATE_WINDOW_S` ago (or at the last poll, when that was
  longer ago); each one is compared with the memory. A status change of an order placed before
  the window is not seen.

Which one a store needs is asked on the first poll and again daily: a store that honours the
filter lists nothing updated a year from now, one that ignores it lists its orders. Rows that
carry an `updated_at` older than the filter switch a store to `by_date` at once.

Once a day (and on the first poll) the store's own order statuses are read from
`/api/2/statuses/`: a letter the CS-Cart table does not know is the store's own, and the
connector suggests a mapping from what the store says about it (§3.3, §3.4).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from gateway.connectors import rejects
from gateway.connectors.base import Json, Memory, Page, PollInterval, Pulled, Record
from gateway.connectors.http import get_json
from gateway.connectors.rejects import Rejected
from gateway.errors import GatewayError, InvalidPayload
from gateway.ingest import NativeEvent
from gateway.settings import Settings
from gateway.tables.loader import load_platform
from gateway.tables.schema import PlatformFile

PER_PAGE = 100
MAX_PAGES = 10_000  # a store that ignores `page` cannot keep a poll going for ever
OVERLAP_S = 60  # the next poll asks again for the last minute: clocks and slow saves
STATUSES_EVERY_S = 86_400
MODE_EVERY_S = 86_400  # an upgraded (or restored) store is noticed within a day
PROBE_AHEAD_S = 366 * 86_400  # "updated a year from now": nothing, unless the filter is ignored
DATE_WINDOW_S = 30 * 86_400  # by date: the orders placed in the last 30 days are compared
UPDATED = "updated_at_from"
BY_DATE = "by_date"
MODES = (UPDATED, BY_DATE)
Listed = dict[str, tuple[str, str]]  # order id → (letter, where)


class CscartOptions(BaseModel):
    """What is stored in clear: everything but the API key."""

    model_config = ConfigDict(extra="forbid")
    store_url: HttpUrl = Field(description="The store's root address (`/api/2/` is added).")
    email: str = Field(
        min_length=3,
        max_length=254,
        pattern=r"^[^\s:@]+@[^\s:@]+$",
        description="The administrator's e-mail the API key belongs to.",
    )
    interval_s: PollInterval = None


class CscartIn(CscartOptions):
    """PUT /v1/connectors/cscart."""

    api_key: SecretStr = Field(min_length=1, max_length=200)


PLATFORM = "cscart"
SECRET_FIELDS = ("api_key",)
SOURCE_FIELDS = ("store_url",)  # another admin's e-mail or key reads the same store
Options = CscartOptions
In = CscartIn


@cache
def table() -> PlatformFile:
    """The gateway's CS-Cart table (mappings/cscart.toml), read once."""
    return load_platform(Settings().mappings_dir / "cscart.toml")


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    auth: str,
    what: str,
) -> Any:
    return await get_json(
        session,
        url,
        params=params,
        headers={"Accept": "application/json", "Authorization": auth},
        platform="CS-Cart",
        what=what,
        auth_hint="check the administrator's e-mail, the API key and that the administrator's "
        "API access is on",
        reasons={
            509: "the store's limit of API requests per hour is reached",
            503: "the store is closed or being upgraded",
        },
    )


def _count(value: object, what: str) -> int:
    """A non-negative count; CS-Cart sends numbers as strings (sometimes as numbers)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise InvalidPayload(f"CS-Cart's {what} is not a count: {value!r}")


def _page(doc: Any, member: str, what: str) -> tuple[list[Json], int | None]:
    """The objects of one page and `params.total_items` (None when absent)."""
    if not isinstance(doc, dict):
        raise InvalidPayload(f"CS-Cart's answer to {what} is not a JSON object")
    items = doc.get(member)
    if isinstance(items, dict):  # some versions key the list by id
        items = list(items.values())
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidPayload(f"CS-Cart's answer to {what} has no list of objects in {member!r}")
    params = doc.get("params")
    if params is None:
        return items, None
    if not isinstance(params, dict):
        raise InvalidPayload(f"CS-Cart's answer to {what} has a `params` that is not an object")
    total = params.get("total_items")
    return items, None if total is None else _count(total, f"{what} params.total_items")


def _letter(value: object, what: str) -> str:
    if isinstance(value, str) and len(value) == 1 and "A" <= value <= "Z":
        return value
    raise InvalidPayload(f"CS-Cart's {what} is not a status letter: {value!r}")


def _last_page(items: list[Json], total: int | None, page: int) -> bool:
    return not items or total is None or page * PER_PAGE >= total


async def _fetch(
    session: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    auth: str,
    member: str,
    page: int,
) -> tuple[list[Json], int | None]:
    """One page: its objects and `params.total_items`."""
    what = f"{member} page {page}"
    doc = await _get(
        session, url, {**params, "items_per_page": str(PER_PAGE), "page": str(page)}, auth, what
    )
    return _page(doc, member, what)


async def _all_pages(
    session: aiohttp.ClientSession,
    url: str,
    params: Mapping[str, str],
    auth: str,
    member: str,
) -> list[tuple[int, int, Json]]:
    """Every object of every page, as (page, index on the page, object)."""
    found: list[tuple[int, int, Json]] = []
    for page in range(1, MAX_PAGES + 1):
        items, total = await _fetch(session, url, params, auth, member, page)
        found.extend((page, i, item) for i, item in enumerate(items))
        if _last_page(items, total, page):
            break
    return found


def _order(where: str, order: Json) -> tuple[str, str]:
    """(order id, letter) of the order listed at `where`."""
    order_id = order.get("order_id")
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        order_id = str(order_id)
    if not isinstance(order_id, str) or not order_id.strip():
        raise InvalidPayload(f"CS-Cart's {where}/order_id is not an id: {order_id!r}")
    return order_id, _letter(order.get("status"), f"{where}/status")


def _listed(found: Iterable[tuple[int, int, Json]]) -> tuple[Listed, list[Rejected]]:
    """order_id → (letter, where) of every order listed (the last listing of an order wins),
    and the listed items set aside as unreadable."""
    orders: Listed = {}
    unreadable: list[Rejected] = []
    for page, i, order in found:
        where = f"orders page {page} #/orders/{i}"
        try:
            order_id, letter = _order(where, order)
        except InvalidPayload as exc:
            unreadable.append(rejects.of(exc, where, rejects.order_id_of(order.get("order_id"))))
            continue
        orders[order_id] = (letter, where)
    return orders, unreadable


def _epoch(value: object) -> int | None:
    """A UNIX time as CS-Cart sends it (a string, sometimes a number); None when absent or
    unreadable: a time only decides how far to read, never what is recorded."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def probed_mode(items: list[Json], total: int | None) -> str:
    """The mode a store needs, from its answer to "orders updated a year from now": none
    listed means it filters by `updated_at_from`; any means it ignores the filter. An empty
    store looks like the first (harmless: an ignored filter only makes every poll read every
    order, and the next daily check sees the orders)."""
    return BY_DATE if items or (total or 0) > 0 else UPDATED


def ignores_filter(orders: Iterable[Json], updated_from: int | None) -> bool:
    """Whether listed orders show an ignored `updated_at_from`: one that carries an
    `updated_at` older than the filter (the documented list has no `updated_at`, so this only
    speaks for stores that add it)."""
    if updated_from is None:
        return False
    return any(
        (at := _epoch(order.get("updated_at"))) is not None and at < updated_from
        for order in orders
    )


def newest_first(stamps: Sequence[int | None], before: int | None) -> bool:
    """Whether a page's placement times run newest first, on from the previous page's last one
    (`before`): only then does an order older than the horizon mean the rest are older still.
    A store that ignores `sort_by` (or a row without a time) is read to its last page."""
    if any(at is None for at in stamps):
        return False
    chain = [at for at in (before, *stamps) if at is not None]
    return all(a >= b for a, b in pairwise(chain))


def reached(stamps: Sequence[int | None], oldest: int) -> bool:
    """Whether a page (newest first) got down to orders placed before `oldest`."""
    return any(at is not None and at < oldest for at in stamps)


def horizon(updated_from: int | None, now: int) -> int | None:
    """How far back a by-date poll reads: the orders placed in the last `DATE_WINDOW_S` (their
    status may still change), and back to the last poll when that was longer ago (a connector
    paused for weeks). None (every order) on the first poll, as with `updated_at_from`."""
    if updated_from is None:
        return None
    return min(updated_from, now - DATE_WINDOW_S)


async def _probe(session: aiohttp.ClientSession, base: str, auth: str, now: int) -> str:
    """Ask the store which mode it needs (one order at most is listed)."""
    what = "orders (is updated_at_from supported?)"
    params = {"updated_at_from": str(now + PROBE_AHEAD_S), "items_per_page": "1", "page": "1"}
    items, total = _page(await _get(session, base + "orders/", params, auth, what), "orders", what)
    return probed_mode(items, total)


async def _changed_orders(
    session: aiohttp.ClientSession, base: str, auth: str, updated_from: int | None
) -> tuple[tuple[Listed, list[Rejected]], bool]:
    """Every order updated since `updated_from` (every order when None), with the unreadable
    ones, and whether the rows show that the store ignored the filter."""
    params = {"sort_order": "asc"}
    if updated_from is not None:
        params["updated_at_from"] = str(updated_from)
    found = await _all_pages(session, base + "orders/", params, auth, "orders")
    return _listed(found), ignores_filter((o for _, _, o in found), updated_from)


async def _recent_orders(
    session: aiohttp.ClientSession, base: str, auth: str, oldest: int | None
) -> tuple[Listed, list[Rejected]]:
    """The orders newest first by the time they were placed, down to the first page that
    reaches `oldest` (every order when None)."""
    params = {"sort_by": "date", "sort_order": "desc"}
    found: list[tuple[int, int, Json]] = []
    ordered, before = True, None
    for page in range(1, MAX_PAGES + 1):
        items, total = await _fetch(session, base + "orders/", params, auth, "orders", page)
        found.extend((page, i, item) for i, item in enumerate(items))
        stamps = [_epoch(item.get("timestamp")) for item in items]
        ordered = ordered and newest_first(stamps, before)
        before = stamps[-1] if stamps else before
        if _last_page(items, total, page) or (
            oldest is not None and ordered and reached(stamps, oldest)
        ):
            break
    return _listed(found)


def suggest(status: Json, known: PlatformFile) -> Json:
    """The mapping suggested for a store's own letter, from the status' `params`."""
    params = status.get("params") if isinstance(status.get("params"), dict) else {}
    assert isinstance(params, dict)
    label = status.get("description") if isinstance(status.get("description"), str) else ""
    canonical: str
    if params.get("payment_received") == "Y":
        canonical = known.statuses["P"].canonical
        reason = "the store counts the payment as received in it (payment_received=Y), like P"
    elif params.get("inventory") == "I":
        canonical = known.statuses["I"].canonical
        reason = "it gives the stock back (inventory=I), like I (Canceled)"
    else:
        canonical = "on_hold"
        reason = "neither paid nor giving the stock back: the store's own intermediate status"
    return {"canonical": canonical, "label": label, "reason": reason}


async def _suggestions(
    session: aiohttp.ClientSession, base: str, auth: str
) -> tuple[dict[str, Json], list[Rejected]]:
    """A suggested mapping per store letter the gateway does not know, and the statuses set aside
    as unreadable (no order has such a letter either)."""
    known = table()
    out: dict[str, Json] = {}
    unreadable: list[Rejected] = []
    for page, i, status in await _all_pages(session, base + "statuses/", {}, auth, "statuses"):
        if status.get("type") != "O":
            continue
        where = f"statuses page {page} #/statuses/{i}/status"
        try:
            letter = _letter(status.get("status"), where)
        except InvalidPayload as exc:
            unreadable.append(rejects.of(exc, where))
            continue
        if letter not in known.statuses:
            out[letter] = suggest(status, known)
    return out, unreadable


def _remembered(cursor: Json) -> dict[str, str]:
    """The letters a cursor from before the memory kept (`last`), to move them into it."""
    last = cursor.get("last")
    if not isinstance(last, dict):
        return {}
    return {k: v for k, v in last.items() if isinstance(k, str) and isinstance(v, str)}


def _mode(cursor: Json, now: int) -> tuple[str, int] | None:
    """The mode the cursor remembers, and when it was asked; None when it is due again."""
    mode, at = cursor.get("mode"), cursor.get("mode_at")
    if mode in MODES and isinstance(at, int) and now - at < MODE_EVERY_S:
        return str(mode), at
    return None


def _auth(options: CscartOptions, secrets: Mapping[str, str]) -> str:
    token = f"{options.email}:{secrets['api_key']}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")  # the e-mail has no ':'


def _base(options: CscartOptions) -> str:
    return str(options.store_url).rstrip("/") + "/api/2/"


async def pull(
    session: aiohttp.ClientSession,
    options: BaseModel,
    secrets: Mapping[str, str],
    cursor: Json,
    record: Record,
    zone: ZoneInfo,  # noqa: ARG001 - no local times: the list has no time of the change
    memory: Memory,
) -> Pulled:
    """One poll: the store's statuses when due, then its orders (changed since the last poll,
    or the recent ones by date), recording each letter that differs from the one remembered."""
    assert isinstance(options, CscartOptions)
    auth = _auth(options, secrets)
    base = _base(options)
    started = int(time.time())

    statuses_at = cursor.get("statuses_at")
    suggestions: dict[str, Json] = {}
    unreadable: list[Rejected] = []
    if not isinstance(statuses_at, int) or started - statuses_at >= STATUSES_EVERY_S:
        suggestions, unreadable = await _suggestions(session, base, auth)
        statuses_at = started

    mode, mode_at = _mode(cursor, started) or (await _probe(session, base, auth, started), started)
    updated_from = _epoch(cursor.get("updated_from"))
    if mode == UPDATED:
        (listed, unlisted), ignored = await _changed_orders(session, base, auth, updated_from)
        if ignored:  # every order came back (compared below): by date from the next poll on
            mode, mode_at = BY_DATE, started
    else:
        listed, unlisted = await _recent_orders(session, base, auth, horizon(updated_from, started))

    legacy = _remembered(cursor)
    if legacy:  # a cursor from before the memory: its letters move there once
        await memory.remember(legacy)
    last = await memory.recall(listed)
    changed_letters = {o: letter for o, (letter, _) in listed.items() if last.get(o) != letter}
    events = [
        NativeEvent(order_id, letter, None, None, listed[order_id][1])
        for order_id, letter in changed_letters.items()
    ]
    results = await record(events) if events else []
    failed = [r for r in results if isinstance(r, GatewayError) and r.status >= 500]
    if failed:  # not stored: neither remembered nor the cursor moved on, the next poll asks again
        raise failed[0]
    await memory.remember(changed_letters)
    changed = sum(1 for r in results if getattr(r, "changed", False))
    return Pulled(
        orders=len(listed),
        events=len(events),
        changed=changed,
        cursor={
            "mode": mode,
            "mode_at": mode_at,
            "updated_from": str(started - OVERLAP_S),
            "statuses_at": statuses_at,
        },
        suggestions=suggestions,
        mode=mode,
        rejected=[*unreadable, *unlisted],
    )


async def backfill_page(
    session: aiohttp.ClientSession,
    options: BaseModel,
    secrets: Mapping[str, str],
    since: date,
    state: Json,
    record: Record,
    zone: ZoneInfo,  # noqa: ARG001 - no local times: the list has no time of the change
) -> Page:
    """One page of the orders updated since `since` (midnight UTC), oldest first; `state` is the
    page to read (1 at first) and the store's mode (asked before the first page). A store
    without `updated_at_from` is read newest first by date, down to the orders placed before
    `since`. Every order's letter is recorded once (tracking drops repeats)."""
    assert isinstance(options, CscartOptions)
    auth, base = _auth(options, secrets), _base(options)
    page = state.get("page")
    page = page if isinstance(page, int) and 1 <= page <= MAX_PAGES else 1
    mode = state.get("mode")
    if mode not in MODES:
        mode = await _probe(session, base, auth, int(time.time()))
    start = int(datetime.combine(since, datetime.min.time(), UTC).timestamp())
    params = (
        {"sort_order": "asc", "updated_at_from": str(start)}
        if mode == UPDATED
        else {"sort_by": "date", "sort_order": "desc"}
    )
    items, total = await _fetch(session, base + "orders/", params, auth, "orders", page)
    stamps = [_epoch(item.get("timestamp")) for item in items]
    before = _epoch(state.get("before"))
    done = _last_page(items, total, page) or page >= MAX_PAGES
    if mode == BY_DATE:  # the placing time stands in for the missing time of change
        kept = [
            (i, o)
            for i, (o, at) in enumerate(zip(items, stamps, strict=True))
            if at is None or at >= start
        ]
        done = done or (newest_first(stamps, before) and reached(stamps, start))
        total = None  # the store's count is of every order, not of those since `since`
    else:
        kept = list(enumerate(items))
    listed, unreadable = _listed((page, i, item) for i, item in kept)
    # no time of its own, so the letter is the event id: a page read again (or a backfill run
    # again) repeats it as a duplicate, recorded once per order and letter
    events = [
        NativeEvent(o, letter, None, f"backfill:{letter}", where)
        for o, (letter, where) in listed.items()
    ]
    results = await record(events) if events else []
    failed = [r for r in results if isinstance(r, GatewayError) and r.status >= 500]
    if failed:  # not stored: the state is not moved on, the page is read again
        raise failed[0]
    changed = sum(1 for r in results if getattr(r, "changed", False))
    following: Json = {"page": page + 1, "mode": mode}
    if mode == BY_DATE and stamps:
        following["before"] = stamps[-1] if stamps[-1] is not None else before
    return Page(
        len(listed), len(events), changed, following, done=done, total=total, rejected=unreadable
    )
