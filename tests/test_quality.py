"""The code stays typed and tidy: ruff and mypy --strict run as part of the suite."""

from __future__ import annotations

import pytest

from tests.conftest import run_module


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
    ],
    ids=" ".join,
)
def test_tool_is_clean(command: list[str]) -> None:
    result = run_module(*command)
    assert result.returncode == 0, result.stdout + result.stderr
