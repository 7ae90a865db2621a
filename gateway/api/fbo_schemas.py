"""Wire models of the FBO API: the timetable for a shipment day, and tracked shipments."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Flag = Literal["oversized", "fragile", "special_assembly", "special_packing", "delivery_by_kak2c"]
Mode = Literal["calendar", "business"]
Zone = Annotated[
    str,
    Field(min_length=1, max_length=64, description="IANA time zone of the warehouse."),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Timetable(_In):
    shipment_date: date = Field(description="Day D of the shipment (YYYY-MM-DD).")
    units: int = Field(0, ge=0, le=10_000_000, description="Units in the order.")
    flags: list[Flag] = Field(
        default_factory=list,
        max_length=5,
        description="Special goods (oversized, fragile, special_assembly, special_packing) and "
        "delivery_by_kak2c.",
    )
    timezone: Zone = "Europe/Moscow"
    mode: Mode = Field(
        "calendar",
        description="calendar: calendar days, as the regulation counts; business: working days "
        "of the Russian production calendar (2025-2027).",
    )
    created_at: AwareDatetime | None = Field(
        None, description="When the order was created in Kak2c (with offset)."
    )
    lead_hours: float = Field(
        3.0,
        ge=0,
        le=72,
        allow_inf_nan=False,  # NaN would fail the range check with a misleading message
        description="How long before a deadline an open step is at risk.",
    )


class FboScheduleIn(_Timetable):
    """What the timetable is asked for."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"shipment_date": "2026-11-27", "units": 120, "lang": "ru"}]
        },
    )
    lang: str | None = Field(None, min_length=1, max_length=35, description="ru, en, fr, el.")
    done: dict[str, AwareDatetime] = Field(
        default_factory=dict, description="When steps actually happened, by step id."
    )


class ShipmentIn(_Timetable):
    """A Kak2c FBO order to track."""

    order_id: str = Field(min_length=1, max_length=200, description="The Kak2c order id.")


class StepDoneIn(_In):
    at: AwareDatetime | None = Field(None, description="When the step happened (default now).")


class StepOut(BaseModel):
    step: str
    label: str
    actor: Literal["merchant", "warehouse"]
    actor_label: str
    deadline: str = Field(description="ISO 8601 with the warehouse zone's offset.")
    status: Literal["done", "pending", "at_risk", "missed"]
    status_label: str
    late: bool = Field(description="Done, but after its deadline.")
    done_at: str | None
    message: str = Field(
        description="The step and its deadline in words, e.g. «… до 14:00 четверга, 26 ноября»."
    )


class WarningOut(BaseModel):
    code: Literal["individual_agreement", "delivery_by_kak2c_ticket", "late"]
    message: str


class FboScheduleOut(BaseModel):
    shipment_date: str
    timezone: str
    mode: Mode
    lang: str
    steps: list[StepOut]
    created_in_time: bool | None
    earliest_shipment_date: str = Field(
        description="The first shipment day an order created at `created_at` (or now) can make."
    )
    warnings: list[WarningOut]


class ShipmentOut(FboScheduleOut):
    id: str
    order_id: str
    platform: Literal["kak2c"]
    units: int
    flags: list[str]
    registered_at: str


class ShipmentsOut(BaseModel):
    shipments: list[ShipmentOut]
