"""Delivery lanes in Redis: what is waiting for which endpoint, and who delivers it now.

A *lane* is one endpoint and one order (or `ops` for events of no order). Its list holds the
change-feed ids still to deliver, oldest first; only its head is ever in flight, so one order's
changes reach an endpoint in `sequence` order and a failing delivery holds back that order alone.
The tenant's `due` set scores each non-empty lane with the time its head may be tried; claiming a
lane moves its score to the end of a lease, which is how many workers share the work without
doing one delivery twice at once, and how a dead worker's lanes come back.

The three steps that must not be torn apart (fan-out + acknowledge, claim, record + advance) are
Lua scripts over one tenant's keys (one Redis Cluster slot).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, cast

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from gateway.storage.autopipeline import AutoPipeline
from gateway.storage.keys import SEP, TenantKeys, lane

GROUP = "delivery"
OPS_LANE = "ops"
Json = dict[str, Any]


def script(name: str) -> str:
    return (files("webhooks") / "lua" / name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Head:
    """The message at a lane's head and how it has fared so far."""

    msg: str
    attempts: int = 0
    first_ms: int | None = None


def split_lane(member: str) -> tuple[str, str]:
    """(endpoint id, lane name) of a due member."""
    endpoint, _, name = member.partition(SEP)
    return endpoint, name


def order_lane(platform: str, order_id: str) -> str:
    return f"{platform}{SEP}{order_id}"


