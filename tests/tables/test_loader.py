"""Loading the mapping tables: errors name the file and row; the version follows the content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.errors import MappingFileError
from gateway.tables.loader import load_tables
from tests.conftest import ROOT

BAD = sorted((Path(__file__).parent / "bad").glob("*.toml"))


def _expectation(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: ")
    return first.removeprefix("# expect: ")


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", target)
    return target


def test_committed_tables_load(mappings: Path) -> None:
    tables = load_tables(mappings)
    assert sorted(tables.platforms) == ["cloudcart", "cscart", "kak2c", "measoft"]
    assert tables.names["courier"] == "measoft"


@pytest.mark.parametrize("bad", BAD, ids=lambda p: p.name)
def test_bad_table_is_refused_naming_file_and_row(mappings: Path, bad: Path) -> None:
    shutil.copy(bad, mappings / bad.name)
    with pytest.raises(MappingFileError) as info:
        load_tables(mappings)
    message = str(info.value)
    assert bad.name in message.splitlines()[0], message
    assert _expectation(bad) in message


def test_canonical_file_must_cover_every_code(mappings: Path) -> None:
    path = mappings / "canonical.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[codes.lost]", "[codes_removed.lost]"), encoding="utf-8")
    with pytest.raises(MappingFileError, match=r"canonical\.toml"):
        load_tables(mappings)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MappingFileError, match=r"canonical\.toml: missing"):
        load_tables(tmp_path)


def test_mapping_version_changes_exactly_when_a_table_changes(mappings: Path) -> None:
    before = load_tables(mappings).version
    assert load_tables(mappings).version == before
    path = mappings / "cscart.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('label = "Open"', 'label = "Opened"'),
        encoding="utf-8",
    )
    after = load_tables(mappings).version
    assert after != before
    assert after.startswith("1+")


def test_mapping_version_follows_the_declared_version(mappings: Path) -> None:
    path = mappings / "canonical.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('version = "1"', 'version = "2"'),
        encoding="utf-8",
    )
    assert load_tables(mappings).version.startswith("2+")
