"""The embedded Redis: persists under its data dir, stops cleanly, recovers after crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from gateway.storage.embedded import EmbeddedRedis, _pid_alive
from gateway.storage.keys import TenantKeys


def _client(server: EmbeddedRedis) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True)


def _pid(server: EmbeddedRedis) -> int:
    return int(server.pid_path.read_text().strip())


def test_data_survives_a_clean_stop_and_no_server_is_left(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "var")
    server.start()
    pid = _pid(server)
    with _client(server) as r:
        r.set("k", "v")
        r.xadd("s", {"a": "1"})
        assert r.config_get("appendonly")["appendonly"] == "yes"
        assert r.config_get("appendfsync")["appendfsync"] == "everysec"
    server.stop()
    assert not _pid_alive(pid)
    assert not server.socket_path.exists()

    again = EmbeddedRedis(tmp_path / "var")
    again.start()
    try:
        with _client(again) as r:
            assert r.get("k") == "v"
            assert r.xlen("s") == 1
    finally:
        again.stop()


def test_a_second_process_attaches_and_does_not_stop_the_owners_server(tmp_path: Path) -> None:
    owner = EmbeddedRedis(tmp_path / "var")
    owner.start()
    try:
        attached = EmbeddedRedis(tmp_path / "var")
        # flock is per open file: a second EmbeddedRedis in this process behaves like another
        # process would.
        attached.start()
        assert (owner.owner, attached.owner) == (True, False)
        attached.stop()
        with _client(owner) as r:
            assert r.ping()
    finally:
        owner.stop()


START_AND_DIE = """
import sys, time
from pathlib import Path
from gateway.storage.embedded import EmbeddedRedis
server = EmbeddedRedis(Path(sys.argv[1]))
server.start()
import redis
redis.Redis(unix_socket_path=str(server.socket_path)).set("before-crash", "kept")
print("ready", flush=True)
time.sleep(60)
"""


def _crashing_owner(data_dir: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", START_AND_DIE, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    ready = process.stdout.readline().strip()
    process.stdout.close()  # it prints nothing more
    assert ready == "ready"
    return process


def test_after_the_owner_is_killed_the_next_start_adopts_the_running_server(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    process = _crashing_owner(data_dir)
    orphan = _pid(EmbeddedRedis(data_dir))
    process.kill()
    process.wait()
    assert _pid_alive(orphan)  # started in its own session, it outlives its owner

    server = EmbeddedRedis(data_dir)
    server.start()
    try:
        assert server.owner
        assert _pid(server) == orphan
        with _client(server) as r:
            assert r.get("before-crash") == "kept"
    finally:
        server.stop()
    assert not _pid_alive(orphan)


def test_after_owner_and_server_are_both_killed_the_aof_is_replayed(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    process = _crashing_owner(data_dir)
    orphan = _pid(EmbeddedRedis(data_dir))
    process.kill()
    os.kill(orphan, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 5
    while _pid_alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.01)

    server = EmbeddedRedis(data_dir)
    server.start()  # the stale socket is removed; a new server loads the AOF
    try:
        assert _pid(server) != orphan
        with _client(server) as r:
            assert r.get("before-crash") == "kept"
    finally:
        server.stop()


def test_a_server_of_ours_that_does_not_answer_is_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    process = _crashing_owner(data_dir)
    hung = _pid(EmbeddedRedis(data_dir))
    process.kill()
    process.wait()
    os.kill(hung, signal.SIGSTOP)  # alive, holding its socket, answering nothing

    server = EmbeddedRedis(data_dir)
    server.start()
    try:
        assert _pid(server) != hung
        assert not _pid_alive(hung)
        with _client(server) as r:
            assert r.get("before-crash") == "kept"
    finally:
        server.stop()


def test_a_long_data_dir_gets_a_socket_path_that_fits(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 5)
    server = EmbeddedRedis(deep)
    assert len(str(server.socket_path)) <= 100
    server.start()
    try:
        with _client(server) as r:
            assert r.ping()
    finally:
        server.stop()


def test_a_broken_config_is_reported_with_the_log_file(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "var", appendfsync="sometimes")
    with pytest.raises(RuntimeError, match=r"redis\.log"):
        server.start()
    server.stop()


@pytest.mark.parametrize("tenant", ["acme", "shop-1", "x"])
def test_every_key_of_a_tenant_is_in_one_cluster_slot(tenant: str) -> None:
    k = TenantKeys("gw", tenant)
    names = [
        k.record,
        k.api_keys,
        k.ingest_tokens,
        k.orders,
        k.changes,
        k.mappings,
        k.unmapped,
        k.unmapped_seen,
        k.order("cscart", "1{x}"),
        k.timeline("measoft", "A:B"),
        k.seen("cloudcart", "}{"),
    ]
    assert len({key_slot(name.encode()) for name in names}) == 1
