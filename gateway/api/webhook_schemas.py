"""Wire models of the webhook API: endpoints, secrets, test sends, the delivery log, replay."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from gateway.api.tracking_schemas import OrderId
from webhooks.custom_headers import checked_headers
from webhooks.endpoints import DEFAULT_SCHEMES, Filter
from webhooks.pace import MAX_RATE
from webhooks.signing import SCHEMES, Scheme

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description="Where deliveries are POSTed: https (http only with "
        "GATEWAY_ALLOW_INSECURE_WEBHOOKS), a public address (GATEWAY_ALLOW_PRIVATE_WEBHOOKS "
        "lifts that for local development).",
    ),
]
Lang = Annotated[
    str, Field(min_length=1, max_length=35, description="Language of the labels: ru, en, fr, el.")
]
Description = Annotated[str, Field(max_length=500)]
RateLimit = Annotated[
    int,
    Field(
        strict=True,
        ge=1,
        le=MAX_RATE,
        description="At most this many delivery attempts start per second, evenly spaced "
        "(after a quiet spell a tenth of a second's worth may start at once), over every worker. "
        "Absent or null: no limit.",
    ),
]


def _distinct(schemes: list[Scheme]) -> list[Scheme]:
    if len(set(schemes)) != len(schemes):
        raise ValueError("each signature scheme may be named once")
    return sorted(schemes, key=SCHEMES.index)


Schemes = Annotated[
    list[Scheme],
    Field(
        min_length=1,
        max_length=len(SCHEMES),
        description="Which signatures `webhook-signature` carries: `v1` (HMAC-SHA256 with the "
        "endpoint's `whsec_` secret; every Standard Webhooks library checks it) and/or `v1a` "
        "(Ed25519; verify with the endpoint's `whpk_` public key, shown in `public_keys`: "
        'nothing a receiver holds can forge a delivery). Default `["v1"]`.',
    ),
    AfterValidator(_distinct),
]


Headers = Annotated[
    dict[str, str],
    Field(
        description="The endpoint's own request headers, sent with every delivery (say a static "
        "`Authorization` for an API gateway in front of the receiver): at most 10; not "
        "`webhook-*`, `content-*`, `host`, `user-agent` or the connection's own; values one "
        "line of visible ASCII. Stored sealed like the secret; only their names are shown "
        "(`header_names`).",
        examples=[{"Authorization": "Bearer shop-token"}],
    ),
    AfterValidator(checked_headers),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookIn(_In):
    """A new endpoint."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://shop.example/hooks/status",
                    "lang": "ru",
                    "filter": {"platforms": ["cscart"], "stages": ["delivery"]},
                    "description": "storefront",
                }
            ]
        },
    )
    url: Url
    lang: Lang = "en"
    filter: Filter = Field(default_factory=Filter)
    description: Description | None = None
    rate_limit: RateLimit | None = None
    signature_schemes: Schemes = Field(default_factory=lambda: list(DEFAULT_SCHEMES))
    headers: Headers = Field(default_factory=dict)


class WebhookPatch(_In):
    """Fields to change; absent fields stay as they are (`description` and `rate_limit` are
    removed with null; `headers` replaces them all, and null or `{}` removes them)."""

    url: Url | None = None
    lang: Lang | None = None
    filter: Filter | None = None
    description: Description | None = None
    rate_limit: RateLimit | None = None
    signature_schemes: Schemes | None = None
    headers: Headers | None = None


class PublicKeyOut(BaseModel):
    """An Ed25519 public key that verifies `v1a` signatures."""

    key: str = Field(description="`whpk_` + base64 of the 32-byte public key.")
    created_at: str
    expires_at: str | None = Field(
        description="Set on a rotated-out key: it signs (beside the current one) until then."
    )


