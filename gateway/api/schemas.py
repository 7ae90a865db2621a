"""Wire models of the translation API: `…In` for requests, `…Out` for answers (and OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from gateway.canonical import Action, Code, Fulfillment, Payment, Stage
from gateway.problems import STATUS_CODE_TAG, STATUS_OBJECT_TAG
from gateway.translate import CloudCartStatus, StatusInput

PlatformName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="kak2c, measoft (alias courier), cscart or cloudcart.",
    ),
]
NativeCode = Annotated[str, Field(min_length=1, max_length=128)]
LangTag = Annotated[
    str,
    Field(
        min_length=1,
        max_length=35,
        description="ru, en, fr or el (regional variants such as el-GR accepted).",
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CloudCartStatusIn(_In):
    """CloudCart's three-part status."""

    order: NativeCode = Field(description="The order `status` (pending, paid, completed, …).")
    payment: NativeCode | None = Field(
        None, description="`payment.status` (completed, requested, …)."
    )
    fulfillment: NativeCode | None = Field(
        None,
        description="`status_fulfillment` / `shipping[].status` (not_fulfilled, fulfilled, …).",
    )


def _status_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return STATUS_CODE_TAG
    if isinstance(value, dict | CloudCartStatusIn):
        return STATUS_OBJECT_TAG
    return None


StatusIn = Annotated[
    Annotated[NativeCode, Tag(STATUS_CODE_TAG)]
    | Annotated[CloudCartStatusIn, Tag(STATUS_OBJECT_TAG)],
    Discriminator(
        _status_kind,
        custom_error_type="status_type",
        custom_error_message="status must be a code string, or for CloudCart an object "
        "{order, payment, fulfillment}",
    ),
]


class TranslateIn(_In):
    """One native status to translate."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"platform": "cscart", "status": "P", "lang": "fr", "target": "kak2c"},
                {
                    "platform": "cloudcart",
                    "status": {"order": "paid", "payment": "completed", "fulfillment": "fulfilled"},
                },
            ]
        },
    )
    platform: PlatformName
    status: StatusIn = Field(
        description="The native code; for CloudCart also the object {order, payment, fulfillment}."
    )
    lang: LangTag | None = None
    target: PlatformName | None = Field(None, description="Also give the code of this platform.")
    lenient: bool | None = Field(
        None, description="Answer an unknown code as canonical 'unknown' instead of a 422."
    )
    variant: Annotated[str, Field(max_length=32)] | None = Field(
        None, description="A reading of the code chosen by context, e.g. 'fbo' for Kak2c PACKED."
    )

    def status_input(self) -> StatusInput:
        """The status as the translation functions take it."""
        status = self.status
        if isinstance(status, str):
            return status
        return CloudCartStatus(status.order, status.payment, status.fulfillment)


class InvalidItem:
    """A batch item that failed validation; its errors become an embedded problem."""

    __slots__ = ("errors",)

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors


def _keep_invalid(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        return InvalidItem([dict(e) for e in exc.errors(include_url=False)])
    except PydanticCustomError as exc:  # pragma: no cover - raised only by custom validators
        return InvalidItem([{"loc": (), "msg": str(exc), "type": exc.type}])


BatchItem = Annotated[TranslateIn, WrapValidator(_keep_invalid)]


class TranslateBatchIn(_In):
    """Many native statuses at once.

    The batch's `lang`, `target` and `lenient` apply to every item that does not set its own.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "lang": "ru",
                    "items": [
                        {"platform": "cscart", "status": "P"},
                        {"platform": "measoft", "status": "DELIVERY"},
                        {"platform": "cscart", "status": "Q"},
                    ],
                }
            ]
        },
    )
    items: list[BatchItem] = Field(description="Up to 10,000 items (GATEWAY_BATCH_MAX_ITEMS).")
    lang: LangTag | None = None
    target: PlatformName | None = None
    lenient: bool = False


# ---- answers ----


class NativePartOut(BaseModel):
    code: str
    label: str | None = Field(
        description="Localized label; null for a code the tables do not know."
    )
    description: str | None


class NativeOut(NativePartOut):
    """The native status as sent, with its localized label."""

    payment: NativePartOut | None = Field(None, description="CloudCart only: the payment status.")
    fulfillment: NativePartOut | None = Field(
        None, description="CloudCart only: the fulfilment status."
    )


