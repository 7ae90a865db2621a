"""Servers on 127.0.0.1 in a background thread, for the fake platforms and the webhook receivers
in tests: sync tests (and a TestClient's own loop) can call them alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")


@contextmanager
def in_thread(
    start: Callable[[], Awaitable[T]], stop: Callable[[T], Coroutine[None, None, None]]
) -> Iterator[T]:
    """Run `start()` on an event loop of its own in a background thread and yield what it
    returned; at the end `stop(it)` runs on that loop, then the loop and the thread end."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, T] = {}

    async def begin() -> None:
        holder["it"] = await start()
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(begin())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the loopback server did not start")
    try:
        yield holder["it"]
    finally:
        asyncio.run_coroutine_threadsafe(stop(holder["it"]), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def serving(build: Callable[[web.Application], None]) -> Iterator[str]:
    """Serve the routes `build` adds; yields the base URL (`http://127.0.0.1:PORT`)."""

    async def start() -> tuple[web.AppRunner, str]:
        app = web.Application()
        build(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner, f"http://127.0.0.1:{port}"

    async def stop(started: tuple[web.AppRunner, str]) -> None:
        await started[0].cleanup()

    with in_thread(start, stop) as (_, url):
        yield url
