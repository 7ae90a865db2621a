"""Share tokens: a signed, expiring, read-only link to one order, for storefronts.

A token is `gws_<payload>.<tag>`: the payload names the tenant, the order, the share's id and its
expiry (base64url of compact JSON), and the tag is an HMAC-SHA256 of the payload under the
tenant's own share key (kept in Redis, made on first use). A forged or altered token fails the
tag; an expired one fails the clock; a revoked one has no share record left. All three answer the
same 404, so a token tells nothing about the orders it does not name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

PREFIX = "gws_"
TAG_BYTES = 20  # 160-bit tag: far past guessing, and the token stays short in an attribute


@dataclass(frozen=True, slots=True)
class ShareClaims:
    """What a token says: one order of one tenant, until `expires` (Unix seconds)."""

    tenant: str
    platform: str
    order_id: str
    share_id: str
    expires: int


def new_share_id() -> str:
    return "sh_" + secrets.token_hex(8)


def new_key() -> str:
    """A tenant's share key (hex of 32 random bytes)."""
    return secrets.token_hex(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: str, payload: bytes) -> bytes:
    return hmac.new(bytes.fromhex(key), payload, hashlib.sha256).digest()[:TAG_BYTES]


def issue(claims: ShareClaims, key: str) -> str:
    payload = orjson.dumps(
        [claims.tenant, claims.platform, claims.order_id, claims.share_id, claims.expires]
    )
    return f"{PREFIX}{_b64(payload)}.{_b64(_tag(key, payload))}"


def read(token: str) -> tuple[ShareClaims, bytes, bytes] | None:
    """The claims of a well-formed token with its payload and tag, unverified; None otherwise."""
    if not token.startswith(PREFIX) or token.count(".") != 1:
        return None
    body, tag = token[len(PREFIX) :].split(".")
    try:
        payload = _unb64(body)
        fields = orjson.loads(payload)
        raw_tag = _unb64(tag)
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        return None
    if (
        not isinstance(fields, list)
        or len(fields) != 5
        or not all(isinstance(f, str) for f in fields[:4])
        or type(fields[4]) is not int
    ):
        return None
    return ShareClaims(*fields), payload, raw_tag


def verify(token: str, key: str, now: float) -> ShareClaims | None:
    """The claims of a token signed with `key` and not expired at `now`; None otherwise."""
    parsed = read(token)
    if parsed is None:
        return None
    claims, payload, tag = parsed
    if not hmac.compare_digest(_tag(key, payload), tag) or claims.expires <= now:
        return None
    return claims
