"""How a gplscan process ends: its exit codes, its signals, and what it leaves behind.

A scan's answer decides merges, so an ending must never look like an answer it is not:

- 0 clean, 1 findings at or above ``--fail-on``: the only codes a finished scan gives;
- 2 a usage or input error, a scan that could not read everything, and every error
  gplscan did not anticipate (a bug is never 1, which would read as "findings");
- 130 interrupted (SIGINT, Ctrl-C), 129 hung up (SIGHUP), 143 terminated (SIGTERM), 141
  standard output closed under it (a reader such as ``head`` went away): 128 + the signal,
  as a shell reports a process a signal ended.

The codes of a finished scan are :mod:`gplscan.model`'s ``EXIT_*``, the signals' are here.

A signal ends the scan by raising :class:`Interrupted` in the main thread, so that every
``with`` block on the way out runs: the unpacking scratch area is removed, worker pools are
stopped, the cache is closed. A second signal while that happens is ignored, so the
cleanup is not cut short. Reports written to a file go to a temporary name and are
renamed into place when complete (:func:`write_atomically`): a killed run leaves the old
report or none, never half of one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from gplscan.errors import Interrupted, PipeClosed

EXIT_PIPE = PipeClosed.code  # 141: 128 + SIGPIPE, as a shell reports it

_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class GuardedStdout:
    """Standard output whose writes turn a closed pipe into :class:`PipeClosed`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise PipeClosed from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise PipeClosed from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def silence_stdout() -> None:
    """After a closed pipe: send what is left to /dev/null, so that the interpreter's
    final flush does not complain about the pipe again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def _raise(signum: int, frame: FrameType | None) -> None:
    for sig in _HANDLED:  # the cleanup on the way out is not to be cut short
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_end_the_scan() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread while the
    block runs; the previous handlers come back afterwards."""
    previous = {sig: signal.getsignal(sig) for sig in _HANDLED}
    for sig in _HANDLED:
        signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def private_scancode_temp() -> Iterator[None]:
    """scancode-toolkit makes a ``scancode-tk-*`` directory in the temporary directory of
    every process that imports it, and never removes it. Point it (and every worker
    process, which inherits the environment) at a directory of this run's own, removed
    when the run ends. A ``SCANCODE_TEMP`` the user set is left alone."""
    if os.environ.get("SCANCODE_TEMP"):
        yield
        return
    try:
        area = tempfile.mkdtemp(prefix="gplscan-scancode-")
    except OSError:  # no temporary directory: scancode will say so if it is needed
        yield
        return
    os.environ["SCANCODE_TEMP"] = area
    try:
        yield
    finally:
        os.environ.pop("SCANCODE_TEMP", None)
        shutil.rmtree(area, ignore_errors=True)


def scancode_temp_of_this_process() -> None:
    """The same for a long-lived worker process (a Dask worker judges many targets and
    imports scancode once): a directory of its own, removed when the process exits. A
    ``SCANCODE_TEMP`` already set (the user's, or the run's that a local worker inherits)
    is left alone."""
    if os.environ.get("SCANCODE_TEMP"):
        return
    try:
        area = tempfile.mkdtemp(prefix="gplscan-scancode-")
    except OSError:
        return
    os.environ["SCANCODE_TEMP"] = area
    atexit.register(shutil.rmtree, area, ignore_errors=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` by way of a temporary file beside it, renamed into place
    once complete. Raises OSError as ``open`` would."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if path.exists():  # keep the file mode the user gave the report
            with contextlib.suppress(OSError):
                shutil.copymode(path, temporary)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
