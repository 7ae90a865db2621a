"""What a running gateway holds: settings, tables, catalogs, and the cache of rendered answers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.canonical import Code
from gateway.fbo.render import FboRenderer
from gateway.fbo.timetable import Timetable
from gateway.i18n import Catalogs, load_catalogs
from gateway.render import Renderer
from gateway.settings import Settings
from gateway.tables import Tables
from gateway.tables.loader import load_tables
from gateway.translate import Custom, StatusInput, Where, to_canonical, to_native

CACHE_LIMIT = 65_536  # rendered answers kept; the known universe is a few thousand


@dataclass(frozen=True, slots=True)
class Rendered:
    """One JSON answer, serialized once, with its strong ETag."""

    body: bytes
    etag: str


def render(document: Any) -> Rendered:
    body = orjson.dumps(document)
    return Rendered(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')


@dataclass
class Runtime:
    """Built once per app by `create_app`; routes reach it through `gateway.api.deps`."""

    settings: Settings
    tables: Tables
    catalogs: Catalogs
    renderer: Renderer = field(init=False)
    timetable: Timetable = field(init=False)
    fbo: FboRenderer = field(init=False)
    _translations: dict[tuple[Any, ...], Rendered] = field(default_factory=dict, init=False)
    _documents: dict[tuple[Any, ...], Rendered] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.tables, self.catalogs)
        self.timetable = Timetable.load()  # the FBO timetable and production calendar
        self.fbo = FboRenderer(self.catalogs)

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        return cls(
            settings, load_tables(settings.mappings_dir), load_catalogs(settings.locales_dir)
        )

    @property
    def content_version(self) -> str:
        """Changes when a table or a catalog changes."""
        return f"{self.tables.version}.{self.catalogs.version}"

    def translate(
        self,
        platform: str,
        status: StatusInput,
        *,
        lang: str,
        target: str | None = None,
        lenient: bool = False,
        variant: str | None = None,
        where: Where | None = None,
        custom: Custom | None = None,
    ) -> Rendered:
        """The rendered translation answer; pure, so known codes are served from a cache.

        `custom` (a tenant's own codes) bypasses the cache: the answer is that tenant's alone.
        """
        key = (platform, status, lang, target, lenient, variant)
        hit = self._translations.get(key) if custom is None else None
        if hit is not None:
            return hit
        w = where or Where.query()
        result = to_canonical(
            self.tables, platform, status, variant=variant, lenient=lenient, where=w, custom=custom
        )
        choice = (
            to_native(self.tables, target, result.canonical, where=w.target) if target else None
        )
        rendered = render(self.renderer.translation(result, choice, lang))
        if (
            custom is None and result.canonical.code is not Code.UNKNOWN
        ):  # arbitrary unknown codes would grow it
            if len(self._translations) >= CACHE_LIMIT:
                self._translations.clear()
            self._translations[key] = rendered
        return rendered

    def document(self, name: str, lang: str, platform: str | None = None) -> Rendered:
        """A rendered vocabulary document ("platforms", "statuses", "platform_statuses")."""
        key = (name, lang, platform)
        hit = self._documents.get(key)
        if hit is not None:
            return hit
        if name == "platforms":
            doc = self.renderer.platforms()
        elif name == "statuses":
            doc = self.renderer.vocabulary(lang)
        else:
            doc = self.renderer.platform_statuses(
                self.tables.platform(platform or "", where="platform"), lang
            )
        rendered = self._documents[key] = render(doc)
        return rendered
