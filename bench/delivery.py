"""Webhook delivery end to end: events posted -> signed deliveries received, against a bare sender.

Run by hand from the project root (not a test; it exits 0 once it has measured, whatever the
figures; 2 only when the set-up fails):

    /work/venv/bin/python bench/delivery.py             # 3 whole runs, the verdict (about 1 min)
    /work/venv/bin/python bench/delivery.py --quick     # one smoke run (every phase shortened)
    /work/venv/bin/python bench/delivery.py --pin       # the gateway on one core (CPU, no verdict)
    /work/venv/bin/python bench/delivery.py --events 40000 --orders 4000 --rate 800
    /work/venv/bin/python bench/delivery.py --redis-max-connections 1024   # a larger redis pool
    /work/venv/bin/python bench/delivery.py --signature-schemes v1a   # Ed25519 signatures
    /work/venv/bin/python bench/delivery.py --no-direct   # every change queued on a lane first
    /work/venv/bin/python bench/delivery.py --sealed   # GATEWAY_SECRET_KEY set: secrets sealed
    /work/venv/bin/python bench/delivery.py --runs 5   # 5 whole runs, then their medians

What runs: Debian's `/usr/bin/redis-server` (installed with `apt-get install -y redis-server` when
missing, as root) on a free loopback port with `--appendonly yes --appendfsync everysec --save ''`
in a temporary directory; ONE API process, `gateway serve --no-worker`; ONE delivery worker,
`gateway worker` (default settings: `GATEWAY_WEBHOOK_CONCURRENCY` 256, so at most 64 in flight to
one endpoint; changes sent straight from the feed unless `--no-direct`); a tenant made with
`gateway tenant create bench` and one endpoint registered with `POST /v1/webhooks`
(`GATEWAY_ALLOW_PRIVATE_WEBHOOKS` and `..._INSECURE_...` let it be `http://127.0.0.1`). The
receiver is a separate process: a raw asyncio protocol (uvloop) that answers every POST `204` at
once and records its receive time (CLOCK_MONOTONIC, the same clock as this process's), headers and
body.

Measured, in one run:

1. **throughput**: `--events` (20,000) changes over `--orders` (2,000) CS-Cart orders, round by
   round (every order moves once per round: O -> P -> C -> O ...), posted with
   `POST /v1/events/batch` (batches of 500, one after the other) as fast as the API takes them;
   events/s is the number of changes over the time from the first post to the last receipt, while
   the worker delivers from the first batch on. Checks: every change arrived, once (no crash
   here, so no repeat), each order's sequences in order, and a sample of signatures verified with
   the standardwebhooks package when it is installed. The CPU each process used is shown too.
2. **latency**: single `POST /v1/events` (each a new order) from an aiohttp client paced at
   `--rate` (500) events/s for `--latency-seconds` (10); post-to-receipt time per event (the
   post's send time to the receiver's receive time, matched by order id): p50 / p99 / max.
3. **delivery alone**: the worker is stopped (SIGSTOP) while another `--events` changes are
   posted, then resumed: events/s from its resumption to the last receipt, the worker's and
   Redis's CPU per delivery. This is the worker's own speed against the bare sender's, without
   the API's ingest sharing its core.
4. **baseline**: the gateway processes are stopped, then a bare aiohttp sender (one
   `ClientSession`, `TCPConnector(limit=64)`, on uvloop like `gateway worker`)
   posts the very requests phase 1 delivered (same signed bodies and headers) to the same
   receiver with `--concurrency` (64) in flight: requests/s, after a short warm-up. The ratio
   is against this sender (aiohttp is faster than httpx here, see the README). For comparison
   only, the same requests are then sent through the gateway's own client
   (`webhooks.client.HttpClient`, which the worker uses): it shows what the HTTP alone costs
   the worker.

Printed: each figure, the ratio gateway events/s / bare requests/s, and PASS/FAIL for the targets
(>= 2,000 events/s, ratio >= 0.5, p99 < 250 ms at 500 events/s; with `--pin` the ratio has no
verdict, see below); the delivery-alone ratio and the CPU each side spends per event (the API, the
worker and redis-server per change; the bare sender per request), which say where the time goes;
any WARNING/ERROR the worker logged, and a correctness line. The machine is noisy (about ±30 %
between identical runs, about ±10 % on the ratio): the ratio, measured in the same run, is the
figure to compare, and the whole run is repeated `--runs` times (3; fresh processes and data each
time), judged by the median ratio and events/s and the worst p99. `--keep-temp` keeps the logs and
the received requests (one JSON line each) for a closer look.

The receiver and the bare sender are this same file run as `--role-receiver DIR` and
`--role-bare DUMP URL N CLIENT` (internal: started by the benchmark itself).

Method: the target is judged on the set-up the issue names, as a user runs it: one API process and
one worker process (and Redis) on this machine, scheduled freely by the kernel, against the bare
sender on the same machine. Nothing is pinned; the gateway's processes share the two cores with
the receiver and this load generator, the bare sender with the receiver only. `--pin` measures
instead what the gateway costs against the bare sender on the same CPU budget (the method of
stack-measurements.md §4): everything on the gateway's side (redis-server, the API, the worker) on
core 0 with `taskset -c 0`, the receiver and this load generator on core 1, then the bare sender
alone on core 0. That ratio says how much work one event is against one bare request, whatever the
number of cores; it is printed without a verdict. Only 127.0.0.1 is contacted (except by
`apt-get` when redis-server is missing). Every process started here runs in its own process group
and is stopped on exit, error, Ctrl-C or SIGTERM; at the end `pgrep` (by process group, and the
redis-server by its command line) checks that none is left.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import aiohttp
import orjson
from benchlib import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    STARTED,
    BenchError,
    Proc,
    cpu_seconds,
    create_tenant,
    exit_text,
    find_debian_redis,
    gateway_command,
    guarded,
    pin_prefix,
    pinning_possible,
    redis_commandstats,
    redis_used_memory,
    report_leftovers,
    run_captured,
    spawn,
    start_gateway,
    start_redis,
    stop_process,
    tool_version,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent

EVENTS_PER_S_TARGET = 2000.0
RATIO_TARGET = 0.5
P99_TARGET_MS = 250.0
ONE_CORE = "one core: no target"  # what stands for the ratio's verdict with --pin

BATCH = 500
WARMUP_EVENTS = 1000
BARE_WARMUP = 1000
LIFECYCLE = ("O", "P", "C")  # CS-Cart: open -> processed -> complete (then open again)
BASE_TIME = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SAMPLE_VERIFY = 200

HTTP_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 180.0  # deliveries of one phase must all arrive within this

KEPT_HEADERS = ("content-type", "content-language", "user-agent")
Json = dict[str, Any]
T = TypeVar("T")


# ---------------------------------------------------------------------------- plan and options


@dataclass(frozen=True)
class Plan:
    events: int
    orders: int
    rate: int
    latency_seconds: float
    concurrency: int
    worker_concurrency: int | None
    redis_max_connections: int | None
    install: bool
    pin: bool
    quick: bool
    keep_temp: bool
    schemes: list[str]
    direct: bool
    posters: int
    sealed: bool
    runs: int


def parse_args(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="Short run (4,000 events, 3 s).")
    parser.add_argument("--events", type=int, default=None, help="Changes posted (20,000).")
    parser.add_argument("--orders", type=int, default=None, help="Orders they span (2,000).")
    parser.add_argument("--rate", type=int, default=500, help="Latency phase events/s (500).")
    parser.add_argument(
        "--latency-seconds", type=float, default=None, help="Latency phase length (10 s)."
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="Bare sender's requests in flight (64)."
    )
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=None,
        help="GATEWAY_WEBHOOK_CONCURRENCY of the worker (default: the gateway's, 256).",
    )
    parser.add_argument(
        "--redis-max-connections",
        type=int,
        default=None,
        help="Add ?max_connections=N to GATEWAY_REDIS_URL (redis-py's pool allows 100 by "
        "default, fewer than the worker's default 256 deliveries in flight).",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="Never run apt-get (for redis-server)."
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="The gateway's side (redis-server, API, worker) on core 0, the receiver and load on "
        "core 1, the bare sender on core 0 (taskset): CPU on one core, the ratio without verdict.",
    )
    parser.add_argument(
        "--signature-schemes",
        default="v1",
        choices=["v1", "v1a", "v1,v1a"],
        help="The endpoint's signature_schemes: v1 (HMAC, the default), v1a (Ed25519) or both.",
    )
    parser.add_argument(
        "--posters",
        type=int,
        default=1,
        help="Batches the load generator has in flight at once (1); needs --orders >= "
        "posters x 500, so that no order is in two of them.",
    )
    parser.add_argument(
        "--no-direct",
        action="store_true",
        help="GATEWAY_WEBHOOK_DIRECT=false: queue every change on a delivery lane in Redis "
        "first, instead of sending it straight from the change feed.",
    )
    parser.add_argument(
        "--sealed",
        action="store_true",
        help="Set GATEWAY_SECRET_KEY (a random passphrase): the endpoint's secrets are stored "
        "sealed, as in production.",
    )
    parser.add_argument(
        "--keep-temp", action="store_true", help="Keep the temp dir (logs, received requests)."
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="Whole runs, each on fresh processes and data (3; 1 with --quick); with more than "
        "one, the medians over them are the verdict (one run's ratio varies by about ±10 %% here).",
    )
    args = parser.parse_args(argv)
    events = args.events or (4_000 if args.quick else 20_000)
    orders = args.orders or (400 if args.quick else 2_000)
    seconds = args.latency_seconds or (3.0 if args.quick else 10.0)
    if not 1 <= orders <= events <= 1_000_000:
        parser.error("need 1 <= --orders <= --events <= 1,000,000")
    if not 1 <= args.rate <= 20_000:
        parser.error("--rate must be between 1 and 20,000")
    if not 0.5 <= seconds <= 600:
        parser.error("--latency-seconds must be between 0.5 and 600")
    if not 1 <= args.concurrency <= 1_000:
        parser.error("--concurrency must be between 1 and 1,000")
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if not 1 <= runs <= 20:
        parser.error("--runs must be between 1 and 20")
    if args.pin and not pinning_possible():
        parser.error(f"--pin needs taskset and cores {SERVER_CPU} and {CLIENT_CPU}")
    if not 1 <= args.posters <= 16 or (args.posters > 1 and orders < args.posters * BATCH):
        parser.error(f"--posters must be between 1 and 16, and --orders >= posters x {BATCH}")
    return Plan(
        events=events,
        orders=orders,
        rate=args.rate,
        latency_seconds=seconds,
        concurrency=args.concurrency,
        worker_concurrency=args.worker_concurrency,
        redis_max_connections=args.redis_max_connections,
        install=not args.no_install,
        pin=args.pin,
        quick=args.quick,
        keep_temp=args.keep_temp,
        schemes=args.signature_schemes.split(","),
        direct=not args.no_direct,
        posters=args.posters,
        sealed=args.sealed,
        runs=runs,
    )


# ---------------------------------------------------------------------------- processes


@dataclass
class Stack:
    """Every process of the gateway's side, and where to reach them."""

    workdir: Path
    env: dict[str, str]
    api_url: str = ""
    receiver_url: str = ""
    api: Proc | None = None
    worker: Proc | None = None
    receiver: Proc | None = None
    redis_pid: int | None = None
    redis_port: int = 0


