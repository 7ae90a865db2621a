"""API keys and ingest tokens: how they look, how they are stored (hashed), how they are read.

A credential is `<kind>_<tenant>_<secret>`: `gwk_acme_…` (API key, `Authorization: Bearer`) or
`gwi_acme_…` (ingest token, for platforms that cannot send a Bearer header). Naming the tenant in
the credential lets one Redis lookup in that tenant's own keys verify it. Only the SHA-256 of the
secret part is stored; the secret has 192 bits of entropy, so a fast hash is enough.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

Kind = Literal["gwk", "gwi"]
TENANT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")
_SECRET = re.compile(r"^[A-Za-z0-9]{32,64}$")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX_CHARS = 6  # of the secret, shown in listings so an operator can tell keys apart


@dataclass(frozen=True, slots=True)
class Credential:
    kind: Kind
    tenant: str
    secret: str

    def __str__(self) -> str:
        return f"{self.kind}_{self.tenant}_{self.secret}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(str(self).encode()).hexdigest()

    @property
    def prefix(self) -> str:
        """What listings show: enough to recognise the key, useless to use it."""
        return f"{self.kind}_{self.tenant}_{self.secret[:PREFIX_CHARS]}"


def new(kind: Kind, tenant: str) -> Credential:
    """A fresh credential: 32 base62 characters (about 190 bits)."""
    return Credential(kind, tenant, "".join(secrets.choice(_ALPHABET) for _ in range(32)))


def parse(value: str, kind: Kind) -> Credential | None:
    """The credential `value` spells, or None if it is not one of `kind`."""
    head, sep, rest = value.strip().partition("_")
    tenant, sep2, secret = rest.rpartition("_")
    if head != kind or not sep or not sep2 or not TENANT_ID.match(tenant):
        return None
    if not _SECRET.match(secret):
        return None
    return Credential(kind, tenant, secret)


def valid_tenant_id(name: str) -> bool:
    return bool(TENANT_ID.match(name))
