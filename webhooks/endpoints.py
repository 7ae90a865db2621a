"""Webhook endpoints: what a tenant registered, which events each wants, and where they live.

An endpoint is one JSON document in the tenant's `webhooks` hash. It has a shared secret (`v1`,
HMAC) and an Ed25519 signing key (`v1a`); its `signature_schemes` say which of them sign. They
sign, so they cannot be hashed: with GATEWAY_SECRET_KEY set they are stored sealed (Fernet,
`gateway.sealing`, as `sealed:<token>`), without it as given; the store opens them as it reads.
The secret leaves through the API only on creation and rotation, the signing key never (its public
key is shown with the endpoint). A rotated-out secret or key keeps an `expires_at`: until then
both sign each delivery.
"""

from __future__ import annotations

import secrets as random_tokens
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from gateway.canonical import Code, Stage
from gateway.clock import now_iso
from gateway.errors import Conflict, InvalidFilter
from gateway.sealing import SecretBox, box_for
from gateway.settings import Settings
from gateway.storage.keys import TenantKeys
from gateway.tables import Tables
from webhooks.pace import Pace
from webhooks.queue import script
from webhooks.signing import (
    Scheme,
    headers as signed_headers,
    new_secret,
    new_signing_key,
    public_key,
)

EventType = Literal[
    "order.status_changed",
    "fbo.deadline_at_risk",
    "fbo.deadline_missed",
    "endpoint.disabled",
    "endpoint.failing",
    "endpoint.recovered",
    "connector.paused",
    "connector.item_rejected",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
OPERATIONAL: frozenset[str] = frozenset(
    {
        "endpoint.disabled",
        "endpoint.failing",
        "endpoint.recovered",
        "connector.paused",
        "connector.item_rejected",
    }
)
# What an endpoint gets when its filter names no types: every business event, no operations.
DEFAULT_TYPES: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t not in OPERATIONAL)
# `v1` (HMAC) by default: every Standard Webhooks library checks it; `v1a` is chosen per endpoint.
DEFAULT_SCHEMES: tuple[Scheme, ...] = ("v1",)
Json = dict[str, Any]
UPDATE_TRIES = 20  # collisions with other changes of one endpoint before a 409
WHAT = "webhook secrets"  # what the errors of their box call them
SEALED = "sealed:"  # how a stored secret sealed with GATEWAY_SECRET_KEY begins
OPENED_KEPT = 4_096  # opened secrets a store remembers (opening one costs about 10 µs)


class Filter(BaseModel):
    """Which events an endpoint receives; an absent or empty list means "any"."""

    model_config = ConfigDict(extra="forbid")

    types: list[EventType] | None = Field(
        None,
        description="Event types; default: every type except operational ones "
        "(`endpoint.disabled`, `endpoint.failing`, `endpoint.recovered`, `connector.paused`, "
        "`connector.item_rejected`), which an endpoint gets only by naming them.",
    )
    platforms: list[str] | None = Field(None, description="Platforms (names or aliases).")
    statuses: list[str] | None = Field(None, description="Canonical codes of the new status.")
    stages: list[str] | None = Field(None, description="Canonical stages of the new status.")

    def wanted_types(self) -> Sequence[str]:
        return self.types or DEFAULT_TYPES

    def matches(self, event_type: str, platform: str | None, current: Mapping[str, Any]) -> bool:
        """Whether an event of `event_type` (of an order on `platform`, now `current`) is sent."""
        if event_type not in self.wanted_types():
            return False
        if self.platforms and platform is not None and platform not in self.platforms:
            return False
        if event_type != "order.status_changed":
            return True
        if self.statuses and current.get("code") not in self.statuses:
            return False
        return not self.stages or current.get("stage") in self.stages


def checked_filter(raw: Filter, tables: Tables, where: str = "#/filter") -> Filter:
    """`raw` with platform aliases resolved; an unknown platform, code or stage is a 422."""
    platforms = None
    if raw.platforms:
        platforms = []
        for i, name in enumerate(raw.platforms):
            table = tables.find_platform(name)
            if table is None:
                raise InvalidFilter(
                    f"{name!r} is not a platform",
                    where=f"{where}/platforms/{i}",
                    valid=sorted(tables.platforms),
                )
            platforms.append(table.platform)
    for field, valid in (
        ("statuses", sorted(c.value for c in Code)),
        ("stages", sorted(s.value for s in Stage)),
    ):
        for i, value in enumerate(getattr(raw, field) or ()):
            if value not in valid:
                raise InvalidFilter(
                    f"{value!r} is not a canonical {SINGULAR[field]}",
                    where=f"{where}/{field}/{i}",
                    valid=valid,
                )
    return raw.model_copy(update={"platforms": sorted(set(platforms)) if platforms else None})


