"""SSRF protection: webhooks go to the public internet, never into our own network.

Tenants choose webhook URLs, so without this a tenant could make the gateway POST to
``http://169.254.169.254/`` (cloud metadata), to Redis on localhost, or to any internal
service. Three layers, because each alone has a gap:

* `check_url` when an endpoint is registered: syntax and scheme, for a clear error early.
* `resolve_public` when it is registered: a host resolving to any non-public address is
  refused outright.
* at every connection: DNS answers can change after registration (DNS rebinding), so the
  connection itself is checked, at the addresses it actually goes to. `webhooks.client`
  does this for deliveries (it resolves, checks with `refuse_non_public`, and connects to
  the checked address); `connector` does it for aiohttp sessions (the platform connectors,
  whose shop URLs tenants choose as well).

``allow_private`` exists for tests and self-hosted setups whose receivers live on a LAN.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable

import aiohttp
import aiohttp.abc
import yarl
from aiohttp.connector import AddrInfoType, SocketFactoryType

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

# 100.64.0.0/10 (carrier-grade NAT) is neither "private" nor global to `ipaddress`.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# RFC 6052 well-known NAT64 prefix: the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215 local-use NAT64 prefix: translation inside one network, never public.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# A last label like this makes a host an IPv4 number (WHATWG URL "ends in a number").
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


class UnsafeUrl(ValueError):
    """A webhook URL we refuse to deliver to; ``reason`` is shown to the tenant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BlockedAddress(OSError):
    """A connection refused because it would go to a non-public address.

    An OSError so aiohttp reports it like any failed connection (a ClientConnectorError
    whose ``os_error`` is this) and the retry logic treats it as a failed attempt.
    """

    def __init__(self, host: str, addresses: Iterable[str]) -> None:
        self.host = host
        self.addresses = tuple(addresses)
        if _ip(host.removeprefix("[").removesuffix("]")) is not None:
            what = f"{host} is a non-public address"
        else:
            what = f"{host} resolves to a non-public address ({', '.join(self.addresses)})"
        message = f"{what}; webhooks are only delivered to public addresses"
        # errno + strerror: aiohttp's ClientConnectorError message shows strerror.
        super().__init__(errno.EACCES, message)

    def __str__(self) -> str:
        return str(self.strerror)


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


_BLANK = re.compile(r"[\x00-\x20\x7f]")


def _check_host(host: str) -> None:
    if _ip(host) is not None:
        return
    name = host.removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(x) for x in labels):
        raise UnsafeUrl(f"{host!r} is not a valid host name")
    for label in labels:
        if label[:4].lower() == "xn--":
            try:  # an internationalized label must be valid punycode, as resolvers decode it
                label.encode("ascii").decode("idna")
            except UnicodeError:
                raise UnsafeUrl(f"{host!r} is not a valid host name ({label!r})") from None
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # "2130706433", "127.1" or "0x7f.1": resolvers read these as IPv4 addresses.
        raise UnsafeUrl(f"{host!r} is not a canonical IP address; write it as a.b.c.d")


def check_url(url: str, *, allow_insecure: bool) -> yarl.URL:
    """Parse a webhook URL and refuse the kinds that cannot be a safe, plain endpoint.

    http is only for tests and LANs (``allow_insecure``): a signed payload sent in clear text
    leaks order data. Userinfo is refused because it hides the real host from a reader
    (``https://bank.example@evil.example/``), fragments because they are never sent.
    """
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if _BLANK.search(url):
        # URL parsers quietly drop tabs and line breaks and trim spaces, so the URL stored
        # would not be the one given; a space inside is written %20.
        raise UnsafeUrl("the URL must not contain spaces or control characters")
    try:
        parsed = yarl.URL(url)
        urllib.parse.urlsplit(url)  # brackets that do not hold an IPv6 address, among others
    except ValueError as exc:
        raise UnsafeUrl(f"the URL cannot be parsed: {exc}") from None
    allowed = ("https", "http") if allow_insecure else ("https",)
    if parsed.scheme not in allowed:
        raise UnsafeUrl(f"the URL must start with {' or '.join(s + '://' for s in allowed)}")
    if not parsed.is_absolute() or not parsed.raw_host:
        raise UnsafeUrl("the URL has no host")
    # yarl drops an empty userinfo ("https://@host/"), so look at the text as written.
    if "@" in urllib.parse.urlsplit(url).netloc or parsed.raw_user is not None:
        raise UnsafeUrl("the URL must not contain a user name or password")
    if "#" in url:
        raise UnsafeUrl("the URL must not contain a fragment (#...)")
    if parsed.port is None or not 1 <= parsed.port <= 65535:
        raise UnsafeUrl("the URL's port must be between 1 and 65535")
    _check_host(parsed.raw_host)
    return parsed


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address really reaches, for the forms that embed one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.sixtofour


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses.

    IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged by the embedded
    address, since that is where the packets end up: ``::ffff:127.0.0.1`` is loopback.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip in _NAT64_LOCAL or ip.is_site_local:
            return False
    elif ip in _SHARED:
        return False
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def non_public(addresses: Iterable[str]) -> list[str]:
    """The addresses among ``addresses`` a webhook must not go to."""
    out = []
    for address in addresses:
        ip = _ip(address)
        # Anything that is not a parseable address is refused, not guessed at.
        if ip is None or not is_public_address(ip):
            out.append(address)
    return out


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def literal_address(host: str) -> str | None:
    """The address a host written as an IP literal (``[::1]`` too) stands for, else None."""
    ip = _ip(host.removeprefix("[").removesuffix("]"))
    return None if ip is None else str(ip)


