"""/v1/fbo: Kak2c's FBO timetable for a shipment day (no key), and tracked FBO shipments
(tenant key) whose deadlines raise `fbo.deadline_at_risk` / `fbo.deadline_missed` webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Response

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.deps import JSON, LangDep, RuntimeDep
from gateway.api.fbo_schemas import (
    FboScheduleIn,
    FboScheduleOut,
    ShipmentIn,
    ShipmentOut,
    ShipmentsOut,
    StepDoneIn,
)
from gateway.errors import Conflict, NotFound
from gateway.fbo.checks import check_reported, check_zone
from gateway.fbo.watch import PLATFORM, shipment_schedule
from gateway.i18n import choose_language
from gateway.problems import responses
from gateway.runtime import Runtime
from gateway.services import Services
from gateway.storage.fbo import Shipment, checks_for, new_shipment_id

router = APIRouter(tags=["fbo"])
ShipmentId = Annotated[str, Path(min_length=1, max_length=64, description="`fbo_…`")]
StepId = Annotated[str, Path(min_length=1, max_length=32)]


def _json(doc: Any, status: int = 200, lang: str | None = None) -> Response:
    headers = {"Content-Language": lang} if lang else None
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON, headers=headers)


@router.post(
    "/v1/fbo/schedule", response_model=FboScheduleOut, responses=responses(400, 413, 415, 422)
)
async def fbo_schedule(body: FboScheduleIn, runtime: RuntimeDep, lang: LangDep) -> Response:
    """The five steps for a shipment on `shipment_date`, each with its deadline (ISO 8601 in
    the warehouse's zone), who acts, where it stands and a sentence in the chosen language;
    the earliest shipment date still possible (for `created_at`, or now); the warnings
    (individual agreement above 1000 units or for special goods; the ticket for delivery by
    Kak2c). Calendar days as the regulation counts them; `"mode": "business"` counts working
    days of the Russian production calendar instead."""
    chosen = choose_language(body.lang, None, "#/lang") if body.lang else lang
    schedule = runtime.timetable.compute(
        body.shipment_date,
        zone=check_zone(body.timezone),
        mode=body.mode,
        units=body.units,
        flags=body.flags,
        created_at=body.created_at,
        done=body.done,
        now=datetime.now(UTC),
        lead=timedelta(hours=body.lead_hours),
    )
    return _json(runtime.fbo.schedule(schedule, chosen), lang=chosen)


def _shipment_doc(runtime: Runtime, shipment: Shipment, lang: str) -> dict[str, Any]:
    schedule = shipment_schedule(runtime.timetable, shipment, datetime.now(UTC))
    doc = shipment.doc
    return {
        "id": shipment.id,
        "order_id": doc["order_id"],
        "platform": PLATFORM,
        "units": doc["units"],
        "flags": doc["flags"],
        "registered_at": doc["registered_at"],
        **runtime.fbo.schedule(schedule, lang),
    }


async def _shipment(services: Services, tenant: str, shipment_id: str) -> Shipment:
    shipment = await services.shipments.get(tenant, shipment_id)
    if shipment is None:
        raise NotFound(f"no FBO shipment {shipment_id!r}", where="id")
    return shipment


@router.post(
    "/v1/fbo/shipments",
    status_code=201,
    response_model=ShipmentOut,
    responses=responses(400, 401, 409, 413, 415, 422, 503),
)
async def register_shipment(
    body: ShipmentIn, tenant: TenantDep, services: ServicesDep, runtime: RuntimeDep, lang: LangDep
) -> Response:
    """Track a Kak2c FBO order against its timetable. Steps are marked done by the order's
    Kak2c statuses (`ORDER_INFO_PACKED` → `packed`) or by `POST …/steps/{step}`; the worker
    sends `fbo.deadline_at_risk` (within `lead_hours` of a deadline) and
    `fbo.deadline_missed` once per step."""
    if await services.shipments.of_order(tenant, body.order_id):
        raise Conflict(f"order {body.order_id!r} already has an FBO shipment", where="#/order_id")
    zone = check_zone(body.timezone)
    now = datetime.now(UTC)
    if body.created_at is not None:
        check_reported(body.created_at, now, _tolerance(runtime), "created_at", "#/created_at")
    lead = timedelta(hours=body.lead_hours)
    # Validates everything (past date, zone, flags, mode) before anything is stored.
    schedule = runtime.timetable.compute(
        body.shipment_date,
        zone=zone,
        mode=body.mode,
        units=body.units,
        flags=body.flags,
        created_at=body.created_at,
        now=now,
        lead=lead,
    )
    doc: dict[str, Any] = {
        "id": new_shipment_id(),
        "order_id": body.order_id,
        "shipment_date": body.shipment_date.isoformat(),
        "timezone": zone.key,
        "mode": body.mode,
        "units": body.units,
        "flags": sorted(set(body.flags)),
        "created_at": body.created_at.isoformat() if body.created_at else None,
        "lead_s": lead.total_seconds(),
        "registered_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    done = {"create": body.created_at} if body.created_at else {}
    open_steps = {s.id: s.deadline for s in schedule.steps if s.id not in done}
    await services.shipments.create(tenant, doc, done, checks_for(open_steps, lead))
    shipment = Shipment(doc["id"], doc, dict(done))
    return _json(_shipment_doc(runtime, shipment, lang), 201, lang)


@router.get("/v1/fbo/shipments", response_model=ShipmentsOut, responses=responses(401, 422, 503))
async def list_shipments(
    tenant: TenantDep, services: ServicesDep, runtime: RuntimeDep, lang: LangDep
) -> Response:
    """Every tracked FBO shipment of the tenant with its live timetable, oldest first."""
    found = []
    for shipment_id in await services.shipments.ids(tenant):
        shipment = await services.shipments.get(tenant, shipment_id)
        if shipment is not None:
            found.append(_shipment_doc(runtime, shipment, lang))
    return _json({"shipments": found}, lang=lang)


@router.get(
    "/v1/fbo/shipments/{shipment_id}",
    response_model=ShipmentOut,
    responses=responses(401, 404, 422, 503),
)
async def get_shipment(
    shipment_id: ShipmentId,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    lang: LangDep,
) -> Response:
    """One tracked shipment: its timetable as it stands now."""
    shipment = await _shipment(services, tenant, shipment_id)
    return _json(_shipment_doc(runtime, shipment, lang), lang=lang)


@router.post(
    "/v1/fbo/shipments/{shipment_id}/steps/{step}",
    response_model=ShipmentOut,
    responses=responses(400, 401, 404, 413, 415, 422, 503),
)
async def mark_step_done(
    shipment_id: ShipmentId,
    step: StepId,
    tenant: TenantDep,
    services: ServicesDep,
    runtime: RuntimeDep,
    lang: LangDep,
    body: StepDoneIn | None = None,
) -> Response:
    """Record that a step happened (`at`, default now); the first report of a step wins."""
    shipment = await _shipment(services, tenant, shipment_id)
    if step not in runtime.timetable.step_ids:
        raise NotFound(
            f"{step!r} is not an FBO step; use one of: {', '.join(runtime.timetable.step_ids)}",
            where="step",
        )
    at = now = datetime.now(UTC)
    if body and body.at:
        check_reported(body.at, now, _tolerance(runtime), "the step's time", "#/at")
        at = body.at
    await services.shipments.mark_done(tenant, shipment.id, step, at)
    shipment = await _shipment(services, tenant, shipment_id)
    return _json(_shipment_doc(runtime, shipment, lang), lang=lang)


@router.delete(
    "/v1/fbo/shipments/{shipment_id}", status_code=204, responses=responses(401, 404, 422, 503)
)
async def delete_shipment(
    shipment_id: ShipmentId, tenant: TenantDep, services: ServicesDep
) -> Response:
    """Stop tracking a shipment; no more warnings are sent for it."""
    shipment = await _shipment(services, tenant, shipment_id)
    await services.shipments.delete(tenant, shipment)
    return Response(status_code=204)


def _tolerance(runtime: Runtime) -> timedelta:
    """How far ahead of the clock a reported time may be (clock skew), as for event times."""
    return timedelta(seconds=runtime.settings.future_tolerance_s)
