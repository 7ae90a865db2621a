"""The FBO timetable as a text table for the terminal (`gateway fbo schedule`)."""

from __future__ import annotations

import textwrap
import unicodedata
from typing import Any

WIDTH = 100


def _width(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def schedule_table(doc: dict[str, Any]) -> str:
    """Deadline, who acts, status and the step's sentence, one row per step, then warnings."""
    rows = [
        (
            step["deadline"].replace("T", " ")[:16],
            step["actor_label"],
            step["status_label"],
            step["message"],
        )
        for step in doc["steps"]
    ]
    heads = ("deadline", "who", "status")
    widths = [max(_width(h), *(_width(r[i]) for r in rows)) for i, h in enumerate(heads)]
    lead = sum(widths) + 2 * len(widths)
    lines = [
        f"FBO shipment {doc['shipment_date']} ({doc['timezone']}, {doc['mode']} days)",
        "  ".join(_pad(h, w) for h, w in zip(heads, widths, strict=True)),
    ]
    for *cells, message in rows:
        wrapped = textwrap.wrap(message, max(30, WIDTH - lead)) or [""]
        left = "  ".join(_pad(c, w) for c, w in zip(cells, widths, strict=True))
        lines.append(f"{left}  {wrapped[0]}")
        lines += [" " * lead + more for more in wrapped[1:]]
    lines.append(
        f"earliest shipment date for an order created now: {doc['earliest_shipment_date']}"
    )
    for warning in doc["warnings"]:
        lines += textwrap.wrap(f"! {warning['message']}", WIDTH, subsequent_indent="  ")
    return "\n".join(lines)
