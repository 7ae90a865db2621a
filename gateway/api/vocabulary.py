"""The vocabularies: platforms, a platform's native statuses, the canonical statuses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from gateway.api.deps import LangDep, RuntimeDep, cached
from gateway.api.schemas import PlatformsOut, PlatformStatusesOut, VocabularyOut
from gateway.problems import responses

router = APIRouter(prefix="/v1", tags=["vocabulary"])


@router.get("/platforms", response_model=PlatformsOut, responses=responses(304))
async def list_platforms(request: Request, runtime: RuntimeDep) -> Response:
    """The platforms the gateway translates, with their aliases and status shapes."""
    return cached(
        request, runtime.document("platforms", "en"), None, runtime.settings.cache_max_age
    )


@router.get(
    "/platforms/{platform}/statuses",
    response_model=PlatformStatusesOut,
    responses=responses(304, 404, 422),
)
async def list_platform_statuses(
    request: Request,
    runtime: RuntimeDep,
    lang: LangDep,
    platform: Annotated[str, Path(max_length=64)],
) -> Response:
    """Every native status of one platform, its localized label and its canonical meaning."""
    rendered = runtime.document("platform_statuses", lang, platform)
    return cached(request, rendered, lang, runtime.settings.cache_max_age)


@router.get("/statuses", response_model=VocabularyOut, responses=responses(304, 422))
async def list_statuses(request: Request, runtime: RuntimeDep, lang: LangDep) -> Response:
    """The canonical model: headline codes, stages, details, axes and actions, localized."""
    return cached(request, runtime.document("statuses", lang), lang, runtime.settings.cache_max_age)
