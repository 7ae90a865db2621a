"""The Russian production calendar: the packaged facts, the queries, and the file's validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from gateway.errors import InvalidInput, MappingFileError
from gateway.fbo.calendar import FEDERAL_HOLIDAYS, ProductionCalendar


@pytest.fixture(scope="module")
def calendar() -> ProductionCalendar:
    return ProductionCalendar.load()


def test_covers_2025_to_2027_from_the_decrees(calendar: ProductionCalendar) -> None:
    assert calendar.covered_years == (2025, 2026, 2027)
    for year in calendar.years.values():
        assert year.source.startswith("Постановление Правительства РФ от ")
        assert year.status == "official"
        assert year.checked


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_every_covered_year_has_the_published_247_working_days(
    calendar: ProductionCalendar, year: int
) -> None:
    days = (date(year, 1, 1) + timedelta(days=i) for i in range(365))
    assert sum(calendar.is_working_day(d) for d in days) == 247


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 2, 24), True),  # 23 Feb on a Sunday, moved to 8 May by the decree
        (date(2025, 5, 2), False),  # from Sat 4 Jan
        (date(2025, 5, 8), False),  # from Sun 23 Feb
        (date(2025, 6, 13), False),  # from Sat 8 Mar
        (date(2025, 11, 1), True),  # working Saturday
        (date(2025, 11, 3), False),  # its day off
        (date(2025, 12, 31), False),  # from Sun 5 Jan
        (date(2026, 1, 9), False),  # from Sat 3 Jan
        (date(2026, 1, 12), True),
        (date(2026, 2, 23), False),
        (date(2026, 3, 9), False),  # 8 Mar on a Sunday, carried over
        (date(2026, 5, 11), False),  # 9 May on a Saturday, carried over
        (date(2026, 11, 4), False),
        (date(2026, 11, 27), True),
        (date(2026, 11, 28), False),  # an ordinary Saturday
        (date(2026, 12, 31), False),  # from Sun 4 Jan
        (date(2027, 1, 1), False),
        (date(2027, 1, 11), True),
        (date(2027, 2, 20), True),  # working Saturday
        (date(2027, 2, 22), False),  # its day off
        (date(2027, 5, 3), False),  # 1 May on a Saturday, carried over
        (date(2027, 5, 10), False),  # 9 May on a Sunday, carried over
        (date(2027, 6, 14), False),  # 12 Jun on a Saturday, carried over
        (date(2027, 11, 5), False),  # from Sat 2 Jan
        (date(2027, 12, 31), False),  # from Sun 3 Jan
    ],
)
def test_is_working_day(calendar: ProductionCalendar, day: date, working: bool) -> None:
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        (date(2026, 11, 27), 1, date(2026, 11, 26)),
        (date(2026, 11, 27), 4, date(2026, 11, 23)),
        (date(2026, 11, 30), 1, date(2026, 11, 27)),  # over a weekend
        (date(2026, 11, 5), 1, date(2026, 11, 3)),  # over 4 November
        (date(2026, 11, 5), 4, date(2026, 10, 29)),
        (date(2027, 1, 11), 1, date(2026, 12, 30)),  # over the New Year holidays
        (date(2027, 1, 11), 4, date(2026, 12, 25)),
        (date(2027, 2, 24), 1, date(2027, 2, 20)),  # the working Saturday counts
        (date(2025, 11, 5), 1, date(2025, 11, 1)),
        (date(2025, 11, 5), 4, date(2025, 10, 29)),
        (date(2026, 11, 28), 1, date(2026, 11, 27)),  # from a day off
    ],
)
def test_working_days_before(
    calendar: ProductionCalendar, day: date, n: int, expected: date
) -> None:
    assert calendar.working_days_before(day, n) == expected


@pytest.mark.parametrize("n", [0, -1])
def test_working_days_before_needs_n_of_at_least_one(calendar: ProductionCalendar, n: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        calendar.working_days_before(date(2026, 11, 27), n)


@pytest.mark.parametrize(
    ("day", "covered"),
    [
        (date(2024, 12, 31), False),
        (date(2025, 1, 1), True),
        (date(2027, 12, 31), True),
        (date(2028, 1, 1), False),
    ],
)
def test_covers(calendar: ProductionCalendar, day: date, covered: bool) -> None:
    assert calendar.covers(day) is covered


@pytest.mark.parametrize(
    "query",
    [
        lambda c: c.is_working_day(date(2028, 3, 1)),
        lambda c: c.is_working_day(date(2024, 12, 31)),
        lambda c: c.working_days_before(date(2028, 3, 1), 1),
        # The day is covered, but counting back reaches December 2024.
        lambda c: c.working_days_before(date(2025, 1, 9), 1),
    ],
)
def test_outside_the_covered_years_is_an_error_naming_them(
    calendar: ProductionCalendar, query: Callable[[ProductionCalendar], object]
) -> None:
    with pytest.raises(InvalidInput, match="covers the years 2025-2027") as caught:
        query(calendar)
    assert caught.value.http_status == 422
    assert caught.value.extensions == {"covered_years": [2025, 2026, 2027]}


def test_matches_the_holidays_package_when_installed(calendar: ProductionCalendar) -> None:
    """A cross-check against an independent source; `holidays` is not a dependency."""
    holidays = pytest.importorskip("holidays")
    for year in calendar.covered_years:
        theirs = holidays.country_holidays("RU", years=year)
        ours = calendar.years[year]
        assert ours.holidays == {d for d in theirs if d.weekday() < 5}
        assert ours.working_weekends == set(theirs.weekend_workdays)


VALID_2026 = """
[years.2026]
status = "official"
source = "Постановление"
checked = "by hand"
holidays = [2026-01-01, 2026-01-02, 2026-01-05, 2026-01-06, 2026-01-07, 2026-01-08,
            2026-02-23, 2026-05-01, 2026-06-12, 2026-11-04]
