"""Deliveries sent straight from the change feed: the book a worker keeps of them.

Most changes reach a receiver that answers at the first attempt. Queuing each of them on a lane
in Redis first (a list push, a due set, a claim, a lease, a pop: `webhooks.queue`) costs more
than the HTTP attempt itself, so the worker that fans a tenant's feed out sends such a change
itself, straight from what it read, when nothing of that order waits for the endpoint in Redis
(no lane), the endpoint is not failing, held (`Retry-After`) or paced (`rate_limit`), and the
worker does not already hold too much for it (`HELD_MAX`). Lanes are for what fails.

The feed entry stays pending in the consumer group until every one of its direct deliveries is
settled: delivered (logged and acknowledged), dropped (the endpoint is gone), or moved onto a lane
in Redis after a failed attempt, together with the order's later changes this worker holds. So a
worker that dies leaves the entries it held pending, and the next owner of the fan-out sends them
again: a repeat only of what was in flight.

Order: one order's changes to one endpoint form a *chain* here, sent one after the other, each
logged and acknowledged before the next goes out (so a worker that dies repeats at most one
change per order); a change that arrives while its order's chain is held joins it, never a lane
of its own, and a change of an order with a lane in Redis joins that lane. A chain waits for a
delivery slot like a due lane does (`webhooks.slots`).

This module is the bookkeeping alone (no I/O); `webhooks.worker` sends and settles.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.storage.keys import lane

Fields = Mapping[str, str]
Key = tuple[str, str]  # (tenant, endpoint id)
HELD_MAX = 2_000  # messages one worker holds for one endpoint before new chains go to lanes


@dataclass(frozen=True, slots=True)
class Failure:
    """The failed first attempt at a chain's head: its log entry, when it was made, when to try
    again, and until when the receiver asked the endpoint to wait (`Retry-After`)."""

    entry: dict[str, Any]
    at_ms: int
    next_ms: int
    hold_until_ms: int | None = None


@dataclass(slots=True, eq=False)  # one chain is itself, whatever it holds
class Chain:
    """One order's changes (or the `ops` lane's events) held for one endpoint, oldest first;
    while it runs, its first message is in flight. Its `failure` once an attempt at its head
    failed: the worker then moves it onto its lane in Redis, with whatever joined it meanwhile."""

    tenant: str
    endpoint: str
    name: str  # the lane's name: an order lane or `ops`
    messages: deque[tuple[str, Fields]] = field(default_factory=deque)
    failure: Failure | None = None

    @property
    def member(self) -> str:
        """Its lane's member in the endpoint's due set, should it move to Redis."""
        return lane(self.endpoint, self.name)


class Book:
    """The chains a worker holds, the ones waiting for a slot, and for each feed entry how many
    of its deliveries are not settled yet."""

    def __init__(self, held_max: int = HELD_MAX) -> None:
        self.held_max = held_max
        self._chains: dict[tuple[str, str, str], Chain] = {}
        self._waiting: dict[Key, deque[Chain]] = {}
        self._refs: dict[tuple[str, str], int] = {}  # (tenant, feed id) -> unsettled deliveries
        self._held: dict[Key, int] = {}  # messages held per endpoint
        self._failed: list[Chain] = []

    def __len__(self) -> int:
        """Messages held, over every endpoint."""
        return sum(self._held.values())

    def held(self) -> dict[str, dict[str, int]]:
        """Messages held per tenant and endpoint (those with none left out)."""
        out: dict[str, dict[str, int]] = {}
        for (tenant, endpoint), count in self._held.items():
            out.setdefault(tenant, {})[endpoint] = count
        return out

    def chain(self, tenant: str, endpoint: str, name: str) -> Chain | None:
        return self._chains.get((tenant, endpoint, name))

    def has_room(self, tenant: str, endpoint: str, offered: int = 0) -> bool:
        """Whether a new chain of the endpoint may be held, besides `offered` changes about to
        be (else its changes go to lanes)."""
        return self._held.get((tenant, endpoint), 0) + offered < self.held_max

    def add(self, tenant: str, endpoint: str, name: str, feed_id: str, fields: Fields) -> None:
        """Hold a delivery: it joins its order's chain, or starts one that waits for a slot."""
        chain = self._chains.get((tenant, endpoint, name))
        if chain is None:
            chain = Chain(tenant, endpoint, name)
            self._chains[(tenant, endpoint, name)] = chain
            self._waiting.setdefault((tenant, endpoint), deque()).append(chain)
        chain.messages.append((feed_id, fields))
        self.refer(tenant, feed_id)
        self._held[(tenant, endpoint)] = self._held.get((tenant, endpoint), 0) + 1

    def refer(self, tenant: str, feed_id: str) -> None:
        """Count one more unsettled use of a feed entry (see `unrefer`)."""
        self._refs[(tenant, feed_id)] = self._refs.get((tenant, feed_id), 0) + 1

    def unrefer(self, tenant: str, feed_id: str) -> str | None:
        """One use of the entry is over: its feed id when none is left (acknowledge it)."""
        refs = self._refs[(tenant, feed_id)] - 1
        if refs:
            self._refs[(tenant, feed_id)] = refs
            return None
        del self._refs[(tenant, feed_id)]
        return feed_id

    def held_ids(self, tenant: str) -> set[str]:
        """The tenant's feed entries with a delivery not settled (pending in the group for this
        worker: not to be fanned out again)."""
        return {feed_id for t, feed_id in self._refs if t == tenant}

    def waiting(self) -> list[Key]:
        """Endpoints with a chain waiting for a slot, the longest waiting first."""
        return [key for key, chains in self._waiting.items() if chains]

    def next_waiting(self, key: Key) -> Chain | None:
        """The endpoint's chain that has waited longest, taken off the waiting list."""
        chains = self._waiting.get(key)
        if not chains:
            return None
        chain = chains.popleft()
        if not chains:
            del self._waiting[key]
        return chain

    def last_use(self, chain: Chain) -> str | None:
        """The feed id of the chain's head when settling it would leave no delivery of that
        entry unsettled (see `settle`), else None."""
        feed_id, _ = chain.messages[0]
        return feed_id if self._refs.get((chain.tenant, feed_id)) == 1 else None

    def settle(self, chain: Chain) -> str | None:
        """The head of `chain` is settled (delivered or dropped): it leaves the chain (and the
        chain the book, once empty). Its feed id when no delivery of that entry is left
        unsettled (acknowledge it), else None."""
        feed_id, _ = chain.messages.popleft()
        if not chain.messages:
            self._forget(chain)
        return self._release(chain.tenant, chain.endpoint, feed_id)

    def take(self, chain: Chain) -> tuple[list[str], list[str]]:
        """Take a whole chain out of the book (it moves to a lane in Redis): its feed ids in
        order, and those of them that no delivery of this worker needs any more."""
        self._forget(chain)
        self.park(chain)
        ids = [feed_id for feed_id, _ in chain.messages]
        chain.messages.clear()
        done = [f for f in ids if self._release(chain.tenant, chain.endpoint, f) is not None]
        return ids, done

    def park(self, chain: Chain) -> bool:
        """Take a waiting chain off the waiting list (it is being moved to its lane); False when
        it was not waiting (a slot has started it meanwhile)."""
        waiting = self._waiting.get((chain.tenant, chain.endpoint))
        if waiting is None or chain not in waiting:
            return False
        waiting.remove(chain)
        if not waiting:
            del self._waiting[(chain.tenant, chain.endpoint)]
        return True

    def unpark(self, chain: Chain) -> None:
        """Put a parked chain back at the front of the waiting list (it could not be moved)."""
        self._waiting.setdefault((chain.tenant, chain.endpoint), deque()).appendleft(chain)

    def ids(self, chain: Chain) -> tuple[list[str], list[str]]:
        """What `take` would answer now, without taking the chain out."""
        ids = [feed_id for feed_id, _ in chain.messages]
        return ids, [f for f in ids if self._refs.get((chain.tenant, f)) == 1]

    def waiting_of(self, key: Key) -> list[Chain]:
        """The endpoint's chains that wait for a slot (none of them has started)."""
        return list(self._waiting.get(key, ()))

    def fail(self, chain: Chain, failure: Failure) -> None:
        """The attempt at the chain's head failed: it waits to be moved onto its lane."""
        chain.failure = failure
        self._failed.append(chain)

    def failed(self) -> list[Chain]:
        """Chains whose head failed, to be moved to lanes (`take`)."""
        return list(self._failed)

    def _forget(self, chain: Chain) -> None:
        if self._chains.get((chain.tenant, chain.endpoint, chain.name)) is chain:
            del self._chains[(chain.tenant, chain.endpoint, chain.name)]
        if chain.failure is not None and chain in self._failed:
            self._failed.remove(chain)

    def _release(self, tenant: str, endpoint: str, feed_id: str) -> str | None:
        held = self._held[(tenant, endpoint)] - 1
        if held:
            self._held[(tenant, endpoint)] = held
        else:
            del self._held[(tenant, endpoint)]
        return self.unrefer(tenant, feed_id)
