"""License detection over many files: regions in a pool, scancode's index shared by forks."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from helpers import BackwardsSpreader

from gplscan.facts import pool
from gplscan.facts.detection import FORK_AT, ScancodeDetector, match_in_workers
from gplscan.facts.pool import spread
from gplscan.model import LicenseFinding
from tests.test_licenses import REAL_FILES


def _tree(tmp_path: Path, copies: int) -> list[tuple[PurePosixPath, str]]:
    """``copies`` files of each real license text, each made distinct by a first line."""
    files = []
    for n in range(copies):
        for name, text in REAL_FILES.items():
            rel = PurePosixPath(f"d{n}/{name}")
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"/* file {n} */\n" + text, encoding="utf-8")
            files.append((rel, str(path)))
    return files


@pytest.mark.scancode
def test_forked_workers_agree_with_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _tree(tmp_path, 12)
    progress: list[tuple[str, int, int]] = []
    serial = ScancodeDetector()
    one, failed_one, why_one = serial.detect_many(files, 1, lambda *a: None)
    forked = ScancodeDetector()
    two, failed_two, why_two = forked.detect_many(files, 2, lambda *a: progress.append(a))
    assert why_one is None and why_two is None
    assert not failed_one and not failed_two
    assert set(one) == set(two) == {rel for rel, _ in files}
    assert one == two
    # the known notices were answered without scancode; the rest went to the forked workers
    scancode_steps = [p for p in progress if p[0] == "scancode"]
    assert scancode_steps[-1][1] == scancode_steps[-1][2] >= FORK_AT
    assert forked.index_loaded
    # real answers, line by line: the GPL-2.0 notice, shifted one line by the first line
    assert one[PurePosixPath("d3/gpl2.c")][0] == "GPL-2.0-only"
    assert one[PurePosixPath("d3/variant.c")][0] == "MIT"
    # a fleet's large tree: the same files matched chunk by chunk where the cluster says
    spreader = BackwardsSpreader()
    monkeypatch.setattr(pool, "SERIAL_BELOW", 8)  # the matching's chunks spread too
    with spread(spreader):
        three, failed_three, why_three = ScancodeDetector().detect_many(files, 1, lambda *a: None)
    assert (three, failed_three, why_three) == (one, {}, None)
    assert spreader.sent >= 2  # the regions, then the matching


class _DiesOn:
    """A detector whose worker process dies on one file, as one killed for memory would."""

    index_loaded = True

    def __init__(self, fatal: str) -> None:
        self.fatal = fatal

    def detect_text(self, regions: object, *, name: str) -> object:
        if name == self.fatal:
            os._exit(9)
        return _Found()


class _Found:
    expression = "MIT"
    matches: tuple[LicenseFinding, ...] = ()


def test_a_worker_that_dies_leaves_its_files_failed_with_a_reason() -> None:
    pending = [(PurePosixPath(f"f{i}.c"), None, ("region",), None) for i in range(60)]
    detections: dict[PurePosixPath, object] = {}
    failed: dict[PurePosixPath, str] = {}
    match_in_workers(  # the crash path of the pool itself
        _DiesOn("f7.c"),
        pending,
        2,
        lambda *a: None,
        detections,
        failed,  # type: ignore[arg-type]
    )
    # the other worker finished its share; the dead one's unfinished files say why
    assert PurePosixPath("f7.c") in failed
    assert "worker stopped" in failed[PurePosixPath("f7.c")]
    assert set(detections) | set(failed) == {p[0] for p in pending}
    assert all(d == ("MIT", ()) for d in detections.values())
    assert PurePosixPath("f0.c") in detections  # f0 is in the surviving share
