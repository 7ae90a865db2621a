"""The rules of an order's timeline (spec §6, §4 CloudCart): pure functions, no I/O.

`apply(state, observation)` decides what one new observation does to an order: whether it becomes
the current state, whether that is a change (and so gets the next `sequence` and goes to the
change feed), a regression, a late arrival, or a violation. Storage commits the decision with a
compare-and-set, so concurrent observations of one order are decided one after another.

Duplicates (same event id, or same native code and event time) are caught by storage with
`dedupe_keys()` before any decision is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from gateway.canonical import Action, CanonicalStatus, Code, Fulfillment, Payment, Stage
from gateway.values import value

Json = dict[str, Any]
Kind = Literal["changed", "unchanged", "late", "violation"]

# Once paid, the payment axis may only go on to these (platforms with `payment_is_final`).
AFTER_PAID = frozenset({Payment.PAID, Payment.REFUNDED, Payment.DISPUTED, Payment.UNKNOWN})


# A batch's events share their receipt time, and often their event times: `to_us` and `_iso` keep
# their last answers (a cached answer costs a tenth of computing it).
@lru_cache(maxsize=1024)
def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime: the sort key of event times."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def as_utc(moment: datetime) -> datetime | None:
    """An aware `moment` in UTC; None when that falls outside the years 1 to 9999 a datetime
    holds (0001-01-01T00:00:00+14:00 is in year 0 in UTC, 9999-12-31T23:59:59-14:00 in 10000)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def tracked_time(
    occurred: datetime, received: datetime, tolerance: timedelta, what: str = "the event time"
) -> datetime:
    """`occurred`, a source's event time, in UTC as the tracking rules take it; ValueError says
    why they cannot (naming the time `what`).

    The latest event by the source's time wins, so an event dated in the future would win over
    every real event after it and freeze the order: a time later than the gateway's clock
    (`received`) plus `tolerance` (clock skew) is refused. An old one is fine: it is only late.
    """
    utc = as_utc(occurred)
    if utc is None:
        raise ValueError(
            f"{what} {occurred.isoformat()} is outside the times the gateway can hold:"
            " in UTC it falls before 0001-01-01 or after 9999-12-31"
        )
    if utc - received > tolerance:  # a timedelta: never out of range, unlike adding to a time
        raise ValueError(
            f"{what} {occurred.isoformat()} is later than the gateway's clock"
            f" ({_iso(received)}) plus {tolerance.total_seconds():g} s of tolerance for clock"
            " skew; send the time it happened, with its UTC offset"
        )
    return utc


# The keys of `canonical_doc`, in its order: what a stored canonical status holds.
CANONICAL_FIELDS = (
    "code",
    "stage",
    "detail",
    "terminal",
    "provisional",
    "paid",
    "payment",
    "fulfillment",
    "action_required",
)


def canonical_doc(status: CanonicalStatus) -> Json:
    """A canonical status as stored: codes only, labels are added per language when read."""
    return {
        "code": status.code.value,
        "stage": status.stage.value if status.stage else None,
        "detail": status.detail,
        "terminal": status.terminal,
        "provisional": status.provisional,
        "paid": status.paid,
        "payment": status.payment.value,
        "fulfillment": status.fulfillment.value,
        "action_required": status.action_required.value if status.action_required else None,
    }


def canonical_from_doc(doc: Mapping[str, Any]) -> CanonicalStatus:
    return CanonicalStatus(
        code=Code(doc["code"]),
        stage=Stage(doc["stage"]) if doc["stage"] else None,
        detail=doc["detail"],
        terminal=doc["terminal"],
        provisional=doc["provisional"],
        paid=doc["paid"],
        payment=Payment(doc["payment"]),
        fulfillment=Fulfillment(doc["fulfillment"]),
        action_required=Action(doc["action_required"]) if doc["action_required"] else None,
    )


@value
class Observation:
    """One status of one order as a source reported it, already translated."""

    platform: str
    order_id: str
    native: Json  # {"code", "context", "label", "description", "parts"?, "custom"?}
    canonical: CanonicalStatus
    occurred_at: datetime  # the source's own event time, or the receipt time (time_source)
    received_at: datetime
    time_source: Literal["source", "received"] = "source"
    event_id: str | None = None
    code_key: str | None = None  # the code as the table spells it (case folded), for dedupe
    occurred_us: int = field(init=False, repr=False, compare=False)  # `occurred_at`, as a key

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_us", to_us(self.occurred_at))

    @property
    def native_code(self) -> str:
        """The native code, with CloudCart's parts joined: what a duplicate must repeat."""
        parts = self.native.get("parts") or {}
        head = self.code_key or self.native["code"]
        return "/".join([head, *(p["code"] for p in parts.values())])


def dedupe_keys(obs: Observation) -> list[str]:
    """What makes a repeat of `obs` a duplicate: its event id; its native code and event time.

    An observation without a time of its own repeats nothing by time: only its event id counts.
    """
    keys = [f"e:{obs.event_id}"] if obs.event_id else []
    if obs.time_source == "source":
        keys.append(f"t:{obs.native_code}@{obs.occurred_us}")
    return keys


@value
class Current:
    """The observation that defines an order's current state."""

    n: int  # its place in the timeline (1-based arrival order)
    occurred_us: int
    occurred_at: str
    native: Json
    canonical: Json


