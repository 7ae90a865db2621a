"""`Idempotency-Key`: a request retried with the same key gets the first one's answer.

What Stripe and Svix taught integrators: a client that did not hear the answer to a POST (a
timeout, a dropped connection) sends it again with the same `Idempotency-Key`, and the gateway
answers what it answered the first time instead of doing it twice (two endpoints, two replays,
two test sends).

- The first request with a key is run and, when it succeeds (2xx), its answer is kept for
  `KEPT_S` (24 h), per tenant. A retry of the same request (same method, path, query and body)
  gets that answer again, with `Idempotent-Replayed: true`.
- A request that failed (a problem document) keeps nothing: nothing was done, so the retry runs.
- The same key with another request is refused (422 `idempotency-key-reused`); a retry while the
  first is still running is refused too (409 `idempotency-key-in-use`, `Retry-After: 1`).
- Kept answers may hold a secret (a new endpoint's `whsec_`): with `GATEWAY_SECRET_KEY` set they
  are stored sealed, like the secrets themselves.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Header, Request, Response
from redis.asyncio import Redis

from gateway.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from gateway.sealing import SecretBox
from gateway.storage.keys import TenantKeys

KEPT_S = 86_400  # how long an answer is kept for retries
RUNNING_S = 60  # how long a request with a key may run before a retry may run it again
REPLAYED = "Idempotent-Replayed"
KEPT_HEADERS = ("content-type", "location", "content-language")
SEALED = "sealed:"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique value (a UUID) of up to 255 visible ASCII characters: a retry "
        "with the same key and the same request gets the first answer again (kept 24 h), with "
        "`Idempotent-Replayed: true`, instead of doing it twice.",
    ),
]


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests the same request."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode()):
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(body)
    return digest.hexdigest()


class Idempotency:
    """Kept answers of requests sent with an `Idempotency-Key`, per tenant, in Redis."""

    def __init__(self, client: Redis, prefix: str, box: SecretBox) -> None:
        self._r = client
        self._prefix = prefix
        self._box = box

    def _key(self, tenant: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return TenantKeys(self._prefix, tenant).idempotency(digest)

    async def run(
        self,
        tenant: str,
        key: str | None,
        request: Request,
        answer: Callable[[], Awaitable[Response]],
    ) -> Response:
        """`answer()`, or without running it the answer it gave a first request with `key`."""
        if key is None:
            return await answer()
        same = fingerprint(
            request.method, request.url.path, request.url.query, await request.body()
        )
        stored_at = self._key(tenant, key)
        running = orjson.dumps({"fingerprint": same, "running": True})
        while not await self._r.set(stored_at, running, nx=True, ex=RUNNING_S):
            found = await self._r.get(stored_at)
            if found is None:  # expired meanwhile: try to take it again
                continue
            return self._kept(self._open(found), same)
        try:
            response = await answer()
        except BaseException:
            await self._r.delete(stored_at)
            raise
        if 200 <= response.status_code < 300:
            await self._r.set(stored_at, self._seal(self._record(same, response)), ex=KEPT_S)
        else:
            await self._r.delete(stored_at)
        return response

    @staticmethod
    def _record(same: str, response: Response) -> dict[str, Any]:
        return {
            "fingerprint": same,
            "status": response.status_code,
            "headers": [[n, v] for n, v in response.headers.items() if n in KEPT_HEADERS],
            "body": base64.b64encode(bytes(response.body)).decode(),
        }

    def _seal(self, record: dict[str, Any]) -> str:
        text = orjson.dumps(record).decode()
        return SEALED + self._box.seal_text(text) if self._box.ready else text

    def _open(self, stored: str | bytes) -> dict[str, Any]:
        text = stored.decode() if isinstance(stored, bytes) else stored
        if text.startswith(SEALED):
            text = self._box.open_text(text[len(SEALED) :])
        doc: dict[str, Any] = orjson.loads(text)
        return doc

    @staticmethod
    def _kept(record: dict[str, Any], same: str) -> Response:
        if record["fingerprint"] != same:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with another request in the last 24 h (another "
                "route, query or body); use a new key for a new request",
                where="Idempotency-Key",
            )
        if record.get("running"):
            raise IdempotencyKeyInUse(
                "the first request with this Idempotency-Key is still running; retry in a "
                "moment to get its answer",
                where="Idempotency-Key",
            )
        headers = {n: v for n, v in record["headers"] if n != "content-type"}
        media = dict(record["headers"]).get("content-type")
        return Response(
            base64.b64decode(record["body"]),
            status_code=record["status"],
            headers={**headers, REPLAYED: "true"},
            media_type=media,
        )
