"""AutoPipeline against the real test Redis: batching, per-caller errors, cancellation, failures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError, ResponseError

from gateway.storage import client_for
from gateway.storage.autopipeline import AutoPipeline
from tests.factories import free_port


def _run(test: Callable[[Redis], Awaitable[None]], url: str) -> None:
    async def main() -> None:
        client = client_for(url)
        try:
            await test(client)
        finally:
            await client.aclose()

    asyncio.run(main())


def counting_writes(client: Redis) -> list[int]:
    """Have the client's new connections count their writes in the list returned (a spy, not
    a mock: the real connections send and read as always)."""
    writes = [0]
    base: Any = client.connection_pool.connection_class

    class Counting(base):  # type: ignore[misc]
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            writes[0] += 1
            await super().send_packed_command(command, check_health)

    client.connection_pool.connection_class = Counting
    return writes


def test_commands_of_one_loop_turn_leave_in_one_write(redis_url: str) -> None:
    key = f"ap:{uuid.uuid4().hex}"

    async def test(client: Redis) -> None:
        writes = counting_writes(client)
        await client.ping()  # the connection is open: only the commands' writes count
        writes[0] = 0
        pipe = AutoPipeline(client)
        replies = await asyncio.gather(*(pipe.execute("INCR", key) for _ in range(50)))
        assert sorted(replies) == list(range(1, 51))
        assert writes == [1]
        # a command alone is sent as it is, and the next turn starts a new batch
        assert await pipe.execute("GET", key) == "50"
        assert writes == [2]
        await asyncio.gather(pipe.execute("DEL", key), pipe.execute("GET", key))
        assert writes == [3]

    _run(test, redis_url)


def test_replies_go_through_the_clients_callbacks(redis_url: str) -> None:
    """As redis-py's pipeline does: SET answers True, HGETALL a dict."""
    key = f"ap:{uuid.uuid4().hex}"

    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        done: list[Any] = list(
            await asyncio.gather(
                pipe.execute("SET", f"{key}:s", "1"),
                pipe.execute("HSET", f"{key}:h", "a", "1"),
                pipe.execute("HGETALL", f"{key}:h"),
            )
        )
        assert done == [True, 1, {"a": "1"}]
        await client.delete(f"{key}:s", f"{key}:h")

    _run(test, redis_url)


def test_a_dropped_connection_is_opened_again_and_the_commands_sent(redis_url: str) -> None:
    """As redis-py's pipeline: a connection the server closed is opened again, once."""
    key = f"ap:{uuid.uuid4().hex}"

    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        assert await pipe.execute("SET", key, "1") is True
        await client.client_kill_filter(_type="normal", skipme=False)
        replies = list(await asyncio.gather(pipe.execute("INCR", key), pipe.execute("INCR", key)))
        assert replies == [2, 3]
        await client.delete(key)

    _run(test, redis_url)


def test_an_error_reaches_only_the_caller_whose_command_failed(redis_url: str) -> None:
    key = f"ap:{uuid.uuid4().hex}"

    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        replies: tuple[Any, ...] = await asyncio.gather(
            pipe.execute("SET", key, "1"),
            pipe.execute("HGET", key, "field"),  # WRONGTYPE: the key holds a string
            pipe.execute("INCR", key),
            return_exceptions=True,
        )
        first, wrong, last = replies
        assert first is True
        assert isinstance(wrong, ResponseError)
        assert "WRONGTYPE" in str(wrong)
        assert last == 2
        await client.delete(key)

    _run(test, redis_url)


def test_a_cancelled_caller_does_not_stop_its_command_or_the_others(redis_url: str) -> None:
    key = f"ap:{uuid.uuid4().hex}"

    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        cancelled = pipe.execute("SET", key, "written")
        kept = pipe.execute("EXISTS", key)
        cancelled.cancel()
        assert await kept == 1  # sent in the same pipeline, after the SET
        assert await client.get(key) == "written"
        await client.delete(key)

    _run(test, redis_url)


def test_when_redis_is_unreachable_every_caller_gets_the_error() -> None:
    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        results = await asyncio.gather(
            pipe.execute("GET", "a"), pipe.execute("GET", "b"), return_exceptions=True
        )
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        with pytest.raises(RedisConnectionError):
            await pipe.execute("GET", "alone")

    _run(test, f"redis://127.0.0.1:{free_port()}/0")


def test_script_runs_get_their_replies_in_order_and_a_flushed_script_is_loaded_again(
    redis_url: str,
) -> None:
    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        script = client.register_script("return KEYS[1] .. ':' .. ARGV[1]")
        calls = [([f"{{t{n}}}:k"], [str(n)]) for n in range(5)]
        expected = [f"{{t{n}}}:k:{n}" for n in range(5)]
        assert await pipe.run_scripts(script, calls) == expected
        await client.script_flush()  # as a restarted or new server would be
        assert await pipe.run_scripts(script, calls) == expected
        assert await pipe.run_scripts(script, []) == []

    _run(test, redis_url)


def test_one_script_run_gets_its_reply_and_a_flushed_script_is_loaded_again(
    redis_url: str,
) -> None:
    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        script = client.register_script("return KEYS[1] .. ':' .. ARGV[1]")
        assert await pipe.run_scripts(script, [(["{t}:k"], ["1"])]) == ["{t}:k:1"]
        await client.script_flush()  # as a restarted or new server would be
        runs = [pipe.run_scripts(script, [([f"{{t{n}}}:k"], [str(n)])]) for n in range(3)]
        assert await asyncio.gather(*runs) == [[f"{{t{n}}}:k:{n}"] for n in range(3)]
        failing = client.register_script("return redis.call('INCR', KEYS[1])")
        await client.set("{t}:text", "not a number")
        with pytest.raises(ResponseError):
            await pipe.run_scripts(failing, [(["{t}:text"], [])])

    _run(test, redis_url)


def test_cancelled_script_runs_leave_the_pipeline_working(redis_url: str) -> None:
    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        script = client.register_script("return KEYS[1]")
        calls: list[tuple[list[str], list[str]]] = [([f"{{c{n}}}:k"], []) for n in range(3)]
        waiting = asyncio.create_task(pipe.run_scripts(script, calls))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await pipe.run_scripts(script, calls) == ["{c0}:k", "{c1}:k", "{c2}:k"]

    _run(test, redis_url)


def test_an_error_in_one_script_run_is_raised_after_the_others_ran(redis_url: str) -> None:
    async def test(client: Redis) -> None:
        pipe = AutoPipeline(client)
        script = client.register_script("return redis.call('INCR', KEYS[1])")
        tag = uuid.uuid4().hex
        number, text = f"{{{tag}}}:n", f"{{{tag}}}:text"
        await client.set(text, "not a number")
        with pytest.raises(ResponseError):
            await pipe.run_scripts(script, [([number], []), ([text], [])])
        assert await client.get(number) == "1"

    _run(test, redis_url)
