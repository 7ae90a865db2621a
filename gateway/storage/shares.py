"""Share records and each tenant's share key in Redis (see `gateway.shares` for the tokens)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from gateway.clock import iso
from gateway.shares import ShareClaims, issue, new_key, new_share_id, verify
from gateway.storage.keys import TenantKeys


@dataclass(frozen=True, slots=True)
class Share:
    id: str
    platform: str
    order_id: str
    created_at: str
    expires_at: str


class ShareStore:
    """Issues, checks, lists and revokes share tokens."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._r = client
        self._prefix = prefix
        self._keys: dict[str, str] = {}  # tenant → share key; a key never changes once made

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    async def _key(self, tenant: str) -> str:
        known = self._keys.get(tenant)
        if known is not None:
            return known
        name = self.keys(tenant).share_key
        await self._r.set(name, new_key(), nx=True)  # the first process to ask makes it
        key = cast(str, await self._r.get(name))
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[tenant] = key
        return key

    async def create(
        self, tenant: str, platform: str, order_id: str, lifetime_s: int
    ) -> tuple[Share, str]:
        """A new share of the order and its token."""
        now = time.time()
        expires = math.ceil(now) + lifetime_s  # whole seconds, never shorter than asked
        share = Share(new_share_id(), platform, order_id, iso(now), iso(expires))
        keys = self.keys(tenant)
        record, index = keys.share(share.id), keys.shares_of(platform, order_id)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(
                record,
                mapping={
                    "platform": platform,
                    "order_id": order_id,
                    "created_at": share.created_at,
                    "expires_at": share.expires_at,
                },
            )
            pipe.expireat(record, expires)
            pipe.zremrangebyscore(index, "-inf", int(now))
            pipe.zadd(index, {share.id: expires})
            pipe.zrange(index, -1, -1, withscores=True)
            *_, last = await pipe.execute()
        # the index lives as long as the order's longest share (no EXPIRE GT: Redis 6.2 is fine)
        await self._r.expireat(index, int(last[0][1]))
        claims = ShareClaims(tenant, platform, order_id, share.id, expires)
        return share, issue(claims, await self._key(tenant))

    async def check(self, token: str, tenant: str) -> ShareClaims | None:
        """The claims of a genuine, unexpired, unrevoked token of `tenant`; None otherwise."""
        claims = verify(token, await self._key(tenant), time.time())
        if claims is None or not await self._r.exists(self.keys(tenant).share(claims.share_id)):
            return None
        return claims

    async def of_order(self, tenant: str, platform: str, order_id: str) -> list[Share]:
        """The order's live shares, oldest first."""
        keys = self.keys(tenant)
        ids = cast(
            list[str],
            await self._r.zrangebyscore(
                keys.shares_of(platform, order_id), int(time.time()), "+inf"
            ),
        )
        async with self._r.pipeline(transaction=False) as pipe:
            for share_id in ids:
                pipe.hgetall(keys.share(share_id))
            records = cast(list[dict[str, str]], await pipe.execute())
        found = [
            Share(share_id, r["platform"], r["order_id"], r["created_at"], r["expires_at"])
            for share_id, r in zip(ids, records, strict=True)
            if r
        ]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    async def revoke(self, tenant: str, share_id: str) -> bool:
        """Ends a share at once; False when there is no such live share."""
        keys = self.keys(tenant)
        record = cast(dict[str, str], await self._r.hgetall(keys.share(share_id)))
        if not record:
            return False
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(keys.share(share_id))
            pipe.zrem(keys.shares_of(record["platform"], record["order_id"]), share_id)
            await pipe.execute()
        return True
