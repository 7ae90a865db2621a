"""Automatic pipelining: the commands concurrent requests issue in one event-loop turn go to
Redis as one pipeline.

Under load many requests are between their parsing and their Redis call at the same moment;
sending each command on its own costs a pool checkout, a write system call and a read per command
(about a fifth of a `POST /v1/events` in bench/events.py). Queued here, the commands of one turn
leave together on the next turn, in one write, and each caller gets its own reply or its own
error. Nothing changes for a caller alone: its command leaves one turn later.

Each command keeps its own semantics (a pipeline without MULTI: the commit script is still atomic
by itself), so this works the same on Redis Cluster, where the pipeline is split by node.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

Command = tuple[Any, ...]


class AutoPipeline:
    """`execute(*command)` → an awaitable reply; commands of one loop turn share a pipeline."""

    def __init__(self, client: Redis) -> None:
        self._r = client
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    def execute(self, *command: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((command, future))
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)  # a reference until it is done
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                replies: list[Any] = [await self._r.execute_command(*batch[0][0])]  # type: ignore[no-untyped-call]
            else:
                async with self._r.pipeline(transaction=False) as pipe:
                    for command, _ in batch:
                        pipe.execute_command(*command)
                    replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # the connection failed: every caller hears of it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError())
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller was cancelled; the command ran all the same
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
