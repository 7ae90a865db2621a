"""The Russian production calendar: which days are working days, for the business-day mode.

The days off move every year by a Government decree, so the facts live in
`production_calendar_ru.toml` and this module only validates and answers questions. A date
outside the years the file covers is an error, never a guess: a wrong working day would move a
shipment deadline silently.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib.resources import files
from typing import Any, Literal

from gateway.errors import InvalidInput, MappingFileError

CALENDAR_FILE = "production_calendar_ru.toml"

YearStatus = Literal["official", "provisional"]

#: Fixed non-working public holidays (Labour Code art. 112 part 1), as (month, day).
FEDERAL_HOLIDAYS: tuple[tuple[int, int], ...] = (
    *((1, day) for day in range(1, 9)),
    (2, 23),
    (3, 8),
    (5, 1),
    (5, 9),
    (6, 12),
    (11, 4),
)

_SATURDAY = 5


def is_weekend(d: date) -> bool:
    """Saturday or Sunday: the ordinary days off of a five-day week."""
    return d.weekday() >= _SATURDAY


@dataclass(frozen=True, slots=True)
class CalendarYear:
    """One year of the calendar, as the decree for that year left it."""

    year: int
    status: YearStatus
    source: str
    checked: str
    holidays: frozenset[date]
    working_weekends: frozenset[date]


@dataclass(frozen=True, slots=True)
class ProductionCalendar:
    """Working days of the covered years; build it with `load` or `from_toml`."""

    years: Mapping[int, CalendarYear]

    @classmethod
    def load(cls) -> ProductionCalendar:
        """The calendar shipped with the package (read through importlib.resources, so it also
        works from an installed wheel)."""
        text = (files("gateway.fbo") / CALENDAR_FILE).read_text(encoding="utf-8")
        return cls.from_toml(text, name=CALENDAR_FILE)

    @classmethod
    def from_toml(cls, text: str, *, name: str = CALENDAR_FILE) -> ProductionCalendar:
        """Parse and validate; a `MappingFileError` names the file and the year at fault."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MappingFileError(f"{name}: not valid TOML: {exc}") from exc
        return cls(years=parse_years(data, name=name))

    @property
    def covered_years(self) -> tuple[int, ...]:
        return tuple(sorted(self.years))

    def covers(self, d: date) -> bool:
        """Whether the calendar knows `d`'s year."""
        return d.year in self.years

    def is_working_day(self, d: date) -> bool:
        """A working day: a Mon-Fri that is not a holiday, or a Sat/Sun made a working day."""
        year = self._year(d)
        if d in year.holidays:
            return False
        if d in year.working_weekends:
            return True
        return not is_weekend(d)

    def working_days_before(self, d: date, n: int) -> date:
        """The n-th working day strictly before `d` (n >= 1); `d` itself need not be one."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        self._year(d)
        day = d
        while n:
            day -= timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def _year(self, d: date) -> CalendarYear:
        try:
            return self.years[d.year]
        except KeyError:
            covered = self.covered_years
            raise InvalidInput(
                f"{d.isoformat()} is outside the Russian production calendar, which covers"
                f" {_describe_years(covered)}",
                covered_years=list(covered),
            ) from None


def _describe_years(years: tuple[int, ...]) -> str:
    if not years:
        return "no year"
    if len(years) == 1:
        return f"only {years[0]}"
    return f"the years {years[0]}-{years[-1]}"


def parse_years(data: Mapping[str, Any], *, name: str) -> dict[int, CalendarYear]:
    """Validate the parsed TOML; years must be contiguous so that counting back across a new
    year never falls into a hole."""
    raw_years = data.get("years")
    if not isinstance(raw_years, dict) or not raw_years:
        raise MappingFileError(f"{name}: needs a non-empty [years.<yyyy>] table")
    years: dict[int, CalendarYear] = {}
    for key, raw in raw_years.items():
        if not key.isdigit() or len(key) != 4:
            raise MappingFileError(f"{name}: years.{key}: the key must be a four-digit year")
        if not isinstance(raw, dict):
            raise MappingFileError(f"{name}: years.{key}: must be a table")
        years[int(key)] = parse_year(int(key), raw, where=f"{name}: years.{key}")
    ordered = sorted(years)
    if ordered != list(range(ordered[0], ordered[-1] + 1)):
        raise MappingFileError(f"{name}: the years must be contiguous, got {ordered}")
    return years


_YEAR_KEYS = frozenset({"status", "source", "checked", "holidays", "working_weekends"})


def parse_year(year: int, raw: Mapping[str, Any], *, where: str) -> CalendarYear:
    """One year's table, checked against the rules any real calendar obeys."""
    unknown = set(raw) - _YEAR_KEYS
    missing = _YEAR_KEYS - set(raw)
    if unknown or missing:
        raise MappingFileError(
            f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
        )
    status = raw["status"]
    if status not in ("official", "provisional"):
        raise MappingFileError(f"{where}: status must be 'official' or 'provisional'")
    for text_key in ("source", "checked"):
        if not isinstance(raw[text_key], str) or not raw[text_key].strip():
            raise MappingFileError(f"{where}: {text_key} must be a non-empty string")
    holidays = _dates(raw["holidays"], year, where=f"{where}.holidays")
    working = _dates(raw["working_weekends"], year, where=f"{where}.working_weekends")
    _check_days(holidays, working, year, where=where)
    return CalendarYear(
        year=year,
        status=status,
        source=raw["source"],
        checked=raw["checked"],
        holidays=frozenset(holidays),
        working_weekends=frozenset(working),
    )


def _dates(raw: object, year: int, *, where: str) -> list[date]:
    if not isinstance(raw, list):
        raise MappingFileError(f"{where}: must be a list of dates")
    days: list[date] = []
    for item in raw:
        # tomllib gives a datetime (a date subclass) for a date-time: refuse it.
        if not isinstance(item, date) or isinstance(item, datetime):
            raise MappingFileError(f"{where}: {item!r} is not a date (write 2026-01-01)")
        if item.year != year:
            raise MappingFileError(f"{where}: {item.isoformat()} is not in {year}")
        days.append(item)
    duplicates = sorted({d for d in days if days.count(d) > 1})
    if duplicates:
        raise MappingFileError(f"{where}: listed twice: {_iso(duplicates)}")
    return days


def _check_days(holidays: list[date], working: list[date], year: int, *, where: str) -> None:
    both = sorted(set(holidays) & set(working))
    if both:
        raise MappingFileError(f"{where}: both a holiday and a working day: {_iso(both)}")
    on_weekend = [d for d in holidays if is_weekend(d)]
    if on_weekend:
        raise MappingFileError(
            f"{where}.holidays: {_iso(on_weekend)} fall on a Saturday or Sunday, which is a day"
            " off anyway; list the weekday it is carried over or moved to instead"
        )
    weekdays = [d for d in working if not is_weekend(d)]
    if weekdays:
        raise MappingFileError(
            f"{where}.working_weekends: {_iso(weekdays)} are not a Saturday or Sunday"
        )
    fixed = (date(year, month, day) for month, day in FEDERAL_HOLIDAYS)
    absent = [d for d in fixed if not is_weekend(d) and d not in holidays]
    if absent:
        raise MappingFileError(
            f"{where}.holidays: the public holidays {_iso(absent)} fall on a weekday but are"
            " not listed"
        )


def _iso(days: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in days)
