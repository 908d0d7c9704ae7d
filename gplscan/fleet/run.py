"""The coordinator: targets -> tasks -> outcomes from the store or an engine.

:func:`plan` makes one task per target, keyed by what its judgement depends on
(:func:`gplscan.fleet.store.task_key`); :func:`run` takes what ``--resume`` finds in the
store, has the engine judge the rest, stores each outcome the moment it arrives (so a run
that is killed keeps what it finished), and returns the outcomes in the targets' order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from gplscan.fleet.judge import Outcome, Task
from gplscan.fleet.store import Store, content_digest, task_key
from gplscan.scan import Options

Progress = Callable[[Outcome, int, int], None]  # (outcome, done, total)


class Engine(Protocol):
    """Runs tasks, yielding each one's outcome as it is done (gplscan.fleet.engines)."""

    name: str

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]: ...


def plan(
    targets: Sequence[Path],
    opts: Options,
    *,
    inventory: bool,
    fail_on: str | None,
    allow_partial: bool,
    command: tuple[str, ...],
    config_path: Path | None = None,
    held: frozenset[str] = frozenset(),
    html: bool = False,
) -> list[Task]:
    """One task per target, with its key."""
    from gplscan.config import find_config
    from gplscan.run_record import rules_digest

    rules = rules_digest(opts.rules_dir)
    tasks = []
    for path in targets:
        config = None
        if not inventory:
            config = config_path or find_config(path)
        try:
            content, size = content_digest(path)
            config_bytes = config.read_bytes() if config is not None else None
        except OSError as exc:  # judged anyway: the task reports what cannot be read
            content, size = f"unreadable {exc.errno} {exc.strerror}", 0
            config_bytes = None
        task = Task(
            path=str(path),
            shown=str(path),
            key="",
            inventory=inventory,
            opts=opts,
            fail_on=fail_on,
            allow_partial=allow_partial,
            command=command,
            config_path=str(config_path) if config_path is not None else None,
            held=held,
            html=html,
            rules=rules,
            size=size,
        )
        tasks.append(replace(task, key=task_key(task, content, config_bytes)))
    return tasks


def run(
    tasks: Sequence[Task],
    engine: Engine,
    store: Store | None,
    *,
    resume: bool,
    progress: Progress | None = None,
    one_core_each: bool = False,
) -> list[Outcome]:
    """Every task's outcome, in the order of ``tasks``: from the store when ``resume``
    finds it there, else from ``engine`` (one core each when ``one_core_each``: the
    engine runs several targets at a time). A target listed twice is judged once."""
    found: dict[str, Outcome] = {}
    if resume and store is not None:
        for task in tasks:
            if task.key not in found:
                hit = store.get(task.key, html=task.html)
                if hit is not None:
                    found[task.key] = hit
    todo: dict[str, Task] = {}
    for task in tasks:
        if task.key not in found and task.key not in todo:
            todo[task.key] = (
                replace(task, opts=replace(task.opts, jobs=1)) if one_core_each else task
            )
    total = len(found) + len(todo)
    done = 0
    for outcome in found.values():
        done += 1
        if progress is not None:
            progress(outcome, done, total)
    order = list(todo.values())
    if one_core_each:  # several at a time: the largest first, so none is left to run alone
        order.sort(key=lambda task: -task.size)
    for outcome in engine.run(order) if order else ():
        if store is not None:
            store.put(outcome)
        found[outcome.key] = outcome
        done += 1
        if progress is not None:
            progress(outcome, done, total)
    return [replace(found.get(task.key) or _missing(task), shown=task.shown) for task in tasks]


def _missing(task: Task) -> Outcome:
    from gplscan.model import EXIT_ERROR

    return Outcome(task.key, task.shown, EXIT_ERROR, None, error="the engine gave no outcome")
