"""The HTTP API: one router per resource, all under /v1."""

from fastapi import APIRouter

from gateway.api import translate, vocabulary

api_router = APIRouter()
api_router.include_router(translate.router)
api_router.include_router(vocabulary.router)
