"""The FBO timetable's steps, read from `timetable.toml` and validated.

The timetable is Kak2c's regulation, not ours: it lives in a data file so that a changed hour
is a one-line data change, and the loader refuses a file that would give nonsensical deadlines
(steps out of order, an hour such as 25:00, no `create` step to count the earliest date from).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from importlib.resources import files
from typing import Any, Literal

from gateway.errors import MappingFileError

TIMETABLE_FILE = "timetable.toml"

Actor = Literal["merchant", "warehouse"]

#: The deadline of an "end_of_day" step: the last whole second of the day. A step done at any
#: moment of that day is in time (moments are compared by their whole second).
END_OF_DAY = time(23, 59, 59)

CREATE = "create"

_ID = re.compile(r"[a-z][a-z0-9_]*")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_KEYS = frozenset({"id", "days_before", "time", "actor", "label"})


@dataclass(frozen=True, slots=True)
class StepRule:
    """One step of the timetable: due at `at` local time, `days_before` days before D."""

    id: str
    days_before: int
    at: time
    end_of_day: bool
    actor: Actor
    label: str


def load_rules() -> tuple[StepRule, ...]:
    """The timetable shipped with the package (through importlib.resources)."""
    text = (files("gateway.fbo") / TIMETABLE_FILE).read_text(encoding="utf-8")
    return rules_from_toml(text, name=TIMETABLE_FILE)


def rules_from_toml(text: str, *, name: str = TIMETABLE_FILE) -> tuple[StepRule, ...]:
    """Parse and validate; a `MappingFileError` names the file and the step at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingFileError(f"{name}: not valid TOML: {exc}") from exc
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise MappingFileError(f"{name}: needs at least one [[steps]] table")
    rules = tuple(parse_rule(raw, where=f"{name}: steps[{i}]") for i, raw in enumerate(raw_steps))
    check_rules(rules, name=name)
    return rules


def parse_rule(raw: Mapping[str, Any], *, where: str) -> StepRule:
    """One [[steps]] table."""
    unknown = set(raw) - _KEYS
    missing = _KEYS - set(raw)
    if unknown or missing:
        raise MappingFileError(
            f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
        )
    step_id, days, at, actor, label = (
        raw[k] for k in ("id", "days_before", "time", "actor", "label")
    )
    if not isinstance(step_id, str) or not _ID.fullmatch(step_id):
        raise MappingFileError(f"{where}: id must be lower_snake_case, not {step_id!r}")
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise MappingFileError(f"{where} ({step_id}): days_before must be an integer >= 0")
    if actor not in ("merchant", "warehouse"):
        raise MappingFileError(f"{where} ({step_id}): actor must be 'merchant' or 'warehouse'")
    if not isinstance(label, str) or not label.strip():
        raise MappingFileError(f"{where} ({step_id}): label must be a non-empty string")
    end_of_day = at == "end_of_day"
    match = None if end_of_day or not isinstance(at, str) else _HHMM.fullmatch(at)
    if not end_of_day and match is None:
        raise MappingFileError(
            f"{where} ({step_id}): time must be 'end_of_day' or 'HH:MM' (00:00-23:59), not {at!r}"
        )
    clock = END_OF_DAY if match is None else time(int(match[1]), int(match[2]))
    return StepRule(step_id, days, clock, end_of_day, actor, label)


def check_rules(rules: Sequence[StepRule], *, name: str) -> None:
    """Ids unique, a `create` step, and the steps in the order of their deadlines."""
    ids = [rule.id for rule in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise MappingFileError(f"{name}: step ids listed twice: {duplicates}")
    if CREATE not in ids:
        raise MappingFileError(f"{name}: a step with id {CREATE!r} is required")
    order = [(-rule.days_before, rule.at) for rule in rules]
    if order != sorted(order):
        raise MappingFileError(f"{name}: steps must be listed in the order of their deadlines")
