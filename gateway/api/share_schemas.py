"""Wire models of share tokens and the public order view."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.schemas import CanonicalOut


class ShareIn(BaseModel):
    """How long the link lives."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"days": 30}]})
    days: int = Field(30, ge=1, le=365, description="Days until the token expires.")


class ShareOut(BaseModel):
    id: str = Field(description="The share's id, for revoking it.")
    platform: str
    order_id: str
    created_at: str
    expires_at: str


class ShareCreatedOut(ShareOut):
    token: str = Field(
        description="Read-only and expiring: give it to `<order-status token=…>` or read "
        "`GET /v1/public/orders/{token}`. Shown only now."
    )
    url: str = Field(description="The public order view, relative to the gateway.")


class SharesOut(BaseModel):
    shares: list[ShareOut]


class PublicStepOut(BaseModel):
    sequence: int
    occurred_at: str
    status: CanonicalOut


class PublicOrderOut(BaseModel):
    """What a buyer may see of one order: canonical states, localized; nothing native."""

    lang: str
    order_id: str
    sequence: int
    current: CanonicalOut
    occurred_at: str
    updated_at: str
    expires_at: str = Field(description="When the token stops working.")
    timeline: list[PublicStepOut] = Field(description="Each change of state, oldest first.")
