"""CloudCart webhook parser: the platform-apis.md §4.5 sample, optional parts, and every refusal."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.errors import GatewayError, InvalidPayload, MalformedJson
from gateway.ingest import NativeEvent
from gateway.ingest.cloudcart import parse
from gateway.translate import CloudCartStatus

PAYLOADS = Path(__file__).parent / "payloads"
SAMPLE: list[dict[str, Any]] = json.loads((PAYLOADS / "cloudcart_order_updated.json").read_bytes())
UPDATED_AT = datetime(2024, 5, 14, 9, 40, 3, tzinfo=UTC)
DELETE = object()


def _with(changes: dict[tuple[str | int, ...], object]) -> bytes:
    """The sample body with values replaced (or deleted) at the given paths."""
    data: Any = copy.deepcopy(SAMPLE)
    for path, value in changes.items():
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return orjson.dumps(data)


def test_sample_webhook_gives_the_three_part_status_at_updated_at() -> None:
    events = parse((PAYLOADS / "cloudcart_order_updated.json").read_bytes())
    assert events == [
        NativeEvent(
            "1042",
            CloudCartStatus("paid", "completed", "not_fulfilled"),
            UPDATED_AT,
            None,
            "#/0",
        )
    ]
    assert events[0].occurred_at is not None
    assert events[0].occurred_at.utcoffset() == timedelta(hours=3)


def test_a_single_order_object_is_accepted_and_pointed_at_the_root() -> None:
    body = orjson.dumps(SAMPLE[0])
    assert parse(body) == [
        NativeEvent(
            "1042", CloudCartStatus("paid", "completed", "not_fulfilled"), UPDATED_AT, None, "#"
        )
    ]


def test_payment_and_shipping_are_optional() -> None:
    body = _with({(0, "payment"): DELETE, (0, "shipping"): DELETE, (0, "status"): "pending"})
    assert parse(body)[0].status == CloudCartStatus("pending", None, None)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({(0, "payment"): None, (0, "shipping"): None}, CloudCartStatus("paid")),
        ({(0, "payment", "status"): DELETE}, CloudCartStatus("paid", None, "not_fulfilled")),
        ({(0, "payment", "status"): ""}, CloudCartStatus("paid", None, "not_fulfilled")),
        ({(0, "shipping"): []}, CloudCartStatus("paid", "completed", None)),
        (
            {(0, "shipping"): [{"id": 1, "status": ""}, {"id": 2}, {"id": 3, "status": "shipped"}]},
            CloudCartStatus("paid", "completed", "shipped"),
        ),
        (
            {(0, "shipping"): [{"status": "fulfilled"}, {"status": "delivered"}]},
            CloudCartStatus("paid", "completed", "fulfilled"),
        ),
    ],
)
def test_fulfillment_is_the_first_shipping_status_and_empty_parts_are_absent(
    changes: dict[tuple[str | int, ...], object], expected: CloudCartStatus
) -> None:
    assert parse(_with(changes))[0].status == expected


def test_string_id_and_z_offset_are_accepted() -> None:
    event = parse(_with({(0, "id"): " A-1042 ", (0, "updated_at"): "2024-05-14T09:40:03Z"}))[0]
    assert (event.order_id, event.occurred_at) == ("A-1042", UPDATED_AT)


def test_several_orders_keep_payload_order() -> None:
    second = {**SAMPLE[0], "id": 1043, "status": "completed"}
    events = parse(orjson.dumps([SAMPLE[0], second]))
    assert [(e.order_id, e.where) for e in events] == [("1042", "#/0"), ("1043", "#/1")]


@pytest.mark.parametrize(
    ("body", "error", "where"),
    [
        ((PAYLOADS / "bad" / "not_json.json").read_bytes(), MalformedJson, "#"),
        (b"", MalformedJson, "#"),
        (b"\xff", MalformedJson, "#"),
        (b"[]", InvalidPayload, "#"),
        (b'"paid"', InvalidPayload, "#"),
        (b"null", InvalidPayload, "#"),
        (b"[1]", InvalidPayload, "#/0"),
        (b"{}", InvalidPayload, "#/id"),
        (_with({(0, "id"): DELETE}), InvalidPayload, "#/0/id"),
        (_with({(0, "id"): 1042.5}), InvalidPayload, "#/0/id"),
        (_with({(0, "id"): True}), InvalidPayload, "#/0/id"),
        (_with({(0, "id"): "  "}), InvalidPayload, "#/0/id"),
        (_with({(0, "id"): "9" * 201}), InvalidPayload, "#/0/id"),
        (_with({(0, "status"): DELETE}), InvalidPayload, "#/0/status"),
        (_with({(0, "status"): 3}), InvalidPayload, "#/0/status"),
        (_with({(0, "status"): {"code": "paid"}}), InvalidPayload, "#/0/status"),
        (_with({(0, "status"): ""}), InvalidPayload, "#/0/status"),
        (_with({(0, "status"): "x" * 129}), InvalidPayload, "#/0/status"),
        (_with({(0, "updated_at"): DELETE}), InvalidPayload, "#/0/updated_at"),
        (_with({(0, "updated_at"): "2024-05-14T12:40:03"}), InvalidPayload, "#/0/updated_at"),
        (_with({(0, "updated_at"): "2024-05-14"}), InvalidPayload, "#/0/updated_at"),
        (_with({(0, "updated_at"): "yesterday"}), InvalidPayload, "#/0/updated_at"),
        (_with({(0, "updated_at"): 1715679603}), InvalidPayload, "#/0/updated_at"),
        (
            _with({(0, "updated_at"): "0001-01-01T00:00:00+14:00"}),
            InvalidPayload,
            "#/0/updated_at",
        ),
        (
            _with({(0, "updated_at"): "9999-12-31T23:59:59-14:00"}),
            InvalidPayload,
            "#/0/updated_at",
        ),
        (_with({(0, "payment"): "completed"}), InvalidPayload, "#/0/payment"),
        (_with({(0, "payment"): [{"status": "completed"}]}), InvalidPayload, "#/0/payment"),
        (_with({(0, "payment", "status"): 5}), InvalidPayload, "#/0/payment/status"),
        (_with({(0, "shipping"): {"status": "fulfilled"}}), InvalidPayload, "#/0/shipping"),
        (_with({(0, "shipping"): ["fulfilled"]}), InvalidPayload, "#/0/shipping/0"),
        (_with({(0, "shipping", 0, "status"): 1}), InvalidPayload, "#/0/shipping/0/status"),
        (
            _with({(0, "shipping"): [{"status": "fulfilled"}, {"status": ["x"]}]}),
            InvalidPayload,
            "#/0/shipping/1/status",
        ),
        (orjson.dumps([SAMPLE[0], {**SAMPLE[0], "status": None}]), InvalidPayload, "#/1/status"),
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
        assert "found" in caught.value.detail


def test_detail_says_what_was_expected_and_what_was_found() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse(_with({(0, "updated_at"): "2024-05-14T12:40:03"}))
    assert caught.value.detail == (
        "expected updated_at as an ISO 8601 time with a UTC offset, "
        "found the string '2024-05-14T12:40:03' without one"
    )


def test_an_order_points_at_its_time() -> None:
    [event] = parse(orjson.dumps(SAMPLE))
    assert event.time_pointer == "#/0/updated_at"


def test_a_time_out_of_range_in_utc_says_so() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse(_with({(0, "updated_at"): "0001-01-01T00:00:00+14:00"}))
    assert caught.value.detail == (
        "expected updated_at as a time within the years 1 to 9999 in UTC, found"
        " '0001-01-01T00:00:00+14:00', which is outside them once converted to UTC"
    )
