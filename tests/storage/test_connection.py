"""The project's redis-py connections: the same bytes as redis-py's packer, from hiredis; every
client `client_for` makes uses them (a server URL, TLS, the embedded server's socket)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection
from redis.exceptions import DataError, ResponseError, TimeoutError as RedisTimeoutError

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


# Replies read off the socket before they are asked for are taken at once; what they are must not
# change. Each case is a pipeline of commands, compared with redis-py's own connection class.
PIPELINES: list[list[tuple[Any, ...]]] = [
    [("SET", "conn:p", "v"), ("GET", "conn:p"), ("GET", "conn:none"), ("INCR", "conn:n")],
    [("RPUSH", "conn:l", "a", "b"), ("LRANGE", "conn:l", 0, -1), ("LPOP", "conn:l", 5)],
    [("SET", "conn:p", "v"), ("INCR", "conn:p"), ("GET", "conn:p")],  # an error in the middle
    [("SET", "conn:big", "x" * 200_000), ("STRLEN", "conn:big"), ("GET", "conn:big")],
    [
        ("EVAL", "return {1, 'a', {2, false}}", 0),
        ("HSET", "conn:h", "f", "é"),
        ("HGETALL", "conn:h"),
    ],
    [("ECHO", "é ελληνικά")] * 300,  # more than one socket read's worth of replies
]


async def _pipeline(client: Redis, commands: list[tuple[Any, ...]]) -> list[Any]:
    await client.delete("conn:p", "conn:none", "conn:n", "conn:l", "conn:big", "conn:h")
    async with client.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        replies = await pipe.execute(raise_on_error=False)
    return [repr(r) if isinstance(r, Exception) else r for r in replies]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("commands", PIPELINES, ids=lambda c: f"{c[0][0]}-{len(c)}")
def test_pipeline_replies_are_redis_pys(
    redis_url: str, commands: list[tuple[Any, ...]], protocol: int
) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        ours: Redis = client_for(redis_url, protocol=protocol)
        theirs = Redis.from_url(redis_url, decode_responses=True, protocol=protocol)
        try:
            return await _pipeline(ours, commands), await _pipeline(theirs, commands)
        finally:
            await ours.aclose()
            await theirs.aclose()

    ours, theirs = asyncio.run(main())
    assert ours == theirs


def test_most_replies_of_a_pipeline_are_taken_from_the_buffer(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of the override: redis-py's read (a timer each) only for replies still to come."""
    waited = 0
    read = AbstractConnection.read_response

    async def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
        nonlocal waited
        waited += 1
        return await read(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "read_response", counting)

    async def main() -> list[Any]:
        client: Redis = client_for(redis_url)
        try:
            await client.ping()
            async with client.pipeline(transaction=False) as pipe:
                for i in range(200):
                    pipe.execute_command("ECHO", str(i))
                return list(await pipe.execute())
        finally:
            await client.aclose()

    waited_before = waited
    assert asyncio.run(main()) == [str(i) for i in range(200)]
    assert waited - waited_before < 20  # the first reply, and one per socket read at most


def test_a_server_error_is_raised_for_a_command_alone(redis_url: str) -> None:
    async def main() -> None:
        client: Redis = client_for(redis_url)
        try:
            await client.set("conn:e", "text")
            with pytest.raises(ResponseError, match="not an integer"):
                await client.incr("conn:e")
            assert await client.get("conn:e") == "text"  # the connection is still in step
        finally:
            await client.delete("conn:e")
            await client.aclose()

    asyncio.run(main())


def test_a_push_among_replies_is_handled_and_the_replies_stay_in_step(redis_url: str) -> None:
    """RESP3 client tracking: a connection that writes a key it tracks gets an invalidation
    pushed after that write's reply, in the same socket read as the next replies."""

    async def main() -> None:
        client: Redis = client_for(redis_url, protocol=3, max_connections=1)
        try:
            await client.execute_command("CLIENT", "TRACKING", "ON")  # type: ignore[no-untyped-call]
            for round_ in range(3):
                async with client.pipeline(transaction=False) as pipe:
                    pipe.get("conn:t")  # tracks the key for this connection
                    pipe.set("conn:t", str(round_))  # -> an invalidation pushed to it
                    pipe.echo("after")
                    pipe.get("conn:t")
                    replies = await pipe.execute()
                assert replies[1:] == [True, "after", str(round_)]
            assert await client.echo("alone") == "alone"
        finally:
            await client.delete("conn:t")
            await client.aclose()

    asyncio.run(main())


def test_a_reply_still_to_come_keeps_the_socket_timeout() -> None:
    """A server that accepts and never answers: the command fails after socket_timeout."""

    async def main() -> float:
        held: list[asyncio.StreamWriter] = []

        async def never_answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)

        silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        client: Redis = client_for(f"redis://127.0.0.1:{port}/0", socket_timeout=0.3, protocol=2)
        started = time.monotonic()
        try:
            with pytest.raises(RedisTimeoutError):
                await client.execute_command("PING")  # type: ignore[no-untyped-call]
            return time.monotonic() - started
        finally:
            await client.aclose()
            for writer in held:
                writer.close()
            silent.close()
            await silent.wait_closed()

    assert asyncio.run(main()) < 5
