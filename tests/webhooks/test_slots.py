"""Sharing a worker's delivery slots (webhooks.slots): a table of situations and their shares."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from webhooks.slots import Key, Limits, share

LIMITS = Limits(per_endpoint=16, failing_room=2, failing_budget=8)


def k(name: str) -> Key:
    return ("t", name)


@dataclass(frozen=True)
class Case:
    why: str
    due: list[str]
    free: int
    rooms: dict[str, int]
    starved: bool = False
    busy: dict[str, int] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)


CASES = [
    Case("room for everyone", ["a", "b"], 64, {"a": 16, "b": 16}),
    Case("what an endpoint holds counts", ["a", "b"], 64, {"a": 6, "b": 16}, busy={"a": 10}),
    Case("an endpoint at its limit is skipped", ["a", "b"], 64, {"b": 16}, busy={"a": 16}),
    Case("the one waiting longest goes first", ["b", "a"], 1, {"b": 1}, starved=True),
    Case(
        "the slots are shared evenly", ["a", "b", "c"], 20, {"a": 7, "b": 7, "c": 6}, starved=True
    ),
    Case(
        "the one holding fewest gets the free slots",
        ["a", "b", "new"],
        8,
        {"b": 1, "new": 7},
        starved=True,
        busy={"a": 8, "b": 6},
    ),
    Case("a full worker starves who wants a slot", ["a"], 0, {}, starved=True),
    Case("a full worker starves nobody at its limit", ["a"], 0, {}, busy={"a": 16}),
    Case(
        "a failing endpoint gets its failing room", ["a", "b"], 64, {"a": 2, "b": 16}, failing={"a"}
    ),
    Case(
        "a failing endpoint holding its room gets no more",
        ["a", "b"],
        64,
        {"b": 16},
        busy={"a": 2},
        failing={"a"},
    ),
    Case(
        "failing endpoints share their budget",
        ["f1", "f2", "f3", "f4", "f5", "f6", "ok"],
        64,
        {"f1": 2, "f2": 2, "f3": 1, "f4": 1, "f5": 1, "f6": 1, "ok": 16},
        failing={"f1", "f2", "f3", "f4", "f5", "f6"},
    ),
    Case(
        "what failing endpoints hold counts against their budget",
        ["f1", "f2", "ok"],
        64,
        {"f2": 1, "ok": 16},
        busy={"f1": 2, "f3": 2, "f4": 2, "f5": 1},
        failing={"f1", "f2", "f3", "f4", "f5"},
    ),
    Case(
        "an endpoint that recovered gets its full share again",
        ["a"],
        64,
        {"a": 14},
        busy={"a": 2},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.why)
def test_share(case: Case) -> None:
    shared = share(
        [k(n) for n in case.due],
        {k(n): held for n, held in case.busy.items()},
        {k(n) for n in case.failing},
        case.free,
        LIMITS,
    )
    assert shared.rooms == {k(n): room for n, room in case.rooms.items()}
    assert shared.starved is case.starved


@pytest.mark.parametrize("concurrency", [1, 4, 16, 64, 256, 1000])
def test_endpoints_that_answer_always_keep_half_the_slots(concurrency: int) -> None:
    """However many endpoints fail, they never hold more than half the worker's slots (or two,
    on a very small worker), so endpoints that answer always find room."""
    limits = Limits.for_concurrency(concurrency)
    failing = [k(f"f{i}") for i in range(concurrency)]
    shared = share([*failing, k("ok")], {}, set(failing), concurrency, limits)
    held_by_failing = sum(shared.rooms.get(key, 0) for key in failing)
    assert held_by_failing <= max(2, concurrency // 2)
    assert shared.rooms.get(k("ok"), 0) >= min(limits.per_endpoint, concurrency - held_by_failing)
