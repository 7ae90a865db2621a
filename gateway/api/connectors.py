"""/v1/connectors/{platform}: a tenant's pull connectors (credentials sealed, never shown)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.batch import read_json
from gateway.api.deps import JSON
from gateway.connectors.registry import CONNECTORS, check_platform
from gateway.errors import InvalidInput
from gateway.problems import responses

router = APIRouter(tags=["connectors"])
Platform = Annotated[str, Path(max_length=64, description="measoft, cscart or cloudcart")]


class ConnectorError(BaseModel):
    class_: str = Field(alias="class")
    message: str
    at: str


class ConnectorHealth(BaseModel):
    runs: int
    last_run_at: str | None
    last_success_at: str | None
    last_error: ConnectorError | None
    lag_s: float | None = Field(description="Seconds since the last successful poll.")
    orders_seen: int
    events_seen: int
    failures_in_row: int
    mode: str | None = Field(
        None,
        description="How the connector finds the changed orders, where the platform has several "
        "ways: CS-Cart `updated_at_from`, or `by_date` for a store whose version lacks that "
        "filter (its recent orders are compared with the statuses seen last; asked on the first "
        "poll and daily). null for the others, and before the first poll.",
    )


class RejectedOrder(BaseModel):
    """An order (or listed item) the connector set aside: the platform's answer had it in a shape
    the gateway cannot read, or dated ahead of the clock. The poll recorded the others."""

    where: str = Field(description="Where it was in the platform's answer.")
    order_id: str | None = Field(description="Its order id, when that much was readable.")
    detail: str = Field(description="What is wrong, with the value at fault.")
    first_seen_at: str
    last_seen_at: str
    times: int = Field(description="Polls that set it aside.")


class ConnectorOut(BaseModel):
    """A connector: its platform's options (MeaSoft: login, extra, stream_id, api_url; CS-Cart:
    store_url, email; CloudCart: store_url), each secret field as "set", and its health."""

    model_config = ConfigDict(extra="allow")
    platform: str
    interval_s: float | None
    created_at: str
    updated_at: str
    paused: str | None = Field(description="Why polling stopped (repeated auth failures).")
    health: ConnectorHealth
    rejected: list[RejectedOrder] = Field(
        description="Orders set aside as unreadable, seen last first (at most 100). One leaves "
        "the list when a poll records it, when the list is cleared "
        "(`DELETE /v1/connectors/{platform}/rejected`), or after the history days unseen; each "
        "is announced once as a `connector.item_rejected` event."
    )


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON)


@router.put(
    "/v1/connectors/{platform}",
    response_model=ConnectorOut,
    responses=responses(400, 401, 404, 409, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {
                        "oneOf": [
                            {"$ref": f"#/components/schemas/{c.In.__name__}"}
                            for c in CONNECTORS.values()
                        ]
                    }
                }
            },
        }
    },
)
async def put_connector(
    platform: Platform, request: Request, tenant: TenantDep, services: ServicesDep
) -> Response:
    """Connect the tenant's account on `platform` (MeaSoft: `login`, `password`, service code
    `extra`, `stream_id`, `api_url`; CS-Cart: `store_url`, admin `email`, `api_key`;
    CloudCart: `store_url`, `api_key`; all: `interval_s`). Secret fields are encrypted with
    GATEWAY_SECRET_KEY (refused without one) and never shown again; the worker then polls.
    Stored for another account (store or API address, MeaSoft login, service code or stream),
    the connector starts over: the old account's cursor, back-off, suggestions and backfill are
    dropped (409 while a poll or a backfill of it runs); new credentials or a new interval keep
    them."""
    connector = check_platform(platform)
    body = await read_json(request, connector.In)
    return _json(await services.connectors.put(tenant, platform, body))


@router.get(
    "/v1/connectors/{platform}", response_model=ConnectorOut, responses=responses(401, 404, 503)
)
async def get_connector(platform: Platform, tenant: TenantDep, services: ServicesDep) -> Response:
    """The connector's options (no secrets) and health: last success, last error, lag."""
    return _json(await services.connectors.show(tenant, platform))


@router.delete("/v1/connectors/{platform}", status_code=204, responses=responses(401, 404, 503))
async def delete_connector(
    platform: Platform, tenant: TenantDep, services: ServicesDep
) -> Response:
    """Disconnect: the credentials and the health record are deleted."""
    await services.connectors.delete(tenant, platform)
    return Response(status_code=204)


@router.delete(
    "/v1/connectors/{platform}/rejected", status_code=204, responses=responses(401, 404, 503)
)
async def clear_rejected(platform: Platform, tenant: TenantDep, services: ServicesDep) -> Response:
    """Clear the list of set-aside orders (dealt with at the source); one a later poll still
    cannot read is set aside, and announced, again."""
    await services.connectors.clear_rejected(tenant, platform)
    return Response(status_code=204)


@router.post(
    "/v1/connectors/{platform}/run",
    response_model=ConnectorOut,
    responses=responses(401, 404, 409, 503),
)
async def run_connector(platform: Platform, tenant: TenantDep, services: ServicesDep) -> Response:
    """Poll now and answer the connector with its health after the poll (a failed poll shows in
    `health.last_error`, not as an error of this call). When a worker is polling it already,
    the answer waits for that poll to end and shows the health after it; 409 if it is still
    running after 30 s."""
    return _json(await services.connectors.run(tenant, platform))


class BackfillIn(BaseModel):
    """POST /v1/connectors/{platform}/backfill."""

    model_config = ConfigDict(extra="forbid")
    since: date = Field(description="Import the history from this day (YYYY-MM-DD).")


class BackfillOut(BaseModel):
    """A backfill job and its progress."""

    platform: str
    since: str
    running: bool
    state: dict[str, Any] = Field(description="Where the next page starts (resumed from here).")
    pages: int
    orders: int
    events: int
    total: int | None = Field(description="Orders to import in all, when the platform says.")
    started_at: str
    updated_at: str
    finished_at: str | None
    error: ConnectorError | None = Field(description="Why the last run stopped (it resumes).")


@router.post(
    "/v1/connectors/{platform}/backfill",
    status_code=202,
    response_model=BackfillOut,
    responses=responses(400, 401, 404, 409, 413, 415, 422, 503),
)
async def start_backfill(
    platform: Platform, body: BackfillIn, tenant: TenantDep, services: ServicesDep
) -> Response:
    """Import the connector's history since `since`, in the background, page by page; the job
    is saved after every page, and a job with the same `since` that did not finish resumes
    from its last page. 409 while a backfill (or a poll) of the connector runs."""
    if body.since > datetime.now(UTC).date() + timedelta(days=1):
        raise InvalidInput("`since` is in the future", where="since")
    return _json(await services.connectors.start_backfill(tenant, platform, body.since), 202)


@router.get(
    "/v1/connectors/{platform}/backfill",
    response_model=BackfillOut,
    responses=responses(401, 404, 503),
)
async def get_backfill(platform: Platform, tenant: TenantDep, services: ServicesDep) -> Response:
    """The connector's last backfill: pages, orders and events imported, whether it runs,
    finished or stopped with an error."""
    return _json(await services.connectors.backfill_status(tenant, platform))
