"""A real webhook receiver on 127.0.0.1 for tests: records every request, answers as told.

It runs an aiohttp server on its own event loop in a background thread, so sync tests (and
the TestClient's own loop) can use it alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.loopback import serving


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    at: float  # time.time()

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


# (request number from 1, the request) -> (status, headers) or an awaitable of it
Responder = Callable[
    [int, Received], "tuple[int, dict[str, str]] | Awaitable[tuple[int, dict[str, str]]]"
]


def always(status: int = 204) -> Responder:
    return lambda _n, _r: (status, {})


def most_in_any_second(got: list[Received]) -> int:
    """The most requests received within any closed 1-second span."""
    times = sorted(g.at for g in got)
    return max(sum(1 for t in times[i:] if t - start <= 1.0) for i, start in enumerate(times))


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    responder: Responder = field(default_factory=always)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r.json for r in self.received]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 15.0
    ) -> list[Received]:
        """Wait until `predicate(received so far)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                snapshot = list(self.received)
            if predicate(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(snapshot)} requests; gave up waiting")
            time.sleep(0.02)


@contextmanager
def receiving(responder: Responder | None = None) -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 (a free port) for the duration of the block."""
    receiver = Receiver(url="", responder=responder or always())

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        got = Received(dict(request.headers), body, request.path_qs, time.time())
        with receiver.lock:
            receiver.received.append(got)
            number = len(receiver.received)
        answer = receiver.responder(number, got)
        if not isinstance(answer, tuple):
            answer = await answer
        status, headers = answer
        return web.Response(status=status, headers=headers)

    def routes(app: web.Application) -> None:
        app.router.add_route("POST", "/{tail:.*}", handle)

    with serving(routes) as base:
        receiver.url = f"{base}/hook"
        yield receiver
