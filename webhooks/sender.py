"""One delivery attempt over HTTP, and what came of it.

The client is aiohttp, not httpx: at 50 requests in flight on one client, httpx 0.28 collapses to
about 200 requests/s (its pool rescans every connection per request, encode/httpx#3215) where
aiohttp keeps about 7,000 (`../shared/reference/stack-measurements.md` §6; `bench/delivery.py`
measures it again against the same receiver). The session's connector resolves through the SSRF
guard, so a connection only ever goes to an address that was checked (see `webhooks.guard`).
Redirects are not followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from yarl import URL

from webhooks.guard import BlockedAddress, check_literal, connector
from webhooks.schedule import parse_retry_after

RESPONSE_EXCERPT = 1024  # bytes of the receiver's answer kept in the delivery log
RESPONSE_READ = 65_536  # bytes read before the connection is given up rather than reused


@dataclass(frozen=True, slots=True)
class Attempt:
    """The receiver's answer (or why there was none)."""

    status: int | None
    duration_ms: float
    response: str = ""
    error: str | None = None  # "ClassName: message"
    retry_after: float | None = None
    timed_out: bool = False


def _error(exc: BaseException) -> str:
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if isinstance(cause, BlockedAddress):
        exc = cause
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:500]


class Sender:
    """Sends signed bodies; one per process, opened and closed with it."""

    def __init__(
        self,
        *,
        allow_private: bool,
        connect_timeout_s: float,
        timeout_s: float,
        limit: int = 256,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> Sender:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=connector(allow_private=self._allow_private, limit=self._limit),
                timeout=self._timeout,
                trust_env=False,  # never through a proxy from the environment
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Attempt:
        session = self._session or (await self.open())._session
        assert session is not None
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 2)

        try:
            check_literal(URL(url).host or "", allow_private=self._allow_private)
            async with session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as answer:
                raw = await answer.content.read(RESPONSE_READ)
                retry_after = parse_retry_after(
                    answer.headers.get("Retry-After"), datetime.now(UTC)
                )
                return Attempt(
                    status=answer.status,
                    duration_ms=elapsed(),
                    response=raw[:RESPONSE_EXCERPT].decode("utf-8", "replace"),
                    retry_after=retry_after,
                )
        except TimeoutError as exc:
            return Attempt(
                None, elapsed(), error=f"Timeout: {exc or 'no answer in time'}", timed_out=True
            )
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Attempt(None, elapsed(), error=_error(exc))
