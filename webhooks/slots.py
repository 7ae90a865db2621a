"""Sharing a worker's delivery slots among the endpoints that have lanes due.

A worker holds at most `GATEWAY_WEBHOOK_CONCURRENCY` attempts in flight. Without a rule, a few
receivers that never answer (or answer slowly) would keep every slot until their timeouts, again
and again, and the other endpoints would wait behind them. So:

* an endpoint holds at most `per_endpoint` slots (a quarter of the worker's, at least 4);
* an endpoint that is failing (its last attempt was not delivered, as the delivery log's
  `failing` record says) holds at most `failing_room` of them: enough to find out when it is back,
  and failing endpoints hold at most `failing_budget` slots together (half the worker's), so they
  can never crowd out the endpoints that answer;
* free slots go to the endpoints holding the fewest (max-min fair), so endpoints with long
  backlogs share the worker with the others instead of keeping it;
* when some endpoint wanted a slot and got none (`Share.starved`), a slot that frees up goes back
  to the pool instead of carrying on with its endpoint's next message.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

Key = tuple[str, str]  # (tenant, endpoint id)


@dataclass(frozen=True, slots=True)
class Limits:
    """How many slots one endpoint, a failing endpoint, and all failing endpoints may hold."""

    per_endpoint: int
    failing_room: int
    failing_budget: int

    @classmethod
    def for_concurrency(cls, concurrency: int) -> Limits:
        return cls(
            per_endpoint=max(4, concurrency // 4),
            failing_room=2,
            failing_budget=max(2, concurrency // 2),
        )


@dataclass(frozen=True, slots=True)
class Share:
    """What each due endpoint may start now, and whether one wanted a slot and got none."""

    rooms: dict[Key, int]
    starved: bool


def share(
    due: Sequence[Key],
    busy: Mapping[Key, int],
    failing: Collection[Key],
    free: int,
    limits: Limits,
) -> Share:
    """Rooms for the endpoints of `due` (the one waiting longest first), given the attempts each
    has in flight (`busy`), those failing, and the worker's `free` slots.

    Max-min fair: each free slot goes to the endpoint that holds the fewest, the one waiting
    longest among equals, until the slots run out or every endpoint is at its limit. So a few
    endpoints with long backlogs cannot keep the others waiting: a newcomer gets slots as soon as
    any free up."""
    failing_left = limits.failing_budget - sum(n for key, n in busy.items() if key in failing)
    caps = {
        key: min(limits.per_endpoint, limits.failing_room)
        if key in failing
        else limits.per_endpoint
        for key in due
    }
    wanting = [(busy.get(key, 0), i, key) for i, key in enumerate(due)]
    wanting = [w for w in wanting if w[0] < caps[w[2]]]
    heapq.heapify(wanting)
    rooms: dict[Key, int] = {}
    while wanting and free > 0:
        held, i, key = heapq.heappop(wanting)
        if key in failing:
            if failing_left <= 0:
                continue  # failing endpoints hold their whole budget: this one waits
            failing_left -= 1
        rooms[key] = rooms.get(key, 0) + 1
        free -= 1
        if held + 1 < caps[key]:
            heapq.heappush(wanting, (held + 1, i, key))
    starved = any(key not in failing or failing_left > 0 for _, _, key in wanting)
    return Share(rooms, starved)
