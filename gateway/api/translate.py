"""Translate native statuses: GET/POST /v1/translate and POST /v1/translate/batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from gateway.api.deps import JSON, LangDep, RuntimeDep, cached, fresh
from gateway.api.schemas import (
    InvalidItem,
    TranslateBatchIn,
    TranslateBatchOut,
    TranslateIn,
    TranslationOut,
)
from gateway.errors import GatewayError, InvalidStatus
from gateway.i18n import choose_language
from gateway.problems import problem_from_error, responses, validation_problem
from gateway.runtime import Runtime, render
from gateway.translate import CloudCartStatus, StatusInput, Where

router = APIRouter(prefix="/v1/translate", tags=["translate"])


def _status(body: TranslateIn) -> StatusInput:
    status = body.status
    if isinstance(status, str):
        return status
    return CloudCartStatus(status.order, status.payment, status.fulfillment)


@router.get(
    "/{platform}/{code}",
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
    rendered = runtime.translate(
        platform, status, lang=lang, target=target, lenient=lenient, variant=variant
    )
    if isinstance(status, CloudCartStatus) and b'"payment":{' not in rendered.body:
        raise InvalidStatus(
            f"payment and fulfillment apply to cloudcart only, not {platform}", where="payment"
        )
    return cached(request, rendered, lang, runtime.settings.cache_max_age)


@router.post("", response_model=TranslationOut, responses=responses(400, 404, 413, 415, 422))
async def translate_status(
    body: TranslateIn,
    runtime: RuntimeDep,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Translate one native status given in the body (CloudCart: the three-part object)."""
    lang = choose_language(body.lang, accept_language, "#/lang")
    rendered = runtime.translate(
        body.platform,
        _status(body),
        lang=lang,
        target=body.target,
        lenient=bool(body.lenient),
        variant=body.variant,
        where=Where.body(),
    )
    return fresh(rendered, lang)


def _item_fragment(
    runtime: Runtime,
    index: int,
    item: TranslateIn | InvalidItem,
    batch: TranslateBatchIn,
    default_lang: str,
) -> bytes:
    base = f"#/items/{index}"
    if isinstance(item, InvalidItem):
        errors = [dict(e, loc=("body", "items", index, *e.get("loc", ()))) for e in item.errors]
        return render({"error": validation_problem(errors, "/v1/translate/batch")}).body
    try:
        lang = choose_language(item.lang, None, f"{base}/lang") if item.lang else default_lang
        return runtime.translate(
            item.platform,
            _status(item),
            lang=lang,
            target=item.target if item.target is not None else batch.target,
            lenient=batch.lenient if item.lenient is None else item.lenient,
            variant=item.variant,
            where=Where.body(base),
        ).body
    except GatewayError as exc:
        return render({"error": problem_from_error(exc, "/v1/translate/batch")}).body


@router.post(
    "/batch", response_model=TranslateBatchOut, responses=responses(400, 404, 413, 415, 422)
)
async def translate_batch(
    body: TranslateBatchIn,
    runtime: RuntimeDep,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Translate up to 10,000 statuses in one call; results come back in the same order.

    A bad item gets `{"error": <problem>}` in its place and does not fail the others.
    """
    limit = runtime.settings.batch_max_items
    if len(body.items) > limit:
        raise InvalidStatus(
            f"{len(body.items)} items; at most {limit} per call", where="#/items", max_items=limit
        )
    lang = choose_language(body.lang, accept_language, "#/lang")
    if body.target is not None:
        runtime.tables.platform(body.target, where="#/target")
    fragments = [_item_fragment(runtime, i, item, body, lang) for i, item in enumerate(body.items)]
    payload = b'{"results":[' + b",".join(fragments) + b"]}"
    return Response(payload, media_type=JSON, headers={"Content-Language": lang})