class DeliveryOut(BaseModel):
    """One delivery attempt."""

    id: str = Field(description="The log entry's id (also the cursor of the next page).")
    endpoint_id: str
    msg_id: str = Field(description="`webhook-id`: the same on every attempt of one event.")
    type: str | None
    platform: str | None
    order_id: str | None
    sequence: int | None
    attempt: int
    at: str
    result: Literal["delivered", "retrying", "failed", "gone"]
    status_code: int | None
    duration_ms: float
    response: str = Field(description="The receiver's answer, first 1 KB.")
    error: str | None = Field(description="Error class and message when there was no answer.")
    next_attempt_at: str | None


class WebhookOut(BaseModel):
    id: str
    url: str
    lang: str
    filter: Filter
    description: str | None
    rate_limit: int | None = Field(description="Attempts per second at most; null: no limit.")
    enabled: bool
    disabled_reason: str | None
    disabled_at: str | None
    created_at: str
    updated_at: str
    header_names: list[str] = Field(
        default_factory=list,
        description="The names of the endpoint's own headers (their values are never shown).",
    )
    secret_rotations_pending: int = Field(
        description="Rotated-out secrets that still sign beside the current one."
    )
    signature_schemes: list[Scheme] = Field(
        description="The signatures each delivery carries: `v1` (HMAC), `v1a` (Ed25519)."
    )
    public_keys: list[PublicKeyOut] = Field(
        description="The keys that verify `v1a` signatures now, the current one first (a "
        "rotated-out one until it expires); public, so shown every time. Empty for an endpoint "
        "made before `v1a` existed, until it chooses `v1a` or rotates."
    )
    pending: int | None = Field(
        None,
        description="Deliveries waiting for the endpoint: on its delivery lanes (retries and "
        "backlog), and held by workers to send straight from the change feed (as each worker "
        "last reported, at most about a second ago).",
    )
    held_until: str | None = Field(
        None,
        description="When set, no new attempt starts before this time: the receiver asked to "
        "wait (`Retry-After` on a 429 or 503), or `rate_limit` allows none sooner.",
    )
    failing_since: str | None = Field(
        None,
        description="When set, every attempt since this time failed (none succeeded since): "
        "the failure streak that `endpoint.failing` announces after "
        "`GATEWAY_WEBHOOK_WARN_AFTER_S`.",
    )
    disable_at: str | None = Field(
        None,
        description="When a failing endpoint will be disabled if nothing gets through by then "
        "(`failing_since` plus `GATEWAY_WEBHOOK_DISABLE_AFTER_S`).",
    )
    last_attempt: DeliveryOut | None = Field(
        None, description="The endpoint's latest delivery attempt, if it has had one."
    )


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="`whsec_…`: shown once; verifies `v1` signatures.")
    public_key: str = Field(description="`whpk_…`: verifies `v1a` signatures.")


class WebhooksOut(BaseModel):
    webhooks: list[WebhookOut]


class SecretOut(BaseModel):
    secret: str = Field(description="The new `whsec_…` secret, shown once.")
    public_key: str = Field(description="The new `whpk_…` public key (for `v1a`).")
    previous_valid_until: str | None = Field(
        description="Until then the previous secret and key sign too (both signatures are sent)."
    )


class TestOut(BaseModel):
    msg_id: str
    delivered: bool
    status_code: int | None
    duration_ms: float
    response: str
    error: str | None


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None


MAX_OVERLAP_S = 604_800  # 7 days: how long a rotated-out secret may keep signing at most


class RotateIn(_In):
    """How long the secret and key being replaced keep signing beside the new ones."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"overlap_s": 3600}]})

    overlap_s: float | None = Field(
        None,
        ge=0,
        le=MAX_OVERLAP_S,
        description="Seconds, 0 to 604800 (7 days); 0 switches at once. Default "
        "`GATEWAY_WEBHOOK_ROTATION_OVERLAP_S` (86400).",
    )


class ReplayIn(_In):
    """Send again what the endpoint got (or would have got): one order's changes, every event in
    a time range (of one platform), or an order's changes in a range. New attempts, the same
    `webhook-id`s."""

    platform: str | None = Field(
        None,
        max_length=64,
        description="The order's platform (needed when its id is on several), or the one "
        "platform whose events in the range are sent.",
    )
    order_id: OrderId | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class ReplayOut(BaseModel):
    queued: int
