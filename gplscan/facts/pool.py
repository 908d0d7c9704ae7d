"""Work over many files on all cores: chunks of files in a pool of forked processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

Progress = Callable[[str, int, int], None]  # (stage, done, total)
T = TypeVar("T")
R = TypeVar("R")

CHUNK = 128  # files per task: large enough to amortize pickling, small enough to balance
SERIAL_BELOW = 96  # fewer files than this are read in-process (a pool costs ~50 ms)


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def map_chunks(
    func: Callable[[list[T]], list[R]],
    items: Sequence[T],
    jobs: int,
    progress: Progress,
    stage: str,
) -> list[R]:
    """``func`` over chunks of ``items``, in a process pool when it pays; order kept."""
    return list(iter_chunks(func, items, jobs, progress, stage))


def iter_chunks(
    func: Callable[[list[T]], list[R]],
    items: Sequence[T],
    jobs: int,
    progress: Progress,
    stage: str,
) -> Iterator[R]:
    """As :func:`map_chunks`, yielding each result, in order, as soon as its chunk and
    every chunk before it are done: the caller works on them while the pool reads on."""
    total = len(items)
    progress(stage, 0, total)
    if total == 0:
        return
    chunks = [list(items[i : i + CHUNK]) for i in range(0, total, CHUNK)]
    done = 0
    if jobs <= 1 or total < SERIAL_BELOW:
        for chunk in chunks:
            yield from func(chunk)
            done += len(chunk)
            progress(stage, done, total)
        return
    import concurrent.futures  # here: a run that reads nothing never needs them
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(func, chunk) for chunk in chunks]
        finished: dict[int, list[R]] = {}
        index = {future: i for i, future in enumerate(futures)}
        next_out = 0
        try:
            for future in concurrent.futures.as_completed(futures):
                i = index[future]
                finished[i] = future.result()
                done += len(chunks[i])
                progress(stage, done, total)
                while next_out in finished:
                    yield from finished.pop(next_out)
                    next_out += 1
        finally:  # a caller that stops early (an error, Ctrl-C) does not wait for the rest
            for future in futures:
                future.cancel()
