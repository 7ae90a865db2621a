"""One delivery attempt over HTTP, and what came of it.

The HTTP is `webhooks.client`'s: keep-alive, TLS, connect and total timeouts, and the SSRF
guard at connect time (a connection only ever goes to an address that was checked). Redirects
are not followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from gateway.values import value
from webhooks.client import HttpClient, HttpError
from webhooks.schedule import parse_retry_after

RESPONSE_EXCERPT = 1024  # bytes of the receiver's answer kept in the delivery log
RESPONSE_READ = 65_536  # bytes read before the connection is given up rather than reused


@value
class Attempt:
    """The receiver's answer (or why there was none)."""

    status: int | None
    duration_ms: float
    response: str = ""
    error: str | None = None  # "ClassName: message"
    retry_after: float | None = None
    timed_out: bool = False


def _error(exc: BaseException) -> str:
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
        self._client = HttpClient(
            allow_private=allow_private,
            connect_timeout_s=connect_timeout_s,
            timeout_s=timeout_s,
            limit=limit,
            read_limit=RESPONSE_READ,
            keep_bytes=RESPONSE_EXCERPT,
        )

    @property
    def connections(self) -> int:
        """Connections to receivers open now (in use or idle)."""
        return self._client.connections

    async def close(self) -> None:
        await self._client.close()

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Attempt:
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 2)

        try:
            answer = await self._client.post(url, headers, body)
        except TimeoutError as exc:
            return Attempt(
                None, elapsed(), error=f"Timeout: {exc or 'no answer in time'}", timed_out=True
            )
        except (HttpError, OSError, ValueError) as exc:
            return Attempt(None, elapsed(), error=_error(exc))
        return Attempt(
            status=answer.status,
            duration_ms=elapsed(),
            response=answer.body.decode("utf-8", "replace"),
            retry_after=(
                parse_retry_after(answer.retry_after, datetime.now(UTC))
                if answer.retry_after is not None
                else None
            ),
        )
