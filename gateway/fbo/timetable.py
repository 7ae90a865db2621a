"""The FBO timetable as one object: rules + production calendar, and the answer for one order.

`Timetable.compute` is what an endpoint calls: it checks the client's input (each error points
at its field), then asks the pure functions of `gateway.fbo.schedule` for the deadlines, the
status of each step and the earliest date still possible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.errors import InvalidInput
from gateway.fbo.calendar import ProductionCalendar
from gateway.fbo.checks import check_aware, pointing_at, require_aware, warnings
from gateway.fbo.rules import CREATE, Actor, StepRule, load_rules
from gateway.fbo.schedule import (
    MODES,
    SHIPMENT_DATE,
    Mode,
    Status,
    Step,
    deadlines,
    earliest_shipment,
    in_time,
    step_status,
)

#: How long before a deadline an open step becomes ``at_risk``: enough to still act that day.
DEFAULT_LEAD = timedelta(hours=3)


@dataclass(frozen=True, slots=True)
class ScheduledStep:
    """A step of one order: its deadline and where it stands."""

    id: str
    actor: Actor
    label: str
    deadline: datetime
    status: Status
    late: bool
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class Schedule:
    """The timetable of one shipment, as the gateway answers it."""

    shipment_date: date
    zone: ZoneInfo
    mode: Mode
    steps: tuple[ScheduledStep, ...]
    #: Whether the order was created by the `create` deadline; None when no creation time given.
    created_in_time: bool | None
    #: The earliest shipment day for an order created at `created_at` (or now, if not given).
    earliest_shipment_date: date
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Timetable:
    """The timetable's steps and the production calendar used by the business-day mode."""

    rules: tuple[StepRule, ...]
    calendar: ProductionCalendar

    @classmethod
    def load(cls) -> Timetable:
        """The timetable and the calendar shipped in the package."""
        return cls(rules=load_rules(), calendar=ProductionCalendar.load())

    @property
    def step_ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)

    def deadlines(self, shipment: date, zone: ZoneInfo, mode: Mode = "calendar") -> list[Step]:
        return deadlines(shipment, zone, mode, self.calendar, rules=self.rules)

    def earliest_shipment(
        self, created_at: datetime, zone: ZoneInfo, mode: Mode = "calendar"
    ) -> date:
        return earliest_shipment(created_at, zone, mode, self.calendar, rules=self.rules)

    def compute(
        self,
        shipment: date,
        *,
        zone: ZoneInfo,
        mode: Mode = "calendar",
        units: int = 0,
        flags: Iterable[str] = (),
        created_at: datetime | None = None,
        done: Mapping[str, datetime] | None = None,
        now: datetime,
        lead: timedelta = DEFAULT_LEAD,
        past_ok: bool = False,
    ) -> Schedule:
        """The whole answer for a shipment on `shipment` as seen at `now`.

        The `create` step counts as done at `created_at` unless `done` says otherwise. A
        shipment day before today (in `zone`) is refused: its timetable is over (unless
        `past_ok`: a registered shipment is still shown after its day)."""
        require_aware(now, "now")
        done_at = self._check_input(
            shipment, zone, mode, created_at, done or {}, now, lead, past_ok=past_ok
        )
        codes = warnings(units, flags)
        steps = deadlines(shipment, zone, mode, self.calendar, rules=self.rules)
        if created_at is not None:
            done_at.setdefault(CREATE, created_at)
        scheduled = tuple(_scheduled(step, done_at.get(step.id), now, lead) for step in steps)
        create = next(step for step in steps if step.id == CREATE)
        where: AbstractContextManager[None] = (
            nullcontext() if created_at is None else pointing_at("#/created_at")
        )
        with where:
            earliest = self.earliest_shipment(created_at or now, zone, mode)
        return Schedule(
            shipment_date=shipment,
            zone=zone,
            mode=mode,
            steps=scheduled,
            created_in_time=None if created_at is None else in_time(created_at, create.deadline),
            earliest_shipment_date=earliest,
            warnings=tuple(codes),
        )

    def _check_input(
        self,
        shipment: date,
        zone: ZoneInfo,
        mode: str,
        created_at: datetime | None,
        done: Mapping[str, datetime],
        now: datetime,
        lead: timedelta,
        *,
        past_ok: bool = False,
    ) -> dict[str, datetime]:
        """Refuse what the client sent wrong, each at its field; the checked `done` times."""
        if mode not in MODES:
            raise InvalidInput(
                f"{mode!r} is not a mode; use one of: {', '.join(MODES)}",
                where="#/mode",
                valid=list(MODES),
            )
        if lead < timedelta(0):
            raise InvalidInput(f"lead must not be negative, got {lead}", where="#/lead")
        if created_at is not None:
            check_aware(created_at, where="#/created_at")
        for step_id, at in done.items():
            where = f"#/done/{_pointer_token(step_id)}"
            if step_id not in self.step_ids:
                raise InvalidInput(
                    f"{step_id!r} is not an FBO step; use one of: {', '.join(self.step_ids)}",
                    where=where,
                    valid=list(self.step_ids),
                )
            check_aware(at, where=where)
        today = now.astimezone(zone).date()
        if shipment < today and not past_ok:
            raise InvalidInput(
                f"the shipment date {shipment.isoformat()} is before today"
                f" ({today.isoformat()} in {zone.key})",
                where=SHIPMENT_DATE,
            )
        return dict(done)


def _scheduled(
    step: Step, done_at: datetime | None, now: datetime, lead: timedelta
) -> ScheduledStep:
    state = step_status(step.deadline, done_at, now, lead)
    return ScheduledStep(
        id=step.id,
        actor=step.actor,
        label=step.label,
        deadline=step.deadline,
        status=state.status,
        late=state.late,
        done_at=done_at,
    )


def _pointer_token(key: str) -> str:
    """Escape a key for a JSON pointer (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
