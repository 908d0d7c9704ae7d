"""The process pool that reads files on all cores (gplscan.facts.pool)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import BackwardsSpreader

from gplscan.facts.pool import CHUNK, SERIAL_BELOW, iter_chunks, map_chunks, spread, spreading


def _square_with_pid(chunk: list[int]) -> list[tuple[int, int]]:
    return [(n * n, os.getpid()) for n in chunk]


def test_results_come_in_order_from_the_pool_and_in_process() -> None:
    items = list(range(5 * CHUNK + 7))
    seen: list[tuple[str, int, int]] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append((stage, done, total))

    pooled = list(iter_chunks(_square_with_pid, items, 2, progress, "squaring"))
    assert [r for r, _ in pooled] == [n * n for n in items]
    assert {pid for _, pid in pooled} - {os.getpid()}  # read in forked workers
    assert seen[0] == ("squaring", 0, len(items)) and seen[-1][1] == len(items)
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)

    alone = map_chunks(_square_with_pid, items, 1, lambda *a: None, "squaring")
    assert alone == [(n * n, os.getpid()) for n in items]
    few = items[: SERIAL_BELOW - 1]
    assert map_chunks(_square_with_pid, few, 2, lambda *a: None, "s") == alone[: len(few)]
    assert map_chunks(_square_with_pid, [], 2, lambda *a: None, "s") == []


def _last_waits_for_marker(chunk: list[tuple[int, str]]) -> list[tuple[int, bool]]:
    """The chunk holding a marker path waits (up to 10 s) for that file to exist."""
    out = []
    for n, marker in chunk:
        waited = True
        if marker:
            deadline = time.monotonic() + 10
            while not os.path.exists(marker) and time.monotonic() < deadline:
                time.sleep(0.01)
            waited = os.path.exists(marker)
        out.append((n, waited))
    return out


def test_each_chunk_is_yielded_before_the_last_one_is_done(tmp_path: Path) -> None:
    """The caller gets the first chunk's results while a later chunk is still being
    worked on: here the last chunk waits until the caller has seen the first results."""
    marker = tmp_path / "first-results-seen"
    items = [(n, "") for n in range(3 * CHUNK)] + [(3 * CHUNK, str(marker))]
    results = iter_chunks(_last_waits_for_marker, items, 2, lambda *a: None, "s")
    first = [next(results) for _ in range(CHUNK)]
    assert first == [(n, True) for n in range(CHUNK)]
    marker.touch()
    rest = list(results)
    assert rest[-1] == (3 * CHUNK, True)  # it saw the marker: nothing waited for it


def _mark(chunk: list[tuple[int, str]]) -> list[int]:
    """Leaves a file per chunk it works on."""
    for n, directory in chunk[:1]:
        Path(directory, str(n)).touch()
    time.sleep(0.05)
    return [n for n, _ in chunk]


def test_a_caller_that_stops_early_does_not_wait_for_the_other_chunks(tmp_path: Path) -> None:
    chunks = 40
    items = [(n, str(tmp_path)) for n in range(chunks * CHUNK)]
    results = iter_chunks(_mark, items, 2, lambda *a: None, "s")
    assert next(results) == 0
    results.close()  # the chunks not yet started are cancelled, not run
    assert len(list(tmp_path.iterdir())) < chunks // 2


def test_a_spreader_takes_the_chunks_and_results_keep_their_order() -> None:
    items = list(range(4 * CHUNK + 3))
    spreader = BackwardsSpreader()
    with spread(spreader):
        assert spreading()
        got = map_chunks(_square_with_pid, items, 1, lambda *a: None, "s")  # jobs=1 too
        few = map_chunks(_square_with_pid, items[:5], 1, lambda *a: None, "s")
    assert not spreading()
    assert [r for r, _ in got] == [n * n for n in items]
    assert spreader.sent == 5  # the small stage stayed in this process
    assert [r for r, _ in few] == [0, 1, 4, 9, 16]


def test_a_chunk_that_never_comes_back_is_an_error_not_a_shorter_list() -> None:
    def loses_one(func, chunks):  # type: ignore[no-untyped-def]
        for i in range(1, len(chunks)):
            yield i, func(chunks[i])

    with spread(loses_one), pytest.raises(RuntimeError, match="never came back"):
        map_chunks(_square_with_pid, list(range(2 * CHUNK)), 1, lambda *a: None, "s")
