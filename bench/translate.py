"""Benchmark of the translation endpoints against a bare FastAPI baseline, measured in the same run.

Run by hand from the project root (not a test; it always exits 0 once it has measured):

    /work/venv/bin/python bench/translate.py            # full run (about one minute)
    /work/venv/bin/python bench/translate.py --quick    # smoke run (every duration shortened)
    /work/venv/bin/python bench/translate.py --seconds 10

The machine is noisy (about ±30 % between identical runs), so only the ratios against the baseline
measured in the same run count. Method (shared/reference/stack-measurements.md §4): each server is a
uvicorn subprocess (uvloop, httptools, no access log) on 127.0.0.1, pinned to core 0 with
`taskset -c 0`; the load generator (wrk, or this process) is pinned to core 1.

1. Single GET, `wrk -t1 -c50 --latency`: the gateway's
   `GET /v1/translate/cscart/P?lang=fr&target=kak2c` and `GET /v1/translate/measoft/DELIVERY`
   (Accept-Language: ru) against the baseline's `GET /hello` (bench/baseline_app.py). Warm-up,
   then rounds alternating baseline and gateway; the ratio is the median over rounds of
   gateway req/s / baseline req/s in the same round (target >= 0.8).
2. Batch of 10,000 items, `POST /v1/translate/batch`, built from the real codes of all four
   platforms, against the baseline's `POST /echo`, which parses the same body with `json.loads` and
   answers with the gateway's own answer, serialized with `json.dumps` (loaded once at startup).
   Sequential requests on one keep-alive httpx client. Server time is read from each app's
   `Server-Timing: app;dur=…` header (the same middleware in both; socket write and the client's
   reading of an 8 MB answer excluded); targets: ratio <= 3, >= 200,000 items/s.

Only 127.0.0.1 is contacted (except by `apt-get` when wrk is missing and may be installed). Every
server started here runs in its own process group and is stopped on exit, error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from benchlib import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    BenchError,
    Proc,
    Server,
    WrkResult,
    find_wrk,
    guarded,
    http_ok,
    parse_wrk,
    pin_prefix,
    pinning_possible,
    spawn,
    start_on_free_port,
    stop_process,
    tool_version,
    wrk_output,
)

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CONNECTIONS = 50
BATCH_ITEMS = 10_000
PLATFORMS = ("kak2c", "measoft", "cscart", "cloudcart")

BASELINE_GET = "/hello"
OURS_GETS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("cscart/P", "/v1/translate/cscart/P?lang=fr&target=kak2c", {}),
    ("measoft/DELIVERY", "/v1/translate/measoft/DELIVERY", {"Accept-Language": "ru"}),
)
BATCH_PATH = "/v1/translate/batch"
ECHO_PATH = "/echo"
ANSWER_ENV = "BENCH_ECHO_ANSWER"  # read by bench/baseline_app.py

GET_RATIO_TARGET = 0.8
BATCH_RATIO_TARGET = 3.0
ITEMS_PER_S_TARGET = 200_000.0

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 60.0
MAX_PY_REQUESTS = 5_000_000  # hard cap on requests one Python load run may send


# ---------------------------------------------------------------------------- plan and options


@dataclass(frozen=True)
class Plan:
    quick: bool
    warmup_s: int
    seconds: int
    rounds: int
    batch_warmups: int
    batch_requests: int
    loadgen: str
    install: bool
    pin: bool


def parse_args(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="Shorten every duration (smoke run).")
    parser.add_argument(
        "--seconds", type=int, default=None, help="Duration of each measured wrk run (default 5)."
    )
    parser.add_argument("--rounds", type=int, default=None, help="Measured GET rounds (default 3).")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk if present (or installable), else the Python generator.",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="Never run apt-get to install wrk."
    )
    parser.add_argument("--no-pin", action="store_true", help="Do not pin with taskset.")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (1 if args.quick else 5)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 3)
    if not 1 <= seconds <= 600:
        parser.error("--seconds must be between 1 and 600")
    if not 1 <= rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    return Plan(
        quick=args.quick,
        warmup_s=1 if args.quick else 2,
        seconds=seconds,
        rounds=rounds,
        batch_warmups=1 if args.quick else 3,
        batch_requests=3 if args.quick else 15,
        loadgen=args.loadgen,
        install=not args.no_install,
        pin=not args.no_pin and pinning_possible(),
    )


# ---------------------------------------------------------------------------- servers


def stop_server(proc: Proc) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers; always reaps the child."""
    stop_process(proc, STOP_TIMEOUT_S, quiet=True)


