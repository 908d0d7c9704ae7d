"""Where a fleet's tasks run: in this process, in a local process pool, or on a Dask
cluster. Each engine takes the same tasks (:class:`~gplscan.fleet.judge.Task`), runs the
same function on them (:func:`~gplscan.fleet.judge.judge`) and yields each outcome as it
is done, in the order they finish; none waits forever on a target.

- :class:`InProcess` judges one target after another, each with all of this machine's
  cores (the ordinary single-target scan, in a loop).
- :class:`LocalPool` runs one target per worker process (``concurrent.futures``; spawned,
  so a worker inherits no thread or lock of this process). A worker that dies takes down
  the pool: its targets in flight are retried in a new one. A target that runs past the
  time limit is stopped by an alarm in its worker. When no target is left to start, a
  large tree still being judged borrows the idle workers' cores for its per-file work.
- :class:`DaskCluster` submits one task per target to a Dask scheduler (``tcp://…``);
  workers share nothing but the scheduler. Dask retries a task that raised (``retries``)
  and reschedules one whose worker was lost (the scheduler's ``allowed-failures``, 3 by
  default), then reports it; a task running past the limit is cancelled and its worker
  restarted. A large tree's per-file work is offered to the workers with a free thread.
  Dask is imported only here, only when a scheduler is given.

Spreading a tree (:mod:`gplscan.fleet.spread`) never changes what it is judged to be.

A task that fails on every try is an outcome with exit code 2 and the reason, never a
missing row.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any

from gplscan.errors import FleetError
from gplscan.fleet import RETRIES, TIMEOUT
from gplscan.fleet.judge import Outcome, Task, judge
from gplscan.fleet.spread import SPREAD_AT, Idle, lend_from, spreadable
from gplscan.model import EXIT_ERROR

Work = Callable[[Task], Outcome]


def failed(task: Task, reason: str, seconds: float = 0.0) -> Outcome:
    """The outcome of a target that could not be judged."""
    return Outcome(task.key, task.shown, EXIT_ERROR, None, error=reason, seconds=seconds)


@dataclass
class InProcess:
    """Targets judged one after another in this process."""

    work: Work = judge
    name: str = "in-process"

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        for task in tasks:
            started = time.monotonic()
            try:
                yield self.work(task)
            except Exception as exc:  # a bug on this target: reported, the others go on
                yield failed(task, _internal(exc), time.monotonic() - started)


def _marked(tasks: Sequence[Task], spread_at: int | None) -> list[Task]:
    """``tasks``, each large directory marked to be spread (gplscan.fleet.spread)."""
    return [
        replace(task, spread=True) if spreadable(task.path, task.size, spread_at) else task
        for task in tasks
    ]


def _internal(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}: {exc}"


class _TimedOut(BaseException):
    """The alarm of a task that ran past its limit (a BaseException, so that no ``except
    Exception`` in the scan takes it for a problem with one file)."""


def _expired(signum: int, frame: FrameType | None) -> None:
    raise _TimedOut


def _pool_worker_start(idle: Idle | None) -> None:
    """A pool worker leaves Ctrl-C to the coordinator, which stops the pool; a spread tree
    it judges borrows the pool's ``idle`` workers."""
    import gc

    from gplscan.tuning import GC_THRESHOLDS

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(*GC_THRESHOLDS)
    lend_from(idle)


def _in_pool_worker(work: Work, task: Task, timeout: float | None) -> Outcome:
    """``work(task)`` in a pool worker's main thread, stopped by an alarm at ``timeout``."""
    if timeout:
        signal.signal(signal.SIGALRM, _expired)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return work(task)
    except _TimedOut:
        return failed(task, f"not judged within {timeout:g} s (--timeout)", timeout or 0.0)
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)


