"""Orders in Redis: state, timeline, dedupe set, index, change stream; one Lua script commits
them, many orders per run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any, Literal, cast

import orjson
from redis.asyncio import Redis

from gateway.storage.autopipeline import AutoPipeline, Call
from gateway.storage.keys import SEP, TenantKeys, feed_news
from gateway.tracking import OrderState, Outcome
from gateway.values import value

COMMIT = (files("gateway.storage") / "lua" / "commit.lua").read_text(encoding="utf-8")

Json = dict[str, Any]
COMMITS_PER_RUN = 100  # commits one run of the script stores (it blocks Redis meanwhile)


@value
class Commit:
    """One outcome to store, with what storage needs besides it."""

    tenant: str
    expected_rev: int
    outcome: Outcome
    dedupe: Sequence[str]
    unmapped: Sequence[tuple[str, Json]]  # (field, details) per unknown code
    change: Mapping[str, str] | None  # stream fields when the current state changed


@value
class Committed:
    result: Literal["ok", "dup", "conflict"]
    state: OrderState | None  # for "dup" and "conflict": the order as stored
    stream_id: str | None = None


def member(platform: str, order_id: str) -> str:
    return f"{platform}{SEP}{order_id}"


def split_member(value: str) -> tuple[str, str]:
    platform, _, order_id = value.partition(SEP)
    return platform, order_id


class OrderStore:
    """Redis operations on orders; key names come from `TenantKeys` alone."""

    def __init__(self, client: Redis, prefix: str, history_days: float = 30.0) -> None:
        self._r = client
        self._prefix = prefix
        self._history_ms = int(history_days * 86_400_000)
        self._commit = client.register_script(COMMIT)
        self._pipe = AutoPipeline(client)

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    async def states(
        self, tenant: str, orders: Sequence[tuple[str, str]]
    ) -> list[OrderState | None]:
        """The stored state of each (platform, order_id), in one round trip."""
        k = self.keys(tenant)
        docs = await self._all(
            [("HGET", k.order(platform, order_id), "doc") for platform, order_id in orders]
        )
        return [OrderState.from_doc(orjson.loads(d)) if d else None for d in docs]

    def _keep_from(self) -> str:
        """The oldest change-feed id to keep: the feed holds `history_days` of changes."""
        return f"{max(0, int(time.time() * 1000) - self._history_ms)}-0"

    def _args(self, c: Commit) -> tuple[list[str], list[str | int]]:
        """One commit's own keys and arguments (the script's layout, in commit.lua)."""
        state = c.outcome.state
        k = self.keys(c.tenant)
        keys = [
            k.order(state.platform, state.order_id),
            k.timeline(state.platform, state.order_id),
            k.seen(state.platform, state.order_id),
            k.order_changes(state.platform, state.order_id),
        ]
        args: list[str | int] = [
            c.expected_rev,
            state.rev,
            orjson.dumps(state.doc()).decode(),
            orjson.dumps(c.outcome.entry).decode(),
            c.outcome.entry["received_us"],
            member(state.platform, state.order_id),
            len(c.dedupe),
            *c.dedupe,
            "1" if c.change is not None else "0",
            len(c.unmapped),
        ]
        for name, details in c.unmapped:
            args += [name, orjson.dumps(details).decode()]
        for name, text in (c.change or {}).items():
            args += [name, text]
        return keys, args

    def _run(self, tenant: str, commits: Sequence[Commit], keep_from: str) -> Call:
        """One run of the commit script for `commits`, all of `tenant`."""
        k = self.keys(tenant)
        keys = [k.orders, k.changes, k.unmapped, k.unmapped_seen]
        args: list[str | int] = [keep_from, feed_news(self._prefix), tenant]
        for c in commits:
            own_keys, own_args = self._args(c)
            keys += own_keys
            args.append(len(own_args))
            args += own_args
        return keys, args

    async def commit_many(self, commits: Sequence[Commit]) -> list[Committed]:
        """Commit each outcome with a compare-and-set on its order's rev, in order.

        A tenant's commits go to the script up to `COMMITS_PER_RUN` at a time (each commit is
        atomic by itself; a run keeps Redis busy for about 2 ms at most), and all runs leave in
        the loop turn's pipeline, so any number of commits cost one round trip.
        """
        if not commits:
            return []
        keep_from = self._keep_from()
        by_tenant: dict[str, list[int]] = {}
        for i, c in enumerate(commits):
            by_tenant.setdefault(c.tenant, []).append(i)
        runs: list[list[int]] = [
            indexes[at : at + COMMITS_PER_RUN]
            for indexes in by_tenant.values()
            for at in range(0, len(indexes), COMMITS_PER_RUN)
        ]
        replies = await self._pipe.run_scripts(
            self._commit,
            [
                self._run(commits[run[0]].tenant, [commits[i] for i in run], keep_from)
                for run in runs
            ],
        )
        done: list[Committed | None] = [None] * len(commits)
        for run, reply in zip(runs, replies, strict=True):
            for j, i in enumerate(run):
                done[i] = self._result(reply[2 * j], reply[2 * j + 1])
        return cast(list[Committed], done)

    async def _all(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies to `commands`, sent with whatever else this loop turn sends."""
        futures = [self._pipe.execute(*c) for c in commands]
        return list(await asyncio.gather(*futures))

    @staticmethod
    def _result(result: str, value: str) -> Committed:
        if result == "ok":
            return Committed("ok", None, value or None)
        stored = OrderState.from_doc(orjson.loads(value)) if value else None
        return Committed("dup" if result == "dup" else "conflict", stored)

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
