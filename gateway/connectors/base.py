"""What every pull connector provides, so the service polls them all the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import BaseModel

from gateway.ingest import NativeEvent

Record = Callable[[Sequence[NativeEvent]], Awaitable[list[object]]]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pulled:
    """What one poll did."""

    orders: int
    events: int
    changed: int
    cursor: Json = field(default_factory=dict)  # where the next poll starts (stored for it)
    suggestions: Mapping[str, Json] = field(default_factory=dict)  # code → suggested mapping


@dataclass(frozen=True, slots=True)
class Page:
    """What one page of a backfill did; `state` is where the next page starts (saved by the
    service after every page, so an interrupted backfill resumes from the last saved page)."""

    orders: int
    events: int
    changed: int
    state: Json
    done: bool
    total: int | None = None  # orders to import in all, when the platform says


class Connector(Protocol):
    """A platform's connector module (see `gateway.connectors.measoft`)."""

    @property
    def PLATFORM(self) -> str: ...

    @property
    def SECRET_FIELDS(self) -> tuple[str, ...]: ...

    @property
    def Options(self) -> type[BaseModel]: ...

    @property
    def In(self) -> type[BaseModel]: ...

    async def pull(
        self,
        session: aiohttp.ClientSession,
        options: BaseModel,
        secrets: Mapping[str, str],
        cursor: Json,
        record: Record,
        zone: ZoneInfo,
    ) -> Pulled: ...

    async def backfill_page(
        self,
        session: aiohttp.ClientSession,
        options: BaseModel,
        secrets: Mapping[str, str],
        since: date,
        state: Json,
        record: Record,
        zone: ZoneInfo,
    ) -> Page: ...
