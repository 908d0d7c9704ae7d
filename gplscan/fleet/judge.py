"""One target judged: the steps ``gplscan audit PATH`` takes, shared by a single-target
run and every task of a fleet, so that a target is judged exactly as it would be alone.

:func:`run_prepared` unpacks and scans; :func:`audited` adds the target's configuration,
the policy (severities, waivers, baseline) and the run's provenance; :func:`judge` is the
task a fleet runs for one target, anywhere: in this process, a local worker process or a
Dask worker on another machine. It returns plain values (the reports as text), never a
live object, so that its outcome can travel and be stored.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from gplscan import __version__
from gplscan.errors import GplscanError
from gplscan.facts.pool import spread
from gplscan.fleet.spread import DaskSpread, LocalSpread, local_idle
from gplscan.model import EXIT_ERROR, ScanResult
from gplscan.process import scancode_temp_of_this_process
from gplscan.scan import Options

Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def _idle(what: str) -> None:
    return None


def run_prepared(path: Path, shown: str, opts: Options, progress: Progress = _quiet) -> ScanResult:
    """Unpack a .deb or tarball into a scratch area (removed afterwards) and scan it; a
    directory or a single object is scanned where it is."""
    from gplscan.scan import run

    if path.is_dir():  # scanned in place: no need to import the unpacking (≈30 ms)
        return run(path, opts, progress=progress, display_target=shown)
    from gplscan.unpack import prepare

    with prepare(path) as prepared:
        root = prepared.root
        if prepared.source_root is not None:  # a DKMS package: its usr/src/<name>-<ver>
            root = root / prepared.source_root
            shown = f"{shown} ({prepared.source_root})"
        return run(root, opts, progress=progress, display_target=shown, notes=prepared.notes)


def audited(
    path: Path,
    shown: str,
    opts: Options,
    *,
    fail_on: str | None,
    allow_partial: bool,
    command: tuple[str, ...],
    config_path: Path | None = None,
    held: frozenset[str] = frozenset(),
    policy: bool = True,
    progress: Progress = _quiet,
    busy: Callable[[str], None] = _idle,
) -> ScanResult:
    """``path`` audited as ``gplscan audit`` does: its configuration (``config_path``, else
    the one found from the target upwards), the scan, the policy (severities, waivers and
    the baseline's fingerprints ``held``) and the provenance of ``command``. The result
    carries the threshold it is judged by (``fail_on``, else the config's, else error)."""
    from gplscan.config import find_config, load_config
    from gplscan.findings import apply_policy
    from gplscan.run_record import record

    config = load_config(config_path or (find_config(path) if policy else None))
    opts = replace(opts, license_allow=config.allow, license_deny=config.deny)
    result = run_prepared(path, shown, opts, progress)
    busy("writing the report")
    if policy:
        result = apply_policy(
            result, severity=dict(config.severity), waivers=config.waivers, baseline=held
        )
    return replace(
        result,
        fail_on=fail_on or config.fail_on or "error",
        allow_partial=allow_partial,
        provenance=record(path, command),
    )


@dataclass(frozen=True, slots=True)
class Task:
    """One target to judge, and how: everything a worker needs, as plain values.

    ``version`` and ``rules`` are the coordinator's gplscan version and rules digest: a
    worker with another version or other rules refuses the task rather than give a
    judgement the coordinator's run did not ask for.
    """

    path: str
    shown: str
    key: str  # the result's key in the store (gplscan.fleet.store)
    inventory: bool  # `gplscan inventory` rather than `gplscan audit`
    opts: Options
    fail_on: str | None
    allow_partial: bool
    command: tuple[str, ...]
    config_path: str | None = None
    held: frozenset[str] = frozenset()
    html: bool = False  # also render the target's HTML report
    version: str = __version__
    rules: str = ""
    size: int = 0  # bytes: a guide to the order tasks start in (not part of the key)
    spread: bool = False  # a large tree: its per-file work shared by the cluster (not a key)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What judging one target gave: its exit code, its gplscan/1 JSON report (and HTML
    report when asked), or the error that kept it from being judged."""

    key: str
    shown: str
    exit_code: int
    report: str | None  # gplscan/1 JSON text
    html: str | None = None
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""
    resumed: bool = False  # taken from the store of an earlier run, not judged now
    chunks: int = 0  # chunks of files its scan sent to the cluster (a spread tree)
    helpers: tuple[str, ...] = ()  # the workers that ran them


def worker_name() -> str:
    """This process, as a progress line or a report names it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


# One scan at a time in a process: a Dask worker started with several threads runs its
# tasks in turn (scans are bound by the interpreter lock, and share process-wide state:
# the collector's thresholds). Chunks of a spread tree (gplscan.fleet.spread) do not
# take it: they are pure functions of the files they read.
_ONE_AT_A_TIME = threading.Lock()


def judge(task: Task) -> Outcome:
    """Judge ``task``'s target as ``gplscan audit`` (or ``inventory``) does alone. An error
    that is the target's (it cannot be read, its config is wrong) is the outcome's, with
    exit code 2; a bug raises, for the engine to retry and then report."""
    started = time.monotonic()
    scancode_temp_of_this_process()
    spreader = _spreader(task)
    with _ONE_AT_A_TIME, spread(spreader) if spreader is not None else contextlib.nullcontext():
        try:
            mismatch = _mismatch(task)
            if mismatch is not None:
                return _error(task, mismatch, started)
            report, html, code = _judged(task)
        except GplscanError as exc:
            return _error(task, str(exc), started)
    return Outcome(
        task.key,
        task.shown,
        code,
        report,
        html,
        seconds=time.monotonic() - started,
        worker=worker_name(),
        chunks=spreader.chunks if spreader is not None else 0,
        helpers=tuple(sorted(spreader.workers)) if spreader is not None else (),
    )


def _spreader(task: Task) -> DaskSpread | LocalSpread | None:
    """Where a spread task's chunks go: the cluster's workers on a Dask worker, the idle
    workers of a local pool in one of its processes; else None (judged here, alone)."""
    if not task.spread:
        return None
    idle = local_idle()
    if idle is not None:
        return LocalSpread(idle)
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):  # not in a Dask worker
        return None
    return DaskSpread()


def _mismatch(task: Task) -> str | None:
    """Why this process must not judge ``task``: another gplscan, or other rules."""
    if task.version != __version__:
        return f"worker {worker_name()} has gplscan {__version__}, the run {task.version}"
    if task.rules:
        from gplscan.run_record import rules_digest

        mine = rules_digest(task.opts.rules_dir)
        if mine != task.rules:
            return f"worker {worker_name()} has other rule data (sha256 {mine[:12]}…)"
    return None


def _error(task: Task, message: str, started: float) -> Outcome:
    return Outcome(
        task.key,
        task.shown,
        EXIT_ERROR,
        None,
        error=message,
        seconds=time.monotonic() - started,
        worker=worker_name(),
    )


def _judged(task: Task) -> tuple[str, str | None, int]:
    from gplscan.report.registry import render

    path = Path(task.path)
    if task.inventory:
        result = run_prepared(path, task.shown, task.opts)
        code = 0 if result.complete else EXIT_ERROR
        return render("json", result), None, code
    from gplscan.findings import exit_code

    result = audited(
        path,
        task.shown,
        task.opts,
        fail_on=task.fail_on,
        allow_partial=task.allow_partial,
        command=task.command,
        config_path=Path(task.config_path) if task.config_path else None,
        held=task.held,
    )
    html = render("html", result) if task.html else None
    code = exit_code(result, result.fail_on, result.allow_partial)
    return render("json", result), html, code