def start_server(
    stack: contextlib.ExitStack,
    plan: Plan,
    logdir: Path,
    name: str,
    factory: str,
    ready_path: str,
    *,
    app_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """Start uvicorn (with a retry if the chosen port was taken meanwhile) and wait until ready."""

    def launch(port: int, attempt: int) -> Proc:
        cmd = [
            *pin_prefix(plan.pin, SERVER_CPU),
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            HOST,
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if app_dir is not None:
            cmd += ["--app-dir", str(app_dir)]
        log = logdir / f"{name}.{attempt}.log"
        return spawn(name, cmd, log, {**os.environ, **(env or {})}, ROOT)

    return start_on_free_port(
        stack,
        launch,
        lambda server: http_ok(server.url(ready_path)),
        f"{name} did not start",
        timeout_s=STARTUP_TIMEOUT_S,
        stop=stop_server,
    )


# ---------------------------------------------------------------------------- load generators


@dataclass(frozen=True)
class LoadResult(WrkResult):
    def show(self) -> str:
        shown = f"{self.rps:>8,.0f} req/s (p50 {self.p50_ms:5.1f} / p99 {self.p99_ms:5.1f} ms)"
        return shown + self.trouble()


@dataclass
class LoadGen:
    """Runs `seconds` of load with CONNECTIONS keep-alive connections and reports the result."""

    kind: str  # "wrk" or "python"
    description: str
    plan: Plan
    wrk: str | None = None

    def run(self, url: str, headers: dict[str, str], seconds: int) -> LoadResult:
        if self.kind == "wrk" and self.wrk is not None:
            return run_wrk(self.wrk, self.plan, url, headers, seconds)
        return run_python_load(url, headers, seconds)


def run_wrk(wrk: str, plan: Plan, url: str, headers: dict[str, str], seconds: int) -> LoadResult:
    header_args = [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
    cmd = [
        *pin_prefix(plan.pin, CLIENT_CPU),
        wrk,
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        *header_args,
        url,
    ]
    return LoadResult(**asdict(parse_wrk(wrk_output(cmd, seconds + 30))))


@dataclass
class _PyStats:
    latencies: list[float] = field(default_factory=list)
    bad_status: int = 0
    errors: int = 0
    sent: int = 0


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked); return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "content-length":
            length = int(value.strip())
        elif key == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        for _ in range(1_000_000):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                for _ in range(1000):  # trailers, then the empty line
                    if await reader.readuntil(b"\r\n") == b"\r\n":
                        break
                break
            await reader.readexactly(size + 2)
    elif length:
        await reader.readexactly(length)
    return status


async def _py_connection(port: int, request: bytes, deadline: float, stats: _PyStats) -> None:
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        stats.errors += 1
        return
    try:
        while time.perf_counter() < deadline and stats.sent < MAX_PY_REQUESTS:
            stats.sent += 1
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            stats.latencies.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                stats.bad_status += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        stats.errors += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _py_load(url: str, headers: dict[str, str], seconds: int) -> LoadResult:
    parsed = httpx.URL(url)
    port = parsed.port or 80
    target = parsed.raw_path.decode("ascii")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {target} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{extra}\r\n".encode("latin-1")
    stats = _PyStats()
    started = time.perf_counter()
    deadline = started + seconds
    tasks = [
        asyncio.create_task(_py_connection(port, request, deadline, stats))
        for _ in range(CONNECTIONS)
    ]
    try:
        _, pending = await asyncio.wait(tasks, timeout=seconds + 30)
        stats.errors += len(pending)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.perf_counter() - started
    lat = sorted(stats.latencies)
    return LoadResult(
        rps=len(lat) / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(lat, 50) * 1000,
        p99_ms=percentile(lat, 99) * 1000,
        requests=len(lat),
        bad_status=stats.bad_status,
        errors=stats.errors,
    )


def run_python_load(url: str, headers: dict[str, str], seconds: int) -> LoadResult:
    return asyncio.run(_py_load(url, headers, seconds))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def choose_loadgen(plan: Plan) -> LoadGen:
    pinned = f", pinned with taskset -c {CLIENT_CPU}" if plan.pin else ", not pinned"
    py_desc = (
        f"Python asyncio generator (raw keep-alive HTTP/1.1 sockets, {CONNECTIONS} connections, "
        f"1 thread{pinned})"
    )
    if plan.loadgen == "python":
        return LoadGen("python", py_desc + " [chosen with --loadgen python]", plan)
    wrk = find_wrk(plan.install)
    if wrk is None:
        if plan.loadgen == "wrk":
            raise BenchError("wrk is not installed and could not be installed")
        return LoadGen("python", py_desc + " [wrk not available]", plan)
    name = tool_version([wrk, "-v"], fallback="wrk")
    return LoadGen("wrk", f"{name} (-t1 -c{CONNECTIONS} --latency{pinned})", plan, wrk)


# ---------------------------------------------------------------------------- 1. single GET


@dataclass
class GetFigures:
    baseline: list[LoadResult]
    ours: dict[str, list[LoadResult]]
    ratios: dict[str, list[float]]

    def median_ratio(self, label: str) -> float:
        return statistics.median(self.ratios[label])


def bench_get(loadgen: LoadGen, plan: Plan, baseline: Server, ours: Server) -> GetFigures:
    targets: list[tuple[str, str, dict[str, str]]] = [
        ("baseline", baseline.url(BASELINE_GET), {}),
        *((label, ours.url(path), headers) for label, path, headers in OURS_GETS),
    ]
    print(f"\n== 1. Single GET: {len(targets) - 1} gateway URLs vs baseline GET {BASELINE_GET}")
    print(f"   load generator: {loadgen.description}")
    print(f"   server: uvicorn, 1 worker{f', taskset -c {SERVER_CPU}' if plan.pin else ''}")
    print(
        f"   warm-up {plan.warmup_s} s each, then {plan.rounds} rounds of {plan.seconds} s, "
        "alternating (order reversed every other round)"
    )
    for label, url, headers in targets:
        result = loadgen.run(url, headers, plan.warmup_s)
        print(f"   warm-up  {label:<18} {result.show()}", flush=True)
    figures = GetFigures([], {label: [] for label, _, _ in OURS_GETS}, {})
    for rnd in range(plan.rounds):
        order = targets if rnd % 2 == 0 else list(reversed(targets))
        got: dict[str, LoadResult] = {}
        for label, url, headers in order:
            got[label] = loadgen.run(url, headers, plan.seconds)
            print(f"   round {rnd + 1}  {label:<18} {got[label].show()}", flush=True)
        figures.baseline.append(got["baseline"])
        for label, _, _ in OURS_GETS:
            figures.ours[label].append(got[label])
            ratio = got[label].rps / got["baseline"].rps if got["baseline"].rps else 0.0
            figures.ratios.setdefault(label, []).append(ratio)
    print("\n   median over rounds:")
    print(f"   {'baseline /hello':<26} {median_result(figures.baseline).show()}")
    for label, path, headers in OURS_GETS:
        extra = "".join(f" [{k}: {v}]" for k, v in headers.items())
        print(f"   {label:<26} {median_result(figures.ours[label]).show()}   {path}{extra}")
    for label, _, _ in OURS_GETS:
        per_round = ", ".join(f"{r:.2f}" for r in figures.ratios[label])
        print(
            f"   ratio {label} / baseline: per round {per_round} -> median "
            f"{figures.median_ratio(label):.2f} (target >= {GET_RATIO_TARGET})"
        )
    return figures


def median_result(results: Sequence[LoadResult]) -> LoadResult:
    return LoadResult(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        requests=sum(r.requests for r in results),
        bad_status=sum(r.bad_status for r in results),
        errors=sum(r.errors for r in results),
    )


# ---------------------------------------------------------------------------- 2. batch


def build_batch(client: httpx.Client, ours: Server) -> dict[str, Any]:
    """10,000 items cycling through the real codes of all four platforms (from the server)."""
    platforms_doc = get_json(client, ours.url("/v1/platforms"))
    known = {p["platform"]: p for p in platforms_doc["platforms"]}
    missing = [p for p in PLATFORMS if p not in known]
    if missing:
        raise BenchError(f"the gateway does not list {missing}")
    docs = {p: get_json(client, ours.url(f"/v1/platforms/{p}/statuses")) for p in PLATFORMS}
    codes = {p: [s["code"] for s in docs[p]["statuses"]] for p in PLATFORMS}
    payments = [s["code"] for s in docs["cloudcart"]["payment_statuses"]]
    fulfillments = [s["code"] for s in docs["cloudcart"]["fulfillment_statuses"]]
    kak2c_variants: list[str] = list(known["kak2c"]["variants"])
    langs: list[str | None] = [None, None, None, "en", "fr", "el", "ru"]  # 7, coprime with 4
    targets: list[str | None] = [None, "kak2c", "measoft", "cscart", "cloudcart"]  # 5
    items: list[dict[str, Any]] = []
    for i in range(BATCH_ITEMS):
        platform = PLATFORMS[i % len(PLATFORMS)]
        k = i // len(PLATFORMS)
        status: str | dict[str, str]
        if platform == "cloudcart" and k % 10 != 9:
            orders = codes["cloudcart"]
            status = {
                "order": orders[k % len(orders)],
                "payment": payments[(k // len(orders)) % len(payments)],
                "fulfillment": fulfillments[
                    (k // (len(orders) * len(payments))) % len(fulfillments)
                ],
            }
        else:
            status = codes[platform][k % len(codes[platform])]
        item: dict[str, Any] = {"platform": platform, "status": status}
        lang = langs[i % len(langs)]
        target = targets[i % len(targets)]
        if lang is not None:
            item["lang"] = lang
        if target is not None:
            item["target"] = target
        if platform == "kak2c" and kak2c_variants and k % 3 == 0:
            item["variant"] = kak2c_variants[k % len(kak2c_variants)]
        items.append(item)
    counts = {p: len(codes[p]) for p in PLATFORMS}
    print(
        f"   body: {BATCH_ITEMS:,} items, lang ru; native codes per platform {counts}, "
        f"CloudCart {len(payments)} payment x {len(fulfillments)} fulfilment statuses"
    )
    return {"lang": "ru", "items": items}


def get_json(client: httpx.Client, url: str) -> Any:
    response = client.get(url)
    if response.status_code != 200:
        raise BenchError(f"GET {url}: {response.status_code} {response.text[:300]}")
    return orjson.loads(response.content)


def check_batch_answer(answer: Any) -> tuple[int, int, str]:
    """(results, results carrying an error, first error) of a batch answer."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        return 0, 0, "no results list"
    errors = [r["error"] for r in results if isinstance(r, dict) and "error" in r]
    first = orjson.dumps(errors[0]).decode()[:300] if errors else ""
    return len(results), len(errors), first


@dataclass
class BatchFigures:
    ours_s: list[float]  # server time, from Server-Timing
    baseline_s: list[float]
    ours_round_trip_s: list[float]
    baseline_round_trip_s: list[float]
    request_bytes: int
    ours_bytes: int
    baseline_bytes: int
    results: int
    errors: int
    first_error: str
    failures: int

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours_s)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline_s)

    @property
    def ratio(self) -> float:
        return self.ours_median / self.baseline_median

    @property
    def items_per_s(self) -> float:
        return BATCH_ITEMS / self.ours_median

    @property
    def correct(self) -> bool:
        return self.results == BATCH_ITEMS and self.errors == 0 and self.failures == 0


def post(client: httpx.Client, url: str, body: bytes) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.post(url, content=body, headers={"Content-Type": "application/json"})
    return time.perf_counter() - started, response


def server_seconds(response: httpx.Response) -> float:
    """The server's own time for the request, from `Server-Timing: app;dur=<ms>`."""
    match = re.search(r"app;dur=([0-9.]+)", response.headers.get("server-timing", ""))
    if match is None:
        raise RuntimeError("answer without a Server-Timing header")
    return float(match.group(1)) / 1000


def bench_batch(
    plan: Plan,
    client: httpx.Client,
    ours: Server,
    baseline: Server,
    body: bytes,
    ours_answer: bytes,
) -> BatchFigures:
    print(
        f"\n== 2. Batch: POST {BATCH_PATH} ({BATCH_ITEMS:,} items) vs baseline POST {ECHO_PATH} "
        "(json.loads of the same body, json.dumps of the gateway's answer)"
    )
    print(
        f"   one httpx client (keep-alive), sequential: {plan.batch_warmups} warm-up(s), then "
        f"{plan.batch_requests} timed requests each, alternating"
    )
    results, errors, first_error = check_batch_answer(orjson.loads(ours_answer))
    urls = {"ours": ours.url(BATCH_PATH), "baseline": baseline.url(ECHO_PATH)}
    sizes = {"ours": len(ours_answer), "baseline": 0}
    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    round_trips: dict[str, list[float]] = {"ours": [], "baseline": []}
    failures = 0
    for _ in range(plan.batch_warmups):
        for name, url in urls.items():
            _, response = post(client, url, body)
            sizes[name] = len(response.content)
    for i in range(plan.batch_requests):
        order = ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours")
        for name in order:
            elapsed, response = post(client, urls[name], body)
            if response.status_code != 200:
                failures += 1
            round_trips[name].append(elapsed)
            times[name].append(server_seconds(response))
            sizes[name] = len(response.content)
    figures = BatchFigures(
        ours_s=times["ours"],
        baseline_s=times["baseline"],
        ours_round_trip_s=round_trips["ours"],
        baseline_round_trip_s=round_trips["baseline"],
        request_bytes=len(body),
        ours_bytes=sizes["ours"],
        baseline_bytes=sizes["baseline"],
        results=results,
        errors=errors,
        first_error=first_error,
        failures=failures,
    )
    for name, values in times.items():
        ms = sorted(v * 1000 for v in values)
        trip = statistics.median(round_trips[name]) * 1000
        print(
            f"   {name:<9} server median {statistics.median(ms):7.1f} ms/request "
            f"(min {ms[0]:.1f}, max {ms[-1]:.1f}; {len(ms)} requests); "
            f"round trip incl. client {trip:.1f} ms"
        )
    print(
        f"   request body {figures.request_bytes:,} bytes; response: gateway "
        f"{figures.ours_bytes:,} bytes, baseline {figures.baseline_bytes:,} bytes "
        "(both UTF-8, compact)"
    )
    print(
        f"   gateway answer: {results:,} results, {errors} with an error"
        + (f"; first: {first_error}" if first_error else "")
        + (f"; {failures} non-200 answers while timing" if failures else "")
    )
    print(
        f"   ratio gateway / baseline server time: {figures.ratio:.2f} "
        f"(target <= {BATCH_RATIO_TARGET:g})"
    )
    print(f"   items/s: {figures.items_per_s:,.0f} (target >= {ITEMS_PER_S_TARGET:,.0f})")
    return figures


# ---------------------------------------------------------------------------- summary and main


def summary(get: GetFigures, batch: BatchFigures) -> None:
    rows: list[tuple[str, str, str, bool]] = []
    for label, _, _ in OURS_GETS:
        ratio = get.median_ratio(label)
        rows.append(
            (
                f"GET {label} req/s ratio",
                f"{ratio:.2f}",
                f">= {GET_RATIO_TARGET}",
                ratio >= GET_RATIO_TARGET,
            )
        )
    rows.append(
        (
            "batch 10k time ratio",
            f"{batch.ratio:.2f}",
            f"<= {BATCH_RATIO_TARGET:g}",
            batch.ratio <= BATCH_RATIO_TARGET,
        )
    )
    rows.append(
        (
            "batch 10k items/s",
            f"{batch.items_per_s:,.0f}",
            f">= {ITEMS_PER_S_TARGET:,.0f}",
            batch.items_per_s >= ITEMS_PER_S_TARGET,
        )
    )
    rows.append(
        (
            "batch 10k results/errors",
            f"{batch.results:,}/{batch.errors}",
            f"{BATCH_ITEMS:,}/0",
            batch.correct,
        )
    )
    print("\n== Summary (ratios measured in this run; absolute numbers are ±30 % on this VM)")
    print(f"   {'figure':<34} {'value':>10}  {'target':<12} result")
    for name, value, target, ok in rows:
        print(f"   {name:<34} {value:>10}  {target:<12} {'PASS' if ok else 'FAIL'}")


def run(plan: Plan, stack: contextlib.ExitStack) -> tuple[GetFigures, BatchFigures]:
    if plan.pin:
        os.sched_setaffinity(0, {CLIENT_CPU})  # this process is a load generator too (httpx)
    loadgen = choose_loadgen(plan)
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-translate-")))
    print(
        f"python {sys.version.split()[0]}, pinning: "
        + (
            f"servers taskset -c {SERVER_CPU}, load generators core {CLIENT_CPU}"
            if plan.pin
            else "none"
        )
    )
    print(f"load generator: {loadgen.description}", flush=True)

    ours = start_server(stack, plan, workdir, "gateway", "gateway.app:create_app", "/v1/platforms")
    client = stack.enter_context(httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT_S))
    for _, path, headers in OURS_GETS:
        response = client.get(ours.url(path), headers=headers)
        if response.status_code != 200:
            raise BenchError(f"GET {path}: {response.status_code} {response.text[:300]}")

    print("\n   building the batch body from the gateway's vocabulary ...", flush=True)
    body = orjson.dumps(build_batch(client, ours))
    _, response = post(client, ours.url(BATCH_PATH), body)
    if response.status_code != 200:
        raise BenchError(f"POST {BATCH_PATH}: {response.status_code} {response.text[:300]}")
    ours_answer = response.content
    answer_file = workdir / "echo-answer.json"
    answer_file.write_bytes(ours_answer)

    baseline = start_server(
        stack,
        plan,
        workdir,
        "baseline",
        "baseline_app:create_app",
        BASELINE_GET,
        app_dir=BENCH_DIR,
        env={ANSWER_ENV: str(answer_file)},
    )
    _, echoed = post(client, baseline.url(ECHO_PATH), body)
    if echoed.status_code != 200 or orjson.loads(echoed.content) != orjson.loads(ours_answer):
        raise BenchError("the baseline's /echo does not answer the gateway's batch answer")
    print(f"   servers: gateway on {HOST}:{ours.port}, baseline on {HOST}:{baseline.port}")

    get = bench_get(loadgen, plan, baseline, ours)
    batch = bench_batch(plan, client, ours, baseline, body, ours_answer)
    return get, batch


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    started = time.monotonic()
    print(
        "bench/translate.py: gateway vs bare FastAPI baseline, same run"
        + (" (--quick)" if plan.quick else "")
    )
    # the ExitStack stops every server, also on errors, Ctrl-C and SIGTERM
    with guarded("server") as outcome, contextlib.ExitStack() as stack:
        get, batch = run(plan, stack)
    if outcome.status:
        return outcome.status
    summary(get, batch)
    print(f"\ntotal wall time: {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
