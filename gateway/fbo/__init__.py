"""Kak2c's FBO shipment timetable: deadlines for a shipment day, step statuses, warnings.

Pure core (no HTTP, no clock): `Timetable.load()` reads the packaged timetable and Russian
production calendar; `Timetable.compute(...)` answers for one order.
"""

from __future__ import annotations

from gateway.fbo.calendar import ProductionCalendar
from gateway.fbo.checks import check_zone, warnings
from gateway.fbo.schedule import (
    Mode,
    Status,
    Step,
    StepStatus,
    deadlines,
    earliest_shipment,
    step_status,
)
from gateway.fbo.timetable import DEFAULT_LEAD, Schedule, ScheduledStep, Timetable

__all__ = [
    "DEFAULT_LEAD",
    "Mode",
    "ProductionCalendar",
    "Schedule",
    "ScheduledStep",
    "Status",
    "Step",
    "StepStatus",
    "Timetable",
    "check_zone",
    "deadlines",
    "earliest_shipment",
    "step_status",
    "warnings",
]
