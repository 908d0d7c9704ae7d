"""Which headers reach a binary: the ``#include`` closure of the sources compiled into it.

Resolution follows the compiler's order: ``"x.h"`` next to the including file first, then
the include directories; ``<x.h>`` in the include directories only. The directories are
those the build files pass (``ccflags-y += -I...``) and, in a kernel tree, ``include/``,
``include/uapi/`` and the ``arch/<arch>/include`` directories of one architecture (the
host's unless told otherwise: a kernel is built for one).
"""

from __future__ import annotations

import platform
import posixpath
from collections.abc import Callable, Iterable, Mapping, Set
from pathlib import PurePosixPath

from gplscan.model import SourceFacts

ARCH_OF_MACHINE = {
    "x86_64": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "powerpc",
    "s390x": "s390",
    "riscv64": "riscv",
}


def host_arch() -> str:
    return ARCH_OF_MACHINE.get(platform.machine(), platform.machine())


def kernel_include_dirs(directories: Set[PurePosixPath], arch: str) -> list[PurePosixPath]:
    """The kernel's own include directories that exist in the tree, in compiler order."""
    candidates = [
        f"arch/{arch}/include",
        f"arch/{arch}/include/generated",
        "include",
        f"arch/{arch}/include/uapi",
        f"arch/{arch}/include/generated/uapi",
        "include/uapi",
        "include/generated/uapi",
    ]
    return [PurePosixPath(c) for c in candidates if PurePosixPath(c) in directories]


def include_closure(
    start: Iterable[PurePosixPath],
    files: Set[PurePosixPath],
    include_dirs: list[PurePosixPath],
    read: Callable[[list[PurePosixPath]], Mapping[PurePosixPath, SourceFacts]],
    limit: int = 200_000,
) -> tuple[
    dict[PurePosixPath, SourceFacts],
    set[PurePosixPath],
    dict[PurePosixPath, tuple[PurePosixPath, ...]],
]:
    """Read ``start`` and every header they include, transitively.

    ``read`` reads full source facts for a batch of paths (in parallel, through the cache).
    Returns the facts of every file read, the set of headers reached, and what each file
    read includes (resolved). Resolution works
    on strings and is memoized per (include, directory): a kernel tree resolves hundreds of
    thousands of includes, mostly the same few thousand headers.
    """
    resolver = Resolver(files, include_dirs)
    facts: dict[PurePosixPath, SourceFacts] = {}
    headers: set[PurePosixPath] = set()
    edges: dict[PurePosixPath, tuple[PurePosixPath, ...]] = {}
    frontier = sorted(set(start))
    while frontier and len(facts) < limit:
        batch = read(frontier)
        facts.update(batch)
        found: set[PurePosixPath] = set()
        for path, sf in batch.items():
            directory = str(path.parent)
            targets = [resolver.resolve(spec, directory) for spec in sf.includes]
            edges[path] = tuple(t for t in targets if t is not None)
            found.update(edges[path])
        found -= facts.keys()
        headers |= found
        frontier = sorted(found)
    return facts, headers, edges


class Resolver:
    """``#include`` resolution against the files of the tree, memoized."""

    def __init__(self, files: Set[PurePosixPath], include_dirs: list[PurePosixPath]) -> None:
        self._files = {str(f): f for f in files}
        self._dirs = [str(d) for d in include_dirs]
        self._memo: dict[tuple[str, str], PurePosixPath | None] = {}

    def resolve(self, spec: str, directory: str) -> PurePosixPath | None:
        """The file ``spec`` ("x.h" or <x.h>) names from ``directory``, or None."""
        quoted = spec.startswith('"')
        key = (spec, directory if quoted else "")
        if key in self._memo:
            return self._memo[key]
        name = spec[1:-1].strip()
        found = None
        if name and not name.startswith("/"):
            dirs = [directory, *self._dirs] if quoted else self._dirs
            for d in dirs:
                candidate = (
                    posixpath.normpath(posixpath.join(d, name))
                    if d not in ("", ".")
                    else posixpath.normpath(name)
                )
                if candidate.startswith("../"):
                    continue
                hit = self._files.get(candidate)
                if hit is not None:
                    found = hit
                    break
        self._memo[key] = found
        return found


def resolve(
    spec: str,
    including: PurePosixPath,
    files: Set[PurePosixPath],
    include_dirs: list[PurePosixPath],
) -> PurePosixPath | None:
    """The file an ``#include`` names, or None when the tree does not hold it."""
    return Resolver(files, include_dirs).resolve(spec, str(including.parent))
