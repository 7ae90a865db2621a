"""CloudCart `order.created` / `order.updated` webhook bodies → status observations.

CloudCart POSTs a JSON array with one order object (platform-apis.md §4.4, §4.5); one bare object is
accepted too. Only `id`, `status`, `updated_at`, `payment.status` and `shipping[].status` are read;
the many other keys (customer, products, totals…) are ignored. The `X-CloudCart-ApiKey` header is a
full-access secret: it never reaches this module and must never be logged.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from gateway.errors import InvalidPayload, MalformedJson
from gateway.ingest import NativeEvent
from gateway.translate import CloudCartStatus

MAX_ORDER_ID = 200
MAX_CODE = 128
_MISSING = object()


def parse(body: bytes) -> list[NativeEvent]:
    """One event per order: `CloudCartStatus(status, payment.status, shipping status)`.

    The fulfilment part is the `status` of the first `shipping` entry that has a non-empty one;
    an empty or null payment or shipping status counts as absent. The event time is the order's
    `updated_at`, which must carry a UTC offset.

    Raises:
        MalformedJson: the body is not JSON.
        InvalidPayload: the JSON is not a CloudCart order (or array of them); `where` points at
            the offending value.
    """
    data = _load(body)
    if isinstance(data, dict):
        return [_order(data, "#")]
    if not isinstance(data, list):
        raise InvalidPayload(
            f"expected a JSON array of CloudCart orders (or one order object), found {_kind(data)}",
            where="#",
        )
    if not data:
        raise InvalidPayload(
            "expected a JSON array with at least one CloudCart order, found an empty array",
            where="#",
        )
    return [_order(item, f"#/{i}") for i, item in enumerate(data)]


def _order(item: object, where: str) -> NativeEvent:
    if not isinstance(item, dict):
        raise InvalidPayload(f"expected a CloudCart order object, found {_kind(item)}", where=where)
    order_id = _order_id(item.get("id", _MISSING), f"{where}/id")
    status = _code(item.get("status", _MISSING), f"{where}/status", "the order status")
    updated_at = _aware_time(item.get("updated_at", _MISSING), f"{where}/updated_at")
    payment = _payment(item.get("payment", _MISSING), f"{where}/payment")
    fulfillment = _fulfillment(item.get("shipping", _MISSING), f"{where}/shipping")
    return NativeEvent(
        order_id, CloudCartStatus(status, payment, fulfillment), updated_at, None, where
    )


def _order_id(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # at most 20 digits: orjson reads larger integers as floats
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_ORDER_ID:
        return value.strip()
    raise InvalidPayload(
        f"expected the order id as an integer or a string of 1 to {MAX_ORDER_ID} characters, "
        f"found {_kind(value)}",
        where=where,
    )


def _code(value: object, where: str, what: str) -> str:
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_CODE:
        return value.strip()
    raise InvalidPayload(
        f"expected {what} as a string of 1 to {MAX_CODE} characters, found {_kind(value)}",
        where=where,
    )


def _optional_code(value: object, where: str, what: str) -> str | None:
    if value is _MISSING or value is None or value == "":
        return None
    return _code(value, where, what)


def _payment(value: object, where: str) -> str | None:
    if value is _MISSING or value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidPayload(
            f"expected the payment as an object, found {_kind(value)}", where=where
        )
    return _optional_code(value.get("status", _MISSING), f"{where}/status", "the payment status")


def _fulfillment(value: object, where: str) -> str | None:
    if value is _MISSING or value is None:
        return None
    if not isinstance(value, list):
        raise InvalidPayload(
            f"expected shipping as an array of shipments, found {_kind(value)}", where=where
        )
    first: str | None = None
    for i, shipment in enumerate(value):
        if not isinstance(shipment, dict):
            raise InvalidPayload(
                f"expected a shipment object, found {_kind(shipment)}", where=f"{where}/{i}"
            )
        status = _optional_code(
            shipment.get("status", _MISSING), f"{where}/{i}/status", "the shipping status"
        )
        first = first or status
    return first


def _aware_time(value: object, where: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.utcoffset() is not None:
                return parsed
            raise InvalidPayload(
                "expected updated_at as an ISO 8601 time with a UTC offset, "
                f"found {_kind(value)} without one",
                where=where,
            )
    raise InvalidPayload(
        f"expected updated_at as an ISO 8601 time with a UTC offset, found {_kind(value)}",
        where=where,
    )


def _load(body: bytes) -> object:
    try:
        data: object = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"the body is not valid JSON: {exc}", where="#") from exc
    return data


def _kind(value: object) -> str:
    """What a JSON value is, for a detail that says what was found."""
    if value is _MISSING:
        return "nothing (the key is missing)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string" if not value else "a blank string"
        if len(value) > 60:
            return f"a string of {len(value)} characters"
        return f"the string {value!r}"
    return "an array" if isinstance(value, list) else "an object"
