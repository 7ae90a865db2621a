"""CS-Cart (and Multi-Vendor) orders, polled through the REST API (`/api/2/orders/`).

CS-Cart sends no order webhooks, so the gateway polls (`../shared/reference/platform-apis.md`
§3.6): every page of `GET /api/2/orders/` changed since the last poll (`updated_at_from`, with a
minute of overlap), in HTTP Basic auth with the admin's e-mail and API key. The list carries no
time of the status change, so each order's letter is recorded with no time of its own, and only
when it differs from the letter the connector recorded last for that order (kept in the cursor).

Once a day (and on the first poll) the store's own order statuses are read from
`/api/2/statuses/`: a letter the CS-Cart table does not know is the store's own, and the
connector suggests a mapping from what the store says about it (§3.3, §3.4).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from gateway.connectors.base import Json, Page, Pulled, Record
from gateway.connectors.http import get_json
from gateway.errors import GatewayError, InvalidPayload
from gateway.ingest import NativeEvent
from gateway.settings import Settings
from gateway.tables.loader import load_platform
from gateway.tables.schema import PlatformFile

PER_PAGE = 100
MAX_PAGES = 10_000  # a store that ignores `page` cannot keep a poll going for ever
OVERLAP_S = 60  # the next poll asks again for the last minute: clocks and slow saves
STATUSES_EVERY_S = 86_400
# The cursor remembers the letter recorded last for at most this many orders (the most recently
# recorded ones), so it stays bounded (~1 MB of JSON). An order dropped from it that changes
# again is recorded as usual; one dropped that is merely listed again is recorded once more, as
# an unchanged status.
MAX_REMEMBERED = 50_000


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
    interval_s: float | None = Field(None, ge=5, le=86_400, description="Seconds between polls.")


class CscartIn(CscartOptions):
    """PUT /v1/connectors/cscart."""

    api_key: SecretStr = Field(min_length=1, max_length=200)


PLATFORM = "cscart"
SECRET_FIELDS = ("api_key",)
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
        what = f"{member} page {page}"
        doc = await _get(
            session, url, {**params, "items_per_page": str(PER_PAGE), "page": str(page)}, auth, what
        )
        items, total = _page(doc, member, what)
        found.extend((page, i, item) for i, item in enumerate(items))
        if not items or total is None or page * PER_PAGE >= total:
            break
    return found


async def _orders(
    session: aiohttp.ClientSession, base: str, auth: str, updated_from: str | None
) -> dict[str, tuple[str, str]]:
    """order_id → (letter, where) of every order listed (the last listing of an order wins)."""
    params = {"sort_order": "asc"}
    if updated_from is not None:
        params["updated_at_from"] = updated_from
    orders: dict[str, tuple[str, str]] = {}
    for page, i, order in await _all_pages(session, base + "orders/", params, auth, "orders"):
        order_id, letter, where = _order(page, i, order)
        orders[order_id] = (letter, where)
    return orders


def _order(page: int, i: int, order: Json) -> tuple[str, str, str]:
    """(order id, letter, where) of one listed order."""
    where = f"orders page {page} #/orders/{i}"
    order_id = order.get("order_id")
    if isinstance(order_id, int) and not isinstance(order_id, bool):
        order_id = str(order_id)
    if not isinstance(order_id, str) or not order_id.strip():
        raise InvalidPayload(f"CS-Cart's {where}/order_id is not an id: {order_id!r}")
    return order_id, _letter(order.get("status"), f"{where}/status"), where


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


async def _suggestions(session: aiohttp.ClientSession, base: str, auth: str) -> dict[str, Json]:
    known = table()
    out: dict[str, Json] = {}
    for page, i, status in await _all_pages(session, base + "statuses/", {}, auth, "statuses"):
        if status.get("type") != "O":
            continue
        letter = _letter(status.get("status"), f"statuses page {page} #/statuses/{i}/status")
        if letter not in known.statuses:
            out[letter] = suggest(status, known)
    return out


def _remembered(cursor: Json) -> dict[str, str]:
    last = cursor.get("last")
    if not isinstance(last, dict):
        return {}
    return {k: v for k, v in last.items() if isinstance(k, str) and isinstance(v, str)}


def _auth(options: CscartOptions, secrets: Mapping[str, str]) -> str:
    token = f"{options.email}:{secrets['api_key']}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")  # the e-mail has no ':'


async def pull(
    session: aiohttp.ClientSession,
    options: BaseModel,
    secrets: Mapping[str, str],
    cursor: Json,
    record: Record,
    zone: ZoneInfo,  # noqa: ARG001 - no local times: the list has no time of the change
) -> Pulled:
    """One poll: the store's statuses when due, the orders changed since the last poll."""
    assert isinstance(options, CscartOptions)
    auth = _auth(options, secrets)
    base = str(options.store_url).rstrip("/") + "/api/2/"
    started = int(time.time())

    statuses_at = cursor.get("statuses_at")
    suggestions: dict[str, Json] = {}
    if not isinstance(statuses_at, int) or started - statuses_at >= STATUSES_EVERY_S:
        suggestions = await _suggestions(session, base, auth)
        statuses_at = started

    updated_from = cursor.get("updated_from")
    listed = await _orders(
        session, base, auth, updated_from if isinstance(updated_from, str) else None
    )
    last = _remembered(cursor)
    events = [
        NativeEvent(order_id, letter, None, None, where)
        for order_id, (letter, where) in listed.items()
        if last.get(order_id) != letter
    ]
    results = await record(events) if events else []
    failed = [r for r in results if isinstance(r, GatewayError) and r.status >= 500]
    if failed:  # not stored: the cursor is not moved on, the next poll asks again
        raise failed[0]
    for event in events:  # most recently recorded last, so the oldest are dropped first
        last.pop(event.order_id, None)
        last[event.order_id] = str(event.status)
    if len(last) > MAX_REMEMBERED:
        last = dict(list(last.items())[-MAX_REMEMBERED:])
    changed = sum(1 for r in results if getattr(r, "changed", False))
    return Pulled(
        orders=len(listed),
        events=len(events),
        changed=changed,
        cursor={
            "updated_from": str(started - OVERLAP_S),
            "statuses_at": statuses_at,
            "last": last,
        },
        suggestions=suggestions,
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
    page to read (1 at first). Every order's letter is recorded once (tracking drops repeats)."""
    assert isinstance(options, CscartOptions)
    page = state.get("page")
    page = page if isinstance(page, int) and 1 <= page <= MAX_PAGES else 1
    start = int(datetime.combine(since, datetime.min.time(), UTC).timestamp())
    params = {
        "sort_order": "asc",
        "updated_at_from": str(start),
        "items_per_page": str(PER_PAGE),
        "page": str(page),
    }
    what = f"orders page {page}"
    base = str(options.store_url).rstrip("/") + "/api/2/"
    doc = await _get(session, base + "orders/", params, _auth(options, secrets), what)
    items, total = _page(doc, "orders", what)
    listed: dict[str, tuple[str, str]] = {}
    for i, item in enumerate(items):
        order_id, letter, where = _order(page, i, item)
        listed[order_id] = (letter, where)
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
    done = not items or total is None or page * PER_PAGE >= total or page >= MAX_PAGES
    changed = sum(1 for r in results if getattr(r, "changed", False))
    return Page(len(listed), len(events), changed, {"page": page + 1}, done=done, total=total)
