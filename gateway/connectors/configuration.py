"""Configuring a connector: store it (credentials sealed), show it with its health, delete it.

Storing a connector for another account (`SOURCE_FIELDS`) takes the lease while it drops the
old account's state, so no poll of the old account writes after it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from gateway.clock import now_iso
from gateway.connectors import rejects
from gateway.connectors.base import Connector, Json
from gateway.connectors.memory import RedisMemory
from gateway.connectors.registry import check_platform
from gateway.connectors.runtime import LEASE_MS, ConnectorRuntime
from gateway.custom import field_name
from gateway.errors import Conflict, NotFound
from gateway.sealing import SecretBox
from gateway.storage.keys import TenantKeys
from webhooks.queue import script


def source(connector: Connector, options: Mapping[str, Any]) -> tuple[str, ...]:
    """Which account a connector's options read (`SOURCE_FIELDS`); an address with or without
    its trailing slash is the same."""
    return tuple(
        "" if options.get(name) is None else str(options[name]).rstrip("/")
        for name in connector.SOURCE_FIELDS
    )


def moved(connector: Connector, stored: Json | None, options: Mapping[str, Any]) -> bool:
    """Whether a connector stored again reads another account than before (options that no
    longer validate count as another)."""
    if stored is None:
        return False
    try:
        before = connector.Options.model_validate(stored["options"]).model_dump(mode="json")
    except ValueError:
        return True
    return source(connector, before) != source(connector, options)


class Configuring(ConnectorRuntime):
    async def put(self, tenant: str, platform: str, body: BaseModel) -> Json:
        """Store a connector: its options in clear, its secret fields sealed. For another
        account (store, API address, login, stream) the connector starts over: the old one's
        cursor, memory, back-off, last error, suggestions and backfill are dropped, under the
        lease (409 while a poll or a backfill runs). New credentials or interval keep them."""
        connector = check_platform(platform)
        raw = body.model_dump(mode="json")
        secret_values = {
            name: getattr(body, name).get_secret_value() for name in connector.SECRET_FIELDS
        }
        sealed = self._box.seal(secret_values)
        options = connector.Options.model_validate(
            {k: v for k, v in raw.items() if k not in connector.SECRET_FIELDS}
        )
        k = self.keys(tenant)
        stored = await self._stored(tenant, platform)
        shown = options.model_dump(mode="json")
        lease = k.connector_lease(platform)
        holder = None
        if moved(connector, stored, shown):
            holder = f"{self._name}-put-{secrets.token_hex(4)}"
            if not await self._r.set(lease, holder, nx=True, px=LEASE_MS):
                raise Conflict(
                    f"the {platform} connector is busy (a backfill or a poll runs); store it "
                    "for another account when that has finished"
                )
        try:
            forget = await self._forgetting(tenant, platform) if holder else None
            stamp = now_iso()
            doc = {
                "platform": platform,
                "options": shown,
                "sealed": sealed,
                "created_at": stored["created_at"] if stored else stamp,
                "updated_at": stamp,
                "paused": None,
            }
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(k.connectors, platform, orjson.dumps(doc).decode())
                pipe.hset(k.connector_health(platform), "failures_in_row", 0)
                if forget is not None:
                    forget(pipe)
                await pipe.execute()
        finally:
            if holder and await self._r.get(lease) == holder:
                await self._r.delete(lease)
        return await self.show(tenant, platform)

    async def _forgetting(self, tenant: str, platform: str) -> Callable[[Pipeline], None]:
        """What belongs to the account a connector read until now, as steps to add to the
        transaction that stores it for another: where its next poll starts and how (the
        cursor, the mode), its memory of each order, its back-off and last error, the mappings
        it suggested and its backfill job."""
        k = self.keys(tenant)
        suggested = [
            name
            async for name, _ in self._r.hscan_iter(k.suggestions, match=field_name(platform, "*"))
        ]
        memory = RedisMemory(self._r, k, platform)

        def steps(pipe: Pipeline) -> None:
            pipe.hdel(k.connector_health(platform), "cursor", "mode", "next_poll_at", "last_error")
            pipe.delete(*memory.keys(), k.connector_backfill(platform))
            pipe.delete(k.connector_rejected(platform))
            if suggested:
                pipe.hdel(k.suggestions, *suggested)

        return steps

    async def show(self, tenant: str, platform: str) -> Json:
        """The connector as the API shows it: options, `password: "set"`, health."""
        check_platform(platform)
        doc = await self._stored(tenant, platform)
        if doc is None:
            raise NotFound(f"no {platform} connector is configured", where="platform")
        k = self.keys(tenant)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.connector_health(platform))
            pipe.hgetall(k.connector_rejected(platform))
            health, set_aside = cast(list[dict[str, str]], await pipe.execute())
        last_success = health.get("last_success_at")
        lag = (
            round(time.time() - datetime.fromisoformat(last_success).timestamp(), 1)
            if last_success
            else None
        )
        connector = check_platform(platform)
        return {
            "platform": platform,
            **doc["options"],
            **dict.fromkeys(connector.SECRET_FIELDS, "set"),
            "created_at": doc["created_at"],
            "updated_at": doc["updated_at"],
            "paused": doc.get("paused"),
            "health": {
                "runs": int(health.get("runs", 0)),
                "last_run_at": health.get("last_run_at"),
                "last_success_at": last_success,
                "last_error": orjson.loads(health["last_error"])
                if health.get("last_error")
                else None,
                "lag_s": lag,
                "orders_seen": int(health.get("orders_seen", 0)),
                "events_seen": int(health.get("events_seen", 0)),
                "failures_in_row": int(health.get("failures_in_row", 0)),
                "mode": health.get("mode") or None,
            },
            "rejected": rejects.listed({n: orjson.loads(e) for n, e in set_aside.items()}),
        }

    async def clear_rejected(self, tenant: str, platform: str) -> None:
        """Forget the connector's set-aside orders (the tenant has dealt with them). A later poll
        that still cannot read one sets it aside again, and says so again."""
        check_platform(platform)
        if await self._stored(tenant, platform) is None:
            raise NotFound(f"no {platform} connector is configured", where="platform")
        await self._r.delete(self.keys(tenant).connector_rejected(platform))

    async def delete(self, tenant: str, platform: str) -> None:
        k = self.keys(tenant)
        check_platform(platform)
        if not await self._r.hdel(k.connectors, platform):
            raise NotFound(f"no {platform} connector is configured", where="platform")
        forget = await self._forgetting(tenant, platform)
        async with self._r.pipeline(transaction=True) as pipe:
            forget(pipe)
            pipe.delete(k.connector_health(platform), k.connector_lease(platform))
            await pipe.execute()


async def reseal(client: Redis, keys: TenantKeys, box: SecretBox) -> int:
    """Seal again under the current key the credentials of a tenant's connectors sealed under
    a key it replaced (GATEWAY_SECRET_KEY_PREVIOUS); how many connectors were rewritten. Each is
    replaced only as it was read (a connector stored again meanwhile is sealed by that)."""
    swap = client.register_script(script("swap.lua"))
    docs = cast(dict[str, str], await client.hgetall(keys.connectors))
    rewritten = 0
    for platform, raw in docs.items():
        doc = orjson.loads(raw)
        fresh = box.reseal(doc["sealed"])
        if fresh is not None:
            new = orjson.dumps({**doc, "sealed": fresh}).decode()
            rewritten += await swap(keys=[keys.connectors], args=[platform, raw, new]) == 1
    return rewritten
