"""An FBO schedule in words: each step's deadline as a sentence in ru, en, fr or el.

The sentences come from the gettext catalogs (texts in `messages.toml`); dates and times are
formatted by Babel with the locale's own CLDR patterns (Russian «до 14:00 четверга, 26 ноября»,
English "by 2:00 PM on Thursday, November 26"). The weekday is a catalog entry, not CLDR's: the
phrase needs it in the genitive in Russian and Greek, which CLDR does not give.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from importlib.resources import files
from typing import Any

from babel.dates import format_skeleton, format_time

from gateway.fbo.rules import END_OF_DAY
from gateway.fbo.timetable import Schedule, ScheduledStep
from gateway.i18n import Catalogs

Json = dict[str, Any]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The English texts (msgids) and their catalog contexts, from the one file they are kept in.
TEXTS: dict[str, dict[str, dict[str, str]]] = tomllib.loads(
    (files("gateway.fbo") / "messages.toml").read_text(encoding="utf-8")
)
CONTEXTS = {
    "steps": "step",
    "deadlines": "deadline",
    "weekdays": "weekday",
    "actors": "actor",
    "statuses": "status",
    "warnings": "warning",
}


class FboRenderer:
    """Localizes FBO schedules with the gateway's catalogs."""

    def __init__(self, catalogs: Catalogs) -> None:
        self._catalogs = catalogs

    def text(self, table: str, key: str, lang: str) -> str:
        """The text `key` of `table` in messages.toml, in `lang`."""
        return self._(lang, table, key)

    def sentence(self, step: str, deadline: datetime, lang: str) -> str:
        """«Загрузить маркировку …: до 14:00 четверга, 26 ноября»."""
        return self._(lang, "deadlines", "sentence").format(
            step=self._(lang, "steps", step), deadline=self.deadline(deadline, lang)
        )

    def _(self, lang: str, table: str, key: str) -> str:
        msgid = TEXTS[table][key]["label"]
        return self._catalogs.pgettext(lang, f"fbo.{CONTEXTS[table]}", msgid)

    def deadline(self, at: datetime, lang: str) -> str:
        """«до 14:00 четверга, 26 ноября»: the deadline in the deadline's own zone."""
        kind = "end_of_day" if at.timetz().replace(tzinfo=None) == END_OF_DAY else "at_time"
        return self._(lang, "deadlines", kind).format(
            time=format_time(at, "short", locale=lang),
            weekday=self._(lang, "weekdays", WEEKDAYS[at.weekday()]),
            date=self.day(at.date(), lang),
        )

    @staticmethod
    def day(d: date, lang: str) -> str:
        """«26 ноября», "November 26": day and month as the locale writes them."""
        return str(format_skeleton("MMMMd", d, locale=lang))

    def step(self, step: ScheduledStep, lang: str) -> Json:
        label = self._(lang, "steps", step.id)
        return {
            "step": step.id,
            "label": label,
            "actor": step.actor,
            "actor_label": self._(lang, "actors", step.actor),
            "deadline": step.deadline.isoformat(),
            "status": step.status,
            "status_label": self._(lang, "statuses", step.status),
            "late": step.late,
            "done_at": step.done_at.isoformat() if step.done_at else None,
            "message": self.sentence(step.id, step.deadline, lang),
        }

    def warning(self, code: str, lang: str) -> Json:
        return {"code": code, "message": self._(lang, "warnings", code)}

    def schedule(self, schedule: Schedule, lang: str) -> Json:
        codes = list(schedule.warnings)
        # Without a creation time, a passed `create` deadline only means "too late for this day"
        # (`earliest_shipment_date` says which day works), not a late shipment.
        counted = [
            s for s in schedule.steps if s.id != "create" or schedule.created_in_time is not None
        ]
        if any(s.late or s.status == "missed" for s in counted):
            codes.append("late")
        return {
            "shipment_date": schedule.shipment_date.isoformat(),
            "timezone": schedule.zone.key,
            "mode": schedule.mode,
            "lang": lang,
            "steps": [self.step(s, lang) for s in schedule.steps],
            "created_in_time": schedule.created_in_time,
            "earliest_shipment_date": schedule.earliest_shipment_date.isoformat(),
            "warnings": [self.warning(code, lang) for code in codes],
        }
