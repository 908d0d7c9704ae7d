"""The fact cache under hostile conditions (issue 13): file names that are not UTF-8, a
database that is corrupt, foreign or full of rows of another shape, and many runs sharing
one cache while one of them is killed. The cache may only ever save work: every run ends
with the report an uncached run gives, and a cache it cannot use is a note, never a crash.
"""

from __future__ import annotations

import dataclasses
import json
import marshal
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from gplscan import __version__
from gplscan.facts.cache import FactCache, code_digest
from gplscan.model import ScanResult
from gplscan.report import json as json_report
from gplscan.report.stats import stat_lines
from gplscan.scan import Options, run
from tests.helpers import compile_object, need_tools

BLOB_C = "int vendor_magic(int x) { return x * 7; }\n"
MAIN_C = (
    "// SPDX-License-Identifier: GPL-2.0-only\n"
    'MODULE_LICENSE("GPL");\n'
    "extern int vendor_magic(int);\n"
    "int drv_probe(void) { return vendor_magic(3); }\n"
)


def _no_detection(path: Path) -> tuple[None, tuple[()]]:
    return None, ()


def _run(tree: Path, cache: Path | None) -> ScanResult:
    return run(tree, Options(cache_dir=cache, jobs=1), detector=_no_detection)


def _report(result: ScanResult) -> str:
    """The JSON report without the cache's own notes (which say what happened to it)."""
    kept = tuple(i for i in result.issues if i.stage != "cache")
    return json_report.render(dataclasses.replace(result, issues=kept))


def _cache_notes(result: ScanResult) -> list[str]:
    notes = [i for i in result.issues if i.stage == "cache"]
    assert all(not i.skipped for i in notes), "a cache problem is a note, not a failure"
    return [i.message for i in notes]


def _files_read(result: ScanResult) -> str:
    return {s.label: s.text for s in stat_lines(result.stats)}["files read"]


def _database(cache: Path) -> Path:
    return cache / f"facts-{__version__}-{code_digest()}.sqlite3"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A GPL driver linking a closed blob (a finding), with a file name that is not UTF-8."""
    need_tools("gcc")
    root = tmp_path / "tree"
    root.mkdir()
    (tmp_path / "blob.c").write_text(BLOB_C)
    compile_object(tmp_path / "blob.c", root / "blob.o_shipped")
    (root / "Kbuild").write_text("obj-m += drv.o\ndrv-objs := main.o blob.o\n")
    (root / "main.c").write_text(MAIN_C)
    (root / "untagged.h").write_text("int helper(void);\n")
    (root / os.fsdecode(b"\xff\xfe.c")).write_bytes(b"int y;\n")
    return root


def test_a_file_name_that_is_not_utf8_is_cached(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    uncached = _report(_run(tree, None))
    first = _run(tree, cache)
    assert _cache_notes(first) == []
    again = _run(tree, cache)
    assert _cache_notes(again) == []
    assert _report(first) == _report(again) == uncached
    assert _files_read(again).startswith("0 of ")
    assert any(f.path.name == os.fsdecode(b"\xff\xfe.c") for f in again.files)


def test_a_file_name_that_is_not_utf8_through_the_cli(tree: Path, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "gplscan", "audit", "--format", "json", "-q", str(tree)]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")  # provenance: the same time
    runs = [
        subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env) for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [1, 1], runs[1].stderr  # the finding, twice
    assert "Traceback" not in runs[1].stderr and runs[0].stdout == runs[1].stdout


def _garbage(db: Path) -> None:
    db.write_bytes(bytes(range(256)) * 64)


def _sqlite_header_then_garbage(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)
    db.write_bytes(bytes(data))


def _pages_overwritten(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for start in range(page, len(data), page):  # every page but the first (the schema)
        data[start : start + page] = bytes((start + i) % 251 for i in range(page))
    db.write_bytes(bytes(data))


def _foreign(db: Path) -> None:
    db.unlink()
    with sqlite3.connect(db) as other:
        other.execute("CREATE TABLE files (x)")
        other.execute("INSERT INTO files VALUES ('not ours')")


def _other_format(db: Path) -> None:
    with sqlite3.connect(db) as other:
        other.execute("UPDATE meta SET value = 'gplscan-facts/1 0.0 000000000000'")


def _text_stamp_not_utf8(db: Path) -> None:
    with sqlite3.connect(db) as other:
        other.execute("UPDATE meta SET value = CAST(x'ff00fe' AS TEXT)")


DAMAGE = {
    "garbage": _garbage,
    "sqlite header, then garbage": _sqlite_header_then_garbage,
    "pages overwritten": _pages_overwritten,
    "another program's database": _foreign,
    "another format's stamp": _other_format,
    "a stamp that is not UTF-8": _text_stamp_not_utf8,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_corrupt_or_foreign_cache_is_set_aside_with_a_note(
    tree: Path, tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "cache"
    uncached = _report(_run(tree, None))
    _run(tree, cache)  # fills the cache
    db = _database(cache)
    with sqlite3.connect(db) as con:  # everything into the main file, no WAL left over
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    DAMAGE[damage](db)

    damaged = _run(tree, cache)
    assert _report(damaged) == uncached
    (note,) = _cache_notes(damaged)
    assert "set aside" in note and str(db) in note, note
    assert Path(f"{db}.corrupt").exists()
    after = _run(tree, cache)  # the fresh cache works
    assert _cache_notes(after) == []
    assert _report(after) == uncached
    again = _run(tree, cache)
    assert _files_read(again).startswith("0 of ") and _report(again) == uncached


class _Payload:
    """What a pickle-reading cache would run: it leaves a file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _wrong_values(marker: Path) -> list[object]:
    code = compile("1 + 1", "x", "eval")
    return [
        None,
        5,
        "text",
        b"",
        b"\x00\xff garbage",
        marshal.dumps(None),
        marshal.dumps(("x",) * 12),
        marshal.dumps((1, 2, 3)),
        marshal.dumps(code),
        marshal.dumps({"a": [1, 2]}),
        marshal.dumps(tuple([()] * 12)),
        marshal.dumps(("REL", "x86_64", ("a", 1), (), (), (), (), (), "", (), (), None)),
        marshal.dumps(frozenset({1, 2})),
        pickle.dumps(_Payload(marker)),
        pickle.dumps((None, ())),
    ]


