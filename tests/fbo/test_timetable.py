"""`Timetable.compute`, the whole answer for one order, and the timetable file's validation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.errors import InvalidInput, MappingFileError
from gateway.fbo import DEFAULT_LEAD, Timetable
from gateway.fbo.rules import END_OF_DAY, StepRule, load_rules, rules_from_toml

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YORK = ZoneInfo("America/New_York")
FRIDAY = date(2026, 11, 27)
LEAD = timedelta(hours=3)


@pytest.fixture(scope="module")
def timetable() -> Timetable:
    return Timetable.load()


def msk(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+03:00")


def test_the_packaged_timetable_is_the_seeds() -> None:
    assert [(r.id, r.days_before, r.at, r.end_of_day, r.actor) for r in load_rules()] == [
        ("create", 4, END_OF_DAY, True, "merchant"),
        ("packed", 1, time(11, 0), False, "warehouse"),
        ("labels", 1, time(14, 0), False, "merchant"),
        ("pass_info", 1, time(20, 0), False, "warehouse"),
        ("pass_ordered", 0, time(9, 30), False, "merchant"),
    ]
    assert DEFAULT_LEAD == LEAD


def statuses(
    timetable: Timetable, now: str, **kwargs: Any
) -> tuple[list[tuple[str, str, bool]], bool | None, date]:
    kwargs.setdefault("zone", MOSCOW)
    schedule = timetable.compute(FRIDAY, now=msk(now), lead=LEAD, **kwargs)
    rows: list[tuple[str, str, bool]] = [(s.id, s.status, s.late) for s in schedule.steps]
    return rows, schedule.created_in_time, schedule.earliest_shipment_date


@pytest.mark.parametrize(
    ("now", "created_at", "done", "rows", "in_time", "earliest"),
    [
        (  # created in time, packed, labels due within 3 h
            "2026-11-26T12:30:00",
            "2026-11-23T15:00:00",
            {"packed": "2026-11-26T10:45:00"},
            [
                ("create", "done", False),
                ("packed", "done", False),
                ("labels", "at_risk", False),
                ("pass_info", "pending", False),
                ("pass_ordered", "pending", False),
            ],
            True,
            "2026-11-27",
        ),
        (  # created too late, packed late, labels missed, pass info at risk
            "2026-11-26T17:00:00",
            "2026-11-24T10:00:00",
            {"packed": "2026-11-26T11:20:00"},
            [
                ("create", "done", True),
                ("packed", "done", True),
                ("labels", "missed", False),
                ("pass_info", "at_risk", False),
                ("pass_ordered", "pending", False),
            ],
            False,
            "2026-11-28",
        ),
        (  # no creation time: the create step is open, the earliest date counts from now
            "2026-11-22T09:00:00",
            None,
            {},
            [
                ("create", "pending", False),
                ("packed", "pending", False),
                ("labels", "pending", False),
                ("pass_info", "pending", False),
                ("pass_ordered", "pending", False),
            ],
            None,
            "2026-11-26",
        ),
        (  # the morning of the shipment: everything done but the pass
            "2026-11-27T09:29:00",
            "2026-11-20T09:00:00",
            {
                "packed": "2026-11-25T18:00:00",
                "labels": "2026-11-26T13:59:59",
                "pass_info": "2026-11-26T19:00:00",
            },
            [
                ("create", "done", False),
                ("packed", "done", False),
                ("labels", "done", False),
                ("pass_info", "done", False),
                ("pass_ordered", "at_risk", False),
            ],
            True,
            "2026-11-24",
        ),
        (  # done["create"] wins over created_at for the step itself
            "2026-11-27T10:00:00",
            "2026-11-23T12:00:00",
            {"create": "2026-11-24T12:00:00"},
            [
                ("create", "done", True),
                ("packed", "missed", False),
                ("labels", "missed", False),
                ("pass_info", "missed", False),
                ("pass_ordered", "missed", False),
            ],
            True,
            "2026-11-27",
        ),
    ],
)
def test_compute_statuses(
    timetable: Timetable,
    now: str,
    created_at: str | None,
    done: Mapping[str, str],
    rows: list[tuple[str, str, bool]],
    in_time: bool | None,
    earliest: str,
) -> None:
    got = statuses(
        timetable,
        now,
        created_at=None if created_at is None else msk(created_at),
        done={step: msk(at) for step, at in done.items()},
    )
    assert got == (rows, in_time, date.fromisoformat(earliest))


def test_compute_carries_deadlines_warnings_and_done_times(timetable: Timetable) -> None:
    created = msk("2026-11-23T15:00:00")
    schedule = timetable.compute(
        FRIDAY,
        zone=NEW_YORK,
        units=1500,
        flags=["delivery_by_kak2c"],
        created_at=created,
        now=msk("2026-11-24T09:00:00"),
    )
    assert schedule.shipment_date == FRIDAY
    assert schedule.mode == "calendar"
    assert schedule.zone is NEW_YORK
    assert [s.deadline.isoformat() for s in schedule.steps] == [
        "2026-11-23T23:59:59-05:00",
        "2026-11-26T11:00:00-05:00",
        "2026-11-26T14:00:00-05:00",
        "2026-11-26T20:00:00-05:00",
        "2026-11-27T09:30:00-05:00",
    ]
    assert schedule.steps[0].done_at == created
    assert [s.actor for s in schedule.steps] == [
        "merchant",
        "warehouse",
        "merchant",
        "warehouse",
        "merchant",
    ]
    assert schedule.warnings == ("individual_agreement", "delivery_by_kak2c_ticket")


def test_compute_in_business_mode(timetable: Timetable) -> None:
    schedule = timetable.compute(
        date(2027, 1, 11),
        zone=MOSCOW,
        mode="business",
        created_at=msk("2026-12-25T10:00:00"),
        now=msk("2026-12-28T10:00:00"),
    )
    assert [s.deadline.date() for s in schedule.steps] == [
        date(2026, 12, 25),
        *[date(2026, 12, 30)] * 3,
        date(2027, 1, 11),
    ]
    assert schedule.created_in_time is True
    assert schedule.earliest_shipment_date == date(2027, 1, 11)


@pytest.mark.parametrize(
    ("shipment", "now", "zone"),
    [
        (date(2026, 11, 27), "2026-11-27T23:00:00+03:00", MOSCOW),  # today: still answered
        (date(2026, 11, 25), "2026-11-25T22:00:00+00:00", NEW_YORK),  # still the 25th there
    ],
)
def test_a_shipment_today_is_answered(
    timetable: Timetable, shipment: date, now: str, zone: ZoneInfo
) -> None:
    assert timetable.compute(shipment, zone=zone, now=datetime.fromisoformat(now)).steps


@pytest.mark.parametrize(
    ("kwargs", "where", "message"),
    [
        (  # 22:00 UTC on the 25th is already the 26th in Moscow
            {"now": datetime.fromisoformat("2026-11-25T22:00:00+00:00"), "shipment": "2026-11-25"},
            "#/shipment_date",
            r"2026-11-25 is before today \(2026-11-26 in Europe/Moscow\)",
        ),
        (
            {"created_at": datetime(2026, 11, 23, 12)},  # noqa: DTZ001
            "#/created_at",
            "has no UTC offset",
        ),
        (
            {"done": {"packed": datetime(2026, 11, 26, 10)}},  # noqa: DTZ001
            "#/done/packed",
            "has no UTC offset",
        ),
        (
            {"done": {"shipped/x": msk("2026-11-26T10:00:00")}},
            "#/done/shipped~1x",
            "'shipped/x' is not an FBO step",
        ),
        ({"mode": "weekdays"}, "#/mode", "'weekdays' is not a mode"),
        ({"lead": -LEAD}, "#/lead", "lead must not be negative"),
        ({"flags": {"heavy"}}, "#/flags/0", "'heavy' is not an FBO flag"),
        ({"units": -5}, "#/units", "units must be 0 or more"),
        (
            {"mode": "business", "shipment": "2026-11-28"},
            "#/shipment_date",
            "2026-11-28 is not a working day in the Russian production calendar",
        ),
        (
            {"mode": "business", "shipment": "2028-01-10", "now": msk("2027-12-30T10:00:00")},
            "#/shipment_date",
            "covers the years 2025-2027",
        ),
        (  # counting back from a creation time in early 2025 reaches December 2024
            {
                "mode": "business",
                "shipment": "2025-01-20",
                "now": msk("2025-01-02T10:00:00"),
                "created_at": msk("2025-01-02T10:00:00"),
            },
            "#/created_at",
            "covers the years 2025-2027",
        ),
    ],
)
def test_compute_refuses_bad_input(
    timetable: Timetable, kwargs: dict[str, Any], where: str, message: str
) -> None:
    shipment = date.fromisoformat(kwargs.pop("shipment", "2026-11-27"))
    kwargs.setdefault("now", msk("2026-11-20T10:00:00"))
    kwargs.setdefault("zone", MOSCOW)
    with pytest.raises(InvalidInput, match=message) as caught:
        timetable.compute(shipment, **kwargs)
    assert caught.value.where == where
    assert caught.value.http_status == 422


def test_compute_refuses_a_naive_now(timetable: Timetable) -> None:
    """`now` comes from the server's clock, so a naive one is a bug, not a client error."""
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        timetable.compute(FRIDAY, zone=MOSCOW, now=datetime(2026, 11, 20))  # noqa: DTZ001


