"""CloudCart `order.created` / `order.updated` webhook bodies → status observations.

CloudCart POSTs a JSON array with one order object (platform-apis.md §4.4, §4.5); one bare object is
accepted too. Only `id`, `status`, `updated_at`, `payment.status` and `shipping[].status` are read;
the many other keys (customer, products, totals…) are ignored. The `X-CloudCart-ApiKey` header is a
full-access secret: it never reaches this module and must never be logged.
"""

from __future__ import annotations

from gateway.errors import InvalidPayload
from gateway.ingest import NativeEvent
from gateway.ingest._json import MISSING, aware_time, kind, load
from gateway.translate import CloudCartStatus

MAX_ORDER_ID = 200
MAX_CODE = 128


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
    data = load(body)
    if isinstance(data, dict):
        return [_order(data, "#")]
    if not isinstance(data, list):
        raise InvalidPayload(
            f"expected a JSON array of CloudCart orders (or one order object), found {kind(data)}",
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
        raise InvalidPayload(f"expected a CloudCart order object, found {kind(item)}", where=where)
    order_id = _order_id(item.get("id", MISSING), f"{where}/id")
    status = _code(item.get("status", MISSING), f"{where}/status", "the order status")
    updated_at = aware_time(item.get("updated_at", MISSING), f"{where}/updated_at")
    payment = _payment(item.get("payment", MISSING), f"{where}/payment")
    fulfillment = _fulfillment(item.get("shipping", MISSING), f"{where}/shipping")
    return NativeEvent(
        order_id,
        CloudCartStatus(status, payment, fulfillment),
        updated_at,
        None,
        where,
        f"{where}/updated_at",
    )


def _order_id(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # at most 20 digits: orjson reads larger integers as floats
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_ORDER_ID:
        return value.strip()
    raise InvalidPayload(
        f"expected the order id as an integer or a string of 1 to {MAX_ORDER_ID} characters, "
        f"found {kind(value)}",
        where=where,
    )


def _code(value: object, where: str, what: str) -> str:
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_CODE:
        return value.strip()
    raise InvalidPayload(
        f"expected {what} as a string of 1 to {MAX_CODE} characters, found {kind(value)}",
        where=where,
    )


def _optional_code(value: object, where: str, what: str) -> str | None:
    if value is MISSING or value is None or value == "":
        return None
    return _code(value, where, what)


def _payment(value: object, where: str) -> str | None:
    if value is MISSING or value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidPayload(f"expected the payment as an object, found {kind(value)}", where=where)
    return _optional_code(value.get("status", MISSING), f"{where}/status", "the payment status")


def _fulfillment(value: object, where: str) -> str | None:
    if value is MISSING or value is None:
        return None
    if not isinstance(value, list):
        raise InvalidPayload(
            f"expected shipping as an array of shipments, found {kind(value)}", where=where
        )
    first: str | None = None
    for i, shipment in enumerate(value):
        if not isinstance(shipment, dict):
            raise InvalidPayload(
                f"expected a shipment object, found {kind(shipment)}", where=f"{where}/{i}"
            )
        status = _optional_code(
            shipment.get("status", MISSING), f"{where}/{i}/status", "the shipping status"
        )
        first = first or status
    return first