@dataclass
class LocalPool:
    """One target per worker process, ``workers`` at a time."""

    workers: int
    retries: int = RETRIES
    timeout: float | None = TIMEOUT
    work: Work = judge
    spread_at: int | None = SPREAD_AT  # a directory this large borrows idle workers
    name: str = "local pool"
    tries: dict[str, int] = field(default_factory=dict)  # key -> tries made

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        queue = deque(_marked(tasks, self.spread_at))
        while queue:
            yield from self._pool(queue)

    def _pool(self, queue: deque[Task]) -> Iterator[Outcome]:
        """Run ``queue`` in one pool until it is empty or the pool breaks (a worker died:
        its tasks in flight go back on the queue, or fail when out of tries)."""
        import concurrent.futures as cf
        import multiprocessing
        from concurrent.futures.process import BrokenProcessPool

        context = multiprocessing.get_context("spawn")
        idle = Idle(context) if self.spread_at is not None else None
        pool = cf.ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_pool_worker_start, initargs=(idle,)
        )
        running: dict[cf.Future[Outcome], tuple[Task, float]] = {}
        clean = False
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    task = queue.popleft()
                    self.tries[task.key] = self.tries.get(task.key, 0) + 1
                    future = pool.submit(_in_pool_worker, self.work, task, self.timeout)
                    running[future] = (task, time.monotonic())
                if idle is not None:  # the last targets: workers without one lend a hand
                    idle.set_idle(0 if queue else self.workers - len(running))
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                broken: list[tuple[Task, float]] = []
                for future in done:
                    task, began = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken.append((task, began))
                    except Exception as exc:
                        yield from self._again(queue, task, began, _internal(exc))
                if broken:  # every task still in the pool died with it
                    broken.extend(running.values())
                    running.clear()
                    for task, began in broken:
                        yield from self._again(
                            queue, task, began, "its worker process died (killed, or out of memory)"
                        )
                    return
            clean = True
        finally:
            if not clean:  # stopped (Ctrl-C, an error) or broken: end the workers now
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)

    def _again(self, queue: deque[Task], task: Task, began: float, why: str) -> Iterator[Outcome]:
        """Put ``task`` back on the queue, or fail it after its last try."""
        made = self.tries.get(task.key, 1)
        if made <= self.retries:
            queue.append(task)
            return
        yield failed(task, f"{why} (tried {made} times)", time.monotonic() - began)


@dataclass
class DaskCluster:
    """One Dask task per target, on the scheduler at ``address``."""

    address: str
    retries: int = RETRIES
    timeout: float | None = TIMEOUT
    work: Work = judge
    connect_timeout: float = 30.0
    poll: float = 0.25  # seconds between looks at what the cluster is doing
    spread_at: int | None = SPREAD_AT  # a directory this large is spread (None: never)
    name: str = "dask"

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        try:
            from distributed import Client as _Client
        except ImportError as exc:
            raise FleetError(
                f"--scheduler needs Dask distributed ({exc}): pip install 'gplscan[fleet]'"
            ) from exc
        connect: Any = _Client  # distributed's Client is not annotated
        try:
            client = connect(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise FleetError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from exc
        try:
            yield from self._on(client, tasks)
        finally:
            client.close()

    def _on(self, client: Any, tasks: Sequence[Task]) -> Iterator[Outcome]:
        futures: dict[Any, Task] = {}
        for n, task in enumerate(_marked(tasks, self.spread_at)):
            future = client.submit(
                self.work,
                task,
                key=f"gplscan-{n}-{task.key[:16]}",
                retries=self.retries,
                pure=False,
            )
            futures[future] = task
        pending = dict(futures)
        started: dict[str, float] = {}  # task key -> when first seen running on a worker
        last_event = time.monotonic()
        last_look = 0.0
        try:
            while pending:
                done = [f for f in pending if f.done()]
                for future in done:
                    task = pending.pop(future)
                    last_event = time.monotonic()
                    yield self._outcome(future, task, started.get(future.key, last_event))
                if not pending:
                    break
                if done:
                    continue
                time.sleep(0.02)
                now = time.monotonic()
                if now - last_look < self.poll:
                    continue
                last_look = now
                running = {
                    key: worker for worker, keys in client.processing().items() for key in keys
                }
                for key in running:
                    if key not in started:
                        started[key] = now
                        last_event = now
                if self.timeout is None:
                    continue
                for future, task in list(pending.items()):
                    began = started.get(future.key)
                    if began is not None and now - began > self.timeout:
                        del pending[future]
                        yield self._stop(client, future, task, running.get(future.key), now - began)
                if pending and not running and now - last_event > self.timeout:
                    for future, task in pending.items():  # no worker has taken anything
                        future.cancel()
                        yield failed(
                            task, f"no Dask worker took it within {self.timeout:g} s (--timeout)"
                        )
                    pending.clear()
        except (OSError, TimeoutError) as exc:  # the scheduler is gone
            for future, task in pending.items():
                future.cancel()
                yield failed(task, f"lost the Dask scheduler at {self.address}: {exc}")
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    def _outcome(self, future: Any, task: Task, began: float) -> Outcome:
        from distributed import KilledWorker

        try:
            outcome: Outcome = future.result()
            return outcome
        except KilledWorker:
            why = "every worker that ran it was lost (killed, or out of memory)"
        except Exception as exc:
            why = f"{_internal(exc)} (tried {self.retries + 1} times)"
        return failed(task, why, time.monotonic() - began)

    def _stop(
        self, client: Any, future: Any, task: Task, worker: str | None, seconds: float
    ) -> Outcome:
        """Give up on a target past its time: cancel it and restart the worker running it
        (a thread cannot be stopped otherwise), so that it can take other targets."""
        future.cancel()
        if worker is not None:
            # a worker without a nanny cannot be restarted: it finishes the task, unheard
            with contextlib.suppress(Exception):
                client.restart_workers([worker], raise_for_error=False)
        assert self.timeout is not None
        return failed(task, f"not judged within {self.timeout:g} s (--timeout)", seconds)
