"""CS-Cart orders as its REST API returns them → status observations.

Accepted shapes (platform-apis.md §3.2, §3.7): one order (`GET /api/orders/:id`), the list answer
`{"orders": [...], "params": {...}}` (`GET /api/orders/`), or a JSON array of orders. The API gives
every value as a string (`"order_id": "1207"`, `"status": "P"`); integers are accepted too. Only
`order_id`, `status` and `updated_at` are read; every other key is ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from gateway.errors import InvalidPayload
from gateway.ingest import NativeEvent
from gateway.ingest._json import MISSING, kind, load

MAX_ORDER_ID = 200
MAX_CODE = 128
_ORDER_ID = re.compile(rf"[0-9]{{1,{MAX_ORDER_ID}}}")
_STATUS = re.compile(rf"[A-Za-z]{{1,{MAX_CODE}}}")
_SECONDS = re.compile(r"[0-9]{1,12}")


def parse(body: bytes) -> list[NativeEvent]:
    """One event per order, in payload order, with the status letter as given (stripped).

    The event time is `updated_at` (unix seconds, string or integer) when the order has it;
    otherwise None. The order's `timestamp` is when it was *placed*, not when its status
    changed, so it is never used as the status time. An `updated_at` of 0 means "never set"
    (orders older than the column) and also gives None.

    Raises:
        MalformedJson: the body is not JSON.
        InvalidPayload: the JSON is not a CS-Cart order, order list or array of orders; `where`
            points at the offending value.
    """
    data = load(body)
    if isinstance(data, dict) and "orders" in data:
        return _orders(data["orders"], "#/orders")
    if isinstance(data, dict):
        return [_order(data, "#")]
    if isinstance(data, list):
        return _orders(data, "#")
    raise InvalidPayload(
        'expected a CS-Cart order object, an order list {"orders": [...]} or an array of '
        f"orders, found {kind(data)}",
        where="#",
    )


def _orders(value: object, where: str) -> list[NativeEvent]:
    if not isinstance(value, list):
        raise InvalidPayload(f"expected an array of orders, found {kind(value)}", where=where)
    if not value:
        raise InvalidPayload(
            "expected at least one CS-Cart order, found an empty array", where=where
        )
    return [_order(item, f"{where}/{i}") for i, item in enumerate(value)]


def _order(item: object, where: str) -> NativeEvent:
    if not isinstance(item, dict):
        raise InvalidPayload(f"expected a CS-Cart order object, found {kind(item)}", where=where)
    order_id = _order_id(item.get("order_id", MISSING), f"{where}/order_id")
    status = _status(item.get("status", MISSING), f"{where}/status")
    updated_at = _unix_time(item.get("updated_at", MISSING), f"{where}/updated_at")
    return NativeEvent(order_id, status, updated_at, None, where, f"{where}/updated_at")


def _order_id(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)  # at most 20 digits: orjson reads larger integers as floats
    if isinstance(value, str) and _ORDER_ID.fullmatch(value.strip()):
        return value.strip()
    raise InvalidPayload(
        f"expected the order id as a string of digits or a non-negative integer, "
        f"found {kind(value)}",
        where=where,
    )


def _status(value: object, where: str) -> str:
    if isinstance(value, str) and _STATUS.fullmatch(value.strip()):
        return value.strip()
    raise InvalidPayload(
        f'expected the status as a string of letters (such as "P"), found {kind(value)}',
        where=where,
    )


def _unix_time(value: object, where: str) -> datetime | None:
    if value is MISSING or value is None:
        return None
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
        seconds = int(value.strip())
    if seconds is not None and seconds >= 0:
        if seconds == 0:
            return None
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass  # beyond the years datetime can hold
    raise InvalidPayload(
        f"expected updated_at as unix seconds (a string of digits or an integer), "
        f"found {kind(value)}",
        where=where,
    )
