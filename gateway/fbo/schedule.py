"""Deadlines of the FBO timetable for a shipment day, and the status of each step.

Pure functions: no clock and no files (the current time is always passed in, the rules and the
calendar are loaded by the caller), so every answer can be tested for any day of any year.

Two ways to count the days before the shipment day D:

* ``calendar`` (the default): calendar days, exactly as the seed does (shipment Friday ->
  create by Monday; D-1 is the day before even if it is a Sunday or a holiday);
* ``business``: working days of the Russian production calendar (D-1 is the previous working
  day); D itself must then be a working day.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from gateway.errors import InvalidInput
from gateway.fbo.calendar import ProductionCalendar
from gateway.fbo.checks import pointing_at, require_aware
from gateway.fbo.rules import CREATE, Actor, StepRule

Mode = Literal["calendar", "business"]
MODES: tuple[Mode, ...] = get_args(Mode)
Status = Literal["done", "pending", "at_risk", "missed"]

SHIPMENT_DATE = "#/shipment_date"

# Far more than any timetable needs; only a broken rule set could exhaust it.
_SEARCH_DAYS = 366
_RANGE = "0001-01-01 to 9999-12-31"  # the days a date (and a datetime) can hold


@dataclass(frozen=True, slots=True)
class Step:
    """A step with its deadline: an aware datetime in the warehouse's zone."""

    id: str
    actor: Actor
    deadline: datetime
    label: str


@dataclass(frozen=True, slots=True)
class StepStatus:
    """Where a step stands; `late` is only ever true for a step done after its deadline."""

    status: Status
    late: bool = False


def deadlines(
    shipment: date,
    zone: ZoneInfo,
    mode: Mode,
    calendar: ProductionCalendar | None = None,
    *,
    rules: Sequence[StepRule],
) -> list[Step]:
    """Every step's deadline for a shipment on `shipment`, in the order of `rules`.

    In business mode a shipment day that is not a working day, or one whose steps fall outside
    the calendar's years, is an `InvalidInput` at ``#/shipment_date``."""
    with pointing_at(SHIPMENT_DATE):
        return _deadlines(shipment, zone, mode, calendar, rules)


def _deadlines(
    shipment: date,
    zone: ZoneInfo,
    mode: Mode,
    calendar: ProductionCalendar | None,
    rules: Sequence[StepRule],
) -> list[Step]:
    """`deadlines` without pointing calendar errors at the shipment date: `earliest_shipment`
    reaches the same dates from the creation time."""
    day_of = _day_counter(shipment, mode, calendar)
    return [
        Step(rule.id, rule.actor, local_deadline(day_of(rule.days_before), rule, zone), rule.label)
        for rule in rules
    ]


def local_deadline(day: date, rule: StepRule, zone: ZoneInfo) -> datetime:
    """`rule`'s time on `day` in `zone`.

    Round-tripped through UTC so that a wall-clock time skipped by a daylight-saving change
    becomes the real instant after the gap rather than a time that never happens."""
    wall = datetime.combine(day, rule.at, tzinfo=zone)
    try:
        return wall.astimezone(UTC).astimezone(zone)
    except OverflowError:
        raise _out_of_range(f"the deadline {wall.isoformat()} ({zone.key})") from None


def _out_of_range(what: str) -> InvalidInput:
    """Without `where`: the caller points it at the input it came from (`pointing_at`)."""
    return InvalidInput(f"{what} falls outside the days the timetable can count ({_RANGE}, in UTC)")


def days_before(day: date, n: int) -> date:
    """The calendar day `n` days before `day`."""
    try:
        return day - timedelta(days=n)
    except OverflowError:
        raise _out_of_range(f"{n} days before {day.isoformat()}") from None


def _day_counter(
    shipment: date, mode: Mode, calendar: ProductionCalendar | None
) -> Callable[[int], date]:
    """How to go `n` days back from the shipment day in `mode`."""
    if mode == "calendar":
        return lambda n: days_before(shipment, n)
    if mode != "business":
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if calendar is None:
        raise ValueError("the business-day mode needs a production calendar")
    if not calendar.is_working_day(shipment):
        raise InvalidInput(
            f"{shipment.isoformat()} is not a working day in the Russian production calendar;"
            " in the business-day mode the shipment must be on a working day",
            where=SHIPMENT_DATE,
        )
    return lambda n: shipment if n == 0 else calendar.working_days_before(shipment, n)


def create_rule(rules: Sequence[StepRule]) -> StepRule:
    """The `create` step, which decides the earliest possible shipment date."""
    for rule in rules:
        if rule.id == CREATE:
            return rule
    raise ValueError(f"the timetable has no {CREATE!r} step")


def in_time(at: datetime, deadline: datetime) -> bool:
    """Whether something done at `at` meets `deadline`.

    Deadlines are whole seconds, so a moment counts by its whole second: an order created at
    23:59:59.7 meets an end-of-day deadline (23:59:59), as the seed's "by the end of Monday"
    intends."""
    return at.replace(microsecond=0) <= deadline


def earliest_shipment(
    created_at: datetime,
    zone: ZoneInfo,
    mode: Mode,
    calendar: ProductionCalendar | None = None,
    *,
    rules: Sequence[StepRule],
) -> date:
    """The first shipment day whose `create` deadline an order created at `created_at` meets
    (a working day in business mode). `created_at` is read in `zone`: the local day counts."""
    require_aware(created_at, "created_at")
    rule = create_rule(rules)
    try:
        local = created_at.astimezone(zone)
    except OverflowError:
        raise _out_of_range(f"{created_at.isoformat()} in {zone.key}") from None
    day = local.date()
    for _ in range(_SEARCH_DAYS):
        if _possible(day, local, rule, zone, mode, calendar):
            return day
        if day == date.max:
            raise _out_of_range(f"the first shipment day after {local.isoformat()}")
        day += timedelta(days=1)
    raise ValueError(f"no shipment day within {_SEARCH_DAYS} days of {local.isoformat()}")


def _possible(
    day: date,
    created: datetime,
    rule: StepRule,
    zone: ZoneInfo,
    mode: Mode,
    calendar: ProductionCalendar | None,
) -> bool:
    if mode == "business" and calendar is not None and not calendar.is_working_day(day):
        return False
    (step,) = _deadlines(day, zone, mode, calendar, (rule,))
    return in_time(created, step.deadline)


def step_status(
    deadline: datetime, done_at: datetime | None, now: datetime, lead: timedelta
) -> StepStatus:
    """The status of a step due at `deadline`.

    ``done`` (with `late` when done after the deadline), else ``missed`` from the deadline on,
    ``at_risk`` within `lead` before it, ``pending`` before that. A done step is judged by the
    whole second (see `in_time`); an open one is missed from the deadline's first instant."""
    require_aware(deadline, "deadline")
    require_aware(now, "now")
    if lead < timedelta(0):
        raise ValueError(f"lead must not be negative, got {lead}")
    if done_at is not None:
        require_aware(done_at, "done_at")
        return StepStatus("done", late=not in_time(done_at, deadline))
    if now >= deadline:
        return StepStatus("missed")
    if now >= deadline - lead:
        return StepStatus("at_risk")
    return StepStatus("pending")