async def lookup(host: str, port: int) -> list[str]:
    """The IP addresses DNS gives for ``host``, in the resolver's order; `socket.gaierror`
    when there are none."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} is not a valid host name") from None
    addresses = _unique(
        str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)
    )
    if not addresses:
        raise socket.gaierror(socket.EAI_NODATA, f"{host} has no IP address")
    return addresses


def refuse_non_public(host: str, addresses: list[str], *, allow_private: bool) -> list[str]:
    """``addresses`` when a connection to ``host`` may use them, else BlockedAddress.

    The whole host is refused, not filtered: a name resolving to both public and private
    addresses is either misconfigured or an attack, and delivery would depend on luck.
    """
    blocked = [] if allow_private else non_public(addresses)
    if blocked:
        raise BlockedAddress(host, _unique(blocked))
    return addresses


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def public_addresses(
    host: str, port: int, *, allow_private: bool, resolve: Resolve = lookup
) -> list[str]:
    """The addresses a connection to ``host`` may use: the literal itself, or what `resolve`
    answers; `socket.gaierror` when it has none, BlockedAddress when any is not public."""
    literal = literal_address(host)
    addresses = [literal] if literal is not None else await resolve(host, port)
    return refuse_non_public(host, addresses, allow_private=allow_private)


async def resolve_public(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of ``host``; UnsafeUrl if any is not public (unless allowed)."""
    try:
        return await public_addresses(host, port, allow_private=allow_private)
    except socket.gaierror:
        raise UnsafeUrl(f"{host} does not resolve to an IP address") from None
    except BlockedAddress as exc:
        raise UnsafeUrl(
            f"{host} resolves to a loopback/private/link-local/reserved address "
            f"({', '.join(exc.addresses)}); webhooks are only delivered to public addresses"
        ) from None


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """An aiohttp resolver that only ever hands back addresses it has checked.

    aiohttp connects to exactly the addresses the resolver returns, so checking here, rather
    than resolving separately beforehand, leaves no window for a second DNS answer.
    """

    def __init__(
        self, *, allow_private: bool, inner: aiohttp.abc.AbstractResolver | None = None
    ) -> None:
        self._allow_private = allow_private
        self._owns_inner = inner is None
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        refuse_non_public(host, [r["host"] for r in results], allow_private=self._allow_private)
        return results

    async def close(self) -> None:
        if self._owns_inner:
            await self._inner.close()


def _socket_factory(*, allow_private: bool) -> SocketFactoryType:
    def make(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, address = addr_info
        host = str(address[0])
        refuse_non_public(host, [host], allow_private=allow_private)
        return socket.socket(family=family, type=type_, proto=proto)

    return make


def connector(*, allow_private: bool, limit: int) -> aiohttp.TCPConnector:
    """A TCPConnector that can only connect to public addresses. Must run inside a loop.

    This closes the DNS-rebinding gap: checking a name and then letting aiohttp resolve it
    again would allow an attacker's DNS to answer "public" to the check and "127.0.0.1" to
    the connection. Here the check *is* the resolution aiohttp connects with, the DNS cache
    is off so every new connection is checked against a fresh answer, and a pooled
    keep-alive connection can only be one that was opened to a checked address.

    Each socket is also checked at the address it connects to, which covers IP-literal URLs
    (aiohttp skips the resolver for them). Keep the session's ``trust_env=False``: through a
    proxy from the environment the checks would judge the proxy's address, not the
    receiver's. Send with ``allow_redirects=False`` too, so the payload only goes to the URL
    the tenant registered.
    """
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=allow_private),
        use_dns_cache=False,
        ttl_dns_cache=0,
        limit=limit,
        socket_factory=_socket_factory(allow_private=allow_private),
    )