class Secret(BaseModel):
    """A `whsec_` secret or a `whsk_` signing key, and how long it signs."""

    secret: str
    created_at: str
    expires_at: str | None = None  # set when rotated out

    def signs_at(self, at: datetime) -> bool:
        return self.expires_at is None or datetime.fromisoformat(self.expires_at) > at


class Endpoint(BaseModel):
    """A registered webhook endpoint as stored."""

    id: str
    url: str
    lang: str
    filter: Filter
    description: str | None = None
    rate_limit: int | None = None  # attempts per second (`webhooks.pace`); None: no limit
    enabled: bool = True
    disabled_reason: str | None = None
    disabled_at: str | None = None
    created_at: str
    updated_at: str
    secrets: list[Secret]
    signature_schemes: list[Scheme] = Field(default_factory=lambda: list(DEFAULT_SCHEMES))
    # Endpoints stored before `v1a` existed have none until they choose it or rotate.
    signing_keys: list[Secret] = Field(default_factory=list)
    # Its own headers, sent with every delivery (`webhooks.custom_headers`); their values may be
    # credentials, so they are sealed like the secrets and never shown.
    headers: dict[str, str] = Field(default_factory=dict)

    def signing_secrets(self, at: datetime) -> list[str]:
        """What signs now, per scheme: the current secret (and key) and any rotated out less
        than the overlap ago; `v1` entries first."""
        out = []
        if "v1" in self.signature_schemes:
            out += [s.secret for s in self.secrets if s.signs_at(at)]
        if "v1a" in self.signature_schemes:
            out += [k.secret for k in self.signing_keys if k.signs_at(at)]
        return out

    def public_keys(self, at: datetime) -> list[Json]:
        """The `whpk_` keys that verify `v1a` signatures now, the current one first."""
        return [
            {"key": public_key(k.secret), "created_at": k.created_at, "expires_at": k.expires_at}
            for k in self.signing_keys
            if k.signs_at(at)
        ]

    def delivery_headers(self, msg_id: str, body: bytes, at: datetime) -> dict[str, str]:
        """Every header of a request to this endpoint signed at `at`: its own first, then the
        signed ones, which are the gateway's to set."""
        signed = signed_headers(
            msg_id, int(at.timestamp()), body, self.signing_secrets(at), self.lang
        )
        return {**self.headers, **signed} if self.headers else signed

    @property
    def pace(self) -> Pace:
        return Pace.of(self.rate_limit)

    def public(self) -> Json:
        """The endpoint as the API shows it: everything but the secrets."""
        doc = self.model_dump(exclude={"secrets", "signing_keys", "headers"}, mode="json")
        doc["filter"] = self.filter.model_dump(mode="json")
        doc["header_names"] = list(self.headers)
        now = datetime.now(UTC)
        doc["secret_rotations_pending"] = sum(
            1 for s in self.secrets if s.expires_at and s.signs_at(now)
        )
        doc["public_keys"] = self.public_keys(now)
        return doc

    def with_signing_key(self) -> Endpoint:
        """The endpoint with a signing key (one is made if it has none yet)."""
        if self.signing_keys:
            return self
        key = Secret(secret=new_signing_key(), created_at=now_iso())
        return self.model_copy(update={"signing_keys": [key]})


SINGULAR = {"statuses": "status", "stages": "stage"}
MAX_OLD_SECRETS = 2  # rotated-out secrets that still sign; a third rotation retires the oldest


def new_endpoint_id() -> str:
    return "ep_" + random_tokens.token_urlsafe(12).replace("-", "a").replace("_", "b")


