"""Tenants (shops) and their credentials in Redis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from gateway import credentials
from gateway.credentials import Credential, Kind
from gateway.errors import Conflict, InvalidTenantName, NotFound
from gateway.storage.keys import TenantKeys, tenants


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kind: Kind
    prefix: str
    created_at: str

    def doc(self) -> dict[str, Any]:
        return {"kind": self.kind, "prefix": self.prefix, "created_at": self.created_at}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class TenantStore:
    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._prefix = prefix

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    def _hash_of(self, kind: Kind, tenant: str) -> str:
        k = self.keys(tenant)
        return k.api_keys if kind == "gwk" else k.ingest_tokens

    async def create(self, name: str) -> tuple[str, Credential]:
        """A new tenant named `name` (its id) and its first API key."""
        if not credentials.valid_tenant_id(name):
            raise InvalidTenantName(
                f"{name!r} cannot be a tenant id: use 1-48 lower-case letters, digits and "
                "hyphens, starting and ending with a letter or digit",
                where="name",
            )
        k = self.keys(name)
        if not await self._r.hsetnx(k.record, "created_at", _now()):
            raise Conflict(f"tenant {name!r} already exists", where="name")
        await self._r.sadd(tenants(self._prefix), name)
        return name, await self.issue("gwk", name)

    async def exists(self, tenant: str) -> bool:
        return bool(await self._r.exists(self.keys(tenant).record))

    async def all(self) -> list[dict[str, Any]]:
        names = sorted(cast(set[str], await self._r.smembers(tenants(self._prefix))))
        out = []
        for name in names:
            k = self.keys(name)
            created = await self._r.hget(k.record, "created_at")
            out.append(
                {
                    "tenant": name,
                    "created_at": created,
                    "api_keys": await self._r.hlen(k.api_keys),
                    "ingest_tokens": await self._r.hlen(k.ingest_tokens),
                }
            )
        return out

    async def issue(self, kind: Kind, tenant: str) -> Credential:
        if not await self.exists(tenant):
            raise NotFound(f"no tenant {tenant!r}", where="tenant")
        cred = credentials.new(kind, tenant)
        info = KeyInfo(kind, cred.prefix, _now())
        await self._r.hset(self._hash_of(kind, tenant), cred.digest, orjson.dumps(info.doc()))
        return cred

    async def list_keys(self, tenant: str) -> list[KeyInfo]:
        if not await self.exists(tenant):
            raise NotFound(f"no tenant {tenant!r}", where="tenant")
        found = []
        for kind in ("gwk", "gwi"):
            rows = cast(dict[str, str], await self._r.hgetall(self._hash_of(kind, tenant)))
            for doc in rows.values():
                d = orjson.loads(doc)
                found.append(KeyInfo(d["kind"], d["prefix"], d["created_at"]))
        return sorted(found, key=lambda i: (i.kind, i.created_at, i.prefix))

    async def revoke(self, tenant: str, prefix: str) -> KeyInfo:
        """Revoke the one credential whose listed prefix is `prefix` (or the whole credential)."""
        kind: Kind = "gwi" if prefix.startswith("gwi_") else "gwk"
        cred = credentials.parse(prefix, kind)
        show = cred.prefix if cred else prefix
        rows = cast(dict[str, str], await self._r.hgetall(self._hash_of(kind, tenant)))
        docs = [(h, orjson.loads(d)) for h, d in rows.items()]
        matches = [(h, d) for h, d in docs if d["prefix"] == show]
        if cred:
            matches = [(h, d) for h, d in matches if h == cred.digest]
        if not matches:
            raise NotFound(f"tenant {tenant!r} has no credential {show!r}", where="prefix")
        if len(matches) > 1:
            raise Conflict(f"{show!r} matches {len(matches)} credentials: give the whole key")
        digest, doc = matches[0]
        await self._r.hdel(self._hash_of(kind, tenant), digest)
        return KeyInfo(doc["kind"], doc["prefix"], doc["created_at"])

    async def rotate(self, tenant: str, prefix: str) -> Credential:
        """Issue a new credential of the same kind and revoke the old one."""
        old = await self.revoke(tenant, prefix)
        return await self.issue(old.kind, tenant)

    async def verify(self, value: str, kind: Kind) -> str | None:
        """The tenant a presented credential belongs to, or None."""
        cred = credentials.parse(value, kind)
        if cred is None:
            return None
        found = await self._r.hexists(self._hash_of(kind, cred.tenant), cred.digest)
        return cred.tenant if found else None
