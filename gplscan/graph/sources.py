"""What the graph stage reads beyond the facts it is given: a source's text, on demand.

The facts hold what every source defines and declares; a few questions (which symbols a
source uses, on which lines; which functions an unbuilt module's sources call) need the
text itself. The caller says how to read it: the stage opens no source of its own (the
files it does open itself are static libraries, for their members, and Kbuild's
``.<object>.cmd`` records, for whether ``ld`` made an object). So too
for which functions sources define (provenance asks, for objects no source of their stem
accounts for): :func:`~gplscan.graph.build.build_graph` is given a
:class:`~gplscan.facts.symbol_index.SourceDefinitions`, the scan's lazy symbol index.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Protocol

from gplscan.model import Binary


class ReadSource(Protocol):
    """A source's text by its path in the target; None when it cannot be read. Each call
    reads the file again: callers that ask twice keep what they read."""

    def __call__(self, path: PurePosixPath, /) -> str | None: ...


class JudgeSources(Protocol):
    """Whether an unbuilt module is worth judging by what its sources call (reading them
    all): one whose GPL-only use would matter."""

    def __call__(self, binary: Binary, /) -> bool: ...
