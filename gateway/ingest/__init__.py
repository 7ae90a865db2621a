"""Native platform payloads → status observations: pure parsers, one module per platform.

Each parser takes the raw request body and returns `NativeEvent`s in the order the payload lists
them; the tracking rules then order them by event time. Parsers never touch storage, so a bad
payload is refused (4xx problem) before anything is stored.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime

from gateway.translate import StatusInput
from gateway.values import value


@value
class NativeEvent:
    """One status observation of one order, as a platform reported it."""

    order_id: str
    status: StatusInput  # a code, or for CloudCart the three-part status
    occurred_at: datetime | None  # aware; None when the source gives no time of its own
    event_id: str | None = None
    where: str = "#"  # where in the payload it came from, for error pointers
    # where its time is (``#/0/updated_at``), for an error about the time; None: at `where`
    time_where: str | None = field(default=None, compare=False)

    @property
    def time_pointer(self) -> str:
        """What an error about the event's time points at."""
        return self.time_where or self.where
