"""The project's redis-py connections: the same bytes as redis-py's packer, from hiredis; every
client `client_for` makes uses them (a server URL, TLS, the embedded server's socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from gateway.storage import client_for
from gateway.storage.connection import (
    FastConnection,
    FastSSLConnection,
    FastUnixDomainSocketConnection,
)

PACKED: list[tuple[Any, ...]] = [
    ("GET", "k"),
    ("SCRIPT LOAD", "return 1"),  # a command of two words goes as two
    (b"CLIENT SETNAME", b"gw"),
    ("EVALSHA", "a" * 40, 2, "{t:x}:a", "{t:x}:b", 12345, -7, 2**70, 0.1, 1e20, 1 / 3),
    ("SET", "k", "é ελληνικά кириллица"),
    ("SET", "k", b"\x00\xff raw"),
    ("SET", "k", memoryview(b"view")),
    ("SET", "k", bytearray(b"array")),  # hiredis refuses it; redis-py's packer takes it
    ("SET", "k", ""),
]


@pytest.mark.parametrize("command", PACKED, ids=lambda c: repr(c)[:40])
def test_packs_the_bytes_redis_py_packs(command: tuple[Any, ...]) -> None:
    ours = b"".join(FastConnection(decode_responses=True).pack_command(*command))
    theirs = b"".join(Connection(decode_responses=True).pack_command(*command))
    assert ours == theirs


@pytest.mark.parametrize("value", [None, True, object()])
def test_refuses_what_redis_py_refuses(value: object) -> None:
    with pytest.raises(DataError):
        FastConnection().pack_command("SET", "k", value)


def test_refuses_a_string_that_is_not_unicode_text() -> None:
    with pytest.raises(UnicodeEncodeError):
        FastConnection().pack_command("SET", "k", "\ud800")


@pytest.mark.parametrize(
    ("url", "connection_class"),
    [
        ("redis://127.0.0.1:6379/0", FastConnection),
        ("rediss://127.0.0.1:6379/0", FastSSLConnection),
        ("unix:///tmp/redis.sock?db=0", FastUnixDomainSocketConnection),
    ],
)
def test_every_client_uses_the_fast_connections(url: str, connection_class: type) -> None:
    client = client_for(url)
    try:
        assert client.connection_pool.connection_class is connection_class
    finally:
        asyncio.run(client.aclose())


def test_commands_round_trip_on_the_test_redis(redis_url: str) -> None:
    async def main() -> None:
        client: Redis = client_for(redis_url)
        try:
            assert client.connection_pool.connection_class in {
                FastConnection,
                FastUnixDomainSocketConnection,
            }
            await client.delete("conn:k")
            text = "é ελληνικά кириллица"
            assert await client.set("conn:k", text)
            assert await client.get("conn:k") == text
            assert await client.eval("return ARGV[1] .. ARGV[2]", 0, "a", 12) == "a12"
            await client.delete("conn:k")
        finally:
            await client.aclose()

    asyncio.run(main())
