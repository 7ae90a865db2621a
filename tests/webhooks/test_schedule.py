"""Retry timing and outcome classification, with seeded randomness."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from gateway.settings import Settings
from webhooks.schedule import (
    RetryPolicy,
    classify,
    describe,
    expected_schedule,
    next_delay,
    parse_retry_after,
)

POLICY = RetryPolicy()
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SEEDS = range(200)


def ceiling(attempt: int) -> float:
    return min(POLICY.cap_s, POLICY.base_s * 2.0 ** (attempt - 1))


def test_defaults() -> None:
    assert RetryPolicy(5.0, 21_600.0, 259_200.0, 1.0, 60.0) == POLICY


@pytest.mark.parametrize("attempt", range(1, 21))
def test_delay_within_min_and_ceiling(attempt: int) -> None:
    delays = [next_delay(POLICY, attempt, random.Random(seed)) for seed in SEEDS]
    assert all(POLICY.min_delay_s <= d <= ceiling(attempt) for d in delays)
    if ceiling(attempt) > 100:
        # Full jitter: the draws spread over the whole range, not around the ceiling.
        assert min(delays) < ceiling(attempt) * 0.1
        assert max(delays) > ceiling(attempt) * 0.9


def test_same_seed_same_delays() -> None:
    first = [next_delay(POLICY, a, random.Random(7)) for a in range(1, 10)]
    assert first == [next_delay(POLICY, a, random.Random(7)) for a in range(1, 10)]


def test_ceilings_double_then_cap() -> None:
    rows = expected_schedule(POLICY)
    ceilings = [c for _, c, _ in rows]
    assert ceilings[:4] == [5.0, 10.0, 20.0, 40.0]
    for before, after in itertools.pairwise(ceilings):
        assert after == min(before * 2, POLICY.cap_s)
    assert ceilings[-1] == POLICY.cap_s
    assert max(next_delay(POLICY, 10_000, random.Random(s)) for s in SEEDS) <= POLICY.cap_s


def test_schedule_covers_the_window() -> None:
    rows = expected_schedule(POLICY)
    assert [a for a, _, _ in rows] == list(range(1, len(rows) + 1))
    assert sum(c for _, c, _ in rows) == rows[-1][2] >= POLICY.window_s
    # It stops at the first row that reaches the window: about 3 days, not much more.
    assert rows[-2][2] < POLICY.window_s
    assert rows[-1][2] < POLICY.window_s + POLICY.cap_s


def test_describe() -> None:
    text = describe(POLICY)
    assert "5 s" in text
    assert "6 h" in text
    assert "3 d" in text
    assert len(text.splitlines()) == len(expected_schedule(POLICY)) + 2


@pytest.mark.parametrize("status", [429, 502, 503, 504, None])
def test_overload_penalty(status: int | None) -> None:
    timed_out = status is None
    for seed in SEEDS:
        delay = next_delay(POLICY, 1, random.Random(seed), status=status, timed_out=timed_out)
        assert delay == POLICY.overload_penalty_s  # the ceiling of attempt 1 is only 5 s


@pytest.mark.parametrize("status", [400, 404, 500, 301])
def test_no_penalty_for_other_failures(status: int) -> None:
    assert all(next_delay(POLICY, 1, random.Random(s), status=status) <= 5.0 for s in SEEDS)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (None, 120.0), ("100000", POLICY.cap_s)],
    ids=["seconds", "http-date", "clamped"],
)
def test_retry_after_honoured(status: int, header: str | None, expected: float) -> None:
    if header is None:
        header = format_datetime(NOW + timedelta(seconds=120), usegmt=True)
    retry_after = parse_retry_after(header, NOW)
    assert retry_after is not None
    for seed in SEEDS:
        delay = next_delay(POLICY, 1, random.Random(seed), status=status, retry_after=retry_after)
        assert delay == expected


@pytest.mark.parametrize("status", [500, 502, 504, 404])
def test_retry_after_ignored_elsewhere(status: int) -> None:
    for seed in SEEDS:
        delay = next_delay(POLICY, 1, random.Random(seed), status=status, retry_after=3_000.0)
        assert delay <= POLICY.overload_penalty_s


def test_retry_after_below_backoff_does_not_shorten_it() -> None:
    delays = [next_delay(POLICY, 15, random.Random(s), status=503, retry_after=1.0) for s in SEEDS]
    assert max(delays) > 1_000


def test_min_delay_wins_over_a_tiny_cap() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=0.5, min_delay_s=2.0, overload_penalty_s=0.0)
    assert next_delay(policy, 3, random.Random(1), status=429, retry_after=10.0) == 2.0


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        next_delay(POLICY, 0, random.Random(1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        (format_datetime(NOW + timedelta(minutes=5), usegmt=True), 300.0),
        ("Sat, 01 Mar 2025 12:01:00 -0000", 60.0),
        (format_datetime(NOW - timedelta(minutes=5), usegmt=True), None),
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Sat, 99 Foo 2025", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_wants_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_retry_after("5", NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (201, "delivered"),
        (202, "delivered"),
        (204, "delivered"),
        (299, "delivered"),
        (410, "gone"),
        (100, "retry"),
        (301, "retry"),
        (302, "retry"),
        (304, "retry"),
        (307, "retry"),
        (308, "retry"),
        (400, "retry"),
        (401, "retry"),
        (403, "retry"),
        (404, "retry"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
        (None, "retry"),
    ],
)
def test_classify(status: int | None, outcome: str) -> None:
    assert classify(status) == outcome


@pytest.mark.parametrize(
    "kwargs",
    [{"base_s": 0.0}, {"window_s": -1.0}, {"cap_s": 0.0}, {"min_delay_s": -1.0}],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)


def test_the_readme_states_the_default_schedule() -> None:
    """The README's table is the schedule the worker runs with the default settings."""
    defaults = Settings(_env_file=None)
    policy = RetryPolicy(
        base_s=defaults.webhook_retry_base_s,
        cap_s=defaults.webhook_retry_cap_s,
        window_s=defaults.webhook_retry_window_s,
    )
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = "\n".join(("  " + line).rstrip() for line in describe(policy).splitlines())
    assert table in readme
