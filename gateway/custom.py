"""Tenant mappings: a shop's own native codes (CS-Cart letters, CloudCart custom statuses, and
CloudCart payment and fulfilment codes).

A tenant maps such a code to the canonical model (an order status to a canonical code and detail;
a payment code to a payment state; a fulfilment code to a goods state), with its own labels in
the four languages; translation and tracking for that tenant then read it like a table row.
Built-in codes cannot be overridden: the tables are the product's decision (spec §4).

All of a tenant's mappings live in one hash, by `platform|code`; a part's platform is
`cloudcart.payment` or `cloudcart.fulfillment`, the name `/v1/unmapped` lists its codes under.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from gateway.canonical import Code
from gateway.storage.keys import SEP
from gateway.tables import Tables
from gateway.tables.schema import Lang
from gateway.translate import Custom, CustomFulfillmentRow, CustomPaymentRow, CustomRow

LANGS: tuple[Lang, ...] = ("ru", "en", "fr", "el")
Part = Literal["payment", "fulfillment"]
PARTS: tuple[Part, ...] = ("payment", "fulfillment")


class TenantTexts(BaseModel):
    """A tenant's labels (and descriptions) of its own code, in every language."""

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


class TenantMapping(TenantTexts, CustomRow):
    """An order status a tenant defined; `label`/`description` are its English texts."""


class TenantPaymentMapping(TenantTexts, CustomPaymentRow):
    """A CloudCart payment code a tenant defined."""


class TenantFulfillmentMapping(TenantTexts, CustomFulfillmentRow):
    """A CloudCart fulfilment code a tenant defined."""


AnyMapping = TenantMapping | TenantPaymentMapping | TenantFulfillmentMapping
MODELS: dict[Part | None, type[AnyMapping]] = {
    None: TenantMapping,
    "payment": TenantPaymentMapping,
    "fulfillment": TenantFulfillmentMapping,
}


def field_name(platform: str, code: str, part: Part | None = None) -> str:
    """The hash field of a mapping: platform (with its part) and normalized code."""
    return f"{part_platform(platform, part)}{SEP}{code}"


def part_platform(platform: str, part: Part | None) -> str:
    """The name a part's codes go by (`cloudcart.payment`); the platform itself for no part."""
    return f"{platform}.{part}" if part else platform


def split_field_name(name: str) -> tuple[str, str]:
    platform, _, code = name.partition(SEP)
    return platform, code


def split_platform(name: str) -> tuple[str, Part | None]:
    """(platform, part) of `cloudcart.payment`; (name, None) when it names no part."""
    platform, _, part = name.partition(".")
    for known in PARTS:
        if part.lower() == known:
            return platform, known
    return name, None


def loaded(name: str, doc: str | bytes) -> AnyMapping:
    """The mapping stored under the field `name`."""
    platform, _ = split_field_name(name)
    return MODELS[split_platform(platform)[1]].model_validate_json(doc)


def by_platform(rows: Mapping[str, str | bytes]) -> dict[str, Custom]:
    """A tenant's mappings (hash field → document) as each platform's `Custom`."""
    found: dict[str, dict[Part | None, dict[str, AnyMapping]]] = {}
    for name, doc in rows.items():
        qualified, code = split_field_name(name)
        platform, part = split_platform(qualified)
        found.setdefault(platform, {}).setdefault(part, {})[code] = loaded(name, doc)
    return {platform: _custom(parts) for platform, parts in found.items()}


def _custom(parts: Mapping[Part | None, Mapping[str, AnyMapping]]) -> Custom:
    statuses, payment, fulfillment = ({**parts.get(p, {})} for p in (None, *PARTS))
    return Custom(
        statuses={c: m for c, m in statuses.items() if isinstance(m, TenantMapping)},
        payment={c: m for c, m in payment.items() if isinstance(m, TenantPaymentMapping)},
        fulfillment={
            c: m for c, m in fulfillment.items() if isinstance(m, TenantFulfillmentMapping)
        },
    )


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
