"""Storage: Redis, always through the same code (embedded by default, or a server by URL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

from gateway.settings import Settings
from gateway.storage.connection import fast, fast_cluster
from gateway.storage.embedded import EmbeddedRedis


def client_for(
    url: str, *, cluster: bool = False, max_connections: int = 512, **options: Any
) -> Redis:
    """A redis-py asyncio client for `url` (str answers), on this project's faster connections
    (`gateway.storage.connection`).

    The pool blocks when all its connections are busy instead of failing: redis-py's default
    pool raises past 100 connections, which a worker with hundreds of deliveries in flight
    reaches at once (and a failed call after a send means that delivery is sent twice).
    """
    if cluster:
        # RedisCluster speaks the same commands; every multi-key call stays in one slot.
        cluster_client = RedisCluster.from_url(
            url, decode_responses=True, max_connections=max_connections, **options
        )
        fast_cluster(cluster_client)
        return cast(Redis, cluster_client)
    pool = BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=max_connections, timeout=20, **options
    )
    pool.connection_class = fast(pool.connection_class)
    return Redis.from_pool(pool)  # the client owns (and closes) its pool


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    """The configured Redis; with no `redis_url`, the embedded server under `data_dir`.

    The embedded server is stopped on exit if this process started (or adopted) it.
    """
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.data_dir, settings.embedded_appendfsync)
        url = await asyncio.to_thread(embedded.start)
    client = client_for(
        url,
        cluster=settings.redis_cluster and embedded is None,
        max_connections=settings.redis_max_connections,
    )
    try:
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