def start_receiver(stack: contextlib.ExitStack, plan: Plan, state: Stack) -> None:
    ready = state.workdir / "receiver.port"
    cmd = [
        *pin_prefix(plan.pin, CLIENT_CPU),
        sys.executable,
        str(Path(__file__).resolve()),
        "--role-receiver",
        str(state.workdir),
    ]
    proc = spawn("receiver", cmd, state.workdir / "receiver.log", dict(os.environ), ROOT)
    stack.callback(stop_process, proc)
    if not wait_ready(proc, ready.is_file):  # written under another name, then renamed
        raise BenchError(f"the receiver did not start:\n{proc.log_tail()}")
    state.receiver = proc
    state.receiver_url = f"http://{HOST}:{int(ready.read_text().strip())}"


def start_api(stack: contextlib.ExitStack, plan: Plan, state: Stack) -> None:
    api = start_gateway(
        stack,
        plan.pin,
        state.workdir,
        state.env,
        name="gateway serve",
        log="api",
        options=("--no-worker",),
    )
    state.api, state.api_url = api.proc, api.url("")


def start_worker(stack: contextlib.ExitStack, plan: Plan, state: Stack) -> None:
    cmd = [
        *pin_prefix(plan.pin, SERVER_CPU),
        *gateway_command(),
        "worker",
        "--log-level",
        "warning",
    ]
    proc = spawn("gateway worker", cmd, state.workdir / "worker.log", state.env, state.workdir)
    stack.callback(stop_process, proc)
    time.sleep(0.5)
    if proc.proc.poll() is not None:
        raise BenchError(f"gateway worker exited at once:\n{proc.log_tail()}")
    state.worker = proc