class EndpointStore:
    """Endpoints of tenants in Redis."""

    def __init__(self, client: Redis, prefix: str, box: SecretBox | None = None) -> None:
        self._r = self.client = client
        self._prefix = prefix
        self._swap = client.register_script(script("swap.lua"))
        self._box = box or SecretBox(None, WHAT)
        self._opened: dict[str, str] = {}

    @classmethod
    def configured(cls, client: Redis, settings: Settings) -> EndpointStore:
        return cls(client, settings.redis_prefix, box_for(settings, WHAT))

    def keys(self, tenant: str) -> TenantKeys:
        return TenantKeys(self._prefix, tenant)

    def _dump(self, endpoint: Endpoint) -> str:
        """The stored form: its secrets sealed when this gateway has a key."""
        if not self._box.ready:
            return endpoint.model_dump_json()
        sealed = endpoint.model_copy(
            update={
                "secrets": [self._sealed(s) for s in endpoint.secrets],
                "signing_keys": [self._sealed(k) for k in endpoint.signing_keys],
                "headers": {n: self._sealed_text(v) for n, v in endpoint.headers.items()},
            }
        )
        return sealed.model_dump_json()

    def _sealed(self, held: Secret) -> Secret:
        return held.model_copy(update={"secret": self._sealed_text(held.secret)})

    def _sealed_text(self, text: str) -> str:
        return SEALED + self._box.seal_text(text)

    def _load(self, doc: str) -> Endpoint:
        """The endpoint a stored document holds, its secrets opened (SecretKeyMissing when they
        are sealed and this gateway has no key, or another)."""
        endpoint = Endpoint.model_validate_json(doc)
        if SEALED not in doc:
            return endpoint
        return endpoint.model_copy(
            update={
                "secrets": [self._opened_secret(s) for s in endpoint.secrets],
                "signing_keys": [self._opened_secret(k) for k in endpoint.signing_keys],
                "headers": {n: self._opened_text(v) for n, v in endpoint.headers.items()},
            }
        )

    def _opened_secret(self, held: Secret) -> Secret:
        if not held.secret.startswith(SEALED):
            return held
        return held.model_copy(update={"secret": self._opened_text(held.secret)})

    def _opened_text(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        opened = self._opened.get(stored)
        if opened is None:
            opened = self._box.open_text(stored.removeprefix(SEALED))
            if len(self._opened) >= OPENED_KEPT:
                self._opened.clear()
            self._opened[stored] = opened
        return opened

    async def all(self, tenant: str) -> list[Endpoint]:
        docs = cast(dict[str, str], await self._r.hgetall(self.keys(tenant).webhooks))
        found = [self._load(doc) for doc in docs.values()]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    async def ids(self, tenants: Sequence[str]) -> dict[str, list[str]]:
        """The endpoint ids of each tenant, in one round trip."""
        async with self._r.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.hkeys(self.keys(tenant).webhooks)
            found = cast(list[list[str]], await pipe.execute())
        return dict(zip(tenants, found, strict=True))

    async def get(self, tenant: str, endpoint_id: str) -> Endpoint | None:
        doc = cast(str | None, await self._r.hget(self.keys(tenant).webhooks, endpoint_id))
        return self._load(doc) if doc else None

    async def put(self, tenant: str, endpoint: Endpoint) -> None:
        """Write a new endpoint (changes to an existing one go through `update`)."""
        await self._r.hset(self.keys(tenant).webhooks, endpoint.id, self._dump(endpoint))

    async def update(
        self, tenant: str, endpoint_id: str, change: Callable[[Endpoint], Endpoint]
    ) -> tuple[Endpoint, Endpoint] | None:
        """Apply `change` to the endpoint as it is now, atomically: (before, after), or None
        when it does not exist (a deleted endpoint is never written back). Another change landing
        in between (a PATCH, a rotation, the worker disabling it) is re-read and `change` applied
        to it, so neither is lost; Conflict after UPDATE_TRIES such collisions in a row."""
        key = self.keys(tenant).webhooks
        for _ in range(UPDATE_TRIES):
            doc = cast(str | None, await self._r.hget(key, endpoint_id))
            if doc is None:
                return None
            before = self._load(doc)
            after = change(before)
            if after == before:
                return before, after
            swapped = await self._swap(keys=[key], args=[endpoint_id, doc, self._dump(after)])
            if swapped == 1:
                return before, after
            if swapped == -1:
                return None
        raise Conflict(
            f"webhook endpoint {endpoint_id!r} is being changed by other requests; try again"
        )

    async def create(
        self,
        tenant: str,
        *,
        url: str,
        lang: str,
        filter: Filter,
        description: str | None,
        rate_limit: int | None = None,
        signature_schemes: Sequence[Scheme] = DEFAULT_SCHEMES,
        headers: Mapping[str, str] | None = None,
    ) -> Endpoint:
        stamp = now_iso()
        endpoint = Endpoint(
            id=new_endpoint_id(),
            url=url,
            lang=lang,
            filter=filter,
            description=description,
            rate_limit=rate_limit,
            created_at=stamp,
            updated_at=stamp,
            secrets=[Secret(secret=new_secret(), created_at=stamp)],
            signature_schemes=list(signature_schemes),
            signing_keys=[Secret(secret=new_signing_key(), created_at=stamp)],
            headers=dict(headers or {}),
        )
        await self.put(tenant, endpoint)
        return endpoint

    async def seal(self, tenant: str) -> int:
        """Store sealed under the current key the secrets (and header values) of the tenant's
        endpoints stored in the clear (before a key was set) or under a previous key; how many
        endpoints were rewritten.
        Every sealed secret is opened on the way, so one that no key opens is a SecretKeyMissing
        here. An endpoint changed meanwhile was written by that change, sealed as well."""
        if not self._box.ready:
            self._box.seal_text("")  # raises SecretKeyMissing, naming the setting
        key = self.keys(tenant).webhooks
        docs = cast(dict[str, str], await self._r.hgetall(key))
        rewritten = 0
        for endpoint_id, doc in docs.items():
            endpoint = self._load(doc)
            held = Endpoint.model_validate_json(doc)
            stored = [s.secret for s in (*held.secrets, *held.signing_keys)]
            if all(self._current(v) for v in (*stored, *held.headers.values())):
                continue
            swapped = await self._swap(keys=[key], args=[endpoint_id, doc, self._dump(endpoint)])
            rewritten += swapped == 1
        return rewritten

    def _current(self, stored: str) -> bool:
        """Whether a stored secret is sealed under the current key."""
        return stored.startswith(SEALED) and self._box.reseal(stored.removeprefix(SEALED)) is None

    async def delete(self, tenant: str, endpoint_id: str) -> bool:
        """Remove the endpoint (its lanes are the queue's to drop; see `forget`)."""
        return bool(await self._r.hdel(self.keys(tenant).webhooks, endpoint_id))

    async def forget(self, tenant: str, endpoint_id: str) -> None:
        """Remove what is left of a deleted endpoint once its lanes are gone: its failure
        streak (and its announcement), its pace and its delivery log (an attempt finishing
        meanwhile finds its lane gone and records nothing)."""
        async with self._r.pipeline(transaction=True) as pipe:
            self.fresh_start(pipe, tenant, endpoint_id)
            pipe.delete(self.keys(tenant).webhook_log(endpoint_id))
            await pipe.execute()

    def fresh_start(self, pipe: Pipeline, tenant: str, endpoint_id: str) -> None:
        """Queue on `pipe` the end of the endpoint's failure streak (and of its announcement)
        and of any pause a receiver asked for: on enabling it, and once it is deleted."""
        k = self.keys(tenant)
        pipe.hdel(k.webhook_failing, endpoint_id)
        pipe.hdel(k.webhook_warned, endpoint_id)
        pipe.hdel(k.webhook_holds, endpoint_id)


def _rotated(
    held: Sequence[Secret], fresh: str, stamp: str, until: str, at: datetime
) -> list[Secret]:
    kept = [
        s if s.expires_at else s.model_copy(update={"expires_at": until})
        for s in held
        if s.signs_at(at)
    ][:MAX_OLD_SECRETS]
    return [Secret(secret=fresh, created_at=stamp), *kept]


def rotated(endpoint: Endpoint, overlap_s: float, at: datetime) -> Endpoint:
    """`endpoint` with a new current secret and signing key (first in their lists); the old
    ones sign for `overlap_s` more, the MAX_OLD_SECRETS newest of them: each signature adds 50
    to 95 bytes to `webhook-signature`, and receivers commonly refuse headers past 8 KB."""
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    until = (at + timedelta(seconds=overlap_s)).isoformat(timespec="milliseconds")
    until = until.replace("+00:00", "Z")
    return endpoint.model_copy(
        update={
            "secrets": _rotated(endpoint.secrets, new_secret(), stamp, until, at),
            "signing_keys": _rotated(endpoint.signing_keys, new_signing_key(), stamp, until, at),
            "updated_at": stamp,
        }
    )


def disabled(endpoint: Endpoint, reason: str) -> Endpoint:
    stamp = now_iso()
    return endpoint.model_copy(
        update={
            "enabled": False,
            "disabled_reason": reason,
            "disabled_at": stamp,
            "updated_at": stamp,
        }
    )


def enabled(endpoint: Endpoint) -> Endpoint:
    return endpoint.model_copy(
        update={
            "enabled": True,
            "disabled_reason": None,
            "disabled_at": None,
            "updated_at": now_iso(),
        }
    )
