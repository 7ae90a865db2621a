"""What every pull connector provides, so the service polls them all the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import BaseModel, Field

from gateway.ingest import NativeEvent

if TYPE_CHECKING:
    from gateway.connectors.rejects import Rejected

Record = Callable[[Sequence[NativeEvent]], Awaitable[list[object]]]
Json = dict[str, Any]
# A connector's own poll interval; NaN and infinities are refused as not finite (the range check
# would otherwise answer them with a misleading "greater than or equal to 5").
PollInterval = Annotated[
    float | None,
    Field(ge=5, le=86_400, allow_inf_nan=False, description="Seconds between polls."),
]


@dataclass(frozen=True, slots=True)
class Pulled:
    """What one poll did."""

    orders: int
    events: int
    changed: int
    cursor: Json = field(default_factory=dict)  # where the next poll starts (stored for it)
    suggestions: Mapping[str, Json] = field(default_factory=dict)  # code → suggested mapping
    mode: str | None = None  # how the changes were found, where a platform has several ways
    rejected: Sequence[Rejected] = ()  # orders set aside as unreadable (see `rejects`)


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
    rejected: Sequence[Rejected] = ()  # orders set aside as unreadable (see `rejects`)


class Memory(Protocol):
    """The status a connector recorded last for each order, kept between polls outside the
    cursor, so a poll reads and writes only the orders it touches (see
    `gateway.connectors.memory`)."""

    async def recall(self, order_ids: Collection[str]) -> dict[str, str]: ...

    async def remember(self, values: Mapping[str, str]) -> None: ...


class Connector(Protocol):
    """A platform's connector module (see `gateway.connectors.measoft`)."""

    @property
    def PLATFORM(self) -> str: ...

    @property
    def SECRET_FIELDS(self) -> tuple[str, ...]: ...

    @property
    def SOURCE_FIELDS(self) -> tuple[str, ...]:
        """The options that say which account is read: changing one starts the connector over
        (cursor, memory, back-off and suggestions belong to the old account)."""
        ...

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
        memory: Memory,
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
