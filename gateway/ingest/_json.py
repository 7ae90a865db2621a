"""What the JSON parsers share: loading, naming what was found, ISO 8601 times with an offset."""

from __future__ import annotations

from datetime import datetime

import orjson

from gateway.errors import InvalidPayload, MalformedJson
from gateway.tracking import as_utc

MISSING = object()  # a key that is absent, told apart from null


def load(body: bytes) -> object:
    try:
        data: object = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"the body is not valid JSON: {exc}", where="#") from exc
    return data


def kind(value: object) -> str:
    """What a JSON value is, for a detail that says what was found."""
    if value is MISSING:
        return "nothing (the key is missing)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        if not value.strip():
            return "an empty string" if not value else "a blank string"
        if len(value) > 60:
            return f"a string of {len(value)} characters"
        return f"the string {value!r}"
    return "an array" if isinstance(value, list) else "an object"


def aware_time(value: object, where: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.utcoffset() is not None:
                return in_range(parsed, value, "updated_at", where)
            raise InvalidPayload(
                "expected updated_at as an ISO 8601 time with a UTC offset, "
                f"found {kind(value)} without one",
                where=where,
            )
    raise InvalidPayload(
        f"expected updated_at as an ISO 8601 time with a UTC offset, found {kind(value)}",
        where=where,
    )


def in_range(moment: datetime, value: str, name: str, where: str) -> datetime:
    """`moment` (read from `value`), if it is a time in UTC too: 0001-01-01T00:00:00+14:00 is
    in year 0 there, which no datetime holds."""
    if as_utc(moment) is None:
        raise InvalidPayload(
            f"expected {name} as a time within the years 1 to 9999 in UTC, found {value!r},"
            " which is outside them once converted to UTC",
            where=where,
        )
    return moment