def test_timetable_shortcuts(timetable: Timetable) -> None:
    assert timetable.step_ids == ("create", "packed", "labels", "pass_info", "pass_ordered")
    assert timetable.deadlines(FRIDAY, MOSCOW)[0].deadline == msk("2026-11-23T23:59:59")
    assert timetable.earliest_shipment(msk("2026-11-24T10:00:00"), MOSCOW) == date(2026, 11, 28)


VALID = """
[[steps]]
id = "create"
days_before = 4
time = "end_of_day"
actor = "merchant"
label = "Create"

[[steps]]
id = "packed"
days_before = 1
time = "11:00"
actor = "warehouse"
label = "Packed"
"""


def test_a_minimal_timetable_loads() -> None:
    assert rules_from_toml(VALID) == (
        StepRule("create", 4, END_OF_DAY, True, "merchant", "Create"),
        StepRule("packed", 1, time(11, 0), False, "warehouse", "Packed"),
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('time = "11:00"', 'time = "25:00"', "time must be 'end_of_day' or 'HH:MM'"),
        ('time = "11:00"', 'time = "9:30"', "time must be"),
        ('time = "11:00"', "time = 11:00:00", "time must be"),
        ('actor = "warehouse"', 'actor = "robot"', "actor must be"),
        ("days_before = 1", "days_before = -1", "days_before must be an integer >= 0"),
        ("days_before = 1", "days_before = true", "days_before must be"),
        ("days_before = 1", "days_before = 5", "in the order of their deadlines"),
        ('id = "packed"', 'id = "create"', "step ids listed twice"),
        ('id = "create"', 'id = "made"', "a step with id 'create' is required"),
        ('id = "packed"', 'id = "Packed"', "lower_snake_case"),
        ('label = "Packed"', 'label = " "', "label must be"),
        ('label = "Packed"', 'label = "Packed"\nnote = 1', r"unknown keys \['note'\]"),
        ('label = "Packed"\n', "", r"missing keys \['label'\]"),
        ("[[steps]]", "[[step]]", "needs at least one"),
        ('time = "11:00"', "time = ", "not valid TOML"),
    ],
)
def test_a_bad_timetable_file_is_refused(old: str, new: str, message: str) -> None:
    assert old in VALID
    with pytest.raises(MappingFileError, match=message):
        rules_from_toml(VALID.replace(old, new))
