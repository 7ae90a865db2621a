"""One Lua script run for many tenants in one round trip, on one server or a Redis Cluster.

redis-py refuses `Script.__call__(client=pipeline)` on a cluster pipeline (it blocks `evalsha`
there); an `EVALSHA` sent as a plain command is routed by its first key like any other, so this
sends every call that way, and loads the script where a server answers NOSCRIPT (a new or
restarted node) before sending those calls again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Call = tuple[Sequence[str], Sequence[Any]]  # (keys, args) of one run


async def run_many(client: Redis, script: AsyncScript, calls: Sequence[Call]) -> list[Any]:
    """The replies of `script` run once per (keys, args) call, in order; errors raised."""
    if not calls:
        return []
    replies = await _send(client, script, calls)
    if any(isinstance(reply, NoScriptError) for reply in replies):
        await client.script_load(script.script)
        replies = await _send(client, script, calls)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


async def _send(client: Redis, script: AsyncScript, calls: Sequence[Call]) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    return replies
