"""Measuring commands: wall time and the peak memory of a whole process tree.

Peak memory is the peak of the summed PSS of the process and all its descendants (forked
workers share pages, so PSS, not RSS, is what they cost together), sampled every 50 ms.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_pss_mb: float
    returncode: int
    stdout: str
    stderr: str


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_measured(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measured:
    """Run ``argv`` to completion; wall time and peak summed PSS of its process tree."""
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    done = threading.Event()

    def sample() -> None:
        # Reading smaps_rollup walks the process's page tables: ≈23 ms for a process holding
        # scancode's 1.4 GB index. Sampled every 50 ms, three such processes kept this thread
        # busy most of a core, taken from the run being measured; so the pause is at least
        # 50 times the last sample's cost (sampling takes ≤ 2% of one core).
        nonlocal peak
        while not done.is_set():
            began = time.perf_counter()
            total = sum(_pss_kb(p) for p in [proc.pid, *_children(proc.pid)])
            peak = max(peak, total)
            done.wait(max(0.05, 50 * (time.perf_counter() - began)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return Measured(seconds, peak / 1024, proc.returncode, out, err)


def drop_page_cache() -> bool:
    """Drop the kernel's page cache (root only); False when this machine does not allow it."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def print_rows(rows: list[tuple[str, str]]) -> None:
    """A benchmark's figures, one ``name  value`` line each, names aligned."""
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
