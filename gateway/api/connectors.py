"""/v1/connectors/{platform}: a tenant's pull connectors (credentials sealed, never shown)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.auth import ServicesDep, TenantDep
from gateway.api.batch import read_json
from gateway.api.deps import JSON
from gateway.connectors.service import CONNECTORS, check_platform
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


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type=JSON)


@router.put(
    "/v1/connectors/{platform}",
    response_model=ConnectorOut,
    responses=responses(400, 401, 404, 413, 415, 422, 503),
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
    GATEWAY_SECRET_KEY (refused without one) and never shown again; the worker then polls."""
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


@router.post(
    "/v1/connectors/{platform}/run",
    response_model=ConnectorOut,
    responses=responses(401, 404, 503),
)
async def run_connector(platform: Platform, tenant: TenantDep, services: ServicesDep) -> Response:
    """Poll now and answer the connector with its health after the poll (a failed poll shows in
    `health.last_error`, not as an error of this call)."""
    return _json(await services.connectors.run(tenant, platform))
