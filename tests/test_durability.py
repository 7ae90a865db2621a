"""`gateway serve` on the embedded Redis loses no accepted event when it is killed (SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.storage.embedded import EmbeddedRedis, _pid_alive
from tests.factories import free_port

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 40


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_PORT": str(port)}
    env.pop("GATEWAY_REDIS_URL", None)
    return env


class Gateway:
    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--log-level", "warning"],
            env=_env(data_dir, port),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("gateway serve did not become ready")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self._log.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "var"
    yield path
    leftover = EmbeddedRedis(path)
    if leftover.pid_path.exists():  # never leave a server behind, whatever the test did
        pid = int(leftover.pid_path.read_text())
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def _api_key(data_dir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "tenant", "create", "durable"],
        env=_env(data_dir, 1),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    key: str = json.loads(out.stdout)["api_key"]
    return key


def _post_events(gateway: Gateway, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as client:
        for i in range(EVENTS):
            response = client.post(
                "/v1/events",
                json={
                    "platform": "cscart",
                    "order_id": f"o{i % 4}",
                    "status": "OPC"[i // 4 % 3],
                    "occurred_at": f"2026-11-23T10:{i:02d}:00+03:00",
                    "event_id": f"e{i}",
                },
            )
            assert response.status_code == 202, response.text


def _timeline_lengths(gateway: Gateway, key: str) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10) as client:
        return [len(client.get(f"/v1/orders/cscart/o{n}").json()["timeline"]) for n in range(4)]


@pytest.mark.parametrize("also_kill_redis", [False, True], ids=["gateway", "gateway+redis"])
def test_no_accepted_event_is_lost_when_serve_is_killed(
    data_dir: Path, tmp_path: Path, also_kill_redis: bool
) -> None:
    key = _api_key(data_dir)
    port = free_port()
    first = Gateway(data_dir, port, tmp_path / "serve.log")
    try:
        _post_events(first, key)
    finally:
        redis_pid = int(EmbeddedRedis(data_dir).pid_path.read_text())
        first.kill()
        if also_kill_redis:
            os.kill(redis_pid, signal.SIGKILL)

    second = Gateway(data_dir, port, tmp_path / "serve.log")
    restarted = int(EmbeddedRedis(data_dir).pid_path.read_text())
    try:
        assert _timeline_lengths(second, key) == [EVENTS // 4] * 4
    finally:
        second.stop()
    assert (restarted == redis_pid) is not also_kill_redis  # adopted, or started anew
    assert not _pid_alive(restarted)  # a normal stop leaves no server behind
