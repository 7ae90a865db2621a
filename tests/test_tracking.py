"""The timeline rules (spec §6, §4), pure: no Redis, no HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.canonical import Code
from gateway.recording import native_doc
from gateway.tables import Tables
from gateway.tracking import (
    Observation,
    OrderState,
    _iso,
    apply,
    as_utc,
    canonical_from_doc,
    dedupe_keys,
    to_us,
    tracked_time,
)
from gateway.translate import CloudCartStatus, StatusInput, to_canonical

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def observe(
    tables: Tables,
    status: StatusInput,
    minutes: int,
    platform: str = "cscart",
    event_id: str | None = None,
    received: datetime = RECEIVED,
) -> Observation:
    t = to_canonical(tables, platform, status, lenient=True)
    return Observation(
        platform=t.platform,
        order_id="1",
        native=native_doc(t.native, t.parts),
        canonical=t.canonical,
        occurred_at=T0 + timedelta(minutes=minutes),
        received_at=received,
        event_id=event_id,
    )


def run(
    tables: Tables, *observations: Observation, payment_is_final: bool = False
) -> list[tuple[str, OrderState]]:
    ranks = {code: row.rank for code, row in tables.canonical.codes.items()}
    state: OrderState | None = None
    out: list[tuple[str, OrderState]] = []
    for obs in observations:
        outcome = apply(state, obs, ranks=ranks, payment_is_final=payment_is_final)
        state = outcome.state
        out.append((outcome.kind, state))
    return out


def test_first_observation_is_a_change_with_sequence_one(tables: Tables) -> None:
    [(kind, state)] = run(tables, observe(tables, "O", 0))
    assert kind == "changed"
    assert (state.sequence, state.rev, state.current.canonical["code"]) == (1, 1, "pending")


def test_latest_event_time_wins_and_a_late_older_event_only_joins_the_timeline(
    tables: Tables,
) -> None:
    steps = run(tables, observe(tables, "O", 0), observe(tables, "C", 20), observe(tables, "P", 10))
    assert [k for k, _ in steps] == ["changed", "changed", "late"]
    final = steps[-1][1]
    assert final.current.canonical["code"] == "completed"
    assert (final.sequence, final.rev) == (2, 3)


def test_equal_event_times_keep_arrival_order(tables: Tables) -> None:
    steps = run(tables, observe(tables, "O", 5), observe(tables, "P", 5))
    assert [k for k, _ in steps] == ["changed", "changed"]
    assert steps[-1][1].current.native["code"] == "P"


def test_same_canonical_status_is_not_a_change(tables: Tables) -> None:
    # CS-Cart D and I both mean canceled, but with different details: a change.
    # The same code again later: not a change, but the current observation moves on.
    steps = run(tables, observe(tables, "O", 0), observe(tables, "O", 5))
    assert [k for k, _ in steps] == ["changed", "unchanged"]
    assert steps[-1][1].sequence == 1
    assert steps[-1][1].current.n == 2


@pytest.mark.parametrize(
    ("first", "then", "regression"),
    [
        ("C", "O", True),  # completed → pending
        ("P", "O", True),  # confirmed → pending
        ("O", "P", False),
        ("P", "C", False),
        ("P", "ZZ", False),  # unknown has no place in the lifecycle
    ],
)
def test_a_backwards_move_is_applied_and_flagged(
    tables: Tables, first: str, then: str, regression: bool
) -> None:
    ranks = {code: row.rank for code, row in tables.canonical.codes.items()}
    before = apply(None, observe(tables, first, 0), ranks=ranks).state
    outcome = apply(before, observe(tables, then, 1), ranks=ranks)
    assert outcome.kind == "changed"
    assert outcome.regression is regression
    assert outcome.entry["regression"] is regression
    assert outcome.previous == before.current.canonical


def test_cloudcart_paid_going_back_to_unpaid_is_a_violation_not_applied(tables: Tables) -> None:
    paid = observe(tables, CloudCartStatus("paid", "completed"), 0, "cloudcart")
    unpaid = observe(tables, CloudCartStatus("pending", "pending"), 5, "cloudcart")
    steps = run(tables, paid, unpaid, payment_is_final=True)
    assert [k for k, _ in steps] == ["changed", "violation"]
    final = steps[-1][1]
    assert final.current.canonical["payment"] == "paid"
    assert (final.violations, final.sequence, final.rev) == (1, 1, 2)


@pytest.mark.parametrize(
    "later",
    [CloudCartStatus("refunded", "refunded"), CloudCartStatus("disputed", "disputed")],
    ids=["refunded", "disputed"],
)
def test_cloudcart_paid_may_move_on_to_refunded_or_disputed(
    tables: Tables, later: CloudCartStatus
) -> None:
    paid = observe(tables, CloudCartStatus("paid", "completed"), 0, "cloudcart")
    steps = run(tables, paid, observe(tables, later, 5, "cloudcart"), payment_is_final=True)
    assert [k for k, _ in steps] == ["changed", "changed"]


def test_without_the_platform_rule_paid_may_go_back(tables: Tables) -> None:
    steps = run(tables, observe(tables, "P", 0), observe(tables, "O", 5))
    assert [k for k, _ in steps] == ["changed", "changed"]


def test_a_confirming_code_supersedes_the_provisional_one(tables: Tables) -> None:
    ranks = {code: row.rank for code, row in tables.canonical.codes.items()}
    s1 = apply(None, observe(tables, "DELIVERY", 0, "measoft"), ranks=ranks).state
    provisional = apply(s1, observe(tables, "COURIERDELIVERED", 10, "measoft"), ranks=ranks)
    assert provisional.entry["canonical"]["provisional"] is True
    confirmed = apply(provisional.state, observe(tables, "COMPLETE", 20, "measoft"), ranks=ranks)
    assert confirmed.kind == "changed"
    assert confirmed.entry["supersedes"] == provisional.entry["n"]
    status = canonical_from_doc(confirmed.state.current.canonical)
    assert (status.code, status.provisional, status.terminal) == (Code.DELIVERED, False, True)


def test_dedupe_keys_are_event_id_and_native_code_with_time(tables: Tables) -> None:
    obs = observe(tables, "P", 0, event_id="evt-1")
    assert dedupe_keys(obs) == ["e:evt-1", f"t:P@{to_us(obs.occurred_at)}"]
    parts = observe(tables, CloudCartStatus("paid", "completed", "fulfilled"), 0, "cloudcart")
    assert dedupe_keys(parts) == [f"t:paid/completed/fulfilled@{to_us(parts.occurred_at)}"]


def test_an_observation_without_its_own_time_dedupes_by_event_id_only(tables: Tables) -> None:
    obs = observe(tables, "P", 0)
    assert dedupe_keys(replace(obs, time_source="received")) == []
    assert dedupe_keys(replace(obs, time_source="received", event_id="x")) == ["e:x"]


def test_state_documents_round_trip(tables: Tables) -> None:
    [(_, state)] = run(tables, observe(tables, "Y", 0))
    assert OrderState.from_doc(state.doc()) == state


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=UTC),
    ],
)
def test_event_times_sort_by_microseconds(moment: datetime) -> None:
    assert to_us(moment) == int(moment.timestamp() * 1_000_000)
    assert to_us(moment + timedelta(microseconds=1)) == to_us(moment) + 1


EAST = timezone(timedelta(hours=14))
WEST = timezone(timedelta(hours=-14))
TOLERANCE = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("moment", "utc"),
    [
        (datetime(2024, 5, 14, 12, 0, tzinfo=EAST), datetime(2024, 5, 13, 22, 0, tzinfo=UTC)),
        (datetime(1, 1, 1, 14, 0, tzinfo=EAST), datetime(1, 1, 1, tzinfo=UTC)),
        (
            datetime(9999, 12, 31, 9, 59, 59, tzinfo=WEST),
            datetime.max.replace(microsecond=0, tzinfo=UTC),
        ),
        (datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)),
        (datetime(1, 1, 1, tzinfo=EAST), None),  # year 0 in UTC
        (datetime(1, 1, 1, 13, 59, 59, tzinfo=EAST), None),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST), None),  # year 10000 in UTC
        (datetime(9999, 12, 31, 10, 0, tzinfo=WEST), None),
    ],
)
def test_as_utc_is_none_outside_the_years_datetime_holds(
    moment: datetime, utc: datetime | None
) -> None:
    converted = as_utc(moment)
    assert converted == utc
    assert converted is None or converted.tzinfo is UTC


@pytest.mark.parametrize(
    ("occurred", "refused"),
    [
        (RECEIVED, None),
        (RECEIVED + TOLERANCE, None),  # clock skew within the tolerance
        (RECEIVED + TOLERANCE + timedelta(microseconds=1), "later than"),
        (RECEIVED + timedelta(days=1), "later than"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "later than"),
        (RECEIVED - timedelta(days=365 * 100), None),  # long ago is only late
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), None),
        (datetime(1, 1, 1, tzinfo=UTC), None),
        (datetime(1, 1, 1, tzinfo=EAST), "outside"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST), "outside"),
    ],
)
def test_an_event_time_is_refused_out_of_range_or_in_the_future(
    occurred: datetime, refused: str | None
) -> None:
    if refused is None:
        assert tracked_time(occurred, RECEIVED, TOLERANCE) == occurred.astimezone(UTC)
        return
    with pytest.raises(ValueError, match=refused) as caught:
        tracked_time(occurred, RECEIVED, TOLERANCE)
    assert occurred.isoformat() in str(caught.value)


def test_the_future_tolerance_is_what_it_is_given() -> None:
    ahead = RECEIVED + timedelta(minutes=1)
    assert tracked_time(ahead, RECEIVED, timedelta(minutes=1)) == ahead
    with pytest.raises(ValueError, match="0 s"):
        tracked_time(ahead, RECEIVED, timedelta(0))


def test_equal_instants_in_other_offsets_keep_their_own_spelling() -> None:
    """Times are remembered by value, and equal instants are equal datetimes: the offset
    counts too."""
    utc = datetime(2026, 1, 1, 9, tzinfo=UTC)
    moscow = utc.astimezone(timezone(timedelta(hours=3)))
    assert moscow == utc
    assert [_iso(utc), _iso(moscow), _iso(utc)] == [
        "2026-01-01T09:00:00Z",
        "2026-01-01T12:00:00+03:00",
        "2026-01-01T09:00:00Z",
    ]
    assert to_us(moscow) == to_us(utc)
