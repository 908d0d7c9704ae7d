"""A large tree's per-file work shared by the workers that have nothing else to do.

A Kbuild tree's verdicts depend on the whole tree (the descent from the top Makefile, the
tree's own exports for GPL-only symbols, includes across directories), so no directory of
it can be judged apart from the rest. What can be split is the work done file by file:
reading every file (pass 1), the full facts of the sources in scope, and the license
detection of the untagged ones. These are pure functions of a file's content, done in
chunks of files taken in the walk's order, directory by directory
(:mod:`gplscan.facts.pool`); the task that holds the tree takes the results back in
order and judges the tree whole, exactly as it would be judged alone.

- On a Dask cluster (:class:`DaskSpread`) the task works through its chunks from the
  first while it offers the last ones to the other workers, a few at a time, as ordinary
  tasks of a higher priority than the targets still queued: a worker with a free thread
  takes them, a busy cluster leaves them queued until the task gets there itself and
  withdraws them. The task never waits on another worker, so trees that fill every
  worker still finish; a chunk that fails elsewhere is done here.
- In a local pool (:class:`LocalSpread`) the workers left idle when no target is left to
  start lend their cores: the task forks that many helpers for each stage.

Only a directory every worker reads at the same path is spread; a package is unpacked
into its worker's private scratch and judged there, whole.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

from gplscan.fleet import RETRIES

# A directory target of at least this many bytes of files is spread over the cluster: a
# Linux tree (≈1.3 GB) is; a DKMS package's source (a few MB, judged in seconds) is not.
SPREAD_AT = 64 * 1024 * 1024

# Chunks of a spread tree run before targets still queued (Dask's default priority is 0):
# the task that waits on them holds a whole tree.
_CHUNK_PRIORITY = 10


def spreadable(path: str, size: int, spread_at: int | None) -> bool:
    """Whether a target is a directory large enough to spread (``spread_at`` None: never)."""
    return spread_at is not None and size >= spread_at and os.path.isdir(path)


class DaskSpread:
    """A :class:`gplscan.facts.pool.Spreader` on the Dask cluster this task runs on; counts
    the chunks other workers did and names those workers."""

    def __init__(self) -> None:
        self.chunks = 0
        self.workers: set[str] = set()

    def __call__(
        self, func: Callable[[list[Any]], list[Any]], chunks: list[list[Any]]
    ) -> Iterator[tuple[int, list[Any]]]:
        from distributed import get_client, get_worker

        client: Any = get_client()  # distributed is not annotated
        here_at = get_worker().address
        # only to the other workers: one put on this worker would wait behind this task
        # (a thread of its own), where the scheduler's stealing may leave it
        elsewhere = {w: n for w, n in client.nthreads().items() if w != here_at}
        window = 4 * sum(elsewhere.values())  # a free thread never waits for the next
        offered: dict[int, Any] = {}  # chunk index -> its future on the cluster
        last = len(chunks)  # the chunks from here on were offered to the cluster
        here = 0  # the next chunk this task does itself, unless the cluster did it
        done: set[int] = set()
        try:
            while here < len(chunks):
                while last - 1 > here and len(offered) < window:  # offer from the end
                    last -= 1
                    offered[last] = client.submit(
                        _ran_by,
                        func,
                        chunks[last],
                        pure=False,
                        retries=RETRIES,
                        priority=_CHUNK_PRIORITY,
                        workers=list(elsewhere),
                        allow_other_workers=False,
                    )
                for i in [i for i, future in offered.items() if future.done()]:
                    result = self._taken(offered.pop(i))
                    if result is not None:  # else it failed there: done here in its turn
                        done.add(i)
                        yield i, result
                if here in done:
                    here += 1
                    continue
                future = offered.pop(here, None)
                if future is not None:  # not done there yet: withdrawn, done here
                    future.cancel()
                yield here, func(chunks[here])
                here += 1
        finally:  # done, or stopped early: what the cluster has not started never runs
            for future in offered.values():
                future.cancel()

    def _taken(self, future: Any) -> list[Any] | None:
        """A chunk's result from the cluster, or None when it failed there."""
        try:
            worker, result = future.result()
        except Exception:
            return None
        self.chunks += 1
        self.workers.add(worker)
        return list(result)


def _ran_by(func: Callable[[list[Any]], list[Any]], chunk: list[Any]) -> tuple[str, list[Any]]:
    """``func(chunk)`` on a worker, with the worker's name."""
    from gplscan.fleet.judge import worker_name

    return worker_name(), func(chunk)


class Idle:
    """How many of a local pool's worker processes have nothing to do (no target queued,
    fewer running than workers), shared with them: a spread tree borrows their cores.

    The coordinator says how many are idle; borrowers take what is not lent already and
    give it back, under one lock, so that two trees never borrow the same idle core.
    """

    def __init__(self, context: Any) -> None:
        self._idle = context.Value("i", 0)  # set by the coordinator
        self._lent = context.Value("i", 0, lock=False)  # guarded by _idle's lock

    def set_idle(self, n: int) -> None:
        with self._idle.get_lock():
            self._idle.value = max(0, n)

    def borrow(self) -> int:
        with self._idle.get_lock():
            n = max(0, int(self._idle.value) - int(self._lent.value))
            self._lent.value += n
        return n

    def give_back(self, n: int) -> None:
        with self._idle.get_lock():
            self._lent.value -= n


_IDLE: Idle | None = None  # set in a local pool's worker process by its initializer


def lend_from(idle: Idle | None) -> None:
    """A local pool worker's start: where it finds its pool's idle workers."""
    global _IDLE
    _IDLE = idle


def local_idle() -> Idle | None:
    """The idle workers of the local pool this process works in, if it is one's worker."""
    return _IDLE


class LocalSpread:
    """A :class:`gplscan.facts.pool.Spreader` in a local pool's worker process: each
    stage's chunks run in this process and, when the pool has idle workers (the last
    targets of a run), in as many forked helpers as it lends; given back after the stage."""

    def __init__(self, idle: Idle) -> None:
        self.idle = idle
        self.chunks = 0
        self.workers: set[str] = set()

    def __call__(
        self, func: Callable[[list[Any]], list[Any]], chunks: list[list[Any]]
    ) -> Iterator[tuple[int, list[Any]]]:
        lent = self.idle.borrow()
        try:
            if not lent:  # every worker busy: this process alone, as with one core
                for i, chunk in enumerate(chunks):
                    yield i, func(chunk)
                return
            import concurrent.futures as cf
            import multiprocessing

            from gplscan.fleet.judge import worker_name

            self.chunks += len(chunks)
            self.workers.add(f"{worker_name()} and {lent} forked")
            context = multiprocessing.get_context("fork")  # inherits scancode's loaded index
            with cf.ProcessPoolExecutor(
                1 + lent, mp_context=context, initializer=_end_with, initargs=(os.getpid(),)
            ) as pool:
                futures = {pool.submit(func, chunk): i for i, chunk in enumerate(chunks)}
                try:
                    for future in cf.as_completed(futures):
                        yield futures[future], future.result()
                finally:  # stopped early: what has not started never does
                    for future in futures:
                        future.cancel()
        finally:
            self.idle.give_back(lent)


_PR_SET_PDEATHSIG = 1  # prctl(2)


def _end_with(parent: int) -> None:
    """A forked helper ends when the pool worker that forked it ends: one stopped by
    Ctrl-C or killed would otherwise leave it waiting for chunks forever (its siblings
    hold the queue open). Linux only; elsewhere the helper outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(1)
