"""Shared helpers for the tests: compiling closed objects, running the CLI."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
