"""CS-Cart order parser: the platform-apis.md §3.7 sample, the three shapes, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway.errors import GatewayError, InvalidPayload, MalformedJson
from gateway.ingest import NativeEvent
from gateway.ingest.cscart import parse

PAYLOADS = Path(__file__).parent / "payloads"


def _order(**fields: object) -> dict[str, object]:
    return {"order_id": "1207", "status": "P", "timestamp": "1715689331", **fields}


def test_orders_list_sample_gives_one_event_without_a_time() -> None:
    events = parse((PAYLOADS / "cscart_orders_list.json").read_bytes())
    # `timestamp` is when the order was placed, not when its status changed: no time.
    assert events == [NativeEvent("1207", "P", None, None, "#/orders/0")]


def test_single_order_uses_updated_at_as_the_status_time() -> None:
    events = parse((PAYLOADS / "cscart_order.json").read_bytes())
    assert events == [
        NativeEvent("1207", "C", datetime(2024, 5, 14, 15, 20, tzinfo=UTC), None, "#")
    ]


def test_array_of_orders_keeps_payload_order() -> None:
    body = orjson.dumps([_order(), _order(order_id=1208, status="I", updated_at=1715700000)])
    assert parse(body) == [
        NativeEvent("1207", "P", None, None, "#/0"),
        NativeEvent("1208", "I", datetime(2024, 5, 14, 15, 20, tzinfo=UTC), None, "#/1"),
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": " y "}, ("1207", "y", None)),
        ({"status": "Fraud"}, ("1207", "Fraud", None)),
        ({"order_id": " 0042 "}, ("0042", "P", None)),
        ({"updated_at": None}, ("1207", "P", None)),
        ({"updated_at": "0"}, ("1207", "P", None)),
        ({"updated_at": " 1715700000 "}, ("1207", "P", datetime(2024, 5, 14, 15, 20, tzinfo=UTC))),
    ],
)
def test_values_are_kept_as_given_after_stripping(
    fields: dict[str, object], expected: tuple[str, str, datetime | None]
) -> None:
    event = parse(orjson.dumps(_order(**fields)))[0]
    assert (event.order_id, event.status, event.occurred_at) == expected


@pytest.mark.parametrize(
    ("body", "error", "where"),
    [
        ((PAYLOADS / "bad" / "not_json.json").read_bytes(), MalformedJson, "#"),
        (b"{", MalformedJson, "#"),
        (b"[]", InvalidPayload, "#"),
        (b'{"orders": [], "params": {}}', InvalidPayload, "#/orders"),
        (b'{"orders": {"1207": {}}}', InvalidPayload, "#/orders"),
        (b'"P"', InvalidPayload, "#"),
        (b"[1]", InvalidPayload, "#/0"),
        (orjson.dumps({"orders": [_order(), "1208"]}), InvalidPayload, "#/orders/1"),
        (orjson.dumps(_order(order_id=None)), InvalidPayload, "#/order_id"),
        (orjson.dumps({"status": "P"}), InvalidPayload, "#/order_id"),
        (orjson.dumps(_order(order_id="12a")), InvalidPayload, "#/order_id"),
        (orjson.dumps(_order(order_id="")), InvalidPayload, "#/order_id"),
        (orjson.dumps(_order(order_id=-1)), InvalidPayload, "#/order_id"),
        (orjson.dumps(_order(order_id=1207.0)), InvalidPayload, "#/order_id"),
        (orjson.dumps(_order(order_id="9" * 201)), InvalidPayload, "#/order_id"),
        (orjson.dumps({"order_id": "1207"}), InvalidPayload, "#/status"),
        (orjson.dumps(_order(status="")), InvalidPayload, "#/status"),
        (orjson.dumps(_order(status="P1")), InvalidPayload, "#/status"),
        (orjson.dumps(_order(status=1)), InvalidPayload, "#/status"),
        (orjson.dumps(_order(status={"status": "P"})), InvalidPayload, "#/status"),
        (orjson.dumps(_order(status="P" * 129)), InvalidPayload, "#/status"),
        (orjson.dumps(_order(updated_at="")), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_order(updated_at="2024-05-14")), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_order(updated_at=-5)), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_order(updated_at=1715700000.5)), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_order(updated_at=True)), InvalidPayload, "#/updated_at"),
        (orjson.dumps(_order(updated_at=10**18)), InvalidPayload, "#/updated_at"),
        (orjson.dumps([_order(), _order(status=None)]), InvalidPayload, "#/1/status"),
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


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (orjson.dumps(_order(updated_at=1715700000)), "#/updated_at"),
        (orjson.dumps({"orders": [_order(), _order()]}), "#/orders/1/updated_at"),
        (orjson.dumps([_order(updated_at=253402300799)]), "#/0/updated_at"),  # 9999-12-31
    ],
)
def test_each_order_points_at_its_time(body: bytes, pointer: str) -> None:
    assert parse(body)[-1].time_pointer == pointer
