"""The HTTP/1.1 client deliveries go out through: keep-alive pool, TLS, timeouts, SSRF guard.

A delivery is always the same small exchange: one POST of a body we built, one answer of which
only the status, `Retry-After` and the first bytes matter. aiohttp (what the worker used before)
spends about 50 µs of CPU on such a request on our 2-core VMs: request and response objects,
header multidicts, trace hooks, the cookie jar, a stream reader. This client is an asyncio
protocol around `httptools` (llhttp, the C parser uvicorn uses) and spends about 12; the
worker's CPU per delivery falls by about a quarter (`bench/delivery.py` prints it). httpx is
out for the reason in the house style (its pool collapses under concurrency).

What it does, and deliberately does not:

* HTTP/1.1 only. No proxy (none from the environment either: the SSRF checks would judge the
  proxy), no redirects (a 3xx is an answer, so a payload only goes to the URL registered), no
  compression, no cookies.
* **SSRF guard at connect time.** The host is resolved here, every address is checked
  (`webhooks.guard.refuse_non_public`) and the socket connects to a checked address, so a
  second DNS answer cannot slip in between check and connect (DNS rebinding). TLS still
  verifies the certificate against the URL's host name (CA bundle: the system's, or
  `SSL_CERT_FILE`).
* **Keep-alive per origin** (scheme, host, port), most recently used first; an idle
  connection is closed after `keepalive_s`. A request that fails on a reused connection
  before a single byte of answer (the receiver had closed it while idle) is sent again on
  another connection: at worst a receiver sees one `webhook-id` twice, which is what
  at-least-once delivery means anyway.
* **At most `limit` connections** open in all: the least recently used idle one is closed to
  make room, else a request waits for one.
* **Timeouts**: `connect_timeout_s` for resolving, TCP and the TLS handshake of a new
  connection; `timeout_s` for the whole exchange. An answer is read up to `read_limit` bytes
  (then the connection is closed instead of reused); the first `keep_bytes` are kept.
* **Bounded by what a receiver sends**: receivers are the tenants' own, so the status line and
  headers (interim 1xx answers included) may take `MAX_HEAD` bytes, the body `read_limit`, the
  whole answer (chunk framing, trailers) `MAX_HEAD + 2 * read_limit`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httptools
import yarl

from gateway.values import value
from webhooks.guard import Resolve, lookup, public_addresses

KEEPALIVE_S = 15.0
# Bytes a receiver may send before its answer's status and headers are complete (interim 1xx
# answers included): a receiver is the tenant's, and httptools itself sets no limit.
MAX_HEAD = 65_536
MAX_TARGETS = 4096  # parsed URLs remembered


class HttpError(Exception):
    """The exchange failed on the receiver's side of HTTP (the network's are OSErrors)."""


class Disconnected(HttpError):
    """The receiver closed the connection before its answer was complete."""


class InvalidResponse(HttpError):
    """The receiver's answer is not HTTP/1.x."""


class UnresolvableHost(HttpError):
    """The URL's host has no IP address."""


@value
class Response:
    status: int
    body: bytes  # its first `keep_bytes`
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    tls: bool
    host: str  # as resolved: a name, or an IP literal without brackets
    port: int


@dataclass(frozen=True, slots=True)
class _Target:
    origin: Origin
    head: bytes  # the request line and Host header


def _target(url: str) -> _Target:
    parsed = yarl.URL(url)
    host = parsed.raw_host
    if parsed.scheme not in ("http", "https") or not host or parsed.port is None:
        raise ValueError(f"not an http(s) URL: {url!r}")
    target = parsed.raw_path_qs or "/"
    head = f"POST {target} HTTP/1.1\r\nhost: {parsed.host_port_subcomponent}\r\n"
    return _Target(Origin(parsed.scheme == "https", host, parsed.port), head.encode("ascii"))