class DeliveryQueue:
    """Lanes, claims and attempts of every tenant's webhook deliveries."""

    def __init__(self, client: Redis, prefix: str, history_days: float) -> None:
        self._r = client
        self._prefix = prefix
        self.history_ms = int(history_days * 86_400_000)
        self._fanout = client.register_script(script("fanout.lua"))
        self._claim = client.register_script(script("claim.lua"))
        self._finish = client.register_script(script("finish.lua"))
        self._head = client.register_script(script("head.lua"))
        self._pipe = AutoPipeline(client)

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    async def enqueue(
        self,
        tenant: str,
        deliveries: Sequence[tuple[str, str, str]],
        now_ms: int,
        acknowledge: Sequence[str] = (),
    ) -> int:
        """Queue (endpoint id, lane name, message id) deliveries and acknowledge `acknowledge`
        (change-feed ids now fanned out) at once."""
        k = self.keys(tenant)
        members = [lane(endpoint, name) for endpoint, name, _ in deliveries]
        keys = [k.changes, k.webhook_due, *(k.webhook_lane(m) for m in members)]
        args: list[Any] = [
            GROUP if acknowledge else "",
            now_ms,
            len(acknowledge),
            *acknowledge,
            *(msg for _, _, msg in deliveries),
            *members,
        ]
        return int(await self._fanout(keys=keys, args=args))

    async def with_due(self, tenants: Sequence[str], now_ms: int) -> list[str]:
        """The tenants that have a lane due now, asked in one round trip."""
        if not tenants:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.zrangebyscore(self.keys(tenant).webhook_due, "-inf", now_ms, start=0, num=1)
            replies = await pipe.execute()
        return [tenant for tenant, due in zip(tenants, replies, strict=True) if due]

    async def claim(
        self,
        tenant: str,
        now_ms: int,
        lease_ms: int,
        most: int,
        *,
        room: int = 1_000_000,
        rooms: Mapping[str, int] | None = None,
        later_ms: int = 200,
    ) -> list[str]:
        """Due lanes of `tenant`, leased to the caller until `now_ms + lease_ms`: at most `most`
        in all and `room` per endpoint (`rooms` for the endpoints that already have some in
        flight); lanes of a full endpoint are looked at again `later_ms` from now."""
        if most <= 0:
            return []
        k = self.keys(tenant)
        args: list[str | int] = [now_ms, now_ms + lease_ms, most, room, now_ms + later_ms]
        for endpoint, left in (rooms or {}).items():
            args += [endpoint, left]
        found = await self._claim(keys=[k.webhook_due], args=args)
        return cast(list[str], found)

    async def release(self, tenant: str, member: str, due_ms: int) -> None:
        """Give a claimed lane back, due at `due_ms` (its head untouched)."""
        await self._r.zadd(self.keys(tenant).webhook_due, {member: due_ms}, xx=True)

    async def head(self, tenant: str, member: str) -> tuple[Head, dict[str, str]] | None:
        """The message at the lane's head and its feed entry's fields ({} when it was trimmed
        from the feed); None for an empty lane, which is then forgotten."""
        k = self.keys(tenant)
        keys = [k.webhook_lane(member), k.webhook_heads, k.changes, k.webhook_due]
        reply = cast(list[str], await self._run(self._head, keys, [member]))
        if not reply:
            return None
        msg, state, flat = reply[0], reply[1], reply[2:]
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        if state:
            doc = orjson.loads(state)
            if doc.get("msg") == msg:
                return Head(msg, doc["attempts"], doc["first_ms"]), fields
        return Head(msg), fields

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA through the loop turn's pipeline; the script is loaded if Redis lacks it."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._pipe.execute(*command)
        except NoScriptError:
            await self._r.script_load(script.script)
            return await self._pipe.execute(*command)

    async def finish(
        self,
        tenant: str,
        member: str,
        head: Head,
        outcome: Literal["delivered", "retry", "failed"],
        *,
        now_ms: int,
        next_ms: int,
        entry: Json,
        order: tuple[str, str] | None,
        keep_until_ms: int | None = None,
    ) -> tuple[bool, int | None, bool]:
        """Record an attempt and move the lane on: (still the head?, first failure ms, more?).

        With `keep_until_ms`, a lane that has a next message stays leased to the caller until
        then and `more` is True: the caller sends that message at once, without a new claim."""
        k = self.keys(tenant)
        endpoint, _ = split_lane(member)
        log = k.webhook_log(endpoint)
        keys = [
            k.webhook_due,
            k.webhook_lane(member),
            k.webhook_heads,
            k.webhook_failing,
            log,
            k.order_deliveries(*order) if order else log,
        ]
        state = {"msg": head.msg, "attempts": head.attempts + 1, "first_ms": head.first_ms}
        args: list[str | int] = [
            member,
            head.msg,
            outcome,
            next_ms,
            now_ms,
            orjson.dumps(state).decode(),
            orjson.dumps(entry).decode(),
            self.keep_from(now_ms),
            endpoint,
            int(self.history_ms / 1000),
            keep_until_ms if keep_until_ms is not None else "",
        ]
        reply = cast(list[str], await self._run(self._finish, keys, args))
        if reply[0] == "stale":
            return False, None, False
        return True, int(reply[1]) if reply[1] else None, reply[0] == "more"

    async def drop_lane(self, tenant: str, member: str) -> None:
        """Forget a lane and what waits in it (its endpoint is gone or disabled)."""
        k = self.keys(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(k.webhook_lane(member))
            pipe.hdel(k.webhook_heads, member)
            pipe.zrem(k.webhook_due, member)
            await pipe.execute()

    async def drop_endpoint(self, tenant: str, endpoint: str) -> int:
        """Forget every lane of an endpoint; returns how many there were."""
        k = self.keys(tenant)
        members = [
            m async for m, _ in self._r.zscan_iter(k.webhook_due, match=f"{_glob(endpoint)}{SEP}*")
        ]
        for member in members:
            await self.drop_lane(tenant, member)
        return len(members)

    async def pending(self, tenant: str, endpoint: str) -> int:
        """How many messages wait for the endpoint, over all its lanes."""
        k = self.keys(tenant)
        members = [
            m async for m, _ in self._r.zscan_iter(k.webhook_due, match=f"{_glob(endpoint)}{SEP}*")
        ]
        if not members:
            return 0
        async with self._r.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.llen(k.webhook_lane(member))
            counts = await pipe.execute()
        return sum(int(c) for c in counts)

    async def log_only(self, tenant: str, endpoint: str, entry: Json) -> None:
        """Log an attempt that belongs to no lane (a test send)."""
        now_ms = int(time.time() * 1000)
        await self._r.xadd(
            self.keys(tenant).webhook_log(endpoint),
            {"doc": orjson.dumps(entry).decode()},
            minid=self.keep_from(now_ms),
            approximate=True,
        )

    def keep_from(self, now_ms: int) -> str:
        return f"{max(0, now_ms - self.history_ms)}-0"


def _glob(text: str) -> str:
    """`text` with Redis glob characters escaped."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
