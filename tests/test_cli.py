"""The `gateway` command: translate, check-mappings, export-openapi, and a real `serve`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from gateway import openapi
from gateway.cli import main
from tests.conftest import ROOT
from tests.factories import free_port


def test_translate_prints_the_json_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "cscart", "P", "--lang", "fr", "--target", "kak2c"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["canonical"]["code"] == "confirmed"
    assert body["native"]["label"] == "Traité"
    assert body["target"]["code"] == "ORDER_INFO_READY_TO_PACK"


def test_translate_cloudcart_parts(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "translate",
        "cloudcart",
        "paid",
        "--payment",
        "completed",
        "--fulfillment",
        "fulfilled",
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["canonical"]["code"] == "completed"


def test_translate_unknown_code_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "cscart", "Q"]) == 2
    assert "'Q' is not a cscart status" in capsys.readouterr().err
    assert main(["translate", "cscart", "Q", "--lenient"]) == 0


def _next_friday() -> date:
    start = datetime.now(ZoneInfo("Europe/Moscow")).date() + timedelta(days=7)
    return start + timedelta(days=(4 - start.weekday()) % 7)


def test_fbo_schedule_prints_a_localized_table(capsys: pytest.CaptureFixture[str]) -> None:
    friday = _next_friday()
    args = ["fbo", "schedule", friday.isoformat(), "--units", "1200", "--lang", "ru"]
    assert main(args) == 0
    out = capsys.readouterr().out
    thursday = friday - timedelta(days=1)
    assert f"{thursday} 14:00" in out
    assert "до 14:00 четверга" in out
    assert "Свыше 1000 единиц" in out  # the individual-agreement warning
    assert f"{friday} 09:30" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2026-02-30"], "not a date"),
        (["2020-01-10"], "before today"),
        (["NEXT", "--timezone", "Mars/Olympus"], "not an IANA time zone"),
    ],
)
def test_fbo_schedule_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    args = [_next_friday().isoformat() if a == "NEXT" else a for a in args]
    assert main(["fbo", "schedule", *args]) == 2
    assert message in capsys.readouterr().err


def test_check_mappings_passes_on_the_committed_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-mappings"]) == 0
    assert "4 platforms" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("old", "new", "exit_code", "expected"),
    [
        (
            'canonical = "completed"',
            'canonical = "done"',
            2,
            ["cscart.toml", "statuses.C.canonical"],
        ),
        ('label = "Open"', 'label = "Opened"', 1, ["gateway.pot: missing [cscart] 'Opened'"]),
    ],
    ids=["bad-row", "catalog-gap"],
)
def test_check_mappings_names_file_and_row(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    exit_code: int,
    expected: list[str],
) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    path = mappings / "cscart.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    monkeypatch.setenv("GATEWAY_MAPPINGS_DIR", str(mappings))
    assert main(["check-mappings"]) == exit_code
    err = capsys.readouterr().err
    for text in expected:
        assert text in err


def test_export_openapi_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-openapi", "--check"]) == 0
    target = tmp_path / "openapi.json"
    assert main(["export-openapi", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == openapi.OPENAPI_FILE.read_text(encoding="utf-8")
    target.write_text("{}", encoding="utf-8")
    assert main(["export-openapi", "--check", "--output", str(target)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_gateway_serve_answers_over_http(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "GATEWAY_PORT": str(port), "GATEWAY_DATA_DIR": str(tmp_path / "var")}
    env.pop("GATEWAY_REDIS_URL", None)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/v1/translate/measoft/DELIVERY",
                    headers={"Accept-Language": "el-GR"},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        assert response is not None, "gateway serve did not start in 30 s"
        assert response.status_code == 200
        assert response.headers["content-language"] == "el"
        assert response.json()["canonical"]["code"] == "out_for_delivery"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


@pytest.mark.parametrize(("verb", "option"), [("worker", "--metrics-port"), ("serve", "--port")])
@pytest.mark.parametrize("value", ["0", "65536", "http"])
def test_a_port_out_of_range_is_refused(
    verb: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([verb, option, value])
    assert exit_.value.code == 2
    assert "is not a port (1 to 65535)" in capsys.readouterr().err


def test_a_worker_whose_metrics_port_is_taken_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["worker", "--metrics-port", str(port)]) == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in capsys.readouterr().err