def _request(target: _Target, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
        raise ValueError("a header name or value contains a line break")
    return b"".join(
        (target.head, f"content-length: {len(body)}\r\n{lines}\r\n".encode("latin-1"), body)
    )


class _Connection(asyncio.Protocol):
    """One connection: at most one exchange at a time, answers parsed by httptools."""

    def __init__(self, client: HttpClient, origin: Origin) -> None:
        self.client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.idle_since = 0.0
        self.reusable = False
        self.received = 0  # bytes of this exchange's answer
        self._start()

    def _start(self) -> None:
        self.status = 0
        self.retry_after: str | None = None
        self.chunks: list[bytes] = []
        self.kept = 0
        self.read = 0
        self.headed = False

    # --- the exchange

    @property
    def waiting(self) -> bool:
        """An exchange is under way and its answer is not complete yet."""
        return self.waiter is not None

    def exchange(self, request: bytes, deadline: float) -> asyncio.Future[Response]:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        if self.transport is None:  # closed by the receiver before it was used
            self.waiter.set_exception(Disconnected("the receiver closed the connection"))
            return self.waiter
        self.reusable = False
        self.received = 0
        self._start()
        self.timer = loop.call_at(deadline, self._expire)
        self.transport.write(request)
        return self.waiter

    def _expire(self) -> None:
        self._fail(TimeoutError(f"no answer within {self.client.timeout_s:g} s"))

    def _fail(self, error: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close(abort=True)

    def _answer(self, *, keep_alive: bool) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.reusable = keep_alive and self.transport is not None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self.status, b"".join(self.chunks), self.retry_after))
        if not self.reusable:
            self.close()

    def close(self, *, abort: bool = False) -> None:
        """Close the connection; `abort` drops what is still unsent (a receiver that stopped
        reading would otherwise keep the socket open)."""
        self.reusable = False
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self.client._closed(self)  # its slot is free at once, not when the close completes

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.client._opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None:
            if self.headed:  # the status is in: a body without a length ends like this
                self._answer(keep_alive=False)
            else:
                error = Disconnected("the receiver closed the connection before answering")
                error.__cause__ = exc
                self._fail(error)
        self.client._closed(self)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools' parser errors, an upgrade we never asked for
            self._fail(InvalidResponse(f"the receiver's answer is not HTTP/1.1: {exc}"))
            return
        if not self.waiting:  # answered by the callbacks of this very read
            return
        if not self.headed:  # everything so far was status lines and headers
            if self.received > MAX_HEAD:
                self._fail(InvalidResponse(f"the answer's head is over {MAX_HEAD:,} bytes"))
        elif self.received > MAX_HEAD + 2 * self.client.read_limit:
            # Chunk framing or trailers without end: the status stands, the rest is not read.
            self._answer(keep_alive=False)

    # --- httptools callbacks

    def on_message_begin(self) -> None:
        if self.waiter is None:  # more after the answer, unasked: the connection cannot be trusted
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headed = self.status >= 200

    def on_body(self, body: bytes) -> None:
        if self.waiter is None:
            return
        room = self.client.keep_bytes - self.kept
        if room > 0:
            self.chunks.append(body[:room])
            self.kept += min(room, len(body))
        self.read += len(body)
        if self.read > self.client.read_limit:  # enough: give up the connection, not wait
            self._answer(keep_alive=False)

    def on_message_complete(self) -> None:
        if self.waiter is None:
            return
        if not self.headed:  # an interim 1xx answer (100 Continue, 103 Early Hints)
            self._start()
            return
        self._answer(keep_alive=self.parser.should_keep_alive())


