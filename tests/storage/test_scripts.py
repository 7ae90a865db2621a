"""One script run for many tenants in one round trip, against the real test Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ResponseError

from gateway.settings import Settings
from gateway.storage import client_for
from gateway.storage.scripts import run_many

ECHO = "return KEYS[1] .. ':' .. ARGV[1]"


def test_each_call_gets_its_reply_in_order_and_a_flushed_script_is_loaded_again(
    settings: Settings,
) -> None:
    async def main() -> tuple[list[str], list[str], list[str]]:
        client = client_for(settings.redis_url or "")
        try:
            script = client.register_script(ECHO)
            calls = [([f"{{t{n}}}:k"], [str(n)]) for n in range(5)]
            first = await run_many(client, script, calls)
            await client.script_flush()  # as a restarted or new server would be
            second = await run_many(client, script, calls)
            return first, second, await run_many(client, script, [])
        finally:
            await client.aclose()

    first, second, none = asyncio.run(main())
    assert first == second == [f"{{t{n}}}:k:{n}" for n in range(5)]
    assert none == []


def test_an_error_in_one_call_is_raised(settings: Settings) -> None:
    async def main() -> None:
        client = client_for(settings.redis_url or "")
        try:
            script = client.register_script("return redis.call('INCR', KEYS[1])")
            text, number = f"{settings.redis_prefix}:{{s}}:text", f"{settings.redis_prefix}:{{s}}:n"
            await client.set(text, "not a number")
            await run_many(client, script, [([number], []), ([text], [])])
        finally:
            await client.aclose()

    with pytest.raises(ResponseError):
        asyncio.run(main())
