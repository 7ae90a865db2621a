"""Times as the API writes them: UTC, milliseconds, `Z`."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso(seconds: float) -> str:
    """A Unix time as `2026-11-24T10:15:00.000Z`."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def now_iso() -> str:
    return iso(time.time())
