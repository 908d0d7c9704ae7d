"""Progress on standard error while a scan runs: rich bars in colour, one plain line without
colour, or nothing (quiet, not a terminal, or a machine-readable report on standard output).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO


def show_progress(quiet: bool, fmt: str, output: Path | None) -> bool:
    """A bar on standard error, unless asked for quiet, not a terminal, or JSON on stdout."""
    if quiet or not sys.stderr.isatty():
        return False
    return not (fmt != "terminal" and output is None)


class Bar(Protocol):
    """Progress on standard error: the scan's stages as they run, and what it is busy
    with between them."""

    def update(self, stage: str, done: int, total: int) -> None: ...

    def busy(self, what: str) -> None: ...


class _NoBar:
    def update(self, stage: str, done: int, total: int) -> None:
        pass

    def busy(self, what: str) -> None:
        pass


_JUDGING = "linking and judging"  # what follows the last bar: graph, kernel symbols, rules


def _after(stage: str) -> str:
    """What the run is busy with once ``stage`` is complete."""
    return "reading" if stage == "discover" else _JUDGING


class _PlainBar:
    """Progress without escape sequences (for NO_COLOR and --no-color): one line, redrawn
    in place with carriage returns, at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = 0
        self.drawn = 0.0
        self.started: dict[str, tuple[float, int]] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        import time

        now = time.monotonic()
        began, first = self.started.setdefault(stage, (now, done))
        if done >= total:
            self.busy(_after(stage))
            return
        if now - self.drawn < 0.1:
            return
        filled = 20 * done // max(total, 1)
        rate = (done - first) / (now - began) if now > began else 0.0
        self._draw(
            f"{stage:<10} [{'#' * filled}{'.' * (20 - filled)}] {done:,}/{total:,}"
            + (f"  {rate:,.0f} files/s" if rate else "")
        )

    def busy(self, what: str) -> None:
        self._draw(f"{what} ...")

    def _draw(self, text: str) -> None:
        import shutil
        import time

        text = text[: shutil.get_terminal_size().columns - 1]
        self.stream.write("\r" + text + " " * max(self.shown - len(text), 0))
        self.stream.flush()
        self.shown = len(text)
        self.drawn = time.monotonic()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()


@contextmanager
def progress(enabled: bool, color: bool) -> Iterator[Bar]:
    """Progress on standard error: rich bars in colour, a plain line without colour (no
    escape sequence at all), or nothing. Between and after the bars a spinner (or the
    plain line) says what the run is busy with, up to the report being written."""
    if not enabled:
        yield _NoBar()
        return
    if not color:
        plain = _PlainBar(sys.stderr)
        try:
            yield plain
        finally:
            plain.close()
        return
    from rich.console import Console, RenderableType
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.spinner import Spinner
    from rich.text import Text

    class Bars(Progress):
        """rich's bars, and below them a spinner naming the stage without a bar."""

        working: Spinner | None = None

        def get_renderables(self) -> Iterable[RenderableType]:
            yield from super().get_renderables()
            if self.working is not None:
                yield self.working

        def update_stage(self, stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = self.add_task(stage, total=total, rate="")
            task = self.tasks[tasks[stage]] if tasks[stage] < len(self.tasks) else None
            speed = task.speed if task is not None else None
            rate = f"{speed:,.0f} files/s" if speed else ""
            self.update(tasks[stage], completed=done, total=total, rate=rate)
            self.busy(_after(stage) if done >= total else None)

        def busy(self, what: str | None) -> None:
            self.working = None if what is None else Spinner("dots", Text(what), style="cyan")

    class Adapter:
        def __init__(self, bars: Bars) -> None:
            self.bars = bars

        def update(self, stage: str, done: int, total: int) -> None:
            self.bars.update_stage(stage, done, total)

        def busy(self, what: str) -> None:
            self.bars.busy(what)

    tasks: dict[str, Any] = {}
    with Bars(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>12}"),
        TimeRemainingColumn(),
        console=Console(stderr=True, no_color=False),
        transient=True,
    ) as bars:
        yield Adapter(bars)
