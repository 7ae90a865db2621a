"""An in-process HTTP cache in front of the router for the cacheable GETs.

Translation and vocabulary answers are pure functions of the path, the query string, the
Accept-Language header and the loaded tables and catalogs, which never change while the process
runs. So a 200 answer that carries an ETag is kept (keyed on exactly those inputs) and replayed
without routing, dependency solving or rendering; If-None-Match still gets its 304. What is not
in the cache goes through the app as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]
Key = tuple[str, bytes, bytes | None]
_NOT_MODIFIED_DROP = frozenset({b"content-type", b"content-length"})


@dataclass(frozen=True, slots=True)
class _Entry:
    headers: Headers
    body: bytes
    etag: bytes


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 weak comparison of an If-None-Match list against one strong ETag."""
    if if_none_match.strip() == b"*":
        return True
    return any(c.strip().removeprefix(b"W/") == etag for c in if_none_match.split(b","))


class ResponseCache:
    """Replays cacheable GET answers.

    Bounded by entries and by bytes (a client sending ever new Accept-Language values must not
    grow it without end); when either bound would be passed the cache starts afresh.
    """

    def __init__(
        self,
        app: ASGIApp,
        prefixes: tuple[str, ...],
        limit: int = 20_000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.prefixes = prefixes
        self.limit = limit
        self.max_bytes = max_bytes
        self._entries: dict[Key, _Entry] = {}
        self._bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        accept_language = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"accept-language":
                accept_language = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"authorization":  # a tenant's own mappings may answer: not shared
                await self.app(scope, receive, send)
                return
        key = (path, scope["query_string"], accept_language)
        entry = self._entries.get(key)
        if entry is not None:
            await self._replay(entry, if_none_match, send)
            return
        await self.app(scope, receive, self._recorder(key, send))

    async def _replay(self, entry: _Entry, if_none_match: bytes | None, send: Send) -> None:
        if if_none_match is not None and etag_matches(if_none_match, entry.etag):
            headers = [h for h in entry.headers if h[0] not in _NOT_MODIFIED_DROP]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body})

    def _recorder(self, key: Key, send: Send) -> Send:
        state: dict[str, object] = {}
        chunks: list[bytes] = []

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                etag = next((v for k, v in headers if k.lower() == b"etag"), None)
                if message["status"] == 200 and etag is not None:
                    state["headers"], state["etag"] = headers, etag
            elif message["type"] == "http.response.body" and "etag" in state:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._store(key, state, b"".join(chunks))
            await send(message)

        return record

    def _store(self, key: Key, state: dict[str, object], body: bytes) -> None:
        if len(self._entries) >= self.limit or self._bytes + len(body) > self.max_bytes:
            self._entries.clear()
            self._bytes = 0
        if len(body) > self.max_bytes:
            return
        self._bytes += len(body)
        headers = state["headers"]
        etag = state["etag"]
        assert isinstance(headers, list)
        assert isinstance(etag, bytes)
        self._entries[key] = _Entry(headers, body, etag)
