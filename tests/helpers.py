"""Shared helpers for the tests: compiling closed objects, running the CLI."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def need_tools(*tools: str) -> None:
    """Skip the calling test, with the reason, when a build tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} on PATH to build its ELF fixtures")


def compile_object(source: Path, output: Path, *flags: str) -> Path:
    """Compile one C file into a real x86-64 ELF relocatable with the machine's gcc."""
    need_tools("gcc")
    subprocess.run(
        [
            "gcc",
            "-c",
            "-O2",
            "-fno-pic",
            "-ffreestanding",
            "-fno-stack-protector",
            *flags,
            "-o",
            str(output),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return output


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess, as a user would."""
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "gplscan", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def run_cli_here(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command line as :func:`run_cli` runs it, in this process: gplscan's console
    entry point (``gplscan.cli:main``, which maps errors to exit codes and messages) with
    ``args`` as its argv, COLUMNS=200, stdout and stderr captured (neither a terminal),
    and its final ``os._exit`` turned into the exit code. For tests of what a command
    reports and exits with; :func:`run_cli` where the process itself is tested (signals,
    imports, hash seeds, a pipe closed)."""
    import gc
    import io
    from unittest import mock

    from gplscan.cli import main

    class Left(BaseException):
        def __init__(self, code: int) -> None:
            self.code = code

    def leave(code: int) -> None:
        raise Left(code)

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    here, thresholds = Path.cwd(), gc.get_threshold()
    code: int | None = None
    try:
        if cwd is not None:
            os.chdir(cwd)
        with (
            mock.patch.object(os, "_exit", leave),
            mock.patch.object(sys, "argv", ["gplscan", *args]),
            mock.patch.object(sys, "stdout", out),
            mock.patch.object(sys, "stderr", err),
            mock.patch.dict(os.environ, {"COLUMNS": "200"}),
        ):
            try:
                main()
            except Left as left:
                code = left.code
            except SystemExit as done:  # the ordinary exit, taken while children run
                code = done.code if isinstance(done.code, int) else 1
    finally:
        os.chdir(here)
        gc.set_threshold(*thresholds)
    texts = []
    for stream in (out, err):
        stream.flush()
        texts.append(stream.buffer.getvalue().decode("utf-8"))  # type: ignore[attr-defined]
    return subprocess.CompletedProcess(["gplscan", *args], code or 0, texts[0], texts[1])


def modules_after(args: list[str], names: tuple[str, ...]) -> list[str]:
    """Which of the modules ``names`` the command ``gplscan *args`` has imported by the
    time it finishes (run in a fresh interpreter; the command leaves with ``os._exit``,
    made to raise here so that the interpreter can be looked at afterwards)."""
    code = (
        f"import os, sys, runpy; sys.argv = ['gplscan', *{args!r}]\n"
        "def leave(code):\n    raise SystemExit(code)\n"
        "os._exit = leave\n"
        "try:\n    runpy.run_module('gplscan', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print('LOADED', [m for m in {names!r} if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "LOADED " in proc.stdout, (args, proc.stdout, proc.stderr)
    return list(ast.literal_eval(proc.stdout.rsplit("LOADED ", 1)[1]))


class BackwardsSpreader:
    """A :class:`gplscan.facts.pool.Spreader` that runs the chunks in this process, last
    chunk first (a cluster gives them back in whatever order they finish)."""

    def __init__(self) -> None:
        self.sent = 0

    def __call__(
        self, func: Callable[[list[Any]], list[Any]], chunks: list[list[Any]]
    ) -> Iterator[tuple[int, list[Any]]]:
        self.sent += len(chunks)
        for i in reversed(range(len(chunks))):
            yield i, func(chunks[i])
