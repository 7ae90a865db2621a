"""What the benchmarks share: CPU pinning, free ports, apt installs, wrk output, signals."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from types import FrameType

HOST = "127.0.0.1"  # the only address a benchmark contacts
SERVER_CPU = 0
CLIENT_CPU = 1
APT_TIMEOUT_S = 600.0
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


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


def wrk_latency(output: str, pct: str) -> float:
    match = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNITS_MS[match.group(2)] if match else float("nan")


def apt_install(package: str) -> bool:
    """apt-get update && apt-get install -y `package`, as root only; whether it worked."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"{package} is missing: running apt-get update && apt-get install -y {package} ...")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        try:
            done = subprocess.run(
                cmd,
                env=env,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            print(f"  {' '.join(cmd)}: timed out")
            return False
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).splitlines()[-5:])
            print(f"  {' '.join(cmd)} failed ({done.returncode}):\n{tail}")
            return False
    return True


def raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
