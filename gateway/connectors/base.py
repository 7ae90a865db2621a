"""What every pull connector provides, so the service polls them all the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
