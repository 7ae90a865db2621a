"""CloudCart's three-part status (order, payment, fulfilment) combined into one canonical status.

Spec §4 and seed 004: the order status gives the headline first; the payment status sets the
payment axis; the fulfilment status sets the goods axis and refines a headline that is still in
progress (fulfilled or shipped → shipped, delivered → delivered, returned → returned), and paid +
sent is completed ("ΑΠΕΣΤΑΛΜΕΝΗ και ΠΛΗΡΩΜΕΝΗ → ΟΛΟΚΛΗΡΩΜΕΝΗ").
"""

from __future__ import annotations

from dataclasses import replace

from gateway.canonical import CanonicalStatus, Code, Payment
from gateway.tables.schema import CanonicalFile, FulfillmentStatus, PaymentStatus

# Only a headline still in progress is refined. Terminal headlines (completed, canceled, refunded)
# stay; so do the problem headlines (payment_failed, on_hold/payment_disputed): CloudCart resets
# fulfilment on a negative status (platform-apis.md §4.3), and a dispute must stay visible.
REFINABLE = frozenset({Code.PENDING, Code.CONFIRMED})


def combine(
    canonical: CanonicalFile,
    order: CanonicalStatus,
    payment: PaymentStatus | None,
    fulfillment: FulfillmentStatus | None,
) -> CanonicalStatus:
    """Combine the order status's reading with the payment and fulfilment statuses."""
    status = order
    if payment is not None:
        status = replace(
            status, payment=payment.payment, paid=canonical.payment[payment.payment].paid
        )
    if fulfillment is None:
        return status
    status = replace(status, fulfillment=fulfillment.fulfillment)
    if status.code not in REFINABLE or fulfillment.refines is None:
        return status
    code = fulfillment.refines
    if fulfillment.completes_when_paid and status.payment is Payment.PAID:
        code = Code.COMPLETED
    row = canonical.codes[code]
    return replace(status, code=code, stage=row.stage, terminal=row.terminal, detail=None)
