"""POST /v1/translate/batch internals: read the body, then translate 10,000 items fast.

Items in the plain shape (strings where strings belong, known keys only, within the limits) take
a fast lane: their key is looked up in a per-call memo, so a batch costs one dict lookup per item
plus one real translation per distinct item. Anything else is validated by pydantic against
`TranslateIn`, which stays the single definition of a valid item; an invalid item becomes an
embedded problem in its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.api.schemas import BatchItem, CloudCartStatusIn, InvalidItem, TranslateIn
from gateway.errors import GatewayError
from gateway.i18n import choose_language
from gateway.problems import (
    malformed_json,
    not_json,
    problem_from_error,
    validation_problem,
)
from gateway.runtime import Runtime, render
from gateway.translate import CloudCartStatus, Custom, StatusInput, Where

INSTANCE = "/v1/translate/batch"
_ITEM = TypeAdapter(BatchItem)
_ITEM_KEYS = frozenset(TranslateIn.model_fields)
_PART_KEYS = frozenset(CloudCartStatusIn.model_fields)
Key = tuple[str, StatusInput, str | None, str | None, bool | None, str | None]


class BatchEnvelope(BaseModel):
    """The batch body without its items' shape (items are checked one by one)."""

    model_config = ConfigDict(extra="forbid")
    items: list[Any]
    lang: str | None = Field(None, min_length=1, max_length=35)
    target: str | None = Field(None, min_length=1, max_length=64)
    lenient: bool = False


@dataclass(frozen=True, slots=True)
class Defaults:
    lang: str
    target: str | None
    lenient: bool
    custom: Mapping[str, Custom] | None = None  # a tenant's codes by platform


Model = TypeVar("Model", bound=BaseModel)


async def read_json(request: Request, model: type[Model]) -> Model:
    """Parse and check a JSON body as FastAPI's own parsing would (the same problems), for
    routes that read their body themselves to check its items one by one."""
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type:
        raise not_json(content_type)
    raw = await request.body()
    if not raw:  # as FastAPI answers a missing body
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed_json(exc.msg, exc.pos) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [dict(e, loc=("body", *e["loc"])) for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


async def read_envelope(request: Request) -> BatchEnvelope:
    return await read_json(request, BatchEnvelope)


def _text(value: object, limit: int) -> bool:
    return type(value) is str and 0 < len(value) <= limit


def _optional_text(value: object, limit: int) -> bool:
    return value is None or _text(value, limit)


def _plain_status(value: object) -> StatusInput | None:
    if type(value) is str:
        return value if 0 < len(value) <= 128 else None
    if type(value) is dict and value.keys() <= _PART_KEYS:
        order, payment, fulfillment = (
            value.get("order"),
            value.get("payment"),
            value.get("fulfillment"),
        )
        if _text(order, 128) and _optional_text(payment, 128) and _optional_text(fulfillment, 128):
            return CloudCartStatus(order, payment, fulfillment)  # type: ignore[arg-type]
    return None


def plain_key(item: object) -> Key | None:
    """The item's key when it is unmistakably valid in shape; None sends it to pydantic."""
    if type(item) is not dict or not item.keys() <= _ITEM_KEYS:
        return None
    platform, lang, target, lenient, variant = (
        item.get("platform"),
        item.get("lang"),
        item.get("target"),
        item.get("lenient"),
        item.get("variant"),
    )
    status = _plain_status(item.get("status"))
    if (
        status is None
        or not _text(platform, 64)
        or not _optional_text(lang, 35)
        or not _optional_text(target, 64)
        or not (lenient is None or type(lenient) is bool)
        or not _optional_text(variant, 32)
    ):
        return None
    return (platform, status, lang, target, lenient, variant)  # type: ignore[return-value]


def _model_key(item: TranslateIn) -> Key:
    return (item.platform, item.status_input(), item.lang, item.target, item.lenient, item.variant)


def _translate(runtime: Runtime, index: int, key: Key, defaults: Defaults) -> tuple[bytes, bool]:
    platform, status, lang, target, lenient, variant = key
    base = f"#/items/{index}"
    custom = None
    if defaults.custom:
        table = runtime.tables.find_platform(platform)
        custom = defaults.custom.get(table.platform if table else platform)
    try:
        chosen = choose_language(lang, None, f"{base}/lang") if lang else defaults.lang
        rendered = runtime.translate(
            platform,
            status,
            lang=chosen,
            target=target if target is not None else defaults.target,
            lenient=defaults.lenient if lenient is None else lenient,
            variant=variant,
            where=Where.body(base),
            custom=custom,
        )
    except GatewayError as exc:
        return render({"error": problem_from_error(exc, INSTANCE)}).body, False
    return rendered.body, True


def _invalid(index: int, item: InvalidItem) -> bytes:
    errors = [dict(e, loc=("body", "items", index, *e.get("loc", ()))) for e in item.errors]
    return render({"error": validation_problem(errors, INSTANCE)}).body


def translate_items(runtime: Runtime, items: list[Any], defaults: Defaults) -> list[bytes]:
    """One JSON fragment per item, in order: a translation or {"error": problem}."""
    memo: dict[Key, bytes] = {}
    fragments: list[bytes] = []
    append = fragments.append
    for index, item in enumerate(items):
        key = plain_key(item)
        if key is None:
            parsed = _ITEM.validate_python(item)
            if isinstance(parsed, InvalidItem):
                append(_invalid(index, parsed))
                continue
            key = _model_key(parsed)
        fragment = memo.get(key)
        if fragment is None:
            fragment, ok = _translate(runtime, index, key, defaults)
            if ok:  # an error names its item's index, so it cannot be shared
                memo[key] = fragment
        append(fragment)
    return fragments