class HttpClient:
    """POSTs to webhook receivers; one per process, closed with it."""

    def __init__(
        self,
        *,
        allow_private: bool,
        connect_timeout_s: float,
        timeout_s: float,
        limit: int = 256,
        keepalive_s: float = KEEPALIVE_S,
        read_limit: int = 65_536,
        keep_bytes: int = 1024,
        ssl_context: ssl.SSLContext | None = None,
        resolve: Resolve = lookup,
    ) -> None:
        self.allow_private = allow_private
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self.limit = limit
        self.keepalive_s = keepalive_s
        self.read_limit = read_limit
        self.keep_bytes = keep_bytes
        self._ssl = ssl_context
        self._resolve = resolve
        self._targets: dict[str, _Target] = {}
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._connecting = 0
        self._room: list[asyncio.Future[None]] = []
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def connections(self) -> int:
        """How many connections are open (idle or in use)."""
        return len(self._open)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        """POST ``body`` to ``url``; the answer, or the error why there was none (an OSError
        such as `BlockedAddress`, an `HttpError`, a `TimeoutError`, a ValueError for a URL or
        header we cannot send)."""
        target = self._targets.get(url)
        if target is None:
            target = _target(url)
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()
            self._targets[url] = target
        request = _request(target, headers, body)
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while True:
            connection, reused = await self._acquire(target.origin, deadline)
            try:
                return await self._exchange(connection, request, deadline)
            except Disconnected:
                if not reused or connection.received:
                    raise
                # The receiver had closed it while idle: again, on another connection (the
                # stale one is closed, so this ends with a new connection at the latest).

    async def _exchange(self, connection: _Connection, request: bytes, deadline: float) -> Response:
        try:
            response = await connection.exchange(request, deadline)
        except BaseException:
            connection.close(abort=True)  # cancelled or failed mid-exchange: state unknown
            raise
        if connection.reusable:
            self._give_back(connection)
        return response

    async def close(self) -> None:
        """Close every connection; requests still running fail with `Disconnected`."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for connection in list(self._open):
            connection.close()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing

    # --- the pool

    async def _acquire(self, origin: Origin, deadline: float) -> tuple[_Connection, bool]:
        """A connection to ``origin`` and whether it was used before: an idle one, else a new
        one when there is room (made by closing another receiver's idle one if need be), else
        the first to come free."""
        while True:
            connection = self._take_idle(origin)
            if connection is not None:
                return connection, True
            if len(self._open) + self._connecting < self.limit or self._close_oldest_idle():
                return await self._connect(origin, deadline), False
            waiter = asyncio.get_running_loop().create_future()
            self._room.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, but leaving: the next one in line gets the turn
                if isinstance(exc, TimeoutError):
                    raise TimeoutError(
                        f"no connection came free within {self.timeout_s:g} s"
                    ) from None
                raise
            finally:
                if waiter in self._room:
                    self._room.remove(waiter)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.transport is not None and not connection.transport.is_closing():
                return connection
        return None

    def _give_back(self, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._wake_one()
        if self._sweep is None:
            self._sweep = loop.call_later(self.keepalive_s, self._close_expired)

    def _close_expired(self) -> None:
        self._sweep = None
        loop = asyncio.get_running_loop()
        expiry = loop.time() - self.keepalive_s
        for idle in self._idle.values():
            while idle and idle[0].idle_since <= expiry:  # oldest first
                idle.pop(0).close()
        self._idle = {origin: idle for origin, idle in self._idle.items() if idle}
        if self._idle:
            self._sweep = loop.call_later(self.keepalive_s / 4, self._close_expired)

    def _close_oldest_idle(self) -> bool:
        oldest = min(
            (idle for idle in self._idle.values() if idle),
            key=lambda idle: idle[0].idle_since,
            default=None,
        )
        if oldest is None:
            return False
        oldest.pop(0).close()
        return True

    def _opened(self, connection: _Connection) -> None:
        self._open.add(connection)

    def _closed(self, connection: _Connection) -> None:
        if connection not in self._open:
            return
        self._open.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        """Tell the longest waiting request that a connection or a slot came free."""
        while self._room:
            waiter = self._room.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, origin: Origin, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        connect_by = min(deadline, loop.time() + self.connect_timeout_s)
        try:
            async with asyncio.timeout_at(connect_by):
                self._connecting += 1
                try:
                    connection = await self._open_to(loop, origin, await self._addresses(origin))
                except BaseException:
                    self._connecting -= 1
                    self._wake_one()  # the slot it held is free again
                    raise
                self._connecting -= 1  # counted in `_open` from here on
                return connection
        except TimeoutError:
            if connect_by < deadline:
                raise TimeoutError(f"no connection within {self.connect_timeout_s:g} s") from None
            raise TimeoutError(f"no answer within {self.timeout_s:g} s") from None

    async def _addresses(self, origin: Origin) -> list[str]:
        try:
            return await public_addresses(
                origin.host, origin.port, allow_private=self.allow_private, resolve=self._resolve
            )
        except socket.gaierror as exc:
            raise UnresolvableHost(f"{origin.host} does not resolve: {exc}") from None

    async def _open_to(
        self, loop: asyncio.AbstractEventLoop, origin: Origin, addresses: list[str]
    ) -> _Connection:
        tls = None
        if origin.tls:
            tls = self._ssl or _default_tls()
        error: OSError | None = None
        for address in addresses:  # the first that answers, in the resolver's order
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, origin),
                    host=address,
                    port=origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                )
            except OSError as exc:
                error = exc
                continue
            return connection
        assert error is not None
        raise error


_TLS: list[ssl.SSLContext] = []


def _default_tls() -> ssl.SSLContext:
    """The system's CA bundle (or `SSL_CERT_FILE`'s), made once per process."""
    if not _TLS:
        _TLS.append(ssl.create_default_context())
    return _TLS[0]
