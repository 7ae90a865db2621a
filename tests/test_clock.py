"""gateway.clock: the API's time format, and the fast path the delivery log takes."""

from __future__ import annotations

import pytest

from gateway.clock import iso, iso_ms

MOMENTS_MS = [
    0,
    1,
    999,
    1_000,
    1_764_000_000_123,  # 2025-11-24T16:00:00.123Z
    1_764_000_000_999,
    1_764_000_001_000,
    1_709_164_799_999,  # the last millisecond of 2024-02-28
    1_709_251_200_000,  # 2024-03-01, after a 29 February
    4_102_444_799_999,  # the last millisecond of 2099
]


@pytest.mark.parametrize("ms", MOMENTS_MS)
def test_iso_ms_writes_what_iso_writes(ms: int) -> None:
    assert iso_ms(ms) == iso(ms / 1000)


def test_iso_is_utc_with_milliseconds() -> None:
    assert iso(1_764_000_000.123) == "2025-11-24T16:00:00.123Z"
    assert iso_ms(1_764_000_000_123) == "2025-11-24T16:00:00.123Z"