@value
class OrderState:
    """What storage keeps per order besides the timeline."""

    platform: str
    order_id: str
    rev: int  # observations stored; the compare-and-set version
    sequence: int  # changes of the current state
    current: Current
    created_at: str
    updated_at: str  # received time of the last change
    violations: int = 0

    def moved(
        self,
        rev: int,
        *,
        sequence: int | None = None,
        current: Current | None = None,
        updated_at: str | None = None,
        violations: int | None = None,
    ) -> OrderState:
        """This state at `rev`, with the fields given replaced (`dataclasses.replace` costs
        twice as much on the ingest path)."""
        return OrderState(
            self.platform,
            self.order_id,
            rev,
            self.sequence if sequence is None else sequence,
            self.current if current is None else current,
            self.created_at,
            self.updated_at if updated_at is None else updated_at,
            self.violations if violations is None else violations,
        )

    def doc(self) -> Json:
        c = self.current
        return {
            "platform": self.platform,
            "order_id": self.order_id,
            "rev": self.rev,
            "sequence": self.sequence,
            "current": {
                "n": c.n,
                "occurred_us": c.occurred_us,
                "occurred_at": c.occurred_at,
                "native": c.native,
                "canonical": c.canonical,
            },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "violations": self.violations,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> OrderState:
        c = doc["current"]
        return cls(
            platform=doc["platform"],
            order_id=doc["order_id"],
            rev=doc["rev"],
            sequence=doc["sequence"],
            current=Current(
                c["n"], c["occurred_us"], c["occurred_at"], c["native"], c["canonical"]
            ),
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            violations=doc.get("violations", 0),
        )


@value
class Outcome:
    """What one observation did: the new state, its timeline entry, and the change (if any)."""

    kind: Kind
    state: OrderState
    entry: Json
    previous: Json | None  # the canonical status before, when the state changed
    regression: bool

    @property
    def changed(self) -> bool:
        return self.kind == "changed"


def _iso(moment: datetime) -> str:
    # Equal instants in other offsets are equal datetimes: the offset is part of the key.
    return _iso_at(moment, moment.utcoffset())


@lru_cache(maxsize=1024)
def _iso_at(moment: datetime, _offset: timedelta | None) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def is_regression(
    previous: Mapping[str, Any], current: CanonicalStatus, ranks: Mapping[Code, int]
) -> bool:
    """The headline moved backwards in the lifecycle (rank in canonical.toml; unknown has none)."""
    before, after = ranks[Code(previous["code"])], ranks[current.code]
    return before >= 0 and after >= 0 and after < before


def payment_reverted(previous: Mapping[str, Any], current: CanonicalStatus) -> bool:
    """Paid went back to unpaid (seed 004: only refunded may follow paid)."""
    return previous["payment"] == Payment.PAID and current.payment not in AFTER_PAID


def apply(
    state: OrderState | None,
    obs: Observation,
    *,
    ranks: Mapping[Code, int],
    payment_is_final: bool = False,
) -> Outcome:
    """Decide what `obs` does to the order whose state is `state` (None: first observation).

    - The latest event by the source's own time wins; equal times keep arrival order.
    - An older event arriving late is stored in the timeline but does not move the state.
    - A change whose headline moves backwards is applied and flagged as a regression.
    - With `payment_is_final`, paid going back to unpaid is recorded as a violation, not applied.
    - A confirmed (non-provisional) status that follows a provisional one supersedes it.
    """
    n = (state.rev if state else 0) + 1
    canonical = canonical_doc(obs.canonical)
    received = _iso(obs.received_at)
    entry: Json = {
        "n": n,
        "native": obs.native,
        "canonical": canonical,
        "occurred_at": _iso(obs.occurred_at),
        "received_at": received,
        "received_us": to_us(obs.received_at),
        "time_source": obs.time_source,
        "event_id": obs.event_id,
        "applied": True,
        "changed": False,
        "regression": False,
        "late": False,
        "violation": None,
        "supersedes": None,
        "sequence": None,
    }
    current = Current(n, obs.occurred_us, entry["occurred_at"], obs.native, canonical)

    if state is None:
        entry.update(changed=True, sequence=1)
        first = OrderState(obs.platform, obs.order_id, n, 1, current, received, received)
        return Outcome("changed", first, entry, None, False)

    if obs.occurred_us < state.current.occurred_us:
        entry.update(applied=False, late=True)
        return Outcome("late", state.moved(n), entry, None, False)

    before = state.current.canonical
    if payment_is_final and payment_reverted(before, obs.canonical):
        entry.update(applied=False, violation="payment_reverted")
        moved = state.moved(n, violations=state.violations + 1)
        return Outcome("violation", moved, entry, None, False)

    if before["provisional"] and not obs.canonical.provisional:
        entry["supersedes"] = state.current.n

    if canonical == before:
        return Outcome("unchanged", state.moved(n, current=current), entry, None, False)

    regression = is_regression(before, obs.canonical, ranks)
    sequence = state.sequence + 1
    entry.update(changed=True, regression=regression, sequence=sequence)
    moved = state.moved(n, sequence=sequence, current=current, updated_at=received)
    return Outcome("changed", moved, entry, before, regression)
