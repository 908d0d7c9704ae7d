"""The orchestrator's seams: the scan's own facts as data formatted by the reporters, and
the fact cache closed on every path out of a scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from gplscan.facts.cache import FactCache
from gplscan.model import ChangeStats, ScanStats, Scope
from gplscan.report.stats import stat_lines
from gplscan.scan import Options, run


def _stats(**changes: object) -> ScanStats:
    fields: dict[str, object] = {
        "jobs": 2,
        "files": 10,
        "files_read": 3,
        "detected": 0,
        "scancode_loaded": False,
        "symbol_index_read": True,
        "kernel_exports": 5,
        "kernel_source": "Module.symvers",
        "seconds": 1.234,
    }
    fields.update(changes)
    return ScanStats(**fields)  # type: ignore[arg-type]


def test_stat_lines_word_the_numbers_and_say_which_are_facts_of_the_run() -> None:
    lines = stat_lines(_stats(changed=ChangeStats("v1", 2, Scope.NARROW)))
    assert [(s.label, s.text) for s in lines] == [
        ("jobs", "2"),
        ("files read", "3 of 10 (the rest unchanged, from the cache)"),
        ("license detection", "not needed: every file in scope carries an SPDX tag"),
        ("scancode index", "not loaded"),
        ("symbol index", "read"),
        ("kernel exports", "5 from Module.symvers"),
        ("seconds", "1.23"),
        (
            "changed since",
            "v1: 2 changed file(s); only the binaries the changed build files and sources "
            "reach judged",
        ),
    ]
    assert {s.label for s in lines if s.volatile} == {
        "jobs",
        "files read",
        "scancode index",
        "seconds",
    }
    assert {s.label for s in lines if s.internal} == {"jobs", "scancode index", "symbol index"}
    assert stat_lines(None) == []


def test_stat_lines_of_a_run_that_read_every_file() -> None:
    lines = {s.label: s.text for s in stat_lines(_stats(files_read=10, detected=4))}
    assert lines["files read"] == "10"
    assert lines["license detection"] == "4 untagged file(s) in scope"


def test_the_cache_is_a_context_manager(tmp_path: Path) -> None:
    with FactCache(tmp_path) as cache:
        assert cache.enabled
    assert not cache.enabled


def test_a_failing_stage_closes_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[FactCache] = []
    close = FactCache.close

    def recording_close(self: FactCache) -> None:
        closed.append(self)
        close(self)

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a stage failed")

    monkeypatch.setattr(FactCache, "close", recording_close)
    monkeypatch.setattr("gplscan.scan.pipeline.read_build", failing)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "Makefile").write_text("obj-m += a.o\n")
    with pytest.raises(RuntimeError, match="a stage failed"):
        run(tmp_path / "t", Options(cache_dir=tmp_path / "cache", jobs=1))
    assert closed and not closed[-1].enabled
