"""The built wheel carries its tables and catalogs and works outside the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_works_outside_the_source_tree(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    assert (unpacked / "gateway" / "_data" / "mappings" / "cscart.toml").is_file()
    assert (
        unpacked / "gateway" / "_data" / "locales" / "el" / "LC_MESSAGES" / "gateway.po"
    ).is_file()
    # Run from an empty directory with the unpacked wheel first on the path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(unpacked)
    code = (
        "import gateway.settings as s, gateway.cli as c, sys;"
        "assert str(s.Settings(_env_file=None).mappings_dir).startswith(sys.argv[1]);"
        "sys.exit(c.main(['translate', 'cloudcart', 'pending', '--lang', 'el']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(unpacked)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["native"]["label"] == "Σε εκκρεμότητα"
