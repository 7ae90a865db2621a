"""Registered FBO shipments in Redis, and the warnings their deadlines are due to raise.

A shipment is one hash: its registration (`doc`), the time each step was done (`done:<step>`)
and the warnings already raised (`warned:<step>:<kind>`). The tenant's `fbo:due` set holds, per
step not yet done, when to look at it again: at the deadline minus the lead (at risk) and at the
deadline (missed). Raising a warning is one Lua script that sets its `warned:` field only if
absent and appends the event to the change feed in the same step, so a warning is sent once,
however many workers look and however often they restart.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any, Literal, cast

import orjson
from redis.asyncio import Redis

from gateway.storage.keys import SEP, TenantKeys

WARN = (files("gateway.storage") / "lua" / "fbo_warn.lua").read_text(encoding="utf-8")
Kind = Literal["at_risk", "missed"]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Shipment:
    """A registered shipment: its registration and the steps done so far."""

    id: str
    doc: Json
    done: dict[str, datetime]


def due_member(shipment_id: str, step: str, kind: Kind) -> str:
    return f"{shipment_id}{SEP}{step}{SEP}{kind}"


def split_due(member: str) -> tuple[str, str, Kind]:
    shipment_id, step, kind = member.split(SEP)
    return shipment_id, step, cast(Kind, kind)


def new_shipment_id() -> str:
    return "fbo_" + secrets.token_hex(8)


class ShipmentStore:
    def __init__(self, client: Redis, prefix: str, history_days: float = 30.0) -> None:
        self._r = client
        self._prefix = prefix
        self._history_ms = int(history_days * 86_400_000)
        self._warn = client.register_script(WARN)

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    async def create(
        self,
        tenant: str,
        doc: Json,
        done: Mapping[str, datetime],
        checks: Sequence[tuple[str, Kind, datetime]],
    ) -> None:
        """Store a shipment and when each of its warnings is to be looked at."""
        k = self.keys(tenant)
        fields: dict[str | bytes | bytearray | memoryview[int] | int | float, Any] = {
            "doc": orjson.dumps(doc).decode()
        }
        fields |= {f"done:{step}": at.isoformat() for step, at in done.items()}
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(k.fbo_shipment(doc["id"]), mapping=fields)
            pipe.zadd(k.fbo_shipments, {doc["id"]: int(time.time() * 1000)})
            pipe.hset(k.fbo_orders, doc["order_id"], doc["id"])
            if checks:
                pipe.zadd(
                    k.fbo_due,
                    {
                        due_member(doc["id"], step, kind): int(at.timestamp() * 1000)
                        for step, kind, at in checks
                    },
                )
            await pipe.execute()

    async def get(self, tenant: str, shipment_id: str) -> Shipment | None:
        raw = cast(
            dict[str, str], await self._r.hgetall(self.keys(tenant).fbo_shipment(shipment_id))
        )
        if "doc" not in raw:
            return None
        done = {
            name.removeprefix("done:"): datetime.fromisoformat(value)
            for name, value in raw.items()
            if name.startswith("done:")
        }
        return Shipment(shipment_id, orjson.loads(raw["doc"]), done)

    async def ids(self, tenant: str) -> list[str]:
        return cast(list[str], await self._r.zrange(self.keys(tenant).fbo_shipments, 0, -1))

    async def of_order(self, tenant: str, order_id: str) -> str | None:
        return cast(str | None, await self._r.hget(self.keys(tenant).fbo_orders, order_id))

    async def mark_done(self, tenant: str, shipment_id: str, step: str, at: datetime) -> bool:
        """Record that `step` happened at `at` (the first report wins); False if it was known."""
        key = self.keys(tenant).fbo_shipment(shipment_id)
        return bool(await self._r.hsetnx(key, f"done:{step}", at.isoformat()))

    async def delete(self, tenant: str, shipment: Shipment) -> None:
        k = self.keys(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(k.fbo_shipment(shipment.id))
            pipe.zrem(k.fbo_shipments, shipment.id)
            pipe.hdel(k.fbo_orders, shipment.doc["order_id"])
            await pipe.execute()

    async def with_due(self, tenants: Sequence[str], now_ms: int) -> list[str]:
        """The tenants that have a warning due, in one round trip for all of them."""
        if not tenants:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.zrangebyscore(self.keys(tenant).fbo_due, "-inf", now_ms, 0, 1)
            found = cast(list[list[str]], await pipe.execute())
        return [tenant for tenant, due in zip(tenants, found, strict=True) if due]

    async def due(self, tenant: str, now_ms: int, most: int = 200) -> list[str]:
        return cast(
            list[str],
            await self._r.zrangebyscore(self.keys(tenant).fbo_due, "-inf", now_ms, 0, most),
        )

    async def warn(
        self,
        tenant: str,
        member: str,
        *,
        emit: bool,
        fields: Mapping[str, str],
        now: datetime,
    ) -> bool:
        """Raise the warning `member` once (or just forget it when `emit` is False)."""
        shipment_id, step, kind = split_due(member)
        k = self.keys(tenant)
        keep = f"{max(0, int(time.time() * 1000) - self._history_ms)}-0"
        args: list[str] = [
            member,
            f"done:{step}",
            f"warned:{step}:{kind}",
            now.isoformat(),
            keep,
            "1" if emit else "0",
        ]
        for name, value in fields.items():
            args += [name, value]
        keys = [k.fbo_due, k.fbo_shipment(shipment_id), k.changes]
        return bool(await self._warn(keys=keys, args=args))


def checks_for(
    deadlines: Mapping[str, datetime], lead: timedelta
) -> list[tuple[str, Kind, datetime]]:
    """When to look at each step: at its deadline minus the lead, and at its deadline."""
    out: list[tuple[str, Kind, datetime]] = []
    for step, deadline in deadlines.items():
        out.append((step, "at_risk", deadline - lead))
        out.append((step, "missed", deadline))
    return out
