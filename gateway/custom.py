"""Tenant mappings: a shop's own native codes (CS-Cart letters, CloudCart custom statuses).

A tenant maps such a code to a canonical code and detail, with its own labels in the four
languages; translation and tracking for that tenant then read it like a table row. Built-in codes
cannot be overridden: the tables are the product's decision (spec §4).
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from gateway.canonical import Code
from gateway.storage.keys import SEP
from gateway.tables import Tables
from gateway.tables.schema import Lang
from gateway.translate import CustomRow

LANGS: tuple[Lang, ...] = ("ru", "en", "fr", "el")


class TenantMapping(CustomRow):
    """A table row that a tenant defined; `label`/`description` are its English texts."""

    labels: dict[Lang, str]
    descriptions: dict[Lang, str] = Field(default_factory=dict)
    updated_at: str | None = None

    @model_validator(mode="after")
    def _all_languages(self) -> Self:
        missing = [lang for lang in LANGS if not self.labels.get(lang, "").strip()]
        if missing:
            raise ValueError(f"labels lack {', '.join(missing)}")
        return self

    def texts(self) -> tuple[tuple[str, str, str], ...]:
        """(lang, label, description) in each language; a description falls back to English."""
        english = self.descriptions.get("en") or self.labels["en"]
        return tuple(
            (lang, self.labels[lang], self.descriptions.get(lang) or english) for lang in LANGS
        )


def field_name(platform: str, code: str) -> str:
    """The hash field of a mapping: platform and normalized code."""
    return f"{platform}{SEP}{code}"


def split_field_name(name: str) -> tuple[str, str]:
    platform, _, code = name.partition(SEP)
    return platform, code


def checked_detail(tables: Tables, canonical: Code, detail: str | None) -> str | None:
    """A detail must be one the canonical model declares (it is labelled in every language)."""
    if detail is not None and detail not in tables.canonical.details:
        raise ValueError(
            f"{detail!r} is not a declared detail; use one of: "
            + ", ".join(sorted(tables.canonical.details))
        )
    if canonical is Code.UNKNOWN:
        raise ValueError("a mapping cannot map to 'unknown'")
    return detail
