"""Wire models of the tracking API: events, orders, tenant mappings, unmapped codes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from gateway.api.schemas import CanonicalOut, NativeOut, PlatformName, StatusIn
from gateway.canonical import Action, Code, Fulfillment, Payment
from gateway.tables.schema import Lang
from gateway.translate import CloudCartStatus, StatusInput

OrderId = Annotated[
    str, Field(min_length=1, max_length=200, description="The platform's order id.")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_In):
    """One status observation of one order."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "platform": "cscart",
                    "order_id": "1207",
                    "status": "P",
                    "occurred_at": "2026-11-23T10:15:00+03:00",
                    "event_id": "evt-8812",
                }
            ]
        },
    )
    platform: PlatformName
    order_id: OrderId
    status: StatusIn
    occurred_at: AwareDatetime = Field(
        description="When the status happened, by the source's own clock (with an offset); "
        "at most GATEWAY_FUTURE_TOLERANCE_S (300 s by default) later than the gateway's clock."
    )
    event_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The source's id of this event; a repeat is a duplicate.",
    )

    def status_input(self) -> StatusInput:
        s = self.status
        return s if isinstance(s, str) else CloudCartStatus(s.order, s.payment, s.fulfillment)


class OrderRefOut(BaseModel):
    platform: str
    order_id: str


class EventOut(BaseModel):
    """What an event did to its order."""

    result: Literal["changed", "unchanged", "late", "violation", "duplicate"] = Field(
        description="changed: the current state changed; unchanged: same canonical status; "
        "late: older than the current state (kept in the timeline only); violation: refused "
        "by a platform rule (recorded in the timeline); duplicate: seen before, nothing stored."
    )
    changed: bool
    sequence: int = Field(description="Changes of this order's current state so far.")
    regression: bool = Field(description="The headline moved backwards in the lifecycle.")
    violation: str | None = None
    order: OrderRefOut
    current: CanonicalOut
    native: NativeOut
    mapping_version: str


class EventErrorOut(BaseModel):
    error: dict[str, Any]


class EventsBatchOut(BaseModel):
    results: list[EventOut | EventErrorOut]


class TimelineEntryOut(BaseModel):
    n: int = Field(description="Arrival order of the observation (1-based).")
    native: NativeOut
    canonical: CanonicalOut
    occurred_at: str
    received_at: str
    time_source: Literal["source", "received"]
    event_id: str | None
    applied: bool = Field(description="It became the current state.")
    changed: bool
    sequence: int | None
    regression: bool
    late: bool
    violation: str | None
    supersedes: int | None = Field(description="The provisional observation it confirmed.")
    superseded_by: int | None


class OrderOut(BaseModel):
    platform: str
    order_id: str
    lang: str
    sequence: int
    current: CanonicalOut
    native: NativeOut
    occurred_at: str
    created_at: str
    updated_at: str
    violations: int
    timeline: list[TimelineEntryOut]
    mapping_version: str


class OrderSummaryOut(BaseModel):
    platform: str
    order_id: str
    sequence: int
    current: CanonicalOut
    occurred_at: str
    updated_at: str


class OrdersPageOut(BaseModel):
    lang: str
    orders: list[OrderSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


Label = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(min_length=1, max_length=1000)]


class _LabelsIn(_In):
    labels: dict[Lang, Label] = Field(description="ru, en, fr and el, all four.")
    descriptions: dict[Lang, Description] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _all_four(cls, labels: dict[Lang, str]) -> dict[Lang, str]:
        missing = [lang for lang in ("ru", "en", "fr", "el") if lang not in labels]
        if missing:
            raise ValueError(f"labels lack {', '.join(missing)}: give ru, en, fr and el")
        return labels


class TenantMappingIn(_LabelsIn):
    """A tenant's own native code mapped to the canonical model, with labels in four languages."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "canonical": "on_hold",
                    "detail": "awaiting_call",
                    "labels": {
                        "ru": "Ждёт звонка",
                        "en": "Awaiting call",
                        "fr": "En attente d'appel",
                        "el": "Αναμονή κλήσης",
                    },
                }
            ]
        },
    )
    canonical: Code
    detail: str | None = Field(None, max_length=64)
    payment: Payment | None = None
    fulfillment: Fulfillment | None = None
    paid: bool | None = None
    provisional: bool = False
    action_required: Action | None = None


class PaymentMappingIn(_LabelsIn):
    """A tenant's own CloudCart payment code mapped to the payment axis."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "payment": "paid",
                    "labels": {
                        "ru": "Оплачен картой рассрочки",
                        "en": "Paid by instalment card",
                        "fr": "Payé par carte de paiement échelonné",
                        "el": "Πληρώθηκε με κάρτα δόσεων",
                    },
                }
            ]
        },
    )
    payment: Payment = Field(description="The payment state the code means.")


class FulfillmentMappingIn(_LabelsIn):
    """A tenant's own CloudCart fulfilment code mapped to the goods axis."""

    fulfillment: Fulfillment = Field(description="The goods state the code means.")
    refines: Code | None = Field(
        None,
        description="The headline it refines an order's status to, as the built-in fulfilment "
        "codes do (e.g. `shipped`); null: the order status decides alone.",
    )
    completes_when_paid: bool = Field(
        False, description="Once paid too, the order counts as completed (as `fulfilled` does)."
    )


class TenantMappingOut(BaseModel):
    platform: str
    code: str
    canonical: Code
    detail: str | None
    payment: Payment | None
    fulfillment: Fulfillment | None
    paid: bool | None
    provisional: bool
    action_required: Action | None
    labels: dict[str, str]
    descriptions: dict[str, str]
    updated_at: str | None


class PartMappingOut(BaseModel):
    platform: str = Field(description="`cloudcart.payment` or `cloudcart.fulfillment`.")
    code: str
    payment: Payment | None = Field(description="For a payment code: the payment state.")
    fulfillment: Fulfillment | None = Field(description="For a fulfilment code: the goods state.")
    refines: Code | None
    completes_when_paid: bool
    labels: dict[str, str]
    descriptions: dict[str, str]
    updated_at: str | None


class TenantMappingsOut(BaseModel):
    mappings: list[TenantMappingOut] = Field(description="The tenant's own order statuses.")
    part_mappings: list[PartMappingOut] = Field(
        description="The tenant's own CloudCart payment and fulfilment codes."
    )


class UnmappedOut(BaseModel):
    platform: str = Field(description="The platform, or platform.part for a CloudCart part.")
    code: str
    count: int
    first_seen: str
    last_seen: str
    order_id: str = Field(description="The last order that carried it.")
    mapped: bool = Field(description="A tenant mapping exists for it now.")
    suggested: dict[str, Any] | None = Field(
        None,
        description="What a connector suggests mapping it to (`canonical`, `label`, `reason`), "
        "from the store's own description of the code.",
    )


class UnmappedListOut(BaseModel):
    unmapped: list[UnmappedOut]
