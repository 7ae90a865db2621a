"""Kak2c event parser (the gateway's own format): one object or an array, unknown keys refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway.errors import GatewayError, InvalidPayload, MalformedJson
from gateway.ingest import NativeEvent
from gateway.ingest.kak2c import parse

PAYLOADS = Path(__file__).parent / "payloads"


def _event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "order_id": "K-1001",
        "status": "PACKED",
        "updated_at": "2024-05-14T12:40:03+03:00",
    }
    return {key: value for key, value in {**base, **fields}.items() if value is not ...}


def test_single_event_sample_keeps_status_and_event_id() -> None:
    assert parse((PAYLOADS / "kak2c_event.json").read_bytes()) == [
        NativeEvent(
            "K-1001",
            "ORDER_INFO_PACKED",
            datetime(2024, 5, 14, 9, 40, 3, tzinfo=UTC),
            "evt-7f3a",
            "#",
        )
    ]


def test_array_sample_keeps_payload_order_and_the_prefix_as_given() -> None:
    assert parse((PAYLOADS / "kak2c_events.json").read_bytes()) == [
        NativeEvent(
            "K-1001",
            "ORDER_INFO_READY_TO_PACK",
            datetime(2024, 5, 14, 8, 0, tzinfo=UTC),
            "evt-7f39",
            "#/0",
        ),
        NativeEvent("K-1001", "PACKED", datetime(2024, 5, 14, 9, 40, 3, tzinfo=UTC), None, "#/1"),
    ]


def test_null_event_id_counts_as_absent() -> None:
    assert parse(orjson.dumps(_event(event_id=None)))[0].event_id is None


def test_a_thousand_events_are_accepted() -> None:
    assert len(parse(orjson.dumps([_event()] * 1000))) == 1000


@pytest.mark.parametrize(
    ("body", "error", "where"),
    [
        ((PAYLOADS / "bad" / "not_json.json").read_bytes(), MalformedJson, "#"),
        (b"order_id=K-1001", MalformedJson, "#"),
        (b"[]", InvalidPayload, "#"),
        (orjson.dumps([_event()] * 1001), InvalidPayload, "#"),
        (b'"PACKED"', InvalidPayload, "#"),
        (b"[null]", InvalidPayload, "#/0"),
        (orjson.dumps(_event(code="PACKED")), InvalidPayload, "#/code"),
        (orjson.dumps([_event(), _event(**{"a/b~c": 1})]), InvalidPayload, "#/1/a~1b~0c"),
        (orjson.dumps(_event(order_id=...)), InvalidPayload, "#/order_id"),
        (orjson.dumps(_event(order_id=1001)), InvalidPayload, "#/order_id"),
        (orjson.dumps(_event(order_id=" ")), InvalidPayload, "#/order_id"),
        (orjson.dumps(_event(order_id="K" * 201)), InvalidPayload, "#/order_id"),
        (orjson.dumps(_event(status=...)), InvalidPayload, "#/status"),
        (orjson.dumps(_event(status="")), InvalidPayload, "#/status"),
        (orjson.dumps(_event(status=["PACKED"])), InvalidPayload, "#/status"),
        (orjson.dumps(_event(status="X" * 129)), InvalidPayload, "#/status"),
        (orjson.dumps(_event(updated_at=...)), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_event(updated_at="2024-05-14T12:40:03")), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_event(updated_at="14.05.2024 12:40")), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_event(updated_at=1715679603)), InvalidPayload, "#/updated_at"),
        (
            orjson.dumps(_event(updated_at="0001-01-01T00:00:00+14:00")),
            InvalidPayload,
            "#/updated_at",
        ),
        (
            orjson.dumps([_event(), _event(updated_at="9999-12-31T23:59:59-14:00")]),
            InvalidPayload,
            "#/1/updated_at",
        ),
        (orjson.dumps(_event(event_id=5)), InvalidPayload, "#/event_id"),
        (orjson.dumps(_event(event_id="")), InvalidPayload, "#/event_id"),
        (orjson.dumps(_event(event_id="e" * 201)), InvalidPayload, "#/event_id"),
    ],
)
def test_bad_body_is_refused_with_a_pointer(
    body: bytes, error: type[GatewayError], where: str
) -> None:
    with pytest.raises(error) as caught:
        parse(body)
    assert type(caught.value) is error
    assert caught.value.where == where
    if error is InvalidPayload:
        assert "expected" in caught.value.detail


def test_unknown_key_is_named_in_the_detail() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse(orjson.dumps(_event(state="PACKED")))
    assert caught.value.detail == (
        "unknown key 'state' in a Kak2c event; expected only order_id, status, updated_at, event_id"
    )


@pytest.mark.parametrize(
    ("updated_at", "utc"),
    [
        ("0001-01-01T14:00:00+14:00", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T09:59:59-14:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_times_at_the_edges_of_utc_are_read(updated_at: str, utc: datetime) -> None:
    """Only what is outside the years 1 to 9999 once in UTC is refused; the future is for the
    tracking rules to judge (against the clock)."""
    [event] = parse(orjson.dumps(_event(updated_at=updated_at)))
    assert event.occurred_at == utc


def test_each_event_points_at_its_time() -> None:
    events = parse(orjson.dumps([_event(), _event()]))
    assert [e.time_pointer for e in events] == ["#/0/updated_at", "#/1/updated_at"]
    assert parse(orjson.dumps(_event()))[0].time_pointer == "#/updated_at"
