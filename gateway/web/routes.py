"""The browser pages: `/widget.js`, `/demo`, `/console` and the console's assets and texts.

Every file is read and prepared once per app; answers carry a strong ETag (304 on a match) and
the pages a strict Content-Security-Policy: scripts and styles from this origin only, nothing
inline, so no API string can ever run as code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request, Response

from gateway.errors import NotFound
from gateway.i18n import LANGUAGES, Catalogs
from gateway.response_cache import etag_matches
from gateway.web.texts import every_language, localized

STATIC = files("gateway.web") / "static"
# Where widget.js keeps its texts: the server puts all four languages between the markers.
STRINGS_START, STRINGS_END = "/*STRINGS*/", "/*END STRINGS*/"
CONSOLE_ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str
    cache_control: str
    csp: str | None = None

    @classmethod
    def of(cls, body: bytes, media_type: str, cache_control: str, csp: str | None = None) -> Asset:
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        return cls(body, media_type, etag, cache_control, csp)

    def answer(self, request: Request) -> Response:
        headers = {
            "ETag": self.etag,
            "Cache-Control": self.cache_control,
            "X-Content-Type-Options": "nosniff",
        }
        if self.csp:
            headers["Content-Security-Policy"] = self.csp
            headers["Referrer-Policy"] = "no-referrer"
        if_none_match = request.headers.get("if-none-match")
        if if_none_match and etag_matches(if_none_match.encode(), self.etag.encode()):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def widget_source(catalogs: Catalogs) -> str:
    """widget.js with the widget's texts in every language put between its markers."""
    source = (STATIC / "widget.js").read_text("utf-8")
    start, end = source.index(STRINGS_START), source.index(STRINGS_END)
    texts = orjson.dumps(every_language(catalogs, "widget")).decode()
    return source[: start + len(STRINGS_START)] + texts + source[end:]


class WebAssets:
    """Everything the browser pages serve, prepared once."""

    def __init__(self, catalogs: Catalogs, max_age: int) -> None:
        revalidate = f"public, max-age={max_age}, stale-while-revalidate=86400"
        self.widget = Asset.of(
            widget_source(catalogs).encode(), "text/javascript; charset=utf-8", revalidate
        )
        page = "no-cache"  # always revalidated: a new release shows at once
        self.pages = {
            name: Asset.of(
                (STATIC / f"{name}.html").read_bytes(), "text/html; charset=utf-8", page, PAGE_CSP
            )
            for name in ("demo", "console")
        }
        self.console = {
            name: Asset.of((STATIC / name).read_bytes(), f"{media}; charset=utf-8", page)
            for name, media in CONSOLE_ASSETS.items()
        }
        self.console_texts = {
            lang: Asset.of(
                orjson.dumps(localized(catalogs, "console", lang)),
                "application/json",
                revalidate,
            )
            for lang in LANGUAGES
        }


def _assets(request: Request) -> WebAssets:
    assets: WebAssets = request.app.state.web
    return assets


@router.get("/widget.js")
async def widget(request: Request) -> Response:
    """The `<order-status>` web component, with its texts in ru, en, fr and el."""
    return _assets(request).widget.answer(request)


@router.get("/demo")
async def demo(request: Request) -> Response:
    """The widget for every platform and language."""
    return _assets(request).pages["demo"].answer(request)


@router.get("/console")
async def console(request: Request) -> Response:
    """The operator console (a small static app over the public HTTP API)."""
    return _assets(request).pages["console"].answer(request)


@router.get("/console/i18n/{lang}.json")
async def console_texts(request: Request, lang: Annotated[str, Path(max_length=8)]) -> Response:
    """The console's texts in one language."""
    asset = _assets(request).console_texts.get(lang)
    if asset is None:
        raise NotFound(
            f"no console texts in {lang!r}; languages: {', '.join(LANGUAGES)}", where="lang"
        )
    return asset.answer(request)


@router.get("/console/{name}")
async def console_asset(request: Request, name: Annotated[str, Path(max_length=32)]) -> Response:
    """console.js and console.css."""
    asset = _assets(request).console.get(name)
    if asset is None:
        raise NotFound(f"no console file {name!r}", where="name")
    return asset.answer(request)