@pytest.mark.parametrize("sealed", [False, True], ids=["as found", "sealed"])
@pytest.mark.parametrize("index", range(15))
def test_rows_of_a_wrong_shape_are_misses(
    tree: Path, tmp_path: Path, index: int, sealed: bool
) -> None:
    """Well-formed rows holding values of another shape (or a pickle that would run code)
    are misses: never a crash, never a changed verdict, never anything unpickled. As
    found, the seal stops them; sealed with the database's key, the type check does."""
    cache = tmp_path / "cache"
    uncached = _report(_run(tree, None))
    _run(tree, cache)
    marker = tmp_path / "pwned"
    value = _wrong_values(marker)[index]
    plausible_document = value == marshal.dumps({"a": [1, 2]})
    with sqlite3.connect(_database(cache)) as con:
        (key,) = con.execute("SELECT value FROM meta WHERE key = 'key'").fetchone()
        if sealed and isinstance(value, bytes):
            value = zlib.crc32(value, int(key)).to_bytes(4, "big") + value
        kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM facts")}
        assert {"object", "source"} <= kinds
        # (a YAML document of the right shape but other content is no "wrong shape": the
        # rule loader's own schema check judges those)
        where = " WHERE kind != 'yaml'" if plausible_document else ""
        con.execute(f"UPDATE facts SET value = ?{where}", (value,))
        con.execute("UPDATE files SET record = ?", (value,))
    again = _run(tree, cache)
    assert _report(again) == uncached
    # said once, as a note: the values were read again from the files
    (note,) = _cache_notes(again)
    assert "damaged or not this cache's" in note
    assert not marker.exists(), "the cache unpickled what it read"
    assert _files_read(again).split()[0] == str(len(again.files))  # every row a miss
    assert _files_read(_run(tree, cache)).startswith("0 of ")  # and written again


def test_a_cache_in_use_by_another_run_is_not_set_aside(tree: Path, tmp_path: Path) -> None:
    """Only a run that holds the cache alone moves it: another run still writing to it
    would otherwise write into the file set aside, or meet a new database's log."""
    cache = tmp_path / "cache"
    _run(tree, cache)
    other = FactCache(cache)  # another run, using the cache
    try:
        with sqlite3.connect(_database(cache)) as con:
            con.execute("UPDATE meta SET value = 'something else'")
        result = _run(tree, cache)
        (note,) = _cache_notes(result)
        assert "another gplscan run is using it" in note
        assert not Path(f"{_database(cache)}.corrupt").exists()
    finally:
        other.close()
    result = _run(tree, cache)
    assert "set aside" in _cache_notes(result)[0]


def test_unreadable_cache_directory_is_a_note(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.write_text("a file, not a directory")
    result = _run(tree, cache)
    (note,) = _cache_notes(result)
    assert "not usable" in note and _report(result) == _report(_run(tree, None))


# --- many runs at once, one killed ----------------------------------------------------------


def _without_provenance(report: str) -> object:
    data = json.loads(report)
    data.pop("provenance")
    return data


def _audit_argv(tree: Path, cache: Path) -> list[str]:
    options = ["--format", "json", "-q", "--jobs", "1", "--cache-dir", str(cache)]
    return [sys.executable, "-m", "gplscan", "audit", *options, str(tree)]


def test_concurrent_audits_sharing_a_cache_one_killed(
    built_examples: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    """Six audits of the bundled example share one (empty) cache directory; one more is
    killed (SIGKILL) as it works. Every other run gives the lone run's JSON, and the cache
    is sound and used afterwards."""
    example = built_examples["hyperv-2009"]["built"]
    lone = subprocess.run(
        _audit_argv(example, tmp_path / "lone"), capture_output=True, text=True, timeout=600
    )
    assert lone.returncode in (0, 1), lone.stderr
    cache = tmp_path / "shared"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    victim = subprocess.Popen(_audit_argv(example, cache), stdout=subprocess.DEVNULL, env=env)
    runs = [
        subprocess.Popen(
            _audit_argv(example, cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    deadline = time.monotonic() + 60
    db = _database(cache)
    while time.monotonic() < deadline and not Path(f"{db}-wal").exists():
        time.sleep(0.01)
    time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    outputs = [p.communicate(timeout=600) for p in runs]
    for p, (out, err) in zip(runs, outputs, strict=True):
        assert p.returncode == lone.returncode, err
        assert "Traceback" not in err and "cache" not in err, err
        # provenance records the run (when, its command line with its cache directory)
        assert _without_provenance(out) == _without_provenance(lone.stdout)
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    result = run(example, Options(cache_dir=cache), detector=_no_detection)
    assert _cache_notes(result) == []
    assert _files_read(result).startswith("0 of ")
    assert not any(p.name.endswith(".corrupt") for p in cache.iterdir())
    assert PurePosixPath(".") not in {i.path for i in result.issues if i.stage == "cache"}
