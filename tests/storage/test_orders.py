"""OrderStore.commit_many against a real Redis: many orders per run of the commit script, each
commit atomic by itself, every reply in its commit's place."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar, cast

import orjson
import pytest
from redis.asyncio import Redis

from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.orders import COMMITS_PER_RUN, Commit, Committed, OrderStore
from gateway.tracking import Current, OrderState, Outcome

T = TypeVar("T")
PLATFORM = "cscart"


def with_store(settings: Settings, body: Callable[[OrderStore, Redis], Awaitable[T]]) -> T:
    async def run() -> T:
        client = client_for(settings.redis_url or "")
        try:
            return await body(OrderStore(client, settings.redis_prefix), client)
        finally:
            await client.aclose()

    return asyncio.run(run())


async def stream(client: Redis, key: str) -> list[tuple[str, dict[str, str]]]:
    return cast(list[tuple[str, dict[str, str]]], await client.xrange(key))


def tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def commit(
    tenant: str,
    order_id: str,
    rev: int,
    code: str = "P",
    *,
    changed: bool = True,
    unmapped: list[str] | None = None,
) -> Commit:
    """Observation `rev` of an order (stored on rev - 1), with its own dedupe key."""
    us = 1_700_000_000_000_000 + rev
    current = Current(rev, us, "2026-11-24T12:00:00Z", {"code": code}, {"code": "processing"})
    state = OrderState(PLATFORM, order_id, rev, rev, current, "2026-11-24T12:00:00Z", "x")
    entry = {"n": rev, "received_us": us, "native": {"code": code}}
    return Commit(
        tenant=tenant,
        expected_rev=rev - 1,
        outcome=Outcome("changed", state, entry, None, False),
        dedupe=[f"c:{code}:{us}:{order_id}"],
        unmapped=[
            (f"status\x1f{u}", {"first_seen": f"at {order_id}", "order_id": order_id})
            for u in unmapped or []
        ],
        change={"order_id": order_id, "code": code} if changed else None,
    )


def test_a_batch_larger_than_one_run_is_stored_whole_and_in_order(settings: Settings) -> None:
    """Two tenants interleaved, more commits than one run takes: each reply in its place, each
    tenant's feed in commit order."""
    a, b = tenant(), tenant()
    commits = [commit(a if i % 3 else b, f"o{i}", 1) for i in range(COMMITS_PER_RUN * 2 + 7)]

    async def body(orders: OrderStore, client: Redis) -> None:
        done = await orders.commit_many(commits)
        assert [d.result for d in done] == ["ok"] * len(commits)
        for name in (a, b):
            feed = await stream(client, orders.keys(name).changes)
            mine = [c.outcome.state.order_id for c in commits if c.tenant == name]
            assert [f["order_id"] for _, f in feed] == mine
            ids = {
                c.outcome.state.order_id: d.stream_id
                for c, d in zip(commits, done, strict=True)
                if c.tenant == name
            }
            assert [i for i, _ in feed] == [ids[o] for o in mine]
            assert await client.zcard(orders.keys(name).orders) == len(mine)
        states = await orders.states(a, [(PLATFORM, "o1"), (PLATFORM, "o0")])
        assert states[0] is not None
        assert states[0].rev == 1
        assert states[1] is None  # o0 is b's
        order_changes = await client.lrange(orders.keys(a).order_changes(PLATFORM, "o1"), 0, -1)
        assert order_changes == [done[1].stream_id]

    with_store(settings, body)


def test_a_conflict_or_a_duplicate_in_a_run_leaves_the_commits_around_it_alone(
    settings: Settings,
) -> None:
    t = tenant()

    async def body(orders: OrderStore, client: Redis) -> None:
        first = await orders.commit_many([commit(t, "dup", 1, "P"), commit(t, "moved", 1)])
        assert [d.result for d in first] == ["ok", "ok"]
        done = await orders.commit_many(
            [
                commit(t, "new1", 1),
                commit(t, "moved", 1, "C"),  # expects rev 0, but rev 1 is stored
                commit(t, "new2", 1, changed=False),
                commit(t, "dup", 1, "P"),  # the same dedupe key as stored
                commit(t, "new3", 1),
            ]
        )
        assert [d.result for d in done] == ["ok", "conflict", "ok", "dup", "ok"]
        conflict, dup = done[1], done[3]
        assert conflict.state is not None
        assert conflict.state.rev == 1
        assert conflict.state.current.native == {"code": "P"}  # as stored, not as offered
        assert dup.state is not None
        assert dup.state.order_id == "dup"
        assert done[2].stream_id is None  # stored, but no change to feed
        feed = await stream(client, orders.keys(t).changes)
        assert [f["order_id"] for _, f in feed] == ["dup", "moved", "new1", "new3"]
        timeline = await client.lrange(orders.keys(t).timeline(PLATFORM, "moved"), 0, -1)
        assert len(timeline) == 1  # the conflicting observation wrote nothing

    with_store(settings, body)


@pytest.mark.parametrize("seen", [0, 1])
def test_any_one_of_a_commits_dedupe_keys_makes_it_a_duplicate(
    settings: Settings, seen: int
) -> None:
    """An event id or a native code and time: either alone seen before is a repeat."""
    t = tenant()

    async def body(orders: OrderStore, client: Redis) -> None:
        stored = replace(commit(t, "o", 1), dedupe=["e:first", "t:P@1"])
        assert [d.result for d in await orders.commit_many([stored])] == ["ok"]
        assert await client.smembers(orders.keys(t).seen(PLATFORM, "o")) == {"e:first", "t:P@1"}
        keys = ["e:other", "t:P@2"]
        keys[seen] = stored.dedupe[seen]
        again = replace(commit(t, "o", 2, "C"), dedupe=keys)
        assert [d.result for d in await orders.commit_many([again])] == ["dup"]
        assert await client.llen(orders.keys(t).timeline(PLATFORM, "o")) == 1

    with_store(settings, body)


def test_a_commit_without_dedupe_keys_is_stored(settings: Settings) -> None:
    t = tenant()

    async def body(orders: OrderStore, client: Redis) -> None:
        done = await orders.commit_many([replace(commit(t, "o", 1), dedupe=[])])
        assert [d.result for d in done] == ["ok"]
        assert not await client.exists(orders.keys(t).seen(PLATFORM, "o"))

    with_store(settings, body)


def test_unknown_codes_are_counted_and_keep_their_first_sighting(settings: Settings) -> None:
    t = tenant()

    async def body(orders: OrderStore, client: Redis) -> list[Committed]:
        done = await orders.commit_many(
            [
                commit(t, "a", 1, "Z", unmapped=["Z"]),
                commit(t, "b", 1, "Z", unmapped=["Z", "Y"]),
                commit(t, "c", 1),
            ]
        )
        counts = await client.hgetall(orders.keys(t).unmapped)
        assert counts == {"status\x1fZ": "2", "status\x1fY": "1"}
        seen = await client.hget(orders.keys(t).unmapped_seen, "status\x1fZ")
        assert seen is not None
        assert orjson.loads(seen) == {"first_seen": "at a", "order_id": "b"}
        feed = await stream(client, orders.keys(t).changes)
        assert [f["code"] for _, f in feed] == ["Z", "Z", "P"]  # fields after the codes intact
        return done

    assert [d.result for d in with_store(settings, body)] == ["ok", "ok", "ok"]
