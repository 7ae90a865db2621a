"""Watching registered FBO shipments: steps done by order statuses, warnings when deadlines near.

Run by the delivery worker (`webhooks.worker`): it passes each change of the feed to
`note_change` (Kak2c's `ORDER_INFO_PACKED` marks the `packed` step done) and calls `raise_due`
every second. Warnings are `fbo.deadline_at_risk` and `fbo.deadline_missed` events in the same
change feed as status changes, so they are filtered, signed, localized and retried alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import orjson

from gateway.fbo.checks import check_zone
from gateway.fbo.timetable import Schedule, Timetable
from gateway.storage.fbo import Shipment, ShipmentStore, split_due

PLATFORM = "kak2c"
# Native codes of Kak2c that mean an FBO step happened (its table's normalized codes).
STEP_OF_CODE = {"ORDER_INFO_PACKED": "packed"}


def shipment_schedule(timetable: Timetable, shipment: Shipment, now: datetime) -> Schedule:
    doc = shipment.doc
    created = doc.get("created_at")
    return timetable.compute(
        date.fromisoformat(doc["shipment_date"]),
        zone=check_zone(doc["timezone"]),
        mode=doc["mode"],
        units=doc["units"],
        flags=doc["flags"],
        created_at=datetime.fromisoformat(created) if created else None,
        done=shipment.done,
        now=now,
        lead=timedelta(seconds=doc["lead_s"]),
        past_ok=True,
    )


async def note_change(store: ShipmentStore, tenant: str, fields: Mapping[str, str]) -> bool:
    """Mark the step a Kak2c status change means as done; True when one was marked."""
    if fields.get("type") != "order.status_changed" or fields.get("platform") != PLATFORM:
        return False
    native = orjson.loads(fields.get("native") or "{}")
    step = STEP_OF_CODE.get(str(native.get("code", "")).upper())
    if step is None:
        return False
    shipment_id = await store.of_order(tenant, fields["order_id"])
    if shipment_id is None:
        return False
    at = datetime.fromisoformat(fields["occurred_at"].replace("Z", "+00:00"))
    return await store.mark_done(tenant, shipment_id, step, at)


async def raise_due(
    store: ShipmentStore, timetable: Timetable, tenant: str, now: datetime | None = None
) -> int:
    """Raise every warning of `tenant` that is due now; returns how many were raised."""
    now = now or datetime.now(UTC)
    raised = 0
    for member in await store.due(tenant, int(now.timestamp() * 1000)):
        shipment_id, step_id, kind = split_due(member)
        shipment = await store.get(tenant, shipment_id)
        if shipment is None:
            await store.warn(tenant, member, emit=False, fields={}, now=now)
            continue
        schedule = shipment_schedule(timetable, shipment, now)
        step = next((s for s in schedule.steps if s.id == step_id), None)
        emit = step is not None and step.status == kind
        fields: dict[str, str] = {}
        if step is not None and emit:
            fields = {
                "type": f"fbo.deadline_{kind}",
                "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "platform": PLATFORM,
                "order_id": shipment.doc["order_id"],
                "data": orjson.dumps(
                    {
                        "shipment_id": shipment.id,
                        "order_id": shipment.doc["order_id"],
                        "platform": PLATFORM,
                        "shipment_date": shipment.doc["shipment_date"],
                        "timezone": shipment.doc["timezone"],
                        "step": step.id,
                        "actor": step.actor,
                        "deadline": step.deadline.isoformat(),
                    }
                ).decode(),
            }
        raised += await store.warn(tenant, member, emit=emit, fields=fields, now=now)
    return raised
