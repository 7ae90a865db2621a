"""How fast one endpoint may be sent to: its own rate limit, and a receiver's request to wait.

Both are one number per endpoint in the tenant's `webhook_holds` hash: the earliest time (ms) its
next attempt may start. Every worker reads and moves it in the same Lua step that claims a lane
or goes on with the endpoint's next message (`lua/ready.lua`), so many workers share one limit.

* **Rate limit** (`rate_limit` attempts per second, set per endpoint): the generic cell rate
  algorithm. Attempts start evenly spaced, `interval_ms` apart, and up to `burst` of them may start
  at once after a quiet spell: a tenth of a second's worth, at least one. A worker that polls
  every few milliseconds can then keep up with any limit.
* **Retry-After on 429 or 503**: the receiver says "not before then" about itself, not about one
  order, so the whole endpoint waits (no new attempt starts; those already sent finish). Only
  these two statuses, where RFC 9110 gives the header that meaning, and only with the header: a
  bare 429 backs off its own message, and the endpoint then counts as failing (`webhooks.slots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from webhooks.schedule import RETRY_AFTER_STATUSES, RetryPolicy

MAX_RATE = 10_000  # attempts per second; a limit above that would not be one
BURST_S = 0.1  # after a quiet spell, this many seconds' worth may start at once


@dataclass(frozen=True, slots=True)
class Pace:
    """An endpoint's spacing: `interval_ms` between attempts (0: no limit), `tolerance_ms` how
    far ahead of that spacing a burst may run."""

    interval_ms: float = 0.0
    tolerance_ms: float = 0.0

    @staticmethod
    @cache
    def of(rate_limit: int | None) -> Pace:
        """The pace of `rate_limit` attempts per second (None: unlimited)."""
        if rate_limit is None:
            return UNLIMITED
        if not 1 <= rate_limit <= MAX_RATE:
            raise ValueError(f"rate_limit must be 1..{MAX_RATE}, got {rate_limit}")
        interval = 1000.0 / rate_limit
        return Pace(interval, (burst(rate_limit) - 1) * interval)

    def args(self) -> tuple[str, str]:
        """The two Lua arguments (`admit` and `take` in `lua/ready.lua`)."""
        return repr(self.interval_ms), repr(self.tolerance_ms)


UNLIMITED = Pace()


def burst(rate_limit: int) -> int:
    """How many attempts may start at once after a quiet spell."""
    return max(1, math.floor(rate_limit * BURST_S))


def pause_s(policy: RetryPolicy, status: int | None, retry_after: float | None) -> float | None:
    """How long the whole endpoint waits after an answer: the receiver's `Retry-After` on a 429
    or 503 (bounded like any retry by `cap_s`), else None (no pause)."""
    if status not in RETRY_AFTER_STATUSES or retry_after is None or retry_after <= 0:
        return None
    return min(retry_after, policy.cap_s)
