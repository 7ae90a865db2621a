"""What the JSON parsers share: loading, naming what was found, ISO 8601 times with an offset."""

from __future__ import annotations

from datetime import datetime

import orjson

from gateway.errors import InvalidPayload, MalformedJson

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
                return parsed
            raise InvalidPayload(
                "expected updated_at as an ISO 8601 time with a UTC offset, "
                f"found {kind(value)} without one",
                where=where,
            )
    raise InvalidPayload(
        f"expected updated_at as an ISO 8601 time with a UTC offset, found {kind(value)}",
        where=where,
    )
