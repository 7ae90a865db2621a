"""Recording status observations: translate, decide (tracking rules), commit (compare-and-set).

One code path for a single event, a batch and a native payload: `Recorder.record()` takes any
number of events of one platform and tenant, translates each (tenant mappings included), then
decides and commits them round by round, one event per order per round.

Each commit is a compare-and-set on the order's rev, so the state it was decided on may come from
anywhere: the process remembers the last state it saw of recently touched orders (a bounded LRU)
and decides on that without reading Redis first. A commit that lost the race (another process
moved the order on, or the remembered state is stale) gets the stored state back in the same
reply and is decided again on it, so a remembered order costs one round trip, a cold one two.

Every event, whichever way it came (`POST /v1/events`, a batch, a native payload, a connector's
poll), has its time checked here (`event_time`): one outside the years a datetime holds in UTC,
or later than the clock plus `future_tolerance`, is refused in its place and stores nothing.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import orjson
from redis.asyncio import Redis

from gateway.custom import PARTS, Part, by_platform, field_name, part_platform
from gateway.errors import GatewayError, InvalidInput, StorageUnavailable
from gateway.ingest import NativeEvent
from gateway.observability import Metrics
from gateway.settings import Settings
from gateway.storage.keys import SEP
from gateway.storage.orders import Commit, OrderStore
from gateway.tables import Tables
from gateway.tables.schema import PlatformFile
from gateway.tracking import (
    Observation,
    OrderState,
    Outcome,
    apply,
    dedupe_keys,
    tracked_time,
)
from gateway.translate import Custom, NativeRef, Translation, Where, to_canonical
from gateway.values import value

Json = dict[str, Any]
MAX_ROUNDS = 64  # conflicts on one order are retried this often before giving up (503)
_UNREAD = object()  # a queue whose order state is neither remembered nor read yet
Result = Literal["changed", "unchanged", "late", "violation", "duplicate"]
# How far an event's own time may be ahead of the clock (GATEWAY_FUTURE_TOLERANCE_S).
FUTURE_TOLERANCE = timedelta(seconds=Settings.model_fields["future_tolerance_s"].default)
REFUSED = "refused"  # the `result` label counting events whose time was refused
log = logging.getLogger("gateway.recording")


@value
class Recorded:
    """What recording one event did, and the order's state afterwards."""

    result: Result
    state: OrderState
    regression: bool = False
    violation: str | None = None

    @property
    def changed(self) -> bool:
        return self.result == "changed"


def native_doc(ref: NativeRef, parts: Sequence[tuple[str, NativeRef]] = ()) -> Json:
    """A native reference as stored: the code and its label msgids (or the tenant's texts)."""
    doc: Json = {
        "code": ref.code,
        "context": ref.context,
        "label": ref.label,
        "description": ref.description,
    }
    if ref.texts:
        doc["texts"] = [list(t) for t in ref.texts]
    if parts:
        doc["parts"] = {name: native_doc(part) for name, part in parts}
    return doc


def event_time(event: NativeEvent, received: datetime, tolerance: timedelta) -> datetime:
    """The time `event` is tracked at, in UTC: its own, or `received` when it has none.

    Raises:
        InvalidInput: its own time is outside the years 1 to 9999 once in UTC, or later than
            `received` plus `tolerance` (`gateway.tracking.tracked_time`); it points at the
            time in the payload.
    """
    if event.occurred_at is None:
        return received
    try:
        return tracked_time(event.occurred_at, received, tolerance)
    except ValueError as exc:
        raise InvalidInput(str(exc), where=event.time_pointer) from None


def _unknown_codes(table: PlatformFile, translation: Translation) -> list[tuple[Part | None, str]]:
    """(None for the order status or the part's name, normalized code) of every code of
    `translation` that no table (and no tenant mapping) knew."""
    native = translation.native
    found: list[tuple[Part | None, str]] = []
    if not native.known:
        found.append((None, table.normalize(native.code)))
    for name, ref in translation.parts:
        if not ref.known and name in PARTS:
            found.append((name, table.normalize(ref.code)))
    return found


def _unknown_refs(table: PlatformFile, translation: Translation) -> list[tuple[str, str]]:
    """(platform or platform.part, code) of every part the tables did not know."""
    return [
        (part_platform(table.platform, part), code)
        for part, code in _unknown_codes(table, translation)
    ]


