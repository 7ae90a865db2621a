"""Deadlines, earliest shipment date, step status, zones and warnings of the FBO timetable."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from gateway.errors import InvalidInput
from gateway.fbo.calendar import ProductionCalendar
from gateway.fbo.checks import check_zone, warnings
from gateway.fbo.rules import END_OF_DAY, StepRule, load_rules
from gateway.fbo.schedule import Mode, StepStatus, deadlines, earliest_shipment, step_status

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YORK = ZoneInfo("America/New_York")
VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
UTC_ZONE = ZoneInfo("UTC")
RULES = load_rules()
CALENDAR = ProductionCalendar.load()


def iso_deadlines(
    shipment: date,
    zone: ZoneInfo = MOSCOW,
    mode: Mode = "calendar",
    rules: tuple[StepRule, ...] = RULES,
) -> dict[str, str]:
    return {
        step.id: step.deadline.isoformat()
        for step in deadlines(shipment, zone, mode, CALENDAR, rules=rules)
    }


def expected(create: str, before: str, shipment: str, offset: str = "+03:00") -> dict[str, str]:
    """The five deadlines from the three days they fall on."""
    return {
        "create": f"{create}T23:59:59{offset}",
        "packed": f"{before}T11:00:00{offset}",
        "labels": f"{before}T14:00:00{offset}",
        "pass_info": f"{before}T20:00:00{offset}",
        "pass_ordered": f"{shipment}T09:30:00{offset}",
    }


def test_the_seed_example_shipment_friday() -> None:
    steps = deadlines(date(2026, 11, 27), MOSCOW, "calendar", None, rules=RULES)
    assert [(s.id, s.actor, s.deadline.isoformat()) for s in steps] == [
        ("create", "merchant", "2026-11-23T23:59:59+03:00"),  # end of Monday
        ("packed", "warehouse", "2026-11-26T11:00:00+03:00"),  # 11:00 Thursday
        ("labels", "merchant", "2026-11-26T14:00:00+03:00"),  # 14:00 Thursday
        ("pass_info", "warehouse", "2026-11-26T20:00:00+03:00"),  # 20:00 Thursday
        ("pass_ordered", "merchant", "2026-11-27T09:30:00+03:00"),  # 09:30 Friday
    ]
    assert all(s.deadline.tzinfo is MOSCOW for s in steps)
    assert steps[1].label == "The order status becomes “Packed. Documents required”"


@pytest.mark.parametrize(
    ("shipment", "create", "before"),
    [
        ("2026-11-23", "2026-11-19", "2026-11-22"),  # Monday: D-1 is a Sunday
        ("2026-11-24", "2026-11-20", "2026-11-23"),  # Tuesday
        ("2026-11-25", "2026-11-21", "2026-11-24"),  # Wednesday: create by Saturday
        ("2026-11-26", "2026-11-22", "2026-11-25"),  # Thursday: create by Sunday
        ("2026-11-27", "2026-11-23", "2026-11-26"),  # Friday: the seed's example
        ("2026-11-28", "2026-11-24", "2026-11-27"),  # Saturday
        ("2026-11-29", "2026-11-25", "2026-11-28"),  # Sunday
    ],
)
def test_every_weekday_in_calendar_mode(shipment: str, create: str, before: str) -> None:
    got = iso_deadlines(date.fromisoformat(shipment))
    assert got == expected(create, before, shipment)


@pytest.mark.parametrize(
    ("shipment", "create", "before"),
    [
        ("2026-12-01", "2026-11-27", "2026-11-30"),  # month boundary
        ("2027-01-01", "2026-12-28", "2026-12-31"),  # year boundary
        ("2027-01-03", "2026-12-30", "2027-01-02"),
        ("2026-11-05", "2026-11-01", "2026-11-04"),  # calendar mode ignores 4 November
        ("2028-03-01", "2028-02-26", "2028-02-29"),  # leap day; no calendar needed
    ],
)
def test_month_and_year_boundaries_in_calendar_mode(
    shipment: str, create: str, before: str
) -> None:
    assert iso_deadlines(date.fromisoformat(shipment)) == expected(create, before, shipment)


@pytest.mark.parametrize(
    ("zone", "shipment", "want"),
    [
        (NEW_YORK, "2026-11-27", expected("2026-11-23", "2026-11-26", "2026-11-27", "-05:00")),
        (VLADIVOSTOK, "2026-11-27", expected("2026-11-23", "2026-11-26", "2026-11-27", "+10:00")),
        (UTC_ZONE, "2026-11-27", expected("2026-11-23", "2026-11-26", "2026-11-27", "+00:00")),
        # New York leaves daylight saving time on 1 November 2026: the same wall-clock times,
        # each with the offset of its own day.
        (
            NEW_YORK,
            "2026-11-02",
            {
                "create": "2026-10-29T23:59:59-04:00",
                "packed": "2026-11-01T11:00:00-05:00",
                "labels": "2026-11-01T14:00:00-05:00",
                "pass_info": "2026-11-01T20:00:00-05:00",
                "pass_ordered": "2026-11-02T09:30:00-05:00",
            },
        ),
    ],
)
def test_other_zones_keep_the_wall_clock_times(
    zone: ZoneInfo, shipment: str, want: dict[str, str]
) -> None:
    assert iso_deadlines(date.fromisoformat(shipment), zone) == want


def test_the_same_shipment_is_a_different_instant_in_each_zone() -> None:
    moscow, new_york = (
        deadlines(date(2026, 11, 27), zone, "calendar", rules=RULES)[0].deadline
        for zone in (MOSCOW, NEW_YORK)
    )
    assert new_york - moscow == timedelta(hours=8)


@pytest.mark.parametrize(
    ("shipment", "create", "before"),
    [
        ("2026-11-27", "2026-11-23", "2026-11-26"),  # an ordinary week: as calendar mode
        ("2026-11-30", "2026-11-24", "2026-11-27"),  # Monday: D-1 is the Friday before
        ("2026-11-05", "2026-10-29", "2026-11-03"),  # over 4 November 2026
        ("2027-01-11", "2026-12-25", "2026-12-30"),  # after the New Year holidays 2027
        ("2027-02-24", "2027-02-17", "2027-02-20"),  # D-1 is the working Saturday 20 Feb
        ("2027-02-20", "2027-02-16", "2027-02-19"),  # shipment on that working Saturday
        ("2025-11-05", "2025-10-29", "2025-11-01"),  # working Saturday 1 Nov 2025
    ],
)
def test_business_mode_counts_working_days(shipment: str, create: str, before: str) -> None:
    got = iso_deadlines(date.fromisoformat(shipment), mode="business")
    assert got == expected(create, before, shipment)


@pytest.mark.parametrize("shipment", [date(2026, 11, 4), date(2026, 11, 28), date(2027, 1, 1)])
def test_business_mode_refuses_a_shipment_on_a_day_off(shipment: date) -> None:
    with pytest.raises(InvalidInput, match="is not a working day in the Russian production"):
        deadlines(shipment, MOSCOW, "business", CALENDAR, rules=RULES)


@pytest.mark.parametrize(
    "shipment",
    [date(2028, 3, 1), date(2024, 12, 2), date(2025, 1, 9)],  # the last one reaches 2024
)
def test_business_mode_outside_the_calendar(shipment: date) -> None:
    with pytest.raises(InvalidInput, match="covers the years 2025-2027") as caught:
        deadlines(shipment, MOSCOW, "business", CALENDAR, rules=RULES)
    assert caught.value.where == "#/shipment_date"


def test_business_mode_needs_a_calendar() -> None:
    with pytest.raises(ValueError, match="needs a production calendar"):
        deadlines(date(2026, 11, 27), MOSCOW, "business", None, rules=RULES)


@pytest.mark.parametrize(
    ("created_at", "zone", "mode", "earliest"),
    [
        ("2026-11-23T23:59:59+03:00", MOSCOW, "calendar", "2026-11-27"),  # Monday, last second
        ("2026-11-23T23:59:59.999999+03:00", MOSCOW, "calendar", "2026-11-27"),
        ("2026-11-23T00:00:00+03:00", MOSCOW, "calendar", "2026-11-27"),
        ("2026-11-24T00:00:00+03:00", MOSCOW, "calendar", "2026-11-28"),
        ("2026-11-24T10:00:00+03:00", MOSCOW, "calendar", "2026-11-28"),  # Tuesday -> Saturday
        # The same instant, 00:30 Tuesday in Moscow but 16:30 Monday in New York.
        ("2026-11-23T21:30:00+00:00", MOSCOW, "calendar", "2026-11-28"),
        ("2026-11-23T21:30:00+00:00", NEW_YORK, "calendar", "2026-11-27"),
        ("2026-12-28T12:00:00+03:00", MOSCOW, "calendar", "2027-01-01"),
        ("2026-11-24T10:00:00+03:00", MOSCOW, "business", "2026-11-30"),
        ("2026-11-23T23:59:59+03:00", MOSCOW, "business", "2026-11-27"),
        ("2026-11-28T10:00:00+03:00", MOSCOW, "business", "2026-12-04"),  # created on Saturday
        ("2026-12-25T10:00:00+03:00", MOSCOW, "business", "2027-01-11"),  # New Year holidays
        ("2026-12-25T10:00:00+03:00", MOSCOW, "calendar", "2026-12-29"),
        ("2027-02-17T10:00:00+03:00", MOSCOW, "business", "2027-02-24"),
        ("2027-02-16T10:00:00+03:00", MOSCOW, "business", "2027-02-20"),  # working Saturday
    ],
)
def test_earliest_shipment(created_at: str, zone: ZoneInfo, mode: Mode, earliest: str) -> None:
    got = earliest_shipment(datetime.fromisoformat(created_at), zone, mode, CALENDAR, rules=RULES)
    assert got == date.fromisoformat(earliest)


def test_earliest_shipment_meets_its_own_create_deadline() -> None:
    """Over a month of creation times: the date found is feasible, the day before is not."""
    start = datetime(2026, 11, 20, 8, 0, tzinfo=MOSCOW)
    for hours in range(0, 24 * 30, 5):
        created = start + timedelta(hours=hours)
        found = earliest_shipment(created, MOSCOW, "calendar", rules=RULES)
        (create, *_) = deadlines(found, MOSCOW, "calendar", rules=RULES)
        (too_late, *_) = deadlines(found - timedelta(days=1), MOSCOW, "calendar", rules=RULES)
        assert too_late.deadline < created <= create.deadline


def test_earliest_shipment_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        earliest_shipment(datetime(2026, 11, 24, 10), MOSCOW, "calendar", rules=RULES)  # noqa: DTZ001


def test_earliest_shipment_outside_the_calendar() -> None:
    with pytest.raises(InvalidInput, match="covers the years 2025-2027") as caught:
        earliest_shipment(
            datetime(2027, 12, 28, tzinfo=MOSCOW), MOSCOW, "business", CALENDAR, rules=RULES
        )
    assert caught.value.where is None  # the caller knows which input it came from


DEADLINE = datetime(2026, 11, 26, 11, 0, tzinfo=MOSCOW)
LEAD = timedelta(hours=3)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("done_at", "now", "want"),
    [
        (None, "2026-11-26T07:59:59+03:00", StepStatus("pending")),
        (None, "2026-11-26T08:00:00+03:00", StepStatus("at_risk")),  # deadline - lead
        (None, "2026-11-26T10:59:59+03:00", StepStatus("at_risk")),
        (None, "2026-11-26T11:00:00+03:00", StepStatus("missed")),  # the deadline itself
        (None, "2026-11-27T09:00:00+03:00", StepStatus("missed")),
        (None, "2026-11-26T06:00:00+00:00", StepStatus("at_risk")),  # now in UTC: 09:00 MSK
        ("2026-11-26T10:00:00+03:00", "2026-11-26T12:00:00+03:00", StepStatus("done")),
        ("2026-11-26T11:00:00+03:00", "2026-11-26T12:00:00+03:00", StepStatus("done")),
        ("2026-11-26T11:00:00.5+03:00", "2026-11-26T12:00:00+03:00", StepStatus("done")),
        ("2026-11-26T11:00:01+03:00", "2026-11-26T12:00:00+03:00", StepStatus("done", late=True)),
        ("2026-11-26T08:30:00+00:00", "2026-11-26T12:00:00+03:00", StepStatus("done", late=True)),
        # Done early, checked long before the deadline: done, not pending.
        ("2026-11-20T10:00:00+03:00", "2026-11-21T00:00:00+03:00", StepStatus("done")),
    ],
)
def test_step_status(done_at: str | None, now: str, want: StepStatus) -> None:
    done = None if done_at is None else at(done_at)
    assert step_status(DEADLINE, done, at(now), LEAD) == want


def test_step_status_with_no_lead_is_never_at_risk() -> None:
    before = DEADLINE - timedelta(seconds=1)
    assert step_status(DEADLINE, None, before, timedelta(0)) == StepStatus("pending")


@pytest.mark.parametrize(
    ("deadline", "done_at", "now", "lead", "message"),
    [
        (DEADLINE, None, DEADLINE, -LEAD, "lead must not be negative"),
        (DEADLINE.replace(tzinfo=None), None, DEADLINE, LEAD, "deadline must be timezone-aware"),
        (DEADLINE, None, DEADLINE.replace(tzinfo=None), LEAD, "now must be timezone-aware"),
        (DEADLINE, DEADLINE.replace(tzinfo=None), DEADLINE, LEAD, "done_at must be"),
    ],
)
def test_step_status_refuses_bad_arguments(
    deadline: datetime, done_at: datetime | None, now: datetime, lead: timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        step_status(deadline, done_at, now, lead)


@pytest.mark.parametrize(
    "name", ["Europe/Moscow", "America/New_York", "Asia/Vladivostok", "UTC", "Europe/Kyiv"]
)
def test_check_zone_accepts_iana_names(name: str) -> None:
    assert check_zone(name).key == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Mars/Olympus",
        "europe/moscow",
        "Europe/Moscow ",
        "Europe/",
        "America",  # a directory of the database
        "../etc",
        "/etc/passwd",
        ".",
        "a\x00b",
        "x" * 5000,
        "localtime",  # a file of the system database, not a zone
        "posixrules",
        "MSK",
    ],
)
def test_check_zone_refuses_anything_else(name: str) -> None:
    with pytest.raises(InvalidInput, match="is not an IANA time zone") as caught:
        check_zone(name)
    assert caught.value.where == "#/timezone"
    assert caught.value.http_status == 422


@pytest.mark.parametrize(
    ("units", "flags", "codes"),
    [
        (0, set(), []),
        (1000, set(), []),
        (1001, set(), ["individual_agreement"]),
        (10, {"oversized"}, ["individual_agreement"]),
        (10, {"fragile"}, ["individual_agreement"]),
        (10, {"special_assembly"}, ["individual_agreement"]),
        (10, {"special_packing"}, ["individual_agreement"]),
        (5000, {"fragile", "oversized"}, ["individual_agreement"]),
        (10, {"delivery_by_kak2c"}, ["delivery_by_kak2c_ticket"]),
        (1001, {"delivery_by_kak2c"}, ["individual_agreement", "delivery_by_kak2c_ticket"]),
        (10, ["fragile", "fragile"], ["individual_agreement"]),
    ],
)
def test_warnings(units: int, flags: set[str] | list[str], codes: list[str]) -> None:
    assert warnings(units, flags) == codes


def test_an_unknown_flag_is_refused_at_its_index() -> None:
    with pytest.raises(InvalidInput, match="'heavy' is not an FBO flag") as caught:
        warnings(10, ["fragile", "heavy"])
    assert caught.value.where == "#/flags/1"
    assert caught.value.extensions["valid"] == [
        "delivery_by_kak2c",
        "fragile",
        "oversized",
        "special_assembly",
        "special_packing",
    ]


def test_negative_units_are_refused() -> None:
    with pytest.raises(InvalidInput, match="units must be 0 or more") as caught:
        warnings(-1, set())
    assert caught.value.where == "#/units"


def test_deadlines_follow_the_rules_given() -> None:
    """Nothing is hard-coded: a rule changed in the data changes the deadline."""
    early = StepRule("create", 2, time(12, 0), False, "merchant", "x")
    got = deadlines(date(2026, 11, 27), UTC_ZONE, "calendar", rules=(early,))
    assert [s.deadline.isoformat() for s in got] == ["2026-11-25T12:00:00+00:00"]


# ---- the edges of the dates a datetime holds: an input error, never an OverflowError ----

EAST_14 = timezone(timedelta(hours=14))
WEST_14 = timezone(timedelta(hours=-14))


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),  # year 10000 in Moscow
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST_14),  # year 10000 in UTC
        datetime(9999, 12, 30, 12, 0, tzinfo=UTC),  # no shipment day left before 10000
        datetime(1, 1, 1, tzinfo=UTC),  # its create deadline (D-4) would be in year 0
        datetime(1, 1, 1, tzinfo=EAST_14),  # year 0 in UTC
    ],
)
@pytest.mark.parametrize("zone", [MOSCOW, NEW_YORK])
def test_earliest_shipment_at_the_edges_of_time_is_an_input_error(
    created_at: datetime, zone: ZoneInfo
) -> None:
    with pytest.raises(InvalidInput, match="9999") as caught:
        earliest_shipment(created_at, zone, "calendar", CALENDAR, rules=RULES)
    assert caught.value.where is None  # the caller knows which input it came from


@pytest.mark.parametrize(
    ("shipment", "rule", "zone"),
    [
        (date(1, 1, 2), StepRule("create", 4, time(12, 0), False, "merchant", "Create"), MOSCOW),
        (date(9999, 12, 31), StepRule("create", 0, END_OF_DAY, True, "merchant", "C"), NEW_YORK),
        (date(1, 1, 1), StepRule("create", 0, time(0, 0), False, "merchant", "C"), VLADIVOSTOK),
    ],
)
def test_deadlines_at_the_edges_of_time_are_an_input_error(
    shipment: date, rule: StepRule, zone: ZoneInfo
) -> None:
    with pytest.raises(InvalidInput, match="9999") as caught:
        deadlines(shipment, zone, "calendar", CALENDAR, rules=(rule,))
    assert caught.value.where == "#/shipment_date"


def test_deadlines_on_the_last_day_a_datetime_holds() -> None:
    (step,) = deadlines(
        date(9999, 12, 31),
        VLADIVOSTOK,
        "calendar",
        rules=(StepRule("create", 0, END_OF_DAY, True, "merchant", "C"),),
    )
    assert step.deadline.isoformat() == "9999-12-31T23:59:59+10:00"
