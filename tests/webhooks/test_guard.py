"""SSRF guard: URL rules, address classes, and real connections to a receiver on 127.0.0.1.

Nothing here contacts anything but 127.0.0.1 / localhost; the address table needs no network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from webhooks.guard import (
    BlockedAddress,
    GuardedResolver,
    UnsafeUrl,
    check_url,
    connector,
    is_public_address,
    literal_address,
    lookup,
    refuse_non_public,
    resolve_public,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks",
        "https://example.com:8443/hooks?x=1",
        "HTTPS://Example.COM./hooks",
        "https://93.184.216.34/hooks",
        "https://[2606:4700:4700::1111]/hooks",
        "https://xn--bcher-kva.example/hooks",
        "https://bücher.example/hooks",
    ],
)
def test_check_url_accepts(url: str) -> None:
    assert check_url(url, allow_insecure=False).scheme == "https"


def test_check_url_http_only_when_allowed() -> None:
    with pytest.raises(UnsafeUrl, match="https://") as info:
        check_url("http://example.com/", allow_insecure=False)
    assert "https" in info.value.reason
    assert check_url("http://example.com/", allow_insecure=True).port == 80


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "must start with"),
        ("file:///etc/passwd", "must start with"),
        ("javascript:alert(1)", "must start with"),
        ("//example.com/x", "must start with"),
        ("/relative/path", "must start with"),
        ("https:///nohost", "no host"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("https://example.com@evil.example/", "user name or password"),
        ("https://@example.com/", "user name or password"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com/#", "fragment"),
        ("https://example.com:0/", "port"),
        ("https://example.com:70000/", "cannot be parsed"),
        ("https://example.com:abc/", "cannot be parsed"),
        ("https://exa mple.com/", "spaces or control characters"),
        (" https://example.com/hooks ", "spaces or control characters"),
        ("https://example.com/hooks ", "spaces or control characters"),
        ("https://example.com/a b", "spaces or control characters"),
        ("https://example.com/a\tb", "spaces or control characters"),
        ("https://example.com/a\r\nX-Injected: 1", "spaces or control characters"),
        ("https://example.com/\x00", "spaces or control characters"),
        ("https://example.com/\x7f", "spaces or control characters"),
        ("https://[zz::1]/x", "cannot be parsed"),
        ("https://[::1/x", "cannot be parsed"),
        ("https://xn--a.com/a", "valid host"),
        ("https://XN--ZZ.com/a", "valid host"),
        ("https://xn--55qx5d.xn--zz/a", "valid host"),
        ("https://-bad.example/", "valid host"),
        ("https://2130706433/", "canonical"),
        ("https://0x7f.1/", "canonical"),
        ("https://127.1/", "canonical"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(url, allow_insecure=True)


NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.9",
    "10.1.2.3",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::10.0.0.1",
    "64:ff9b::a00:1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::808:808",
    "2002:7f00:1::",
    "2002:a00:1::",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("8.8.8.8", "8.8.8.8"),
        ("example.com", None),
        ("localhost", None),
        ("2130706433", None),  # not a literal here: check_url refuses this form earlier
    ],
)
def test_literal_address(host: str, address: str | None) -> None:
    assert literal_address(host) == address


@pytest.mark.parametrize(
    ("addresses", "blocked"),
    [
        (["8.8.8.8"], []),
        (["8.8.8.8", "2606:4700:4700::1111"], []),
        (["127.0.0.1"], ["127.0.0.1"]),
        (["8.8.8.8", "10.0.0.1", "10.0.0.1"], ["10.0.0.1"]),
        (["::ffff:169.254.169.254"], ["::ffff:169.254.169.254"]),
        (["not-an-address"], ["not-an-address"]),
    ],
)
def test_refuse_non_public(addresses: list[str], blocked: list[str]) -> None:
    assert refuse_non_public("hooks.example", addresses, allow_private=True) == addresses
    if not blocked:
        assert refuse_non_public("hooks.example", addresses, allow_private=False) == addresses
        return
    with pytest.raises(BlockedAddress) as info:
        refuse_non_public("hooks.example", addresses, allow_private=False)
    assert info.value.addresses == tuple(blocked)
    assert isinstance(info.value, OSError)
    assert "hooks.example resolves to a non-public address" in str(info.value)


def test_lookup_resolves_localhost_and_fails_with_gaierror() -> None:
    assert "127.0.0.1" in asyncio.run(lookup("localhost", 80))
    with pytest.raises(socket.gaierror):
        asyncio.run(lookup("nothing.invalid", 80))


def test_resolve_public_refuses_localhost() -> None:
    with pytest.raises(UnsafeUrl, match="loopback/private") as info:
        asyncio.run(resolve_public("localhost", 443, allow_private=False))
    assert "127.0.0.1" in info.value.reason or "::1" in info.value.reason


def test_resolve_public_allows_localhost_when_private_allowed() -> None:
    addresses = asyncio.run(resolve_public("localhost", 443, allow_private=True))
    assert addresses
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("8.8.8.8", True), ("127.0.0.1", False), ("[::1]", False), ("169.254.169.254", False)],
)
def test_resolve_public_literals(host: str, allowed: bool) -> None:
    run = resolve_public(host, 443, allow_private=False)
    if allowed:
        assert asyncio.run(run) == [host]
    else:
        with pytest.raises(UnsafeUrl, match="loopback/private"):
            asyncio.run(run)


def test_resolve_public_unresolvable() -> None:
    # .invalid never resolves (RFC 6761); the local resolver answers without the network.
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        asyncio.run(resolve_public("nothing.invalid", 443, allow_private=False))


class FakeResolver(aiohttp.abc.AbstractResolver):
    """Answers like a rebinding DNS server would: a fixed list, whatever is asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self,
        host: str,
        port: int = 0,
        family: socket.AddressFamily = socket.AF_INET,  # noqa: ARG002 - the fake ignores it
    ) -> list[aiohttp.abc.ResolveResult]:
        return [
            {"hostname": host, "host": a, "port": port, "family": 0, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("addresses", "blocked"),
    [
        (("8.8.8.8",), False),
        (("8.8.8.8", "2606:4700:4700::1111"), False),
        (("127.0.0.1",), True),
        (("8.8.8.8", "10.0.0.1"), True),
        (("::ffff:169.254.169.254",), True),
    ],
)
def test_guarded_resolver(addresses: tuple[str, ...], blocked: bool) -> None:
    async def run(allow_private: bool) -> list[str]:
        resolver = GuardedResolver(allow_private=allow_private, inner=FakeResolver(*addresses))
        return [r["host"] for r in await resolver.resolve("hooks.example", 443)]

    assert asyncio.run(run(True)) == list(addresses)
    if blocked:
        with pytest.raises(BlockedAddress, match=r"hooks\.example"):
            asyncio.run(run(False))
    else:
        assert asyncio.run(run(False)) == list(addresses)


@asynccontextmanager
async def receiver() -> AsyncIterator[int]:
    """An aiohttp app on 127.0.0.1 and a free port; yields the port."""

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port
    await web.SockSite(runner, sock).start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        await runner.cleanup()


def post_via_guard(allow_private: bool, host: str) -> int:
    """POST to the local receiver through the guarded connector; returns the status."""

    async def run() -> int:
        async with (
            receiver() as port,
            aiohttp.ClientSession(
                connector=connector(allow_private=allow_private, limit=10),
                timeout=aiohttp.ClientTimeout(total=10),
            ) as session,
            session.post(f"http://{host}:{port}/", data=b"{}", allow_redirects=False) as response,
        ):
            return response.status

    return asyncio.run(run())


def blocked_cause(error: BaseException) -> BlockedAddress | None:
    """The BlockedAddress behind an aiohttp error (os_error, or the __cause__ chain)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, BlockedAddress):
            return seen
        os_error = getattr(seen, "os_error", None)
        if isinstance(os_error, BlockedAddress):
            return os_error
        seen = seen.__cause__
    return None


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_real_request_is_blocked(host: str) -> None:
    # "localhost" goes through the GuardedResolver; "127.0.0.1" skips aiohttp's resolver
    # and is stopped by the connector's socket check.
    with pytest.raises(aiohttp.ClientConnectorError) as info:
        post_via_guard(False, host)
    assert isinstance(info.value.os_error, BlockedAddress)
    assert blocked_cause(info.value) is info.value.os_error
    assert "non-public" in str(info.value)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_real_request_allowed_with_allow_private(host: str) -> None:
    assert post_via_guard(True, host) == 200
