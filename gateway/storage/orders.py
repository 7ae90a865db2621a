"""Orders in Redis: state, timeline, dedupe set, index, change stream; one Lua script commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from gateway.storage.keys import SEP, TenantKeys
from gateway.tracking import OrderState, Outcome

COMMIT = (files("gateway.storage") / "lua" / "commit.lua").read_text(encoding="utf-8")

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Commit:
    """One outcome to store, with what storage needs besides it."""

    tenant: str
    expected_rev: int
    outcome: Outcome
    dedupe: Sequence[str]
    unmapped: Sequence[tuple[str, Json]]  # (field, details) per unknown code
    change: Mapping[str, str] | None  # stream fields when the current state changed


@dataclass(frozen=True, slots=True)
class Committed:
    result: Literal["ok", "dup", "conflict"]
    state: OrderState | None  # for "dup": the order as stored
    stream_id: str | None = None


def member(platform: str, order_id: str) -> str:
    return f"{platform}{SEP}{order_id}"


def split_member(value: str) -> tuple[str, str]:
    platform, _, order_id = value.partition(SEP)
    return platform, order_id


class OrderStore:
    """Redis operations on orders; key names come from `TenantKeys` alone."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._prefix = prefix
        self._commit = client.register_script(COMMIT)

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    async def states(
        self, tenant: str, orders: Sequence[tuple[str, str]]
    ) -> list[OrderState | None]:
        """The stored state of each (platform, order_id), in one round trip."""
        k = self.keys(tenant)
        if len(orders) == 1:
            [(platform, order_id)] = orders
            docs = [cast(str | None, await self._r.hget(k.order(platform, order_id), "doc"))]
        else:
            async with self._r.pipeline(transaction=False) as pipe:
                for platform, order_id in orders:
                    pipe.hget(k.order(platform, order_id), "doc")
                docs = await pipe.execute()
        return [OrderState.from_doc(orjson.loads(d)) if d else None for d in docs]

    def _args(self, c: Commit) -> tuple[list[str], list[str | int]]:
        state = c.outcome.state
        k = self.keys(c.tenant)
        keys = [
            k.order(state.platform, state.order_id),
            k.timeline(state.platform, state.order_id),
            k.seen(state.platform, state.order_id),
            k.orders,
            k.changes,
            k.unmapped,
            k.unmapped_seen,
        ]
        received_us = c.outcome.entry["received_us"]
        args: list[str | int] = [
            c.expected_rev,
            state.rev,
            orjson.dumps(state.doc()).decode(),
            orjson.dumps(c.outcome.entry).decode(),
            received_us,
            member(state.platform, state.order_id),
            len(c.dedupe),
            *c.dedupe,
            "1" if c.change is not None else "0",
            len(c.unmapped),
        ]
        for name, details in c.unmapped:
            args += [name, orjson.dumps(details).decode()]
        for name, value in (c.change or {}).items():
            args += [name, value]
        return keys, args

    async def commit_many(self, commits: Sequence[Commit]) -> list[Committed]:
        """Commit each outcome with a compare-and-set on its order's rev.

        One commit is one EVALSHA; several go in one pipeline of EVALSHAs (the script is loaded
        once, and again only if the server lost it), so a commit costs one round trip.
        """
        if not commits:
            return []
        if len(commits) == 1:
            keys, args = self._args(commits[0])
            return [self._result(await self._commit(keys=keys, args=args))]
        try:
            replies = await self._evalsha_all(commits)
        except NoScriptError:
            await self._r.script_load(COMMIT)
            replies = await self._evalsha_all(commits)
        return [self._result(reply) for reply in replies]

    async def _evalsha_all(self, commits: Sequence[Commit]) -> list[list[str]]:
        async with self._r.pipeline(transaction=False) as pipe:
            for c in commits:
                keys, args = self._args(c)
                pipe.evalsha(self._commit.sha, len(keys), *keys, *args)
            replies: list[list[str]] = await pipe.execute()
        return replies

    @staticmethod
    def _result(reply: list[str]) -> Committed:
        if reply[0] == "ok":
            return Committed("ok", None, reply[1] or None)
        if reply[0] == "dup":
            doc = reply[1]
            return Committed("dup", OrderState.from_doc(orjson.loads(doc)) if doc else None)
        return Committed("conflict", None)

    async def timeline(self, tenant: str, platform: str, order_id: str) -> list[Json]:
        key = self.keys(tenant).timeline(platform, order_id)
        raw = cast(list[str], await self._r.lrange(key, 0, -1))
        return [orjson.loads(entry) for entry in raw]

    async def index_page(
        self, tenant: str, after: tuple[int, str] | None, count: int
    ) -> list[tuple[str, int]]:
        """Orders by last received observation, then name (Redis's own order), after `after`."""
        key = self.keys(tenant).orders
        found: list[tuple[str, int]] = []
        low: float | str = "-inf"
        if after:
            score, name = after
            same = cast(
                list[tuple[str, float]],
                await self._r.zrangebyscore(key, score, score, withscores=True),
            )
            found = [(m, int(s)) for m, s in same if m > name][:count]
            low = f"({score}"
        rows: list[tuple[str, float]] = []
        if len(found) < count:
            rows = cast(
                list[tuple[str, float]],
                await self._r.zrangebyscore(
                    key, low, "+inf", start=0, num=count - len(found), withscores=True
                ),
            )
        return found + [(m, int(s)) for m, s in rows]
