"""Babel extraction method for mappings/*.toml (and the texts of gateway/fbo/messages.toml and
gateway/web/*_messages.toml), so `pybabel extract` sees every table label.

Registered as the `mapping_labels` extractor (entry point `babel.extractors`, used by the
`[tool.babel]` mapping in pyproject.toml). Each label and description becomes a `pgettext`
message whose context is the platform ("kak2c", "cloudcart.payment", …) or the canonical
vocabulary ("canonical", "stage", "payment", "fulfillment", "action", "detail").
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

Message = tuple[int, str, tuple[str, str], list[str]]

# canonical.toml table → gettext context
CANONICAL_CONTEXTS = {
    "codes": "canonical",
    "stages": "stage",
    "payment": "payment",
    "fulfillment": "fulfillment",
    "actions": "action",
    "details": "detail",
}
# <platform>.toml table → suffix of the platform context
PLATFORM_TABLES = {
    "statuses": "",
    "payment_statuses": ".payment",
    "fulfillment_statuses": ".fulfillment",
}


def _row_messages(
    context: str, what: str, row: Mapping[str, Any], lang: str | None
) -> Iterator[Message]:
    for field in ("label", "description"):
        comments = [f"{what} ({field})"]
        original = row.get(f"{field}_original")
        if original and lang:
            comments.append(f"seed wording ({lang}), use it exactly: {original}")
        yield 0, "pgettext", (context, row[field]), comments


# gateway/fbo/messages.toml table → gettext context
FBO_CONTEXTS = {
    "steps": "fbo.step",
    "deadlines": "fbo.deadline",
    "weekdays": "fbo.weekday",
    "actors": "fbo.actor",
    "statuses": "fbo.status",
    "warnings": "fbo.warning",
}


def iter_messages(data: Mapping[str, Any]) -> Iterator[Message]:
    """Every (context, msgid) of one parsed mapping file (or the FBO or browser texts), in file
    order."""
    if data.get("ui"):
        for key, text in data.get("texts", {}).items():
            yield 0, "pgettext", (f"ui.{data['ui']}", text), [f"{data['ui']} {key}"]
        return
    if data.get("fbo"):
        for table, context in FBO_CONTEXTS.items():
            for key, row in data.get(table, {}).items():
                yield 0, "pgettext", (context, row["label"]), [f"fbo {table} {key}"]
        return
    platform = data.get("platform")
    if platform is None:
        for table, context in CANONICAL_CONTEXTS.items():
            for key, row in data.get(table, {}).items():
                yield from _row_messages(context, f"canonical {table} {key}", row, None)
        return
    lang = data.get("original_lang")
    for table, suffix in PLATFORM_TABLES.items():
        for code, row in data.get(table, {}).items():
            yield from _row_messages(f"{platform}{suffix}", f"{platform} {table} {code}", row, lang)
            for name, variant in row.get("variants", {}).items():
                yield from _row_messages(
                    f"{platform}{suffix}",
                    f"{platform} {table} {code}, variant {name}",
                    variant,
                    lang,
                )


def extract_labels(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],  # noqa: ARG001 - Babel's extractor signature
    comment_tags: Collection[str],  # noqa: ARG001
    options: Mapping[str, Any],  # noqa: ARG001
) -> Iterator[Message]:
    """Babel extraction method: yield (lineno, funcname, (context, msgid), comments)."""
    yield from iter_messages(tomllib.load(fileobj))
