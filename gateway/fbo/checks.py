"""Input checks and warnings of the FBO timetable: time zones, aware times, special orders.

Each check turns bad client input into an `InvalidInput` (422) that points at the field, so an
integrator sees what to fix instead of a wrong timetable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import InvalidInput
from gateway.tracking import tracked_time

#: Above this many units the assembly time is agreed individually (seed: «свыше 1000 ед.»).
INDIVIDUAL_AGREEMENT_UNITS = 1000

#: Goods "with specific parameters and packing conditions": assembly time agreed individually.
SPECIAL_GOODS_FLAGS = frozenset({"oversized", "fragile", "special_assembly", "special_packing"})
#: Delivery to the marketplace by Kak2c itself: needs a ticket with order number and date.
DELIVERY_BY_KAK2C = "delivery_by_kak2c"
VALID_FLAGS = SPECIAL_GOODS_FLAGS | {DELIVERY_BY_KAK2C}

INDIVIDUAL_AGREEMENT = "individual_agreement"
DELIVERY_BY_KAK2C_TICKET = "delivery_by_kak2c_ticket"


@cache
def iana_zone_names() -> frozenset[str]:
    """The zone names of the IANA database shipped by `tzdata` (a declared dependency).

    Checked before `ZoneInfo` is asked, so that machine-specific files of the system zoneinfo
    directory (``localtime``, ``posixrules``) are not taken for zones."""
    return frozenset((files("tzdata") / "zones").read_text(encoding="utf-8").split())


def check_reported(
    at: datetime, now: datetime, tolerance: timedelta, what: str, where: str
) -> datetime:
    """A time a client reports something happened at (a step done, the order created), in UTC;
    an `InvalidInput` at `where` when it lies ahead of the clock by more than `tolerance` (the
    tracking rule for event times: a step dated next year would count as done on time)."""
    try:
        return tracked_time(at, now, tolerance, what)
    except ValueError as exc:
        raise InvalidInput(str(exc), where=where) from exc


def check_zone(name: str) -> ZoneInfo:
    """The zone called `name`, or an `InvalidInput` at ``#/timezone``.

    `ZoneInfo` raises `ValueError` for keys such as ``""`` or ``"../etc"``, `OSError` for a
    directory or a too-long name, and `ZoneInfoNotFoundError` for an unknown one: all mean the
    same to a client."""
    if name in iana_zone_names():
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise InvalidInput(
        f"{name!r} is not an IANA time zone (such as 'Europe/Moscow')", where="#/timezone"
    )


def require_aware(value: datetime, name: str) -> None:
    """A time without a UTC offset is ambiguous across zones; callers must say which one.

    A `ValueError`: passing one is a programming error. Client input is checked with
    `check_aware`, which answers with a problem document instead."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


def check_aware(value: datetime, *, where: str) -> None:
    """Client input: a naive time is an `InvalidInput` at `where`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{value.isoformat()} has no UTC offset; send an ISO 8601 time with one, such as"
            " 2026-11-23T10:00:00+03:00",
            where=where,
        )


@contextmanager
def pointing_at(where: str) -> Iterator[None]:
    """Give an `InvalidInput` raised without a `where` (the calendar does not know which input
    a date came from) the pointer of the input being processed."""
    try:
        yield
    except InvalidInput as exc:
        if exc.where is not None:
            raise
        raise InvalidInput(exc.detail, where=where, **exc.extensions) from exc


def warnings(units: int, flags: Iterable[str]) -> list[str]:
    """Warning codes for an order the standard timetable does not fully cover.

    `flags` is usually the JSON array of the request, so an unknown flag is reported at its
    index (``#/flags/<i>``, counted in iteration order); a negative count is an error."""
    if units < 0:
        raise InvalidInput(f"units must be 0 or more, not {units}", where="#/units")
    given: set[str] = set()
    for index, flag in enumerate(flags):
        if flag not in VALID_FLAGS:
            raise InvalidInput(
                f"{flag!r} is not an FBO flag; use one of: {', '.join(sorted(VALID_FLAGS))}",
                where=f"#/flags/{index}",
                valid=sorted(VALID_FLAGS),
            )
        given.add(flag)
    codes: list[str] = []
    if units > INDIVIDUAL_AGREEMENT_UNITS or given & SPECIAL_GOODS_FLAGS:
        codes.append(INDIVIDUAL_AGREEMENT)
    if DELIVERY_BY_KAK2C in given:
        codes.append(DELIVERY_BY_KAK2C_TICKET)
    return codes
