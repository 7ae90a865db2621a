"""MeaSoft XML parser: the platform-apis.md samples, time zones, dedupe, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.errors import ForbiddenXml, GatewayError, InvalidPayload, MalformedXml
from gateway.ingest import NativeEvent
from gateway.ingest.measoft import parse, parse_each

PAYLOADS = Path(__file__).parent / "payloads"
MOSCOW = ZoneInfo("Europe/Moscow")

SAMPLE_EVENTS = [  # §1.9: createtimegmt of each status, UTC
    ("NEW", datetime(2024, 5, 13, 7, 15, 2, tzinfo=UTC), "statushistory/status/0"),
    ("DELIVERY", datetime(2024, 5, 14, 6, 40, 5, tzinfo=UTC), "statushistory/status/1"),
    ("COURIERDELIVERED", datetime(2024, 5, 14, 15, 2, 13, tzinfo=UTC), "statushistory/status/2"),
]


def _order(inner: str, orderno: str = "SHOP-1") -> bytes:
    return f'<order orderno="{orderno}">{inner}</order>'.encode()


def _status(code: str, gmt: str = "2024-05-14 15:02:13", **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f'<status createtimegmt="{gmt}"{extra}>{code}</status>'


def test_statusreq_sample_gives_the_history_in_time_order_with_utc_times() -> None:
    events = parse((PAYLOADS / "measoft_statusreq.xml").read_bytes(), local_zone=MOSCOW)
    assert events == [
        NativeEvent("SHOP-10482", code, time, None, f"#/statusreq/order/0/{where}")
        for code, time, where in SAMPLE_EVENTS
    ]
    assert all(e.occurred_at is not None and e.occurred_at.tzinfo is UTC for e in events)


def test_webhook_sample_reads_status_and_history_and_ignores_webhook_fields() -> None:
    events = parse((PAYLOADS / "measoft_webhook.xml").read_bytes(), local_zone=MOSCOW)
    assert events == [
        NativeEvent("SHOP-10482", code, time, None, f"#/order/{where}")
        for code, time, where in SAMPLE_EVENTS
    ]


def test_webhook_with_only_webhook_statuses_reads_local_times_in_the_given_zone() -> None:
    events = parse((PAYLOADS / "measoft_webhook_only.xml").read_bytes(), local_zone=MOSCOW)
    base = "#/order/webhook_statuses/webhook_status"
    assert events == [
        NativeEvent(
            "SHOP-10482",
            "DELIVERY",
            datetime(2024, 5, 14, 9, 40, 5, tzinfo=MOSCOW),
            None,
            f"{base}/0",
        ),
        NativeEvent(
            "SHOP-10482",
            "COURIERDELIVERED",
            datetime(2024, 5, 14, 18, 2, 13, tzinfo=MOSCOW),
            None,
            f"{base}/1",
        ),
    ]
    assert events[1].occurred_at == datetime(2024, 5, 14, 15, 2, 13, tzinfo=UTC)


def test_webhook_status_code_alone_is_enough() -> None:
    body = _order(
        "<webhook_status_code> DELIVERY </webhook_status_code>"
        "<webhook_status_time>2024-05-14 09:40:05</webhook_status_time>"
    )
    assert parse(body, local_zone=MOSCOW) == [
        NativeEvent(
            "SHOP-1",
            "DELIVERY",
            datetime(2024, 5, 14, 6, 40, 5, tzinfo=UTC),
            None,
            "#/order/webhook_status_code",
        )
    ]


def test_statusreq_with_no_orders_is_an_empty_answer() -> None:
    assert parse((PAYLOADS / "measoft_statusreq_empty.xml").read_bytes(), local_zone=MOSCOW) == []


def test_eventtime_is_read_in_the_local_zone_when_createtimegmt_is_missing_or_empty() -> None:
    body = _order(
        '<statushistory><status eventtime="2024-05-13 10:15:00">NEW</status></statushistory>'
        '<status eventtime="2024-05-14 09:40:00" createtimegmt="">DELIVERY</status>'
    )
    events = parse(body, local_zone=ZoneInfo("Asia/Yekaterinburg"))
    assert [(e.status, e.occurred_at) for e in events] == [
        ("NEW", datetime(2024, 5, 13, 5, 15, tzinfo=UTC)),
        ("DELIVERY", datetime(2024, 5, 14, 4, 40, tzinfo=UTC)),
    ]


def test_history_is_sorted_by_time_and_equal_times_keep_payload_order() -> None:
    body = _order(
        "<statushistory>"
        + _status("DELIVERY", "2024-05-14 06:40:05")
        + _status("NEW", "2024-05-13 07:15:02")
        + _status("COURIERDELIVERED", "2024-05-14 15:02:13")
        + _status("COMPLETE", "2024-05-14 15:02:13")
        + "</statushistory>"
        + _status("COMPLETE", "2024-05-14 15:02:13")
    )
    events = parse(body, local_zone=MOSCOW)
    assert [e.status for e in events] == ["NEW", "DELIVERY", "COURIERDELIVERED", "COMPLETE"]
    assert [e.where for e in events] == [
        "#/order/statushistory/status/1",
        "#/order/statushistory/status/0",
        "#/order/statushistory/status/2",
        "#/order/statushistory/status/3",  # the repeated current status is dropped
    ]


def test_same_code_at_another_time_is_a_separate_event() -> None:
    body = _order(
        "<statushistory>"
        + _status("DATECHANGE", "2024-05-14 06:00:00")
        + _status("DATECHANGE", "2024-05-15 06:00:00")
        + "</statushistory>"
    )
    assert len(parse(body, local_zone=MOSCOW)) == 2


def test_statusreq_with_several_orders_keeps_order_of_orders() -> None:
    body = (
        b'<statusreq count="2" error="0">'
        + _order(_status("NEW", "2024-05-14 10:00:00"), "B")
        + _order(_status("NEW", "2024-05-13 10:00:00"), "  A  ")
        + b"</statusreq>"
    )
    events = parse(body, local_zone=MOSCOW)
    assert [(e.order_id, e.where) for e in events] == [
        ("B", "#/statusreq/order/0/status"),
        ("A", "#/statusreq/order/1/status"),
    ]


@pytest.mark.parametrize(
    ("bad", "order_id", "where"),
    [
        (
            _order(_status("NEW", "14.05.2024"), "B"),
            "B",
            "#/statusreq/order/1/status/@createtimegmt",
        ),
        (_order(_status("NEW"), " "), None, "#/statusreq/order/1/@orderno"),
        (_order("", "B"), "B", "#/statusreq/order/1"),
        (_order(_status("x" * 129), "B"), "B", "#/statusreq/order/1/status"),
    ],
)
def test_parse_each_sets_an_unreadable_order_aside_and_reads_the_others(
    bad: bytes, order_id: str | None, where: str
) -> None:
    body = (
        b'<statusreq count="3">'
        + _order(_status("NEW", "2024-05-14 10:00:00"), "A")
        + bad
        + _order(_status("NEW", "2024-05-13 10:00:00"), "C")
        + b"</statusreq>"
    )
    events, unreadable = parse_each(body, local_zone=MOSCOW)
    assert [e.order_id for e in events] == ["A", "C"]
    [aside] = unreadable
    assert (aside.where, aside.order_id, aside.error.where) == (
        "#/statusreq/order/1",
        order_id,
        where,
    )
    with pytest.raises(InvalidPayload) as caught:  # `parse` refuses the whole body for it
        parse(body, local_zone=MOSCOW)
    assert caught.value.detail == aside.error.detail


def test_parse_each_still_refuses_a_body_that_is_not_an_answer() -> None:
    with pytest.raises(InvalidPayload):
        parse_each(b'<statusreq error="1" errormsg="Authorization error"/>', local_zone=MOSCOW)
    with pytest.raises(MalformedXml):
        parse_each(b"<statusreq><order", local_zone=MOSCOW)


def test_a_declared_windows_1251_encoding_is_honoured() -> None:
    body = (
        '<?xml version="1.0" encoding="windows-1251"?><order orderno="ЖЁЛУДЬ-1">'.encode("cp1251")
        + _status("NEW").encode("cp1251")
        + b"</order>"
    )
    assert parse(body, local_zone=MOSCOW)[0].order_id == "ЖЁЛУДЬ-1"


def test_error_answer_names_code_and_message() -> None:
    body = (PAYLOADS / "measoft_statusreq_error.xml").read_bytes()
    with pytest.raises(InvalidPayload) as caught:
        parse(body, local_zone=MOSCOW)
    assert caught.value.where == "#/statusreq/@error"
    assert "25" in caught.value.detail
    assert "Authorization error" in caught.value.detail
    assert "Ошибка авторизации" in caught.value.detail
    assert caught.value.extensions == {"measoft_error": "25", "errormsg": "Authorization error"}


def test_error_answer_without_message_has_errormsg_none() -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse(b'<statusreq count="0" error="11"/>', local_zone=MOSCOW)
    assert caught.value.extensions == {"measoft_error": "11", "errormsg": None}


def test_malformed_xml_detail_gives_line_and_column() -> None:
    with pytest.raises(MalformedXml) as caught:
        parse((PAYLOADS / "bad" / "measoft_malformed.xml").read_bytes(), local_zone=MOSCOW)
    assert caught.value.detail == (
        "the body is not well-formed XML at line 3, column 52: mismatched tag"
    )


@pytest.mark.parametrize(
    "name",
    ["measoft_billion_laughs.xml", "measoft_xxe.xml", "measoft_external_dtd.xml"],
)
def test_dtds_and_entities_are_refused_before_expansion(name: str) -> None:
    with pytest.raises(ForbiddenXml) as caught:
        parse((PAYLOADS / "bad" / name).read_bytes(), local_zone=MOSCOW)
    assert caught.value.where == "#"
    assert "passwd" not in caught.value.detail


BAD_STATUSREQ = (
    b'<statusreq count="3">'
    + _order(_status("NEW"), "A")
    + _order(_status("NEW"), "B")
    + _order(
        "<statushistory>" + _status("NEW") + _status("DELIVERY", "14.05.2024") + "</statushistory>",
        "C",
    )
    + b"</statusreq>"
)


@pytest.mark.parametrize(
    ("body", "error", "where"),
    [
        (b"", MalformedXml, "#"),
        (b"<order orderno='1'>", MalformedXml, "#"),
        (b"\xff\xfe<order/>", MalformedXml, "#"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><order/>', MalformedXml, "#"),
        (b'<!DOCTYPE order [<!ENTITY a "b">]><order orderno="1"/>', ForbiddenXml, "#"),
        (b"<orders/>", InvalidPayload, "#/orders"),
        (b'<statusreq count="1" error="1"/>', InvalidPayload, "#/statusreq/@error"),
        (_order(_status("NEW"), orderno=""), InvalidPayload, "#/order/@orderno"),
        (_order(_status("NEW"), orderno="   "), InvalidPayload, "#/order/@orderno"),
        (_order(_status("NEW"), orderno="9" * 201), InvalidPayload, "#/order/@orderno"),
        (b"<order>" + _status("NEW").encode() + b"</order>", InvalidPayload, "#/order/@orderno"),
        (
            b'<statusreq count="2">'
            + _order(_status("NEW"))
            + b"<order>"
            + _status("NEW").encode()
            + b"</order></statusreq>",
            InvalidPayload,
            "#/statusreq/order/1/@orderno",
        ),
        (_order(_status("  ")), InvalidPayload, "#/order/status"),
        (_order(_status("X" * 129)), InvalidPayload, "#/order/status"),
        (_order(_status("NEW") + _status("DELIVERY")), InvalidPayload, "#/order/status"),
        (
            _order(_status("NEW", "2024-13-01 00:00:00")),
            InvalidPayload,
            "#/order/status/@createtimegmt",
        ),
        (
            _order(_status("NEW", "2024-05-14T15:02:13Z")),
            InvalidPayload,
            "#/order/status/@createtimegmt",
        ),
        (
            _order('<statushistory><status eventtime="yesterday">NEW</status></statushistory>'),
            InvalidPayload,
            "#/order/statushistory/status/0/@eventtime",
        ),
        (_order('<status title="new">NEW</status>'), InvalidPayload, "#/order/status"),
        (  # Moscow was UTC+02:30:17 in year 1: this is year 0 in UTC
            _order('<status eventtime="0001-01-01 00:00:00">NEW</status>'),
            InvalidPayload,
            "#/order/status/@eventtime",
        ),
        (
            _order(
                '<statushistory><status eventtime="2024-05-14 10:00:00">NEW</status>'
                '<status eventtime="0001-01-01 02:30:16">DELIVERY</status></statushistory>'
            ),
            InvalidPayload,
            "#/order/statushistory/status/1/@eventtime",
        ),
        (
            _order(
                '<webhook_statuses><webhook_status code="NEW" time="0001-01-01 00:00:00"/>'
                "</webhook_statuses>"
            ),
            InvalidPayload,
            "#/order/webhook_statuses/webhook_status/0/@time",
        ),
        (
            _order(
                "<webhook_status_code>NEW</webhook_status_code>"
                "<webhook_status_time>0001-01-01 00:00:00</webhook_status_time>"
            ),
            InvalidPayload,
            "#/order/webhook_status_time",
        ),
        (
            BAD_STATUSREQ,
            InvalidPayload,
            "#/statusreq/order/2/statushistory/status/1/@createtimegmt",
        ),
        (_order("<barcode>1</barcode>"), InvalidPayload, "#/order"),
        (_order("<statushistory/>"), InvalidPayload, "#/order"),
        (
            _order(
                '<webhook_statuses><webhook_status time="2024-05-14 18:02:13"/></webhook_statuses>'
            ),
            InvalidPayload,
            "#/order/webhook_statuses/webhook_status/0/@code",
        ),
        (
            _order('<webhook_statuses><webhook_status code="NEW" time=""/></webhook_statuses>'),
            InvalidPayload,
            "#/order/webhook_statuses/webhook_status/0/@time",
        ),
        (
            _order("<webhook_status_code>NEW</webhook_status_code>"),
            InvalidPayload,
            "#/order/webhook_status_time",
        ),
        (
            _order(
                "<webhook_status_code></webhook_status_code>"
                "<webhook_status_time>2024-05-14 18:02:13</webhook_status_time>"
            ),
            InvalidPayload,
            "#/order/webhook_status_code",
        ),
    ],
)
def test_bad_body_is_refused_with_a_pointer(
    body: bytes, error: type[GatewayError], where: str
) -> None:
    with pytest.raises(error) as caught:
        parse(body, local_zone=MOSCOW)
    assert type(caught.value) is error
    assert caught.value.where == where


@pytest.mark.parametrize(
    ("body", "zone", "pointer"),
    [
        (_order(_status("NEW", "0001-01-01 00:00:00")), MOSCOW, "#/order/status/@createtimegmt"),
        (_order(_status("NEW", "9999-12-31 23:59:59")), MOSCOW, "#/order/status/@createtimegmt"),
        (
            _order('<status eventtime="0001-01-01 02:30:17">NEW</status>'),
            MOSCOW,
            "#/order/status/@eventtime",
        ),
        (
            _order('<status eventtime="9999-12-31 23:59:59">NEW</status>'),
            MOSCOW,
            "#/order/status/@eventtime",
        ),
        (
            _order(
                '<webhook_statuses><webhook_status code="NEW" time="2024-05-14 18:02:13"/>'
                "</webhook_statuses>"
            ),
            MOSCOW,
            "#/order/webhook_statuses/webhook_status/0/@time",
        ),
        (
            _order(
                "<webhook_status_code>NEW</webhook_status_code>"
                "<webhook_status_time>2024-05-14 18:02:13</webhook_status_time>"
            ),
            MOSCOW,
            "#/order/webhook_status_time",
        ),
    ],
)
def test_times_in_range_in_utc_are_read_and_pointed_at(
    body: bytes, zone: ZoneInfo, pointer: str
) -> None:
    """The first and last seconds UTC holds are read (the far future is for the tracking rules
    to judge, against the clock); each event points at its own time."""
    [event] = parse(body, local_zone=zone)
    assert event.time_pointer == pointer


def test_a_local_time_out_of_range_in_utc_west_of_greenwich_is_refused() -> None:
    body = _order('<status eventtime="9999-12-31 23:59:59">NEW</status>')
    with pytest.raises(InvalidPayload, match="outside them once converted to UTC") as caught:
        parse(body, local_zone=ZoneInfo("America/Los_Angeles"))
    assert caught.value.where == "#/order/status/@eventtime"
