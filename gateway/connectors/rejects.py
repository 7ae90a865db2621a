"""Items a poll sets aside, so one bad order never stops a whole account's feed.

A platform's answer can hold one order that breaks the rules: no order number, a status time that
is not a time, a status that is not a letter, an event dated ahead of the clock. Refusing the
whole answer for it would stop every other order of the account until the platform fixed that
one (MeaSoft's change feed is not confirmed, so it would come back on every poll). So each order
is read on its own: a bad one is set aside with where it is and what is wrong, the poll records
the others and goes on, and the tenant sees the set-aside orders in the connector's document
(and gets a `connector.item_rejected` event the first time each one is seen).

An order is kept there until a later poll records it (a state-listing platform lists it again
once the store fixes it), the tenant clears the list, or `history_days` pass without it being
seen again. The items' own payloads are not kept (they may hold the buyer's details): `where` and
`detail` name the order and the value at fault.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.connectors.base import Record
from gateway.errors import GatewayError
from gateway.ingest import NativeEvent

Json = dict[str, Any]
KEEP = 100  # set-aside orders kept per connector (the ones seen last win)
ANNOUNCED = ("order_id", "where", "detail", "first_seen_at")  # in `connector.item_rejected`


@dataclass(frozen=True, slots=True)
class Rejected:
    """One order (or listed item) a poll could not take, and why."""

    where: str
    detail: str
    order_id: str | None = None

    @property
    def key(self) -> str:
        """The same item seen again: by its order, else by what is wrong with it."""
        return order_key(self.order_id) if self.order_id is not None else f"item:{self.detail}"


def order_key(order_id: str) -> str:
    return f"order:{order_id}"


def of(error: GatewayError, where: str, order_id: str | None = None) -> Rejected:
    """An item set aside for `error` (its own `where` wins when it has one)."""
    return Rejected(error.where or where, error.detail, order_id)


def order_id_of(value: object) -> str | None:
    """A listed item's order id when it is readable enough to name the item, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= 200:
        return value.strip()
    return None


@dataclass
class Tally:
    """A poll's `Record`, noting what the recording refused (an event dated ahead of the
    clock) and which orders it took."""

    record: Record
    refused: list[Rejected] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)

    async def __call__(self, events: Sequence[NativeEvent]) -> list[object]:
        results = await self.record(events)
        for event, result in zip(events, results, strict=True):
            if not isinstance(result, GatewayError):
                self.taken.add(event.order_id)
            elif result.status < 500:
                self.refused.append(of(result, event.where, event.order_id))
        return results

    def drain(self) -> tuple[list[Rejected], set[str]]:
        """What was refused and taken since the last drain (a backfill drains after each
        page)."""
        noted = (self.refused, self.taken)
        self.refused, self.taken = [], set()
        return noted


@dataclass(frozen=True, slots=True)
class Update:
    """What a poll changes in the stored list: entries to write, keys to drop, and the entries
    seen for the first time (to announce)."""

    write: dict[str, Json]
    drop: list[str]
    new: list[Json]


def update(
    stored: Mapping[str, Json],
    found: Sequence[Rejected],
    taken: Collection[str],
    now: str,
    oldest: str,
    keep: int = KEEP,
) -> Update:
    """Merge a poll's set-aside items into the stored ones (key → entry).

    An item seen again keeps its `first_seen_at` and counts `times`; an order the poll recorded
    (and did not set aside again) leaves the list; entries last seen before `oldest` leave it;
    beyond `keep` entries, the ones seen longest ago leave it. Times are ISO 8601 in UTC, so
    they compare as text."""
    entries = dict(stored)
    new: list[str] = []
    again: dict[str, Rejected] = {}
    for item in found:
        again[item.key] = item  # the last of one order's faults stands for it
    for key, item in again.items():
        before = entries.get(key)
        entry: Json = {
            "where": item.where,
            "order_id": item.order_id,
            "detail": item.detail,
            "first_seen_at": before["first_seen_at"] if before else now,
            "last_seen_at": now,
            "times": (int(before["times"]) if before else 0) + 1,
        }
        entries[key] = entry
        if before is None:
            new.append(key)
    for order_id in taken:
        key = order_key(order_id)
        if key not in again:
            entries.pop(key, None)
    live = [k for k, e in entries.items() if str(e["last_seen_at"]) >= oldest]
    live.sort(key=lambda k: str(entries[k]["last_seen_at"]), reverse=True)
    kept = set(live[:keep])
    return Update(
        write={k: entries[k] for k in again if k in kept},
        drop=sorted(k for k in stored if k not in kept),
        new=[entries[k] for k in new if k in kept],
    )


def listed(stored: Mapping[str, Json]) -> list[Json]:
    """The stored entries as the connector's document shows them: seen last first."""
    return sorted(stored.values(), key=lambda e: str(e["last_seen_at"]), reverse=True)
