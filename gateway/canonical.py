"""The canonical status model: its enums and the status value every translation yields."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """Headline statuses (spec §2)."""

    DRAFT = "draft"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    AWAITING_PAYMENT = "awaiting_payment"
    AWAITING_STOCK = "awaiting_stock"
    PAYMENT_FAILED = "payment_failed"
    CANCELED = "canceled"
    CONFIRMED = "confirmed"
    PACKING = "packing"
    PACKED = "packed"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERY_FAILED = "delivery_failed"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    LOST = "lost"
    RETURNING = "returning"
    RETURNED = "returned"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"


class Stage(StrEnum):
    """Groups of headline statuses, as the Kak2c LK tabs group them."""

    APPROVAL = "approval"
    FULFILLMENT = "fulfillment"
    DELIVERY = "delivery"
    RETURNS = "returns"


class Payment(StrEnum):
    """The payment axis (spec §3)."""

    NOT_PAID = "not_paid"
    AWAITING = "awaiting"
    AUTHORIZED = "authorized"
    PAID = "paid"
    REFUNDED = "refunded"
    FAILED = "failed"
    CANCELED = "canceled"
    DISPUTED = "disputed"
    UNKNOWN = "unknown"


class Fulfillment(StrEnum):
    """The goods axis (spec §3)."""

    NOT_FULFILLED = "not_fulfilled"
    IN_PROGRESS = "in_progress"
    PACKED = "packed"
    SHIPPED = "shipped"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    RETURNING = "returning"
    RETURNED = "returned"
    LOST = "lost"
    UNKNOWN = "unknown"


class Action(StrEnum):
    """Who must act now."""

    MERCHANT = "merchant"
    CUSTOMER = "customer"
    CARRIER = "carrier"


@dataclass(frozen=True, slots=True)
class CanonicalStatus:
    """One canonical status (spec §1), without labels: rendering adds them per language."""

    code: Code
    stage: Stage | None
    detail: str | None
    terminal: bool
    provisional: bool
    paid: bool | None
    payment: Payment
    fulfillment: Fulfillment
    action_required: Action | None
