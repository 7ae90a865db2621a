"""The cyclic garbage collector's settings for a long-running gateway process (API or worker).

Almost everything a request or a delivery allocates is freed by reference counting the moment it
is done with; the collector only finds cycles. With CPython's default young-generation threshold
(700 allocations) it still runs every few events and walks each young object, about 5 % of the CPU
of an event end to end (bench/delivery.py: 147 -> 140 µs per event, API + worker + Redis).
Raising the threshold keeps the pauses short (a young generation of at most 20,000 objects) and
the cyclic garbage it lets wait bounded (a few megabytes at most).
"""

from __future__ import annotations

import gc

YOUNG = 20_000  # allocations between two collections of the young generation (CPython: 700)
MIDDLE = 50  # young collections between two of the middle generation (CPython: 10)
OLD = 100  # middle collections between two full ones (CPython: 10; also gated by CPython itself)


def settle() -> None:
    """Call once a process has loaded what it keeps (tables, catalogs, routes, scripts).

    Freezing that moves it out of the collector's reach for good, so a full collection does not
    walk it again (30-40 ms pauses in a 10,000-item batch otherwise); then the thresholds above.
    """
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
