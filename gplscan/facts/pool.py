"""Work over many files on all cores: chunks of files in a pool of forked processes, or
spread over a cluster's workers when the scan runs inside a fleet task (:func:`spread`).

Either way each chunk's result is a pure function of its files' contents, and results are
taken in the chunks' order: where a chunk ran never changes what the scan finds.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

Progress = Callable[[str, int, int], None]  # (stage, done, total)
T = TypeVar("T")
R = TypeVar("R")

CHUNK = 128  # files per task: large enough to amortize pickling, small enough to balance
SERIAL_BELOW = 96  # fewer files than this are read in-process (a pool costs ~50 ms)


class Spreader(Protocol):
    """Runs ``func`` on each chunk somewhere else (another worker of a cluster), yielding
    ``(index of the chunk, its result)`` as each finishes, in any order; it raises when a
    chunk cannot be run, and stops running the rest when the caller stops early."""

    def __call__(
        self, func: Callable[[list[Any]], list[Any]], chunks: list[list[Any]]
    ) -> Iterator[tuple[int, list[Any]]]: ...


_SPREADER: ContextVar[Spreader | None] = ContextVar("gplscan_spreader", default=None)


@contextlib.contextmanager
def spread(spreader: Spreader) -> Iterator[None]:
    """Within this block, the chunks of every stage large enough for a pool go to
    ``spreader`` instead (whatever ``jobs`` says): a fleet's large tree, its per-file work
    shared by the cluster's workers, judged whole by the task that holds it."""
    token = _SPREADER.set(spreader)
    try:
        yield
    finally:
        _SPREADER.reset(token)


def spreading() -> bool:
    """Whether chunks go to a :class:`Spreader` now."""
    return _SPREADER.get() is not None


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
    chunk: int = CHUNK,
) -> list[R]:
    """``func`` over chunks of ``items``, in a process pool when it pays; order kept."""
    return list(iter_chunks(func, items, jobs, progress, stage, chunk))


def iter_chunks(
    func: Callable[[list[T]], list[R]],
    items: Sequence[T],
    jobs: int,
    progress: Progress,
    stage: str,
    chunk: int = CHUNK,
) -> Iterator[R]:
    """As :func:`map_chunks`, yielding each result, in order, as soon as its chunk and
    every chunk before it are done: the caller works on them while the pool reads on.
    ``chunk`` items a task: fewer where each item is long work (scancode's matching)."""
    total = len(items)
    progress(stage, 0, total)
    if total == 0:
        return
    chunks = [list(items[i : i + chunk]) for i in range(0, total, chunk)]
    done = 0
    spreader = _SPREADER.get()
    if spreader is not None and total >= SERIAL_BELOW:
        yield from _in_order(spreader(func, chunks), chunks, progress, stage, total)
        return
    if jobs <= 1 or total < SERIAL_BELOW:
        for part in chunks:
            yield from func(part)
            done += len(part)
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


def _in_order(
    results: Iterator[tuple[int, list[R]]],
    chunks: list[list[T]],
    progress: Progress,
    stage: str,
    total: int,
) -> Iterator[R]:
    """The results a :class:`Spreader` yields as chunks finish, put back in the chunks'
    order (each yielded once its chunk and every one before it are in)."""
    finished: dict[int, list[R]] = {}
    next_out = done = 0
    try:
        for i, result in results:
            finished[i] = result
            done += len(chunks[i])
            progress(stage, done, total)
            while next_out in finished:
                yield from finished.pop(next_out)
                next_out += 1
    finally:  # a caller that stops early: the spreader cancels what is left
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if next_out != len(chunks):
        raise RuntimeError(f"{stage}: {len(chunks) - next_out} chunk(s) never came back")