def log_complaints(log: Path) -> list[str]:
    """WARNING/ERROR lines of a gateway log (the processes run with --log-level warning)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if '"level":"WARNING"' in line or '"level":"ERROR"' in line]


# ---------------------------------------------------------------------------- CPU accounting


def cpu_snapshot(state: Stack) -> dict[str, float | None]:
    return {
        "api": cpu_seconds(state.api.pid if state.api else None),
        "worker": cpu_seconds(state.worker.pid if state.worker else None),
        "redis-server": cpu_seconds(state.redis_pid),
        "receiver": cpu_seconds(state.receiver.pid if state.receiver else None),
    }


def cpu_used(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots."""
    used = {}
    for name, start in before.items():
        end = after.get(name)
        if start is not None and end is not None:
            used[name] = end - start
    return used


def cpu_text(used: dict[str, float], wall: float, events: int) -> str:
    shares = ", ".join(f"{name} {100 * sec / wall:.0f} %" for name, sec in used.items())
    per_event = ", ".join(
        f"{name} {1e6 * sec / events:.0f}" for name, sec in used.items() if name != "receiver"
    )
    return f"{shares} of one core; CPU per event (µs): {per_event}"


# ---------------------------------------------------------------------------- the receiver


RESPONSE_204 = b"HTTP/1.1 204 No Content\r\nServer: bench-receiver\r\n\r\n"
Record = tuple[float, bytes, bytes]  # (monotonic receive time, request head, body)


Stats = dict[str, tuple[int, int]]


def redis_text(before: Stats, after: Stats, n: int) -> str:
    """The commands redis-server spent most time on between two `INFO commandstats`, per change:
    `name calls µs`, e.g. `xadd 2 3.1` (a script's EVALSHA includes the commands it ran)."""
    spent = []
    for name, (calls, usec) in after.items():
        calls0, usec0 = before.get(name, (0, 0))
        if calls > calls0:
            spent.append((usec - usec0, calls - calls0, name))
    spent.sort(reverse=True)
    return ", ".join(f"{name} {calls / n:.2g} {usec / n:.1f}" for usec, calls, name in spent[:8])


def content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lower.find(b"\r\n", at + 2)
    return int(lower[at + 17 : end if end >= 0 else len(lower)].strip())


def webhook_id(head: bytes) -> bytes:
    at = head.lower().find(b"\r\nwebhook-id:")
    if at < 0:
        return b""
    end = head.find(b"\r\n", at + 2)
    return head[at + 13 : end if end >= 0 else len(head)].strip()


