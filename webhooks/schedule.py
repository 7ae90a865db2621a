"""When to retry a webhook, and whether to: pure functions, so the schedule is testable.

Backoff is exponential with *full* jitter (a uniform draw between 0 and the ceiling): after an
outage every endpoint's backlog would otherwise come back in synchronised waves. A receiver
that says it is overloaded (429, 502, 503, 504, or a timeout) gets a floor of
``overload_penalty_s`` so a struggling receiver is not hammered, and its ``Retry-After`` is
honoured on 429 and 503, where RFC 9110 gives it that meaning.

A message is retried until ``window_s`` after its first attempt; the sender, which knows when
that was, decides to give up. The randomness comes from an injected ``random.Random`` so the
tests (and a replay of an incident) are deterministic.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Outcome = Literal["delivered", "retry", "gone"]

# Statuses (and timeouts) meaning "the receiver is overloaded or its upstream is down".
_OVERLOADED = frozenset({429, 502, 503, 504})
# Statuses whose Retry-After is a request to wait (on 3xx it means something else).
RETRY_AFTER_STATUSES = frozenset({429, 503})
# Past this exponent every ceiling is the cap anyway; avoids overflowing floats.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters; the defaults retry for 3 days with waits of at most 6 hours."""

    base_s: float = 5.0
    cap_s: float = 21_600.0
    window_s: float = 259_200.0
    min_delay_s: float = 1.0
    overload_penalty_s: float = 60.0

    def __post_init__(self) -> None:
        # A zero base or window would make expected_schedule loop forever.
        if not self.base_s > 0 or not self.cap_s > 0 or not self.window_s > 0:
            raise ValueError("base_s, cap_s and window_s must be positive")
        if self.min_delay_s < 0 or self.overload_penalty_s < 0:
            raise ValueError("min_delay_s and overload_penalty_s must not be negative")


def _ceiling(policy: RetryPolicy, attempt: int) -> float:
    if attempt < 1:
        raise ValueError(f"attempts are numbered from 1, got {attempt}")
    return min(policy.cap_s, policy.base_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))


def next_delay(
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    timed_out: bool = False,
) -> float:
    """Seconds to wait after attempt number ``attempt`` (1 = the first) failed.

    The result is within [min_delay_s, cap_s]; when min_delay_s > cap_s, min_delay_s wins,
    because it exists to stop busy loops.
    """
    delay = rng.uniform(0.0, _ceiling(policy, attempt))
    if timed_out or status in _OVERLOADED:
        delay = max(delay, policy.overload_penalty_s)
    if status in RETRY_AFTER_STATUSES and retry_after is not None and retry_after >= 0:
        # A receiver asking for more than cap_s would otherwise stall its queue for longer
        # than any other wait; the cap still gives it hours.
        delay = max(delay, min(retry_after, policy.cap_s))
    return max(policy.min_delay_s, min(delay, policy.cap_s))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for, or None when it says nothing usable.

    Both RFC 9110 forms are accepted: delta-seconds and an HTTP-date (compared with ``now``,
    which must be timezone-aware). Negative values, dates already past and garbage give None:
    the normal backoff applies then.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if value is None or not (text := value.strip()):
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        when = when.replace(tzinfo=now.tzinfo)
    seconds = (when - now).total_seconds()
    return seconds if seconds >= 0 else None


def classify(status: int | None) -> Outcome:
    """What a response means for the message; None is a connection error or timeout.

    410 Gone is the receiver saying the endpoint no longer exists, so the endpoint is disabled
    at once. Redirects are not followed (a redirect could point the signed payload anywhere,
    including at internal addresses), so a 3xx is a failed attempt like any 4xx or 5xx.
    """
    if status is not None and 200 <= status <= 299:
        return "delivered"
    if status == 410:
        return "gone"
    return "retry"


def expected_schedule(policy: RetryPolicy) -> list[tuple[int, float, float]]:
    """(attempt, ceiling of the wait after it fails, cumulative ceiling) until the window.

    The rows stop at the first one whose cumulative ceiling reaches ``window_s``. These are
    upper bounds: with full jitter the average wait is half the ceiling, so in practice more
    attempts fit into the window, which is what actually ends the retries.
    """
    rows: list[tuple[int, float, float]] = []
    total = 0.0
    attempt = 0
    while total < policy.window_s:
        attempt += 1
        ceiling = _ceiling(policy, attempt)
        total += ceiling
        rows.append((attempt, ceiling, total))
    return rows


def _human(seconds: float) -> str:
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        amount, whole = divmod(whole, size)
        if amount:
            parts.append(f"{amount} {unit}")
    return " ".join(parts[:2]) or "0 s"


def describe(policy: RetryPolicy) -> str:
    """The schedule as a small text table, for the README and the CLI."""
    lines = [f"{'attempt':>7}  {'then waits ≤':<14}  {'elapsed ≤'}"]
    lines.extend(
        f"{attempt:>7}  {_human(ceiling):<14}  {_human(total):<14}".rstrip()
        for attempt, ceiling, total in expected_schedule(policy)
    )
    lines.append(
        f"Retries stop {_human(policy.window_s)} after the first attempt; "
        f"a 410 Gone disables the endpoint at once."
    )
    return "\n".join(lines)
