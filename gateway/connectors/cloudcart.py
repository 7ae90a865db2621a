"""CloudCart orders, reconciled by polling the JSON:API v2 (`/api/v2/orders`).

CloudCart pushes `order.created` / `order.updated`, but some status changes never produce a
webhook (gateway-driven moves such as a routine `pending → paid`; `../shared/reference/
platform-apis.md` §4.3, §5), so the gateway also polls: every order changed since the last poll,
read with the `X-CloudCart-ApiKey` header (§4.1). Each order's three-part status
(`status`, the included payment's status, `status_fulfillment`) is recorded at the order's
`updated_at`, and only when the triple differs from the one the connector recorded last for that
order (its memory, `gateway.connectors.memory`, read and written only for the orders listed).

Which orders changed: the reference documents `sort` on `updated_at` but no filter on it (the
`filter[start_date]` / `filter[end_date]` filters are on `date_added`, and every other
`filter[column]` is an exact-equality filter, so `filter[updated_at]=<time>` would silently list
only orders updated at exactly that second). So the connector asks for the newest first
(`sort=-updated_at`, the JSON:API form) and stops paging at the first order older than the
cursor's `updated_since` (the newest `updated_at` seen, minus a minute of overlap). That uses only
documented parameters and, unlike an ascending walk, an order re-saved during the walk can only
be listed twice (harmless), never skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from gateway.connectors import rejects
from gateway.connectors.base import Json, Memory, Page, PollInterval, Pulled, Record
from gateway.connectors.http import get_json
from gateway.connectors.rejects import Rejected
from gateway.errors import GatewayError, InvalidPayload
from gateway.ingest import NativeEvent
from gateway.tracking import as_utc
from gateway.translate import CloudCartStatus

PER_PAGE = 100  # `page[size]` is 1 to 100 (§4.1)
MAX_PAGES = 10_000  # a store that ignores `page[number]` cannot keep a poll going for ever
OVERLAP_S = 60  # the next poll reads the last minute again: clocks and slow saves
MAX_CODE = 128
MAX_ORDER_ID = 200


class CloudcartOptions(BaseModel):
    """What is stored in clear: everything but the API key."""

    model_config = ConfigDict(extra="forbid")
    store_url: HttpUrl = Field(
        description="The store's root address, e.g. https://shop.cloudcart.net (`/api/v2/` is "
        "added)."
    )
    interval_s: PollInterval = None


class CloudcartIn(CloudcartOptions):
    """PUT /v1/connectors/cloudcart."""

    api_key: SecretStr = Field(
        min_length=1, max_length=200, description="The store's API key (full access: sealed)."
    )


PLATFORM = "cloudcart"
SECRET_FIELDS = ("api_key",)
SOURCE_FIELDS = ("store_url",)
Options = CloudcartOptions
In = CloudcartIn


async def _get(
    session: aiohttp.ClientSession, url: str, params: Mapping[str, str], key: str, what: str
) -> Any:
    return await get_json(
        session,
        url,
        params=params,
        headers={"Accept": "application/vnd.api+json", "X-CloudCart-ApiKey": key},
        platform="CloudCart",
        what=what,
        auth_hint="check the API key and that it is active",
        reasons={
            429: "too many API requests",
            509: "the store's API request limit is reached",
            503: "the store is unavailable or in maintenance",
        },
    )


def _time(value: object, where: str) -> datetime:
    """`updated_at` as an aware time. The API's format is not confirmed (the webhook carries an
    offset): a time without one is taken as UTC."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            aware = parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)
            if as_utc(aware) is not None and aware.year > 1:  # room for the cursor's overlap
                return aware
            raise InvalidPayload(f"CloudCart's {where} is out of range: {value!r}")
    raise InvalidPayload(f"CloudCart's {where} is not an ISO 8601 time: {value!r}")


def _code(value: object, where: str, *, optional: bool = False) -> str | None:
    if optional and (value is None or value == ""):
        return None
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_CODE:
        return value.strip()
    raise InvalidPayload(f"CloudCart's {where} is not a status code: {value!r}")


