"""Kak2c status events in the gateway's own documented format → status observations.

Kak2c publishes no status payload (platform-apis.md §2), so the sender posts ours: one object
``{"order_id": str, "status": str, "updated_at": ISO 8601 with offset, "event_id"?: str}`` or an
array of 1 to 1000 of them. Since the format is ours, unknown keys are refused. The status may be
given with or without the ``ORDER_INFO_`` prefix; it is kept as given (the tables normalise it).
"""

from __future__ import annotations

from gateway.errors import InvalidPayload
from gateway.ingest import NativeEvent
from gateway.ingest._json import MISSING, aware_time, kind, load

MAX_ORDER_ID = 200
MAX_CODE = 128
MAX_EVENT_ID = 200
MAX_EVENTS = 1000
KEYS = ("order_id", "status", "updated_at", "event_id")


def parse(body: bytes) -> list[NativeEvent]:
    """One event per object, in payload order; `event_id` is None when not given.

    Raises:
        MalformedJson: the body is not JSON.
        InvalidPayload: the JSON is not a Kak2c event (or array of 1 to 1000 of them), or has a
            key the format does not define; `where` points at the offending value or key.
    """
    data = load(body)
    if isinstance(data, dict):
        return [_event(data, "#")]
    if not isinstance(data, list):
        raise InvalidPayload(
            f"expected a Kak2c event object or an array of them, found {kind(data)}", where="#"
        )
    if not 1 <= len(data) <= MAX_EVENTS:
        raise InvalidPayload(
            f"expected an array of 1 to {MAX_EVENTS} Kak2c events, found {len(data)}", where="#"
        )
    return [_event(item, f"#/{i}") for i, item in enumerate(data)]


def _event(item: object, where: str) -> NativeEvent:
    if not isinstance(item, dict):
        raise InvalidPayload(f"expected a Kak2c event object, found {kind(item)}", where=where)
    for key in item:
        if key not in KEYS:
            raise InvalidPayload(
                f"unknown key {_short(key)!r} in a Kak2c event; expected only {', '.join(KEYS)}",
                where=f"{where}/{_escape(key)}",
            )
    order_id = _text(item.get("order_id", MISSING), f"{where}/order_id", "order_id", MAX_ORDER_ID)
    status = _text(item.get("status", MISSING), f"{where}/status", "status", MAX_CODE)
    updated_at = aware_time(item.get("updated_at", MISSING), f"{where}/updated_at")
    raw_event_id = item.get("event_id", MISSING)
    event_id = (
        None
        if raw_event_id is MISSING or raw_event_id is None
        else _text(raw_event_id, f"{where}/event_id", "event_id", MAX_EVENT_ID)
    )
    return NativeEvent(order_id, status, updated_at, event_id, where, f"{where}/updated_at")


def _text(value: object, where: str, name: str, limit: int) -> str:
    if isinstance(value, str) and value.strip() and len(value.strip()) <= limit:
        return value.strip()
    raise InvalidPayload(
        f"expected {name} as a string of 1 to {limit} characters, found {kind(value)}",
        where=where,
    )


def _escape(key: str) -> str:
    """A key as a JSON pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _short(key: str) -> str:
    return key if len(key) <= 60 else key[:57] + "..."
