"""The HTTP API: one router per resource, all under /v1."""

from fastapi import APIRouter

from gateway.api import (
    connectors,
    events,
    fbo,
    ingest,
    mappings,
    ops,
    orders,
    shares,
    translate,
    vocabulary,
    webhooks,
)

api_router = APIRouter()
# Routes are matched in this order (FastAPI tries them one by one): the busiest first.
api_router.include_router(events.router)
api_router.include_router(translate.router)
api_router.include_router(vocabulary.router)
api_router.include_router(ingest.router)
api_router.include_router(webhooks.router)  # before orders: /v1/orders/{p}/{id}/deliveries
api_router.include_router(shares.router)  # before orders, for the same reason
api_router.include_router(shares.public)
api_router.include_router(orders.router)
api_router.include_router(mappings.router)
api_router.include_router(fbo.router)
api_router.include_router(connectors.router)
api_router.include_router(ops.router)
