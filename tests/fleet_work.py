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
