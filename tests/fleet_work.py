"""Work functions for the fleet tests that run in worker processes (a local pool or a
Dask LocalCluster): they must be importable there, hence a module of their own."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from gplscan.fleet.judge import Outcome, Task, judge


def kill_marker(target: Path) -> Path:
    """The file whose presence makes :func:`judge_or_die` kill its worker once."""
    return target.with_name(target.name + ".kill-once")


def judge_or_die(task: Task) -> Outcome:
    """Judge the target; when its kill marker exists, remove it and kill this worker
    process once the work is done but before the result is returned: a worker lost
    mid-task, as far as the scheduler can tell."""
    outcome = judge(task)
    marker = kill_marker(Path(task.path))
    if marker.exists():
        marker.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return outcome


def judge_slowly(task: Task) -> Outcome:
    """A target that never finishes in time (its name ends in 'slow')."""
    if task.path.endswith("slow"):
        time.sleep(60)
    return judge(task)


def _slow_squares(chunk: list[int]) -> list[tuple[int, str]]:
    """Squares, 5 ms an item, with the name of the worker that made them."""
    from gplscan.fleet.judge import worker_name

    time.sleep(0.005 * len(chunk))
    return [(n * n, worker_name()) for n in chunk]


def spread_squares(n: int) -> tuple[list[tuple[int, str]], int, list[str], str]:
    """``n`` squares made in chunks by a spread stage on the Dask worker that runs this:
    the results, the chunks other workers did, their names, and this worker's name."""
    from gplscan.facts.pool import map_chunks, spread
    from gplscan.fleet.judge import worker_name
    from gplscan.fleet.spread import DaskSpread

    spreader = DaskSpread()
    with spread(spreader):
        out = map_chunks(_slow_squares, list(range(n)), 1, lambda *a: None, "squares")
    return out, spreader.chunks, sorted(spreader.workers), worker_name()


def _sleepy(chunk: list[str]) -> list[int]:
    """Says it started (a file named after its process) and sleeps a minute."""
    Path(chunk[0]).with_name(f"helper-{os.getpid()}").touch()
    time.sleep(60)
    return []


def spread_forever(folder: str) -> None:
    """A pool worker's spread stage with one idle worker lent: two forked helpers, each
    sleeping on a chunk (for a test that kills this process under them)."""
    import multiprocessing

    from gplscan.fleet.spread import Idle, LocalSpread

    idle = Idle(multiprocessing.get_context("spawn"))
    idle.set_idle(1)
    list(LocalSpread(idle)(_sleepy, [[f"{folder}/a"], [f"{folder}/b"]]))
