"""One GET to a platform's JSON API, with the failures every connector maps the same way:
unreachable or a non-200 answer → ConnectorUnavailable (with `http_status` and the platform's
`Retry-After` for the back-off), 401/403 → InvalidPayload with `http_status` (it counts towards
pausing the connector), a body that is not JSON → InvalidPayload."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from gateway.errors import ConnectorUnavailable, InvalidPayload
from webhooks.schedule import parse_retry_after


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    platform: str,
    what: str,
    auth_hint: str,
    reasons: Mapping[int, str],
) -> Any:
    """The decoded JSON answer; `reasons` explains the platform's own status codes."""
    try:
        async with session.get(
            url, params=params, allow_redirects=False, headers=dict(headers)
        ) as answer:
            raw = await answer.read()
            status = answer.status
            retry_after = answer.headers.get("Retry-After")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ConnectorUnavailable(
            f"{platform} could not be reached for {what}: {exc.__class__.__name__}: {exc}"
        ) from exc
    if status in (401, 403):
        raise InvalidPayload(
            f"{platform} refused {what} with HTTP {status}: {auth_hint}", http_status=status
        )
    if status != 200:
        why = f" ({reasons[status]})" if status in reasons else ""
        retry = f"; Retry-After: {retry_after}" if retry_after else ""
        raise ConnectorUnavailable(
            f"{platform} answered {what} with HTTP {status}{why}{retry}",
            http_status=status,
            retry_after_s=parse_retry_after(retry_after, datetime.now(UTC)),
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(f"{platform}'s answer to {what} is not JSON: {exc}") from exc