class Recorder:
    """Records observations for tenants; built once per app."""

    def __init__(
        self,
        tables: Tables,
        client: Redis,
        orders: OrderStore,
        metrics: Metrics,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        remember: int = 10_000,
        future_tolerance: timedelta = FUTURE_TOLERANCE,
    ) -> None:
        self._tables = tables
        self._recent: OrderedDict[tuple[str, str, str], OrderState] = OrderedDict()
        self._remember_limit = remember
        self._r = client
        self._orders = orders
        self._metrics = metrics
        self._now = now
        self._future_tolerance = future_tolerance
        self._ranks = {code: row.rank for code, row in tables.canonical.codes.items()}

    @classmethod
    def configured(
        cls,
        tables: Tables,
        client: Redis,
        settings: Settings,
        metrics: Metrics,
        orders: OrderStore | None = None,
    ) -> Recorder:
        """The recorder of a running process, its limits from `settings` (and its order store,
        unless the process shares one)."""
        return cls(
            tables,
            client,
            orders or OrderStore(client, settings.redis_prefix, settings.history_days),
            metrics,
            remember=settings.remembered_orders,
            future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        )

    async def _custom(
        self, tenant: str, table: PlatformFile, codes: set[tuple[Part | None, str]]
    ) -> Custom:
        """The tenant's mappings of `codes` ((part or None, normalized code)) in one round trip."""
        if not codes:
            return Custom()
        names = sorted(field_name(table.platform, code, part) for part, code in codes)
        key = self._orders.keys(tenant).mappings
        docs = cast(list[str | None], await self._r.hmget(key, names))
        found = by_platform({n: d for n, d in zip(names, docs, strict=True) if d})
        return found.get(table.platform, Custom())

    async def translate(
        self, tenant: str, platform: str, events: Sequence[NativeEvent], where: Sequence[Where]
    ) -> list[Translation | GatewayError]:
        """Translate each event leniently; a tenant's own codes are looked up in one round trip."""
        table = self._tables.platform(platform, where=where[0].platform if where else None)
        first: list[Translation | GatewayError] = []
        unknown: set[tuple[Part | None, str]] = set()
        for event, w in zip(events, where, strict=True):
            try:
                translation = to_canonical(
                    self._tables, platform, event.status, lenient=True, where=w
                )
            except GatewayError as exc:
                first.append(exc)
                continue
            first.append(translation)
            unknown.update(_unknown_codes(table, translation))
        custom = await self._custom(tenant, table, unknown)
        if not custom:
            return first
        out: list[Translation | GatewayError] = []
        for event, w, t in zip(events, where, first, strict=True):
            redo = isinstance(t, Translation) and bool(_unknown_codes(table, t))
            out.append(
                to_canonical(
                    self._tables, platform, event.status, lenient=True, where=w, custom=custom
                )
                if redo
                else t
            )
        return out

    def observation(
        self, platform: str, event: NativeEvent, translation: Translation, received: datetime
    ) -> Observation:
        """The observation `event` makes; an `InvalidInput` when its time is refused."""
        occurred = event_time(event, received, self._future_tolerance)
        return Observation(
            platform=platform,
            order_id=event.order_id,
            native=native_doc(translation.native, translation.parts),
            canonical=translation.canonical,
            occurred_at=occurred,
            received_at=received,
            time_source="source" if event.occurred_at else "received",
            event_id=event.event_id,
            code_key=self._tables.platform(platform).normalize(translation.native.code),
        )

    def _commit(
        self, tenant: str, state: OrderState | None, obs: Observation, translation: Translation
    ) -> Commit:
        table = self._tables.platform(obs.platform)
        outcome = apply(state, obs, ranks=self._ranks, payment_is_final=table.payment_is_final)
        unmapped = [
            (
                f"{name}{SEP}{code}",
                {
                    "first_seen": outcome.entry["received_at"],
                    "last_seen": outcome.entry["received_at"],
                    "order_id": obs.order_id,
                },
            )
            for name, code in _unknown_refs(table, translation)
        ]
        return Commit(
            tenant=tenant,
            expected_rev=state.rev if state else 0,
            outcome=outcome,
            dedupe=dedupe_keys(obs),
            unmapped=unmapped,
            change=self._change(outcome, obs) if outcome.changed else None,
        )

    def _change(self, outcome: Outcome, obs: Observation) -> dict[str, str]:
        """The change-feed entry: what the webhook worker renders and sends."""
        state = outcome.state
        return {
            "type": "order.status_changed",
            "platform": state.platform,
            "order_id": state.order_id,
            "sequence": str(state.sequence),
            "n": str(outcome.entry["n"]),
            "occurred_at": outcome.entry["occurred_at"],
            "received_at": outcome.entry["received_at"],
            "previous": orjson.dumps(outcome.previous).decode() if outcome.previous else "",
            "current": orjson.dumps(outcome.entry["canonical"]).decode(),
            "native": orjson.dumps(obs.native).decode(),
            "regression": "1" if outcome.regression else "0",
            "mapping_version": self._tables.version,
        }

    async def record(
        self,
        tenant: str,
        platform: str,
        events: Sequence[NativeEvent],
        where: Sequence[Where] | None = None,
    ) -> list[Recorded | GatewayError]:
        """Record `events` of one platform; a bad one gets its error in its place."""
        wheres = list(where) if where is not None else [Where.body(e.where) for e in events]
        table = self._tables.platform(platform, where=wheres[0].platform if wheres else None)
        translations = await self.translate(tenant, table.platform, events, wheres)
        received = self._now()
        results: list[Recorded | GatewayError | None] = [None] * len(events)
        queues: dict[str, list[tuple[int, Observation, Translation]]] = {}
        for i, (event, t) in enumerate(zip(events, translations, strict=True)):
            if isinstance(t, GatewayError):
                results[i] = t
                continue
            try:
                obs = self.observation(table.platform, event, t, received)
            except InvalidInput as exc:
                results[i] = self._refused(tenant, table.platform, event, exc)
                continue
            queues.setdefault(event.order_id, []).append((i, obs, t))
        # Events of one order are decided in their order; one event per order per round.
        pending = list(queues.values())
        known: list[OrderState | object | None] = [
            self._recent.get((tenant, table.platform, order_id), _UNREAD) for order_id in queues
        ]
        for _ in range(MAX_ROUNDS * max(1, max((len(q) for q in pending), default=1))):
            if not pending:
                break
            unread = [j for j, state in enumerate(known) if state is _UNREAD]
            if unread:
                read = await self._orders.states(
                    tenant, [(table.platform, pending[j][0][1].order_id) for j in unread]
                )
                for j, state in zip(unread, read, strict=True):
                    known[j] = state
            heads = [q[0] for q in pending]
            commits = [
                self._commit(tenant, cast(OrderState | None, state), obs, t)
                for state, (_, obs, t) in zip(known, heads, strict=True)
            ]
            done = await self._orders.commit_many(commits)
            for j, (queue, (i, obs, _), commit, outcome) in enumerate(
                zip(pending, heads, commits, done, strict=True)
            ):
                # ok: the state just written; dup and conflict: the state as stored
                known[j] = commit.outcome.state if outcome.result == "ok" else outcome.state
                self._note(tenant, table.platform, obs.order_id, known[j])
                if outcome.result == "conflict":
                    continue  # decided again on the stored state next round
                queue.pop(0)
                results[i] = self._recorded(commit, outcome.result, outcome.state)
            known = [state for state, q in zip(known, pending, strict=True) if q]
            pending = [q for q in pending if q]
        if pending:
            for queue in pending:
                for i, _, _ in queue:
                    results[i] = StorageUnavailable(
                        "too many concurrent changes of this order; retry", where=wheres[i].status
                    )
        return [r for r in results if r is not None]

    def _refused(
        self, tenant: str, platform: str, event: NativeEvent, error: InvalidInput
    ) -> InvalidInput:
        """Count and log an event refused for its time: a pull connector keeps only this trace
        of it (its poll goes on with the others)."""
        self._metrics.event_results[REFUSED].inc()
        log.warning(
            "refused an event of %s order %r of tenant %s: %s",
            platform,
            event.order_id,
            tenant,
            error.detail,
        )
        return error

    def _note(self, tenant: str, platform: str, order_id: str, state: object) -> None:
        """Remember `state` as the order's latest known state (least recently used go first)."""
        if self._remember_limit <= 0:
            return
        key = (tenant, platform, order_id)
        if not isinstance(state, OrderState):
            self._recent.pop(key, None)
            return
        self._recent[key] = state
        self._recent.move_to_end(key)
        if len(self._recent) > self._remember_limit:
            self._recent.popitem(last=False)

    def _recorded(self, commit: Commit, result: str, stored: OrderState | None) -> Recorded:
        outcome = commit.outcome
        if result == "dup":
            self._metrics.event_results["duplicate"].inc()
            return Recorded("duplicate", stored or outcome.state)
        for name, _ in commit.unmapped:
            self._metrics.unknown_codes.labels(platform=name.partition(SEP)[0]).inc()
        self._metrics.event_results[outcome.kind].inc()
        if outcome.regression:
            self._metrics.event_results["regression"].inc()
        return Recorded(outcome.kind, outcome.state, outcome.regression, outcome.entry["violation"])
