"""Dependencies shared by the routers: the runtime, the answer language, cached answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response

from gateway.i18n import choose_language
from gateway.response_cache import etag_matches
from gateway.runtime import Rendered, Runtime

JSON = "application/json"


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def query_language(
    lang: Annotated[
        str | None,
        Query(max_length=35, description="ru, en, fr or el; overrides Accept-Language."),
    ] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """`lang` query parameter > Accept-Language > en (422 for an unsupported `lang`)."""
    return choose_language(lang, accept_language)


LangDep = Annotated[str, Depends(query_language)]

# What `LangDep` declares in the OpenAPI document, for routes that read their own request.
LANG_PARAMETER: dict[str, Any] = {
    "description": "ru, en, fr or el; overrides Accept-Language.",
    "in": "query",
    "name": "lang",
    "required": False,
    "schema": {
        "anyOf": [{"maxLength": 35, "type": "string"}, {"type": "null"}],
        "description": "ru, en, fr or el; overrides Accept-Language.",
        "title": "Lang",
    },
}


def request_language(request: Request) -> str:
    """`query_language` for a route that reads its own request (no dependency solving)."""
    query: bytes = request.scope["query_string"]
    explicit = request.query_params.get("lang") if b"lang" in query else None
    return choose_language(explicit, request.headers.get("accept-language"))


def self_read(body: str) -> dict[str, Any]:
    """`openapi_extra` of a hot route that reads its own key, `lang` and JSON body: documented
    exactly as the dependencies (`TenantDep`, `LangDep`, a body model) would document it."""
    return {
        "parameters": [LANG_PARAMETER],
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
            "required": True,
        },
        "security": [{"HTTPBearer": []}],
    }


def cached(
    request: Request,
    rendered: Rendered,
    lang: str | None,
    max_age: int,
    extra: dict[str, str] | None = None,
) -> Response:
    """A GET answer with ETag and Cache-Control (`max_age` 0: revalidated on every use); 304
    when the client's copy is current. `extra` headers go on both."""
    headers = {
        "ETag": rendered.etag,
        "Cache-Control": f"public, max-age={max_age}" if max_age else "no-cache",
        "Vary": "Accept-Language",
        **(extra or {}),
    }
    if lang:
        headers["Content-Language"] = lang
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and etag_matches(if_none_match.encode(), rendered.etag.encode()):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=JSON, headers=headers)


def fresh(rendered: Rendered, lang: str) -> Response:
    """An uncached answer (POST) in `lang`."""
    return Response(rendered.body, media_type=JSON, headers={"Content-Language": lang})
