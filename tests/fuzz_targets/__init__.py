"""Fuzz targets: one per parser gplscan feeds untrusted bytes to.

A target builds a few well-formed seed inputs (real files made with gcc, ar, tar … where it
can) and feeds one input to the parser the way a scan would. The property every target
checks: the input ends as facts or as a reported issue, never as a traceback and never
dropped silently. ``run`` raises ``AssertionError`` when that property fails; any other
exception escaping ``run`` is a bug in gplscan.

The CI suite (``tests/test_fuzz.py``) mutates the seeds with Hypothesis; the long run
(``bench/fuzz.py --minutes N``) mutates them at random in worker processes with a time
and memory budget per input. Each area's targets live in a module of this package named
for the area, as a module-level ``TARGETS: list[Target]``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    name: str  # e.g. "elf-ko", "tar", "make"
    seeds: Callable[[Path], list[bytes]]  # well-formed inputs, built in the given scratch dir
    run: Callable[[bytes, Path], None]  # feed one input; the Path is a fresh scratch dir


def all_targets() -> list[Target]:
    """Every target of every module in this package, in name order."""
    found: list[Target] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "TARGETS", []))
    return sorted(found, key=lambda t: t.name)