def head_headers(head: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower().decode("latin-1")
        if key.startswith("webhook-") or key in KEPT_HEADERS:
            found[key] = value.strip().decode("latin-1")
    return found


class ReceiverState:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.records: list[Record] = []  # since the last dump
        self.ids: set[bytes] = set()  # every webhook-id ever received (never reset)

    def control(self, head: bytes) -> bytes:
        path = head.split(b" ", 2)[1].decode()
        if path.startswith("/_ctl/dump/"):
            name = re.sub(r"[^a-z0-9-]", "", path.rsplit("/", 1)[1])
            target = self.directory / f"{name}.jsonl"
            with target.open("wb") as out:
                for at, request_head, body in self.records:
                    doc = {"t": at, "headers": head_headers(request_head), "body": body.decode()}
                    out.write(orjson.dumps(doc) + b"\n")
            answer: Json = {"count": len(self.records), "path": str(target)}
            self.records = []
        else:
            answer = {"count": len(self.records), "distinct": len(self.ids)}
        body = orjson.dumps(answer)
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


class ReceiverProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive, Content-Length bodies (what aiohttp sends): records, answers 204."""

    def __init__(self, state: ReceiverState) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            total = end + 4 + content_length(head)
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            now = time.monotonic()
            assert self.transport is not None
            if head.startswith(b"GET /_ctl/"):
                self.transport.write(self.state.control(head))
            else:
                self.state.records.append((now, head, body))
                self.state.ids.add(webhook_id(head))
                self.transport.write(RESPONSE_204)


def run_receiver(directory: Path) -> int:
    async def serve() -> None:
        state = ReceiverState(directory)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: ReceiverProtocol(state), HOST, 0, backlog=1024, reuse_address=True
        )
        port = server.sockets[0].getsockname()[1]
        (directory / "receiver.port.tmp").write_text(str(port))
        (directory / "receiver.port.tmp").rename(directory / "receiver.port")
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()

    run_fast(serve())
    return 0


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """`main` on uvloop when it is installed (the receiver, this load generator, the bare
    sender)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


# ---------------------------------------------------------------------------- the bare sender


def load_dump(path: Path) -> list[Json]:
    with path.open("rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


Post = Callable[[bytes, dict[str, str]], Awaitable[int | None]]  # body, headers -> status


async def post_all(post: Post, requests: list[Json], concurrency: int) -> tuple[int, int, float]:
    """POST every request with `concurrency` in flight: (2xx answers, others, seconds)."""
    prepared = [(r["body"].encode(), r["headers"]) for r in requests]
    ok = bad = 0

    async def lane(start: int) -> None:
        nonlocal ok, bad
        for i in range(start, len(prepared), concurrency):
            status = await post(*prepared[i])
            if status is not None and 200 <= status < 300:
                ok += 1
            else:
                bad += 1

    started = time.monotonic()
    await asyncio.gather(*(lane(i) for i in range(concurrency)))
    return ok, bad, time.monotonic() - started


async def bare_send(url: str, requests: list[Json], concurrency: int) -> tuple[int, int, float]:
    """`post_all` through one aiohttp session: the baseline."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
        trust_env=False,
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding",),
    ) as session:

        async def post(body: bytes, headers: dict[str, str]) -> int | None:
            try:
                async with session.post(
                    url, data=body, headers=headers, allow_redirects=False
                ) as answer:
                    await answer.content.read(65_536)
                    return answer.status
            except (aiohttp.ClientError, OSError, TimeoutError):
                return None

        return await post_all(post, requests, concurrency)


async def own_client_send(
    url: str, requests: list[Json], concurrency: int
) -> tuple[int, int, float]:
    """`post_all` through the gateway's own client (`webhooks.client`), for comparison."""
    from webhooks.client import HttpClient, HttpError

    client = HttpClient(
        allow_private=True, connect_timeout_s=HTTP_TIMEOUT_S, timeout_s=HTTP_TIMEOUT_S
    )

    async def post(body: bytes, headers: dict[str, str]) -> int | None:
        try:
            return (await client.post(url, headers, body)).status
        except (HttpError, OSError, TimeoutError):
            return None

    try:
        return await post_all(post, requests, concurrency)
    finally:
        await client.close()


def run_bare(dump: Path, url: str, concurrency: int, client: str) -> int:
    """The baseline process: prints one JSON line with its figures."""
    requests = list({r["headers"].get("webhook-id"): r for r in load_dump(dump)}.values())
    send = own_client_send if client == "gateway" else bare_send

    async def main() -> Json:
        await send(url, requests[:BARE_WARMUP], concurrency)  # connections, code paths
        cpu = time.process_time()
        ok, bad, seconds = await send(url, requests, concurrency)
        cpu = time.process_time() - cpu
        return {"requests": len(requests), "ok": ok, "bad": bad, "seconds": seconds, "cpu": cpu}

    print(orjson.dumps(run_fast(main())).decode(), flush=True)  # uvloop, as `gateway worker`
    return 0


# ---------------------------------------------------------------------------- load generation


def status_event(order_id: str, round_: int, seconds: int, event_id: str) -> Json:
    when = (BASE_TIME + timedelta(seconds=seconds)).isoformat().replace("+00:00", "+03:00")
    return {
        "platform": "cscart",
        "order_id": order_id,
        "status": LIFECYCLE[round_ % len(LIFECYCLE)],
        "occurred_at": when,
        "event_id": event_id,
    }


def batches(events: list[Json]) -> list[bytes]:
    """`events` as the bodies of `POST /v1/events/batch`, BATCH events each, serialized before
    the clock starts: the load generator shares the machine with the gateway when unpinned."""
    return [
        orjson.dumps({"events": events[at : at + BATCH]}) for at in range(0, len(events), BATCH)
    ]


def rounds(tag: str, events: int, orders: int) -> list[Json]:
    """`events` changes over `orders` orders: round r moves every order once, forward in time."""
    return [
        status_event(f"{tag}-{i % orders}", i // orders, (i // orders) * 60, f"{tag}-e{i}")
        for i in range(events)
    ]


@dataclass
class Client:
    session: aiohttp.ClientSession
    api: str
    receiver: str
    headers: dict[str, str]
    expected: int = 0  # distinct webhook-ids the receiver should have had by now

    async def post_batches(self, bodies: list[bytes], posters: int = 1) -> tuple[int, int]:
        """POST /v1/events/batch with each of `bodies` (`batches`), `posters` requests in
        flight: batch j is sent once every batch before j - posters + 1 is answered, so the
        batches in flight are always consecutive ones (which share no order when the orders are
        at least `posters` batches' worth, `rounds`): (changes, other results)."""
        changed = other = 0
        headers = {**self.headers, "Content-Type": "application/json"}

        async def post(body: bytes) -> list[Json]:
            async with self.session.post(
                f"{self.api}/v1/events/batch", data=body, headers=headers
            ) as answer:
                body = await answer.read()
                if answer.status != 202:
                    raise BenchError(f"/v1/events/batch answered {answer.status}: {body[:300]!r}")
            return cast(list[Json], orjson.loads(body)["results"])

        tasks: list[asyncio.Task[list[Json]]] = []
        try:
            for body in bodies:
                if len(tasks) >= posters:
                    await tasks[len(tasks) - posters]
                tasks.append(asyncio.create_task(post(body)))
            answered = [await task for task in tasks]
        finally:
            for task in tasks:
                task.cancel()
        for results in answered:
            for result in results:
                if result.get("result") == "changed":
                    changed += 1
                else:
                    other += 1
        return changed, other

    async def distinct(self) -> int:
        """How many distinct webhook-ids the receiver has had since it started."""
        async with self.session.get(f"{self.receiver}/_ctl/count") as answer:
            return int(orjson.loads(await answer.read())["distinct"])

    async def dump(self, name: str) -> Path:
        async with self.session.get(f"{self.receiver}/_ctl/dump/{name}") as answer:
            return Path(orjson.loads(await answer.read())["path"])

    async def drain(self, sent: int, what: str) -> None:
        """Wait until the `sent` new changes have arrived (as that many new webhook-ids; a
        repeat of an earlier one does not count)."""
        self.expected += sent
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        count = await self.distinct()
        while count < self.expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            count = await self.distinct()
        if count < self.expected:
            missing = self.expected - count
            print(f"   WARNING {what}: {missing:,} of {sent:,} deliveries still missing")


@dataclass(frozen=True)
class Throughput:
    changes: int
    received: int
    unique: int
    out_of_order: int
    post_s: float
    total_s: float
    verified: str
    cpu: str
    cpu_us: float  # CPU of the API, the worker and redis-server per change, in µs
    redis: str  # where redis-server spent its time, per change (`redis_text`)
    memory_b: float  # redis-server's used_memory grown per change (feed, order, log), in bytes

    @property
    def events_per_s(self) -> float:
        return self.changes / self.total_s if self.total_s > 0 else 0.0


@dataclass(frozen=True)
class Drain:
    """Delivery alone: a backlog queued while the worker was stopped, then sent."""

    changes: int
    seconds: float
    cpu: str
    worker_us: float  # the worker's CPU per delivery, in µs
    redis: str  # where redis-server spent its time, per change (`redis_text`)

    @property
    def events_per_s(self) -> float:
        return self.changes / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Latency:
    posted: int
    post_rate: float
    received: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class Bare:
    requests: int
    ok: int
    bad: int
    seconds: float
    cpu_s: float  # the sender's CPU time over `seconds`

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu_s / self.requests if self.requests else float("nan")


@dataclass(frozen=True)
class Keys:
    """What the receiver verifies with: the `whsec_` secret, the `whpk_` key, which schemes."""

    secret: str
    public_key: str
    schemes: list[str]


def v1a_verified(public_key: str, body: bytes, headers: dict[str, str]) -> bool:
    """A `v1a` (Ed25519) entry of `webhook-signature` verifies with `public_key`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = base64.b64decode(public_key.removeprefix("whpk_"))
    key = Ed25519PublicKey.from_public_bytes(raw)
    lower = {k.lower(): v for k, v in headers.items()}
    content = f"{lower['webhook-id']}.{lower['webhook-timestamp']}.".encode() + body
    for entry in lower["webhook-signature"].split():
        scheme, _, sig = entry.partition(",")
        if scheme == "v1a":
            with contextlib.suppress(Exception):
                key.verify(base64.b64decode(sig), content)
                return True
    return False


def verify_sample(records: list[Json], keys: Keys) -> str:
    sample = random.Random(1).sample(records, min(SAMPLE_VERIFY, len(records)))
    said = []
    if "v1" in keys.schemes:
        try:
            from standardwebhooks.webhooks import Webhook
        except ImportError:
            said.append("v1 not checked (the standardwebhooks package is not installed)")
        else:
            good = 0
            for record in sample:
                with contextlib.suppress(Exception):
                    Webhook(keys.secret).verify(record["body"], record["headers"])
                    good += 1
            said.append(f"{good}/{len(sample)} v1 signatures verified with standardwebhooks")
    if "v1a" in keys.schemes:
        good = sum(v1a_verified(keys.public_key, r["body"].encode(), r["headers"]) for r in sample)
        said.append(f"{good}/{len(sample)} v1a signatures verified with cryptography")
    return "; ".join(said)


def order_check(records: list[Json]) -> tuple[int, int]:
    """(distinct webhook-ids, orders whose sequences arrived out of order)."""
    by_order: dict[str, list[int]] = {}
    for record in sorted(records, key=lambda r: float(r["t"])):
        data = orjson.loads(record["body"])["data"]
        by_order.setdefault(data["order_id"], []).append(int(data["sequence"]))
    unordered = sum(1 for seqs in by_order.values() if seqs != sorted(seqs))
    return len({r["headers"].get("webhook-id") for r in records}), unordered


async def throughput(client: Client, plan: Plan, state: Stack, keys: Keys) -> Throughput:
    bodies = batches(rounds("t", plan.events, plan.orders))
    commands = redis_commandstats(state.redis_port)
    memory = redis_used_memory(state.redis_port)
    before = cpu_snapshot(state)
    started = time.monotonic()
    changed, other = await client.post_batches(bodies, plan.posters)
    posted = time.monotonic()
    if other:
        print(f"   note: {other:,} events were not changes (late or duplicate)")
    await client.drain(changed, "throughput")
    cpu_wall = time.monotonic() - started
    used = cpu_used(before, cpu_snapshot(state))
    cpu = cpu_text(used, cpu_wall, changed)
    commands_text = redis_text(commands, redis_commandstats(state.redis_port), changed)
    memory_b = (redis_used_memory(state.redis_port) - memory) / changed
    path = await client.dump("throughput")
    records = load_dump(path)
    last = max((float(r["t"]) for r in records), default=started)
    unique, unordered = order_check(records)
    return Throughput(
        changes=changed,
        received=len(records),
        unique=unique,
        out_of_order=unordered,
        post_s=posted - started,
        total_s=last - started,
        verified=verify_sample(records, keys),
        cpu=cpu,
        cpu_us=1e6 * sum(sec for name, sec in used.items() if name != "receiver") / changed,
        redis=commands_text,
        memory_b=memory_b,
    )


async def drain(client: Client, plan: Plan, state: Stack) -> Drain:
    """The worker is stopped (SIGSTOP) while the changes are posted, then resumed: how fast it
    works off the backlog (fan-out included) on its own, against the same receiver."""
    assert state.worker is not None
    bodies = batches(rounds("d", plan.events, plan.orders))
    os.kill(state.worker.pid, signal.SIGSTOP)
    try:
        changed, _ = await client.post_batches(bodies, plan.posters)
    finally:
        os.kill(state.worker.pid, signal.SIGCONT)
    commands = redis_commandstats(state.redis_port)
    before = cpu_snapshot(state)
    resumed = time.monotonic()
    await client.drain(changed, "drain")
    wall = time.monotonic() - resumed
    used = cpu_used(before, cpu_snapshot(state))
    commands_text = redis_text(commands, redis_commandstats(state.redis_port), changed)
    used.pop("api", None)  # idle meanwhile
    records = load_dump(await client.dump("drain"))
    last = max((float(r["t"]) for r in records), default=resumed)
    return Drain(
        changes=changed,
        seconds=last - resumed,
        cpu=cpu_text(used, wall, changed),
        worker_us=1e6 * used.get("worker", 0.0) / changed,
        redis=commands_text,
    )


async def latency(client: Client, plan: Plan) -> Latency:
    count = int(plan.rate * plan.latency_seconds)
    sent: dict[str, float] = {}
    failures: list[str] = []

    async def post(i: int) -> None:
        order_id = f"lat-{i}"
        body = orjson.dumps(status_event(order_id, 0, i, f"lat-e{i}"))
        headers = {**client.headers, "Content-Type": "application/json"}
        sent[order_id] = time.monotonic()
        async with client.session.post(
            f"{client.api}/v1/events", data=body, headers=headers
        ) as answer:
            await answer.read()
            if answer.status != 202:
                failures.append(f"{answer.status}")

    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    for i in range(count):
        delay = started + i / plan.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(i)))
    await asyncio.gather(*tasks)
    post_rate = count / max(time.monotonic() - started, 1e-9)
    if failures:
        print(f"   WARNING: {len(failures)} posts failed (e.g. status {failures[0]})")
    await client.drain(count - len(failures), "latency")
    records = load_dump(await client.dump("latency"))
    lat = sorted(
        (float(r["t"]) - sent[order]) * 1000
        for r in records
        if (order := orjson.loads(r["body"])["data"]["order_id"]) in sent
    )

    def pct(p: float) -> float:
        if not lat:
            return float("nan")
        return lat[min(len(lat) - 1, round(p / 100 * (len(lat) - 1)))]

    return Latency(
        posted=count,
        post_rate=post_rate,
        received=len({orjson.loads(r["body"])["data"]["order_id"] for r in records} & set(sent)),
        p50_ms=statistics.median(lat) if lat else float("nan"),
        p90_ms=pct(90),
        p99_ms=pct(99),
        max_ms=lat[-1] if lat else float("nan"),
    )


def bare(plan: Plan, state: Stack, dump: Path, client: str = "aiohttp") -> Bare:
    """The baseline sender in its own process, where the worker ran."""
    cmd = [
        *pin_prefix(plan.pin, SERVER_CPU),
        sys.executable,
        str(Path(__file__).resolve()),
        "--role-bare",
        str(dump),
        f"{state.receiver_url}/hook",
        str(plan.concurrency),
        client,
    ]
    try:
        done = run_captured(cmd, DRAIN_TIMEOUT_S * 2, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        raise BenchError("the bare sender did not finish") from exc
    if done.returncode != 0:
        raise BenchError(f"the bare sender failed: {done.stderr[-2000:] or done.stdout}")
    figures = orjson.loads(done.stdout.strip().splitlines()[-1])
    return Bare(
        requests=int(figures["requests"]),
        ok=int(figures["ok"]),
        bad=int(figures["bad"]),
        seconds=float(figures["seconds"]),
        cpu_s=float(figures["cpu"]),
    )


# ---------------------------------------------------------------------------- the run


async def gateway_phases(
    plan: Plan, state: Stack, key: str
) -> tuple[Throughput, Latency, Drain, Path]:
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
        trust_env=False,
    ) as session:
        client = Client(session, state.api_url, state.receiver_url, headers)
        async with session.post(
            f"{state.api_url}/v1/webhooks",
            json={
                "url": f"{state.receiver_url}/hook",
                "description": "bench",
                "signature_schemes": plan.schemes,
            },
            headers=headers,
        ) as answer:
            created = orjson.loads(await answer.read())
            if answer.status != 201:
                raise BenchError(f"POST /v1/webhooks answered {answer.status}: {created}")
        keys = Keys(str(created["secret"]), str(created["public_key"]), plan.schemes)
        print(
            f"   endpoint {created['id']} -> {state.receiver_url}/hook, signed "
            f"{' and '.join(plan.schemes)}",
            flush=True,
        )

        warm_changed, _ = await client.post_batches(
            batches(rounds("w", WARMUP_EVENTS, WARMUP_EVENTS // 5))
        )
        await client.drain(warm_changed, "warm-up")
        await client.dump("warmup")
        print(f"   warm-up: {warm_changed:,} deliveries", flush=True)

        print(f"   throughput: {plan.events:,} events over {plan.orders:,} orders ...", flush=True)
        tp = await throughput(client, plan, state, keys)
        print(
            f"   -> {tp.events_per_s:,.0f} events/s ({tp.changes:,} changes posted in "
            f"{tp.post_s:.2f} s, last one received after {tp.total_s:.2f} s)",
            flush=True,
        )
        print(f"      CPU: {tp.cpu}", flush=True)
        print(f"      redis-server per event (command, calls, µs): {tp.redis}", flush=True)
        print(f"      redis-server memory: +{tp.memory_b:,.0f} bytes per event", flush=True)
        print(f"   latency: {plan.rate} events/s for {plan.latency_seconds:g} s ...", flush=True)
        lat = await latency(client, plan)
        print(
            f"   -> p50 {lat.p50_ms:.1f} ms, p90 {lat.p90_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms, "
            f"max {lat.max_ms:.1f} ms ({lat.received:,}/{lat.posted:,} received, posted at "
            f"{lat.post_rate:,.0f}/s)",
            flush=True,
        )
        print(f"   delivery alone: {plan.events:,} events queued with the worker stopped ...")
        dr = await drain(client, plan, state)
        print(
            f"   -> {dr.events_per_s:,.0f} events/s ({dr.changes:,} delivered in "
            f"{dr.seconds:.2f} s after the worker resumed)",
            flush=True,
        )
        print(f"      CPU: {dr.cpu}", flush=True)
        print(f"      redis-server per event (command, calls, µs): {dr.redis}", flush=True)
    return tp, lat, dr, state.workdir / "throughput.jsonl"


@dataclass(frozen=True)
class Figures:
    """What one run is judged by."""

    events_per_s: float
    ratio: float
    p99_ms: float


def ratio_verdict(ratio: float, pinned: bool) -> tuple[str, bool | None]:
    """The target column and verdict of a ratio: none on one core (`--pin`), where the gateway's
    three processes share the core the bare sender has to itself."""
    if pinned:
        return ONE_CORE, None
    return f"target >= {RATIO_TARGET}", ratio >= RATIO_TARGET


def over_runs(runs: Sequence[Figures], rate: int, pinned: bool = False) -> list[str]:
    """The lines judging several runs by their medians (the worst p99 for latency at `rate`
    events/s); on one core (`pinned`) the ratio's line has no verdict."""
    ratios = sorted(r.ratio for r in runs)
    rates = [r.events_per_s for r in runs]
    median = statistics.median(ratios)
    p99 = max(r.p99_ms for r in runs)
    rows: list[tuple[str, str, bool | None]] = [
        (
            "gateway throughput",
            f"median {statistics.median(rates):,.0f} events/s",
            statistics.median(rates) >= EVENTS_PER_S_TARGET,
        ),
        (
            "ratio gateway/bare",
            f"median {median:.3f} ({' '.join(f'{r:.2f}' for r in ratios)})",
            ratio_verdict(median, pinned)[1],
        ),
        (f"latency at {rate}/s", f"worst p99 {p99:.1f} ms", p99 < P99_TARGET_MS),
    ]
    verdicts = {True: "PASS", False: "FAIL", None: ONE_CORE}
    return [f"\n== Over {len(runs)} runs"] + [
        f"   {name:<22} {value:>36}   {verdicts[ok]}" for name, value, ok in rows
    ]


def summary(plan: Plan, tp: Throughput, lat: Latency, dr: Drain, base: Bare, own: Bare) -> Figures:
    ratio = tp.events_per_s / base.rps if base.rps else float("nan")
    alone = dr.events_per_s / base.rps if base.rps else float("nan")
    print(
        "\n== Summary (one API process, one worker, one endpoint, "
        + ("on one core" if plan.pin else "not pinned")
        + "; absolute numbers are ±30 % on this VM)"
    )
    rows = [
        (
            "gateway throughput",
            f"{tp.events_per_s:,.0f} events/s",
            f"target >= {EVENTS_PER_S_TARGET:,.0f}",
            tp.events_per_s >= EVENTS_PER_S_TARGET,
        ),
        (
            "bare aiohttp sender",
            f"{base.rps:,.0f} requests/s",
            f"{plan.concurrency} in flight",
            None,
        ),
        ("ratio gateway/bare", f"{ratio:.3f}", *ratio_verdict(ratio, plan.pin)),
        (
            f"latency at {plan.rate}/s",
            f"p50 {lat.p50_ms:.1f} / p99 {lat.p99_ms:.1f} ms",
            f"p99 target < {P99_TARGET_MS:.0f} ms",
            lat.p99_ms < P99_TARGET_MS,
        ),
        ("delivery alone", f"{dr.events_per_s:,.0f} events/s", "worker + redis, backlog", None),
        ("ratio alone/bare", f"{alone:.2f}", "no target", None),
        (
            "CPU per event",
            f"{tp.cpu_us:,.0f} µs",
            "api + worker + redis",
            None,
        ),
        ("  of which the worker", f"{dr.worker_us:,.0f} µs", "(delivery alone)", None),
        ("Redis memory per event", f"{tp.memory_b:,.0f} bytes", "feed, order, log", None),
        ("CPU per bare request", f"{base.cpu_us:,.0f} µs", "aiohttp, same bodies", None),
        (
            "  the gateway's client",
            f"{own.rps:,.0f} req/s, {own.cpu_us:,.0f} µs",
            "same bodies, no target",
            None,
        ),
    ]
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"   {name:<22} {value:>28}   {target:<22} {verdict}")
    problems = []
    if tp.unique != tp.changes or tp.received != tp.changes:
        problems.append(
            f"throughput: {tp.changes:,} changes, {tp.received:,} requests, "
            f"{tp.unique:,} distinct webhook-ids"
        )
    if tp.out_of_order:
        problems.append(f"{tp.out_of_order} orders received out of sequence")
    if lat.received != lat.posted:
        problems.append(f"latency: {lat.received:,} of {lat.posted:,} received")
    if base.bad or own.bad:
        problems.append(f"bare senders: {base.bad} + {own.bad} failed requests")
    print(
        f"   checks: {tp.verified}; "
        + ("; ".join(problems) if problems else "all delivered, once, in order")
    )
    return Figures(tp.events_per_s, ratio, lat.p99_ms)


def run(plan: Plan, workdir: Path, patterns: list[str]) -> Figures:
    if plan.pin:
        os.sched_setaffinity(0, {CLIENT_CPU})  # keep this process off the gateway's core
    binary = find_debian_redis(plan.install)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pinning: "
        + (
            f"redis-server + gateway serve + gateway worker taskset -c {SERVER_CPU}, receiver + "
            f"load taskset -c {CLIENT_CPU}; bare sender taskset -c {SERVER_CPU}"
            if plan.pin
            else "none"
        )
    )
    print(f"redis: {tool_version([str(binary), '--version'])}; aiohttp {aiohttp.__version__}")
    print(f"temp dir: {workdir}", flush=True)
    with contextlib.ExitStack() as stack:
        redis = start_redis(stack, plan.pin, binary, workdir)
        redis_port = redis.port
        patterns.append(rf"redis-server.*{re.escape(HOST)}:{redis_port}( |$)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_REDIS_URL=f"redis://{HOST}:{redis_port}/0"
            + (
                f"?max_connections={plan.redis_max_connections}"
                if plan.redis_max_connections
                else ""
            ),
            GATEWAY_DATA_DIR=str(workdir / "data"),
            GATEWAY_HOST=HOST,
            GATEWAY_ALLOW_PRIVATE_WEBHOOKS="true",
            GATEWAY_ALLOW_INSECURE_WEBHOOKS="true",
        )
        if plan.worker_concurrency:
            env["GATEWAY_WEBHOOK_CONCURRENCY"] = str(plan.worker_concurrency)
        env["GATEWAY_WEBHOOK_DIRECT"] = "true" if plan.direct else "false"
        if plan.sealed:
            env["GATEWAY_SECRET_KEY"] = secrets.token_urlsafe(32)
        state = Stack(workdir, env, redis_pid=redis.proc.pid, redis_port=redis_port)
        start_receiver(stack, plan, state)
        start_api(stack, plan, state)
        key = create_tenant(state.env, state.workdir)
        start_worker(stack, plan, state)
        assert state.api is not None
        assert state.worker is not None
        print(
            f"   redis-server :{redis_port} (AOF everysec), gateway serve --no-worker pid "
            f"{state.api.pid}, gateway worker pid {state.worker.pid}, receiver pid "
            f"{state.receiver.pid if state.receiver else '?'}",
            flush=True,
        )
        tp, lat, dr, dump = run_fast(gateway_phases(plan, state, key))
        worker_alive = state.worker.proc.poll() is None
        print(f"   gateway worker stopped ({exit_text(stop_process(state.worker))})")
        complaints = log_complaints(state.worker.log)
        if complaints:
            print(f"   WARNING: the worker logged {len(complaints):,} warnings/errors, e.g.")
            print(f"      {complaints[0][:300]}")
        print(f"   gateway serve stopped ({exit_text(stop_process(state.api))})")
        if not worker_alive:
            print("   WARNING: the worker had exited before the end")
        print(f"   baseline: bare aiohttp sender, {plan.concurrency} in flight ...", flush=True)
        base = bare(plan, state, dump)
        print(
            f"   -> {base.rps:,.0f} requests/s ({base.ok:,} of {base.requests:,} in "
            f"{base.seconds:.2f} s)",
            flush=True,
        )
        print("   for comparison: the same, through the gateway's own client ...", flush=True)
        own = bare(plan, state, dump, "gateway")
        print(f"   -> {own.rps:,.0f} requests/s ({own.ok:,} of {own.requests:,})", flush=True)
    return summary(plan, tp, lat, dr, base, own)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--role-receiver"]:
        return run_receiver(Path(args[1]))
    if args[:1] == ["--role-bare"]:
        return run_bare(Path(args[1]), args[2], int(args[3]), args[4])
    plan = parse_args(args)
    started = time.monotonic()
    print("bench/delivery.py: events posted -> signed webhooks received, vs a bare sender")
    patterns: list[str] = []
    workdirs: list[Path] = []
    runs: list[Figures] = []
    for n in range(1, plan.runs + 1):
        if plan.runs > 1:
            print(f"\n== Run {n} of {plan.runs}", flush=True)
        workdir = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
        workdirs.append(workdir)
        try:
            with guarded("process") as outcome:
                runs.append(run(plan, workdir, patterns))
        finally:
            if plan.keep_temp:
                print(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        if outcome.status:
            break
    if len(runs) > 1:
        print("\n".join(over_runs(runs, plan.rate, plan.pin)))
    report_leftovers(
        [*(re.escape(str(w)) for w in workdirs), *patterns],
        STARTED,
        running="processes",
        none_left="no process of this run is left (pgrep by command line and process group)",
    )
    print(f"total wall time: {time.monotonic() - started:.1f} s")
    return outcome.status


if __name__ == "__main__":
    sys.exit(main())