class CanonicalOut(BaseModel):
    """A canonical status with its localized labels (spec §1)."""

    code: Code
    stage: Stage | None = Field(description="null only for code 'unknown'.")
    detail: str | None
    terminal: bool
    provisional: bool
    paid: bool | None
    payment: Payment
    fulfillment: Fulfillment
    action_required: Action | None
    label: str
    description: str
    stage_label: str | None
    detail_label: str | None
    detail_description: str | None


class TargetOut(BaseModel):
    """Canonical → native: the code a system of the target platform should set."""

    platform: str
    code: str | None = Field(description="null when no code of the platform fits.")
    label: str | None
    exact: bool


class TranslationOut(BaseModel):
    """The answer to one translation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "platform": "cscart",
                    "lang": "en",
                    "native": {
                        "code": "P",
                        "label": "Processed",
                        "description": "The payment has been received.",
                    },
                    "canonical": {
                        "code": "confirmed",
                        "stage": "fulfillment",
                        "detail": None,
                        "terminal": False,
                        "provisional": False,
                        "paid": True,
                        "payment": "paid",
                        "fulfillment": "not_fulfilled",
                        "action_required": None,
                        "label": "Confirmed",
                        "description": "The order is confirmed (and paid where required); "
                        "the warehouse can start.",
                        "stage_label": "Fulfilment",
                        "detail_label": None,
                        "detail_description": None,
                    },
                    "target": {
                        "platform": "kak2c",
                        "code": "ORDER_INFO_READY_TO_PACK",
                        "label": "Ready for packing",
                        "exact": True,
                    },
                    "mapping_version": "1+0123456789ab",
                }
            ]
        }
    )

    platform: str
    lang: str
    native: NativeOut
    canonical: CanonicalOut
    target: TargetOut | None = Field(None, description="Present only when a target was asked for.")
    mapping_version: str = Field(description="Version of the tables that produced this answer.")


class BatchErrorOut(BaseModel):
    """A batch item that could not be translated; the others still are."""

    error: dict[str, Any] = Field(description="An RFC 9457 problem document for this item.")


class TranslateBatchOut(BaseModel):
    results: list[TranslationOut | BatchErrorOut] = Field(description="One per item, in order.")


class PlatformOut(BaseModel):
    platform: str
    name: str
    aliases: list[str]
    source: str
    status_parts: list[str] = Field(
        description="['order'], or for CloudCart order, payment, fulfillment."
    )
    code_prefix: str | None = Field(description="A prefix codes may be sent with or without.")
    status_count: int
    variants: list[str]


class PlatformsOut(BaseModel):
    platforms: list[PlatformOut]
    mapping_version: str


class VariantOut(BaseModel):
    variant: str
    label: str
    description: str
    canonical: CanonicalOut


class NativeStatusOut(BaseModel):
    code: str
    label: str
    description: str
    settable: bool = Field(description="Whether the platform lets a shop or an API set it.")
    canonical: CanonicalOut
    variants: list[VariantOut] | None = None


class PaymentStatusOut(BaseModel):
    code: str
    label: str
    description: str
    payment: Payment


class FulfillmentStatusOut(BaseModel):
    code: str
    label: str
    description: str
    fulfillment: Fulfillment


class TargetRuleOut(BaseModel):
    code: str
    exact: bool
    by_detail: dict[str, str]


class PlatformStatusesOut(PlatformOut):
    lang: str
    statuses: list[NativeStatusOut]
    payment_statuses: list[PaymentStatusOut] | None = None
    fulfillment_statuses: list[FulfillmentStatusOut] | None = None
    targets: dict[str, TargetRuleOut] = Field(description="Canonical code → native code to set.")
    mapping_version: str


class VocabularyEntryOut(BaseModel):
    code: str
    label: str
    description: str


class CanonicalCodeOut(VocabularyEntryOut):
    stage: Stage | None
    terminal: bool
    payment: Payment
    fulfillment: Fulfillment


class VocabularyOut(BaseModel):
    lang: str
    codes: list[CanonicalCodeOut]
    stages: list[VocabularyEntryOut]
    details: list[VocabularyEntryOut]
    payment: list[VocabularyEntryOut]
    fulfillment: list[VocabularyEntryOut]
    actions: list[VocabularyEntryOut]
    mapping_version: str
