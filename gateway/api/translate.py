"""Translate native statuses: GET/POST /v1/translate and POST /v1/translate/batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from gateway.api.auth import all_tenant_mappings, tenant_mappings
from gateway.api.batch import Defaults, read_envelope, translate_items
from gateway.api.deps import JSON, LangDep, RuntimeDep, cached, fresh
from gateway.api.schemas import TranslateBatchOut, TranslateIn, TranslationOut
from gateway.i18n import choose_language
from gateway.problems import responses
from gateway.translate import CloudCartStatus, StatusInput, Where

router = APIRouter(prefix="/v1/translate", tags=["translate"])


@router.get(
    "/{platform}/{code:path}",
    response_model=TranslationOut,
    responses=responses(304, 404, 422),
)
async def translate_code(
    request: Request,
    runtime: RuntimeDep,
    lang: LangDep,
    platform: Annotated[
        str, Path(max_length=64, description="kak2c, measoft (courier), cscart, cloudcart.")
    ],
    code: Annotated[
        str, Path(max_length=128, description="The native code; for CloudCart the order status.")
    ],
    target: Annotated[
        str | None, Query(max_length=64, description="Also give this platform's code.")
    ] = None,
    lenient: Annotated[
        bool, Query(description="Unknown code → canonical 'unknown' instead of 422.")
    ] = False,
    variant: Annotated[
        str | None, Query(max_length=32, description="e.g. 'fbo' for Kak2c PACKED.")
    ] = None,
    payment: Annotated[
        str | None, Query(max_length=128, description="CloudCart: payment status.")
    ] = None,
    fulfillment: Annotated[
        str | None, Query(max_length=128, description="CloudCart: fulfilment status.")
    ] = None,
) -> Response:
    """Translate one native status code to the canonical model, labelled in the chosen language.

    Cacheable: answers carry an ETag and Cache-Control, and If-None-Match gives 304.
    """
    status: StatusInput = code
    if payment is not None or fulfillment is not None:
        status = CloudCartStatus(code, payment, fulfillment)
    custom = await tenant_mappings(request, runtime, platform, status, "platform")
    rendered = runtime.translate(
        platform, status, lang=lang, target=target, lenient=lenient, variant=variant, custom=custom
    )
    if custom is not None:
        return fresh(rendered, lang)
    return cached(request, rendered, lang, runtime.settings.cache_max_age)


@router.post("", response_model=TranslationOut, responses=responses(400, 413, 415, 422))
async def translate_status(
    request: Request,
    body: TranslateIn,
    runtime: RuntimeDep,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Translate one native status given in the body (CloudCart: the three-part object)."""
    lang = choose_language(body.lang, accept_language, "#/lang")
    status = body.status_input()
    rendered = runtime.translate(
        body.platform,
        status,
        lang=lang,
        target=body.target,
        lenient=bool(body.lenient),
        variant=body.variant,
        where=Where.body(),
        custom=await tenant_mappings(request, runtime, body.platform, status, "#/platform"),
    )
    return fresh(rendered, lang)


@router.post(
    "/batch",
    response_model=TranslateBatchOut,
    responses=responses(400, 401, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/TranslateBatchIn"}}},
        }
    },
)
async def translate_batch(
    request: Request,
    runtime: RuntimeDep,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Translate up to 10,000 statuses in one call; results come back in the same order.

    A bad item gets `{"error": <problem>}` in its place and does not fail the others. The
    batch's `lang`, `target` and `lenient` apply to every item that does not set its own. With a
    tenant's API key (`Authorization: Bearer`), that tenant's own codes (`/v1/mappings`) are
    translated too.
    """
    body = await read_envelope(request)
    limit = runtime.settings.batch_max_items
    if len(body.items) > limit:  # as POST /v1/events/batch: a validation problem
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "items"),
                    "msg": f"at most {limit} items per call (got {len(body.items)})",
                }
            ]
        )
    lang = choose_language(body.lang, accept_language, "#/lang")
    if body.target is not None:
        runtime.tables.platform(body.target, where="#/target")
    defaults = Defaults(lang, body.target, body.lenient, await all_tenant_mappings(request))
    fragments = translate_items(runtime, body.items, defaults)
    payload = b'{"results":[' + b",".join(fragments) + b"]}"
    return Response(payload, media_type=JSON, headers={"Content-Language": lang})
