"""webhooks.client against scripted HTTP servers on 127.0.0.1: what is sent, how each kind of
answer is read, when a connection is reused, and every way an exchange can fail."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

import webhooks.client
from tests.factories import free_port
from tests.webhooks.scripted import HANG, Request, ok, serving
from webhooks.client import (
    Disconnected,
    HttpClient,
    InvalidResponse,
    Response,
    UnresolvableHost,
)
from webhooks.guard import BlockedAddress

BODY = b'{"type":"order.status_changed"}'
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


def client(**options: Any) -> HttpClient:
    settings: dict[str, Any] = {
        "allow_private": True,
        "connect_timeout_s": 2.0,
        "timeout_s": 5.0,
        "keep_bytes": 16,
        "read_limit": 256,
    }
    return HttpClient(**(settings | options))


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------ what goes out


def test_sends_one_plain_post() -> None:
    async def test() -> None:
        async with serving() as server:
            http = client()
            url = f"http://127.0.0.1:{server.port}/hooks/in?shop=7"
            assert await http.post(url, HEADERS, BODY) == Response(200, b"ok")
            await http.close()
        [request] = server.requests
        assert request.line == "POST /hooks/in?shop=7 HTTP/1.1"
        assert request.headers == {
            "host": f"127.0.0.1:{server.port}",
            "content-length": str(len(BODY)),
            **HEADERS,
        }
        assert request.body == BODY

    run(test)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://hooks.example:{port}/", "hooks.example:{port}"),
        ("http://HOOKS.example:{port}", "hooks.example:{port}"),
        ("http://xn--bcher-kva.example:{port}/", "xn--bcher-kva.example:{port}"),
        ("http://bücher.example:{port}/", "xn--bcher-kva.example:{port}"),
    ],
)
def test_the_host_header_names_the_urls_host(url: str, host: str) -> None:
    async def resolve(_host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]

    async def test() -> None:
        async with serving() as server:
            http = client(resolve=resolve)
            await http.post(url.format(port=server.port), HEADERS, BODY)
            await http.close()
        assert server.requests[0].headers["host"] == host.format(port=server.port)
        assert server.requests[0].line == "POST / HTTP/1.1"

    run(test)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-evil": "a\r\nx-injected: 1"},
        {"x-evil": "a\nb"},
        {"x-evil": "a\rb"},
        {"x\r\nevil": "a"},
    ],
)
def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(
    headers: dict[str, str],
) -> None:
    async def test() -> None:
        async with serving() as server:
            http = client()
            with pytest.raises(ValueError, match="line break"):
                await http.post(f"http://127.0.0.1:{server.port}/", headers, BODY)
            await http.close()
        assert server.connections == 0

    run(test)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///nohost", "/relative"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    async def test() -> None:
        with pytest.raises(ValueError, match="not an http"):
            await client().post(url, HEADERS, BODY)

    run(test)


# ------------------------------------------------------------------ how answers are read

ANSWERS = [
    # raw answer, expected (status, kept body, Retry-After), connection reused after it
    (b"HTTP/1.1 204 No Content\r\n\r\n", (204, b"", None), True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", (200, b"hello", None), True),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        (200, b"hello world", None),
        True,
    ),
    (
        b"HTTP/1.1 503 Busy\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n",
        (503, b"", "120"),
        True,
    ),
    (
        b"HTTP/1.1 429 Slow down\r\nretry-after: Wed, 25 Nov 2026 10:00:00 GMT\r\n"
        b"Content-Length: 0\r\n\r\n",
        (429, b"", "Wed, 25 Nov 2026 10:00:00 GMT"),
        True,
    ),
    (  # a redirect is an answer, not followed
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n",
        (302, b"", None),
        True,
    ),
    (  # interim answers come before the real one
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
        (202, b"ok", None),
        True,
    ),
    (  # the first keep_bytes (16) are kept, all of it is read (within read_limit, 256)
        b"HTTP/1.1 400 Bad\r\nContent-Length: 40\r\n\r\n" + b"e" * 40,
        (400, b"e" * 16, None),
        True,
    ),
    (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        (200, b"ok", None),
        False,
    ),
    (  # a second answer nobody asked for: the first stands, the connection is given up
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        b"HTTP/1.1 500 Surprise\r\nContent-Length: 0\r\n\r\n",
        (200, b"ok", None),
        False,
    ),
    (  # beyond read_limit: the answer stands, the connection is given up
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000,
        (200, b"x" * 16, None),
        False,
    ),
]


@pytest.mark.parametrize(("raw", "expected", "reused"), ANSWERS)
def test_reads_each_kind_of_answer(
    raw: bytes, expected: tuple[int, bytes, str | None], reused: bool
) -> None:
    async def test() -> None:
        async with serving(lambda _r: raw) as server:
            http = client()
            url = f"http://127.0.0.1:{server.port}/"
            first = await http.post(url, HEADERS, BODY)
            await settle()
            second = await http.post(url, HEADERS, BODY)
            await http.close()
        assert (first.status, first.body, first.retry_after) == expected
        assert second == first
        assert server.connections == (1 if reused else 2)

    run(test)


def test_an_answer_without_a_length_ends_with_its_connection() -> None:
    async def test() -> None:
        answer = b"HTTP/1.0 200 OK\r\n\r\nall of it"
        async with serving(lambda _r: answer, close_after=True) as server:
            http = client()
            response = await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            await settle()
            assert http.connections == 0
            await http.close()
        assert (response.status, response.body) == (200, b"all of it")

    run(test)


# ------------------------------------------------------------------ the pool


def test_the_parsed_urls_it_remembers_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks.client, "MAX_TARGETS", 2)

    async def test() -> None:
        async with serving() as server:
            http = client()
            for path in ("a", "b", "c", "d", "e"):
                answer = await http.post(f"http://127.0.0.1:{server.port}/{path}", HEADERS, BODY)
                assert answer.status == 200
                assert len(http._targets) <= 2
            await http.close()
        assert [r.line for r in server.requests][-1] == "POST /e HTTP/1.1"

    run(test)


def test_keeps_connections_alive_and_reuses_them() -> None:
    async def test() -> None:
        async with serving(delay=0.02) as server:
            http = client()
            url = f"http://127.0.0.1:{server.port}/"
            for _ in range(10):
                await http.post(url, HEADERS, BODY)
            assert server.connections == 1
            await asyncio.gather(*(http.post(url, HEADERS, BODY) for _ in range(8)))
            assert server.connections == 8
            await asyncio.gather(*(http.post(url, HEADERS, BODY) for _ in range(8)))
            assert server.connections == 8
            assert http.connections == 8
            await http.close()
            await settle()
            assert http.connections == 0
        assert len(server.requests) == 26
        assert server.closed == 8

    run(test)


def test_never_opens_more_than_the_limit() -> None:
    async def test() -> None:
        async with serving(delay=0.05) as server, serving(delay=0.05) as other:
            http = client(limit=3)
            url = f"http://127.0.0.1:{server.port}/"
            answers = await asyncio.gather(*(http.post(url, HEADERS, BODY) for _ in range(12)))
            # The next receiver gets the slots of the first one's idle connections.
            url = f"http://127.0.0.1:{other.port}/"
            answers += await asyncio.gather(*(http.post(url, HEADERS, BODY) for _ in range(6)))
            assert http.connections == 3
            await http.close()
        assert [a.status for a in answers] == [200] * 18
        assert (server.most_open, server.connections) == (3, 3)
        assert (other.most_open, other.connections) == (3, 3)

    run(test)


def test_a_request_woken_for_a_free_connection_but_cancelled_passes_the_turn_on() -> None:
    async def test() -> None:
        async with serving(delay=0.1) as server:
            http = client(limit=1, timeout_s=3.0)
            url = f"http://127.0.0.1:{server.port}/"
            first = asyncio.create_task(http.post(url, HEADERS, BODY))
            await asyncio.sleep(0.02)
            woken = asyncio.create_task(http.post(url, HEADERS, BODY))
            await asyncio.sleep(0.02)
            later = asyncio.create_task(http.post(url, HEADERS, BODY))
            await asyncio.sleep(0.02)
            wake = http._wake_one

            def wake_then_cancel() -> None:  # the waiter is cancelled right after its wake-up
                http._wake_one = wake  # type: ignore[method-assign]
                wake()
                woken.cancel()

            http._wake_one = wake_then_cancel  # type: ignore[method-assign]
            assert (await first).status == 200
            with pytest.raises(asyncio.CancelledError):
                await woken
            assert (await later).status == 200
            await http.close()

    run(test)


def test_at_the_limit_an_idle_connection_to_another_receiver_is_closed() -> None:
    async def test() -> None:
        async with serving() as first, serving() as second:
            http = client(limit=1)
            await http.post(f"http://127.0.0.1:{first.port}/", HEADERS, BODY)
            await http.post(f"http://127.0.0.1:{second.port}/", HEADERS, BODY)
            await settle()
            assert (first.closed, second.closed, http.connections) == (1, 0, 1)
            await http.close()

    run(test)


def test_idle_connections_are_closed_after_the_keepalive() -> None:
    async def test() -> None:
        async with serving() as server:
            http = client(keepalive_s=0.1)
            await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            assert http.connections == 1
            await asyncio.sleep(0.4)
            assert http.connections == 0
            assert server.closed == 1
            await http.close()

    run(test)


def test_a_request_dropped_on_a_reused_connection_goes_again_on_a_new_one() -> None:
    # What a receiver that closes idle connections looks like when the close crosses our
    # request: the connection was fine, the second request on it gets no answer at all.
    seen: list[Request] = []

    def drop_the_second(request: Request) -> bytes | None:
        seen.append(request)
        return None if len(seen) == 2 else ok(request)

    async def test() -> None:
        async with serving(drop_the_second) as server:
            http = client()
            url = f"http://127.0.0.1:{server.port}/"
            assert (await http.post(url, HEADERS, BODY)).status == 200
            assert (await http.post(url, HEADERS, BODY)).status == 200
            await http.close()
        assert [r.connection for r in server.requests] == [1, 1, 2]
        assert all(r.body == BODY for r in server.requests)

    run(test)


def test_a_connection_the_receiver_closed_while_idle_is_not_used_again() -> None:
    async def test() -> None:
        async with serving(close_after=True) as server:
            http = client()
            url = f"http://127.0.0.1:{server.port}/"
            assert (await http.post(url, HEADERS, BODY)).status == 200
            await settle()
            assert http.connections == 0
            assert (await http.post(url, HEADERS, BODY)).status == 200
            await http.close()
        assert [r.connection for r in server.requests] == [1, 2]

    run(test)


# ------------------------------------------------------------------ failures


def test_no_answer_on_a_new_connection_is_a_disconnect() -> None:
    async def test() -> None:
        async with serving(lambda _r: None) as server:
            http = client()
            with pytest.raises(Disconnected, match="closed the connection before answering"):
                await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            await http.close()
        assert server.connections == 1  # not sent again: it was not a stale connection

    run(test)


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_an_answer_that_is_not_http_is_invalid(raw: bytes) -> None:
    async def test() -> None:
        async with serving(lambda _r: raw) as server:
            http = client()
            with pytest.raises(InvalidResponse, match=r"not HTTP/1\.1"):
                await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            await settle()
            assert http.connections == 0
            await http.close()

    run(test)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000,  # one endless header
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: a\r\n" * 20_000,  # endless headers
        b"HTTP/1.1 103 Early Hints\r\n\r\n" * 5_000,  # endless interim answers
    ],
    ids=["one endless header", "endless headers", "endless interim answers"],
)
def test_an_endless_head_is_cut_off(raw: bytes) -> None:
    async def test() -> None:
        async with serving(lambda _r: raw) as server:
            http = client(timeout_s=10.0)
            with pytest.raises(InvalidResponse, match="head is over 65,536 bytes"):
                await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            await http.close()

    run(test)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: " + b"a" * 500_000,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=" + b"a" * 500_000,
    ],
    ids=["an endless trailer", "an endless chunk extension"],
)
def test_an_endless_answer_after_its_status_ends_with_the_status(raw: bytes) -> None:
    async def test() -> None:
        async with serving(lambda _r: raw) as server:
            http = client(timeout_s=10.0)
            answer = await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            await settle()
            assert http.connections == 0
            await http.close()
        assert answer.status == 200

    run(test)


def test_a_head_and_a_large_body_in_one_read_are_fine() -> None:
    body = b"b" * 200_000
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def test() -> None:
        async with serving(lambda _r: raw) as server:
            http = client(read_limit=300_000)
            answer = await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            await http.close()
        assert (answer.status, answer.body) == (200, b"b" * 16)

    run(test)


def test_a_receiver_that_never_answers_times_out_and_its_connection_is_closed() -> None:
    async def test() -> None:
        async with serving(lambda _r: HANG) as server:
            http = client(timeout_s=0.3)
            started = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError, match=r"no answer within 0\.3 s"):
                await http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY)
            assert asyncio.get_running_loop().time() - started < 2
            await settle()
            assert http.connections == 0
            await http.close()

    run(test)


def test_a_refused_connection_is_an_oserror() -> None:
    async def test() -> None:
        with pytest.raises(ConnectionRefusedError):
            await client().post(f"http://127.0.0.1:{free_port()}/", HEADERS, BODY)

    run(test)


def test_a_cancelled_request_closes_its_connection() -> None:
    async def test() -> None:
        async with serving(lambda _r: HANG) as server:
            http = client()
            task = asyncio.create_task(http.post(f"http://127.0.0.1:{server.port}/", HEADERS, BODY))
            while not server.requests:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await settle()
            assert http.connections == 0
            assert server.closed == 1
            await http.close()

    run(test)


# ------------------------------------------------------------------ the SSRF guard


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
def test_a_non_public_receiver_is_refused_before_connecting(host: str) -> None:
    async def test() -> None:
        async with serving() as server:
            http = client(allow_private=False)
            with pytest.raises(BlockedAddress, match="non-public address"):
                await http.post(f"http://{host}:{server.port}/", HEADERS, BODY)
            await http.close()
        assert server.connections == 0

    run(test)


def test_a_name_rebound_to_a_private_address_is_refused_at_connect_time() -> None:
    # Registration saw a public address; by delivery time the name answers 127.0.0.1.
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    async def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers)

    async def test() -> None:
        async with serving() as server:
            http = client(allow_private=False, resolve=rebinding, connect_timeout_s=0.5)
            url = f"http://hooks.example:{server.port}/"
            # First answer: public, so the guard lets it through (nothing listens there).
            with pytest.raises((OSError, TimeoutError)) as first:
                await http.post(url, HEADERS, BODY)
            assert not isinstance(first.value, BlockedAddress)
            with pytest.raises(BlockedAddress, match=r"hooks\.example resolves to a non-public"):
                await http.post(url, HEADERS, BODY)
            await http.close()
        assert server.connections == 0

    run(test)


def test_a_name_with_any_private_address_is_refused_whole() -> None:
    async def mixed(_host: str, _port: int) -> list[str]:
        return ["127.0.0.1", "93.184.215.14"]

    async def test() -> None:
        async with serving() as server:
            http = client(allow_private=False, resolve=mixed)
            with pytest.raises(BlockedAddress) as info:
                await http.post(f"http://hooks.example:{server.port}/", HEADERS, BODY)
            assert info.value.addresses == ("127.0.0.1",)
        assert server.connections == 0

    run(test)


def test_every_address_is_tried_in_turn() -> None:
    async def two(_host: str, _port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2: refused

    async def test() -> None:
        async with serving() as server:
            http = client(resolve=two)
            response = await http.post(f"http://hooks.example:{server.port}/", HEADERS, BODY)
            await http.close()
        assert response.status == 200
        assert server.connections == 1

    run(test)


def test_an_unresolvable_host_says_so() -> None:
    async def test() -> None:
        with pytest.raises(UnresolvableHost, match=r"nothing\.invalid does not resolve"):
            await client().post("http://nothing.invalid/", HEADERS, BODY)

    run(test)


# ------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def _server_tls(authority: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*names).configure_cert(context)
    return context


def _trusting(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_https_verifies_the_certificate_against_the_urls_host(
    authority: trustme.CA, host: str
) -> None:
    async def test() -> None:
        async with serving(tls=_server_tls(authority, "localhost", "127.0.0.1")) as server:
            http = client(ssl_context=_trusting(authority))
            url = f"https://{host}:{server.port}/hook"
            assert await http.post(url, HEADERS, BODY) == Response(200, b"ok")
            assert await http.post(url, HEADERS, BODY) == Response(200, b"ok")
            await http.close()
        assert server.connections == 1
        assert server.requests[0].headers["host"] == f"{host}:{server.port}"

    run(test)


def test_https_to_a_certificate_for_another_name_fails(authority: trustme.CA) -> None:
    async def resolve(_host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]

    async def test() -> None:
        async with serving(tls=_server_tls(authority, "other.example")) as server:
            http = client(ssl_context=_trusting(authority), resolve=resolve)
            with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
                await http.post(f"https://hooks.example:{server.port}/", HEADERS, BODY)
            await http.close()
        assert server.requests == []

    run(test)


def test_https_to_an_unknown_authority_fails(authority: trustme.CA) -> None:
    async def test() -> None:
        async with serving(tls=_server_tls(authority, "localhost")) as server:
            http = client()  # the system's CAs, which do not include the test's
            with pytest.raises(ssl.SSLCertVerificationError):
                await http.post(f"https://localhost:{server.port}/", HEADERS, BODY)
            await http.close()
        assert server.requests == []

    run(test)


def test_a_tls_handshake_that_never_ends_hits_the_connect_timeout(
    authority: trustme.CA,
) -> None:
    async def test() -> None:
        ended = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # the ClientHello, then nothing until the client gives up
            writer.close()
            ended.set()

        listener = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        http = client(ssl_context=_trusting(authority), connect_timeout_s=0.3)
        with pytest.raises(TimeoutError, match=r"no connection within 0\.3 s"):
            await http.post(f"https://localhost:{port}/", HEADERS, BODY)
        await asyncio.wait_for(ended.wait(), 2)  # the client closed its end
        await http.close()
        listener.close()

    run(test)


def test_ssl_cert_file_names_the_authorities_to_trust(
    authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the README tells operators with a private CA: `SSL_CERT_FILE=/path/ca.pem`."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setattr(webhooks.client, "_TLS", [])  # made again, under this environment

    async def test() -> None:
        async with serving(tls=_server_tls(authority, "localhost")) as server:
            http = client()
            answer = await http.post(f"https://localhost:{server.port}/", HEADERS, BODY)
            await http.close()
        assert answer == Response(200, b"ok")

    run(test)