working_weekends = []
"""


def test_a_minimal_year_loads() -> None:
    calendar = ProductionCalendar.from_toml(VALID_2026, name="t.toml")
    assert calendar.covered_years == (2026,)
    assert calendar.is_working_day(date(2026, 3, 9))  # not listed in this test file
    with pytest.raises(InvalidInput, match="covers only 2026"):
        calendar.is_working_day(date(2027, 1, 11))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[years.2026]", "[years.26]", "four-digit year"),
        ('status = "official"', 'status = "draft"', "status must be"),
        ('source = "Постановление"', 'source = ""', "source must be"),
        ('checked = "by hand"', 'checked = "by hand"\nnote = "x"', "unknown keys \\['note'\\]"),
        ('checked = "by hand"\n', "", "missing keys \\['checked'\\]"),
        ("2026-11-04]", "2026-11-04, 2025-11-05]", "2025-11-05 is not in 2026"),
        ("2026-11-04]", "2026-11-04, 2026-11-04]", "listed twice: 2026-11-04"),
        ("2026-11-04]", "2026-11-04T00:00:00]", "not a date"),
        ("2026-11-04]", "2026-11-04, 2026-11-07]", "2026-11-07 fall on a Saturday"),
        (", 2026-11-04]", "]", "2026-11-04 fall on a weekday but are not listed"),
        ("working_weekends = []", "working_weekends = [2026-11-27]", "not a Saturday or Sunday"),
        (
            "working_weekends = []",
            "working_weekends = [2026-11-04]",
            "both a holiday and a working day: 2026-11-04",
        ),
        ("working_weekends = []", "working_weekends = 2026-11-28", "must be a list of dates"),
        ("working_weekends = []", "working_weekends = [", "not valid TOML"),
        ("[years.2026]", "[year.2026]", r"needs a non-empty \[years.<yyyy>\] table"),
    ],
)
def test_a_bad_calendar_file_is_refused(old: str, new: str, message: str) -> None:
    assert old in VALID_2026
    with pytest.raises(MappingFileError, match=message):
        ProductionCalendar.from_toml(VALID_2026.replace(old, new), name="t.toml")


def _generated_year(year: int) -> str:
    """A valid year: only the fixed public holidays that fall on a weekday, no transfer."""
    days = (date(year, month, day) for month, day in FEDERAL_HOLIDAYS)
    listed = ", ".join(d.isoformat() for d in days if d.weekday() < 5)
    return (
        f'[years.{year}]\nstatus = "provisional"\nsource = "s"\nchecked = "c"\n'
        f"holidays = [{listed}]\nworking_weekends = []\n"
    )


def test_the_years_must_be_contiguous() -> None:
    ProductionCalendar.from_toml(_generated_year(2027) + _generated_year(2028))
    with pytest.raises(MappingFileError, match="contiguous"):
        ProductionCalendar.from_toml(_generated_year(2026) + _generated_year(2028))