def _order_id(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_ORDER_ID:
        return value.strip()
    raise InvalidPayload(f"CloudCart's {where} is not an order id: {value!r}")


def _included(doc: Json) -> dict[tuple[str, str], Json]:
    found: dict[tuple[str, str], Json] = {}
    included = doc.get("included")
    if isinstance(included, list):
        for item in included:
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                found[(item["type"], str(item.get("id")))] = item
    return found


def _payment(order: Json, included: dict[tuple[str, str], Json], where: str) -> str | None:
    """The status of the order's included `payment` (`payment_status`, the normalised one, else
    the provider-side `status`); None when the order has none."""
    relationships = order.get("relationships")
    link = relationships.get("payment") if isinstance(relationships, dict) else None
    data = link.get("data") if isinstance(link, dict) else None
    if isinstance(data, list):  # a to-many relationship: the first payment
        data = data[0] if data else None
    if not isinstance(data, dict):
        return None
    payment = included.get((str(data.get("type")), str(data.get("id"))))
    attributes = payment.get("attributes") if payment else None
    if not isinstance(attributes, dict):
        return None
    value = attributes.get("payment_status") or attributes.get("status")
    return _code(value, f"{where}/payment status", optional=True)


Row = tuple[str, CloudCartStatus, datetime, str]


def _page(doc: Any, what: str) -> tuple[list[Row], list[Rejected]]:
    """(order id, status, updated_at, where) of every order of one page, and the orders set
    aside as unreadable."""
    if not isinstance(doc, dict):
        raise InvalidPayload(f"CloudCart's answer to {what} is not a JSON object")
    data = doc.get("data")
    if not isinstance(data, list) or not all(isinstance(o, dict) for o in data):
        raise InvalidPayload(f"CloudCart's answer to {what} has no list of objects in 'data'")
    included = _included(doc)
    found: list[Row] = []
    unreadable: list[Rejected] = []
    for i, order in enumerate(data):
        where = f"{what} #/data/{i}"
        try:
            found.append(_row(order, included, where))
        except InvalidPayload as exc:
            unreadable.append(rejects.of(exc, where, rejects.order_id_of(order.get("id"))))
    return found, unreadable


def _row(order: Json, included: dict[tuple[str, str], Json], where: str) -> Row:
    attributes = order.get("attributes")
    if not isinstance(attributes, dict):
        raise InvalidPayload(f"CloudCart's {where}/attributes is not an object")
    status = CloudCartStatus(
        _code(attributes.get("status"), f"{where}/attributes/status") or "",
        _payment(order, included, where),
        _code(
            attributes.get("status_fulfillment"),
            f"{where}/attributes/status_fulfillment",
            optional=True,
        ),
    )
    updated = _time(attributes.get("updated_at"), f"{where}/attributes/updated_at")
    return _order_id(order.get("id"), f"{where}/id"), status, updated, where


def _page_params(number: int) -> dict[str, str]:
    """One page of the orders list, most recently updated first, with their payments."""
    return {
        "sort": "-updated_at",
        "include": "payment",
        "page[number]": str(number),
        "page[size]": str(PER_PAGE),
    }


async def _orders(
    session: aiohttp.ClientSession, url: str, key: str, since: datetime | None
) -> tuple[dict[str, tuple[CloudCartStatus, datetime, str]], list[Rejected]]:
    """order id → (status, updated_at, where) of every order updated at or after `since`, and
    the orders set aside as unreadable."""
    orders: dict[str, tuple[CloudCartStatus, datetime, str]] = {}
    unreadable: list[Rejected] = []
    for number in range(1, MAX_PAGES + 1):
        what = f"orders page {number}"
        doc = await _get(session, url, _page_params(number), key, what)
        rows, unread = _page(doc, what)
        unreadable += unread
        older = False
        for order_id, status, updated, where in rows:
            if since is not None and updated < since:
                older = True  # newest first: every later order is older still
                continue
            if order_id not in orders:  # listed twice (re-saved during the walk): newest wins
                orders[order_id] = (status, updated, where)
        links = doc.get("links")
        last_page = isinstance(links, dict) and "next" in links and not links["next"]
        if older or len(rows) + len(unread) < PER_PAGE or last_page:
            break
    return orders, unreadable


def remembered(status: CloudCartStatus) -> str:
    """The triple as the memory keeps it (JSON: `["paid", "completed", null]`)."""
    return orjson.dumps([status.order, status.payment, status.fulfillment]).decode()


def _legacy(cursor: Json) -> dict[str, str]:
    """The triples a cursor from before the memory kept (`last`), to move them into it."""
    last = cursor.get("last")
    if not isinstance(last, dict):
        return {}
    return {
        k: orjson.dumps(v).decode()
        for k, v in last.items()
        if isinstance(k, str)
        and isinstance(v, list)
        and len(v) == 3
        and all(p is None or isinstance(p, str) for p in v)
    }


async def pull(
    session: aiohttp.ClientSession,
    options: BaseModel,
    secrets: Mapping[str, str],
    cursor: Json,
    record: Record,
    zone: ZoneInfo,  # noqa: ARG001 - CloudCart's times carry an offset (naive ones are UTC)
    memory: Memory,
) -> Pulled:
    """One poll: every order updated since the last poll, recorded when its status changed."""
    assert isinstance(options, CloudcartOptions)
    url = str(options.store_url).rstrip("/") + "/api/v2/orders"
    polled = datetime.now(UTC)
    raw_since = cursor.get("updated_since")
    since = None
    if isinstance(raw_since, str):
        try:
            since = _time(raw_since, "cursor")
        except InvalidPayload:
            since = None  # a broken cursor: read everything once more (deduplicated below)
    listed, unreadable = await _orders(session, url, secrets["api_key"], since)
    legacy = _legacy(cursor)
    if legacy:  # a cursor from before the memory: its triples move there once
        await memory.remember(legacy)
    last = await memory.recall(listed)
    # oldest change first, so an order's timeline and the webhooks follow the store's order
    ordered = sorted(listed.items(), key=lambda item: item[1][1])
    events = [
        NativeEvent(order_id, status, updated, None, where)
        for order_id, (status, updated, where) in ordered
        if last.get(order_id) != remembered(status)
    ]
    results = await record(events) if events else []
    failed = [r for r in results if isinstance(r, GatewayError) and r.status >= 500]
    if failed:  # not stored: neither remembered nor the cursor moved on, the next poll asks again
        raise failed[0]
    await memory.remember({o: remembered(listed[o][0]) for o in (e.order_id for e in events)})
    newest = max((updated for _, updated, _ in listed.values()), default=None)
    next_since = since.isoformat() if since is not None else None
    if newest is not None:
        # An order dated ahead of the clock is refused by the recorder; it must not carry the
        # cursor into the future either, or later polls would miss every change until then.
        candidate = min(newest, polled) - timedelta(seconds=OVERLAP_S)
        if since is None or candidate > since:
            next_since = candidate.isoformat()
    changed = sum(1 for r in results if getattr(r, "changed", False))
    return Pulled(
        orders=len(listed),
        events=len(events),
        changed=changed,
        cursor={"updated_since": next_since},
        rejected=unreadable,
    )


async def backfill_page(
    session: aiohttp.ClientSession,
    options: BaseModel,
    secrets: Mapping[str, str],
    since: date,
    state: Json,
    record: Record,
    zone: ZoneInfo,  # noqa: ARG001 - CloudCart's times carry an offset (naive ones are UTC)
) -> Page:
    """One page of orders, newest first, down to `since` (midnight UTC); `state` is the page to
    read (1 at first). Each order's status is recorded at its `updated_at` (tracking drops
    repeats)."""
    assert isinstance(options, CloudcartOptions)
    url = str(options.store_url).rstrip("/") + "/api/v2/orders"
    number = state.get("page")
    number = number if isinstance(number, int) and 1 <= number <= MAX_PAGES else 1
    start = datetime.combine(since, datetime.min.time(), UTC)
    what = f"orders page {number}"
    doc = await _get(session, url, _page_params(number), secrets["api_key"], what)
    rows, unreadable = _page(doc, what)
    listed: dict[str, tuple[CloudCartStatus, datetime, str]] = {}
    older = False
    for order_id, status, updated, where in rows:
        if updated < start:
            older = True  # newest first: every later order is older still
        elif order_id not in listed:
            listed[order_id] = (status, updated, where)
    ordered = sorted(listed.items(), key=lambda item: item[1][1])
    events = [
        NativeEvent(order_id, status, updated, None, where)
        for order_id, (status, updated, where) in ordered
    ]
    results = await record(events) if events else []
    failed = [r for r in results if isinstance(r, GatewayError) and r.status >= 500]
    if failed:  # not stored: the state is not moved on, the page is read again
        raise failed[0]
    links = doc.get("links")
    last_page = isinstance(links, dict) and "next" in links and not links["next"]
    done = older or len(rows) + len(unreadable) < PER_PAGE or last_page or number >= MAX_PAGES
    changed = sum(1 for r in results if getattr(r, "changed", False))
    return Page(
        len(listed), len(events), changed, {"page": number + 1}, done=done, rejected=unreadable
    )
