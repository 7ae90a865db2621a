"""`Server-Timing: app;dur=<ms>` on every answer: the time from receiving the request to
starting the answer (parsing, validation, translation, serialization; not the socket write)."""

from __future__ import annotations

from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def timing_header(started: float) -> tuple[bytes, bytes]:
    """The `Server-Timing` header of an answer starting now, for a request received at
    `started` (a `perf_counter()` reading)."""
    return (b"server-timing", f"app;dur={(perf_counter() - started) * 1000:.2f}".encode())


class ServerTiming:
    """The header as a middleware of its own (the gateway's RequestTelemetry adds it itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), timing_header(started)]
            await send(message)

        await self.app(scope, receive, timed)
