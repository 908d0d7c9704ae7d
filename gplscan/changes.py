"""What a change can affect: the binaries ``--changed-since`` judges.

A pre-merge run judges only the binaries the changed files can affect, and must see every
input that can change a verdict:

- a configuration (``.gplscan.toml``, ``gplscan.toml``, ``pyproject.toml``: waivers,
  severities, allow and deny lists), the kernel's exports (``Module.symvers``), a Kconfig
  file, ``dkms.conf`` or ``modules.order`` can change the verdict on any binary: the whole
  target is judged (:data:`Scope.ALL`);
- a source or a directory's own build file (``Kbuild``, ``Makefile``) is judged the fast
  way: only the build files of the directories the changes are in are read
  (:data:`Scope.NARROW`), and afterwards every changed file must be an input of a judged
  binary, else the run is done again the wide way;
- anything else (a header, an included make fragment such as ``objs.mk``, ``Makefile.*``
  or ``Kbuild.*``, an object of any name: ``*.o_binary``, ``*.o_<arch>``, ``.ko.xz``) is
  judged the wide way (:data:`Scope.WIDE`): every build file is read and a binary is judged
  when a changed file is among its inputs: its build line, its members' files and sources,
  the headers those include (followed to the end), the make fragments its directory's build
  file includes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from gplscan.kernel_names import SOURCE_SUFFIXES
from gplscan.model import Binary, FileKind, Gap, Scope

# a change to one of these can change the verdict on any binary
WHOLE_TARGET_NAMES = frozenset(
    {
        ".gplscan.toml",
        "gplscan.toml",
        "pyproject.toml",
        "Module.symvers",
        "dkms.conf",
        "modules.order",
    }
)
PRIMARY_BUILD_NAMES = frozenset({"Kbuild", "Makefile", "makefile", "GNUmakefile"})
# kinds whose change cannot alter a verdict by themselves (text nothing builds from)
_INERT = frozenset({FileKind.OTHER, FileKind.LICENSE_TEXT, FileKind.DATA})


def scope_of(changed: Iterable[PurePosixPath], kinds: Mapping[PurePosixPath, FileKind]) -> Scope:
    """How a set of changed files (relative to the target) is judged."""
    scope = Scope.NARROW
    for path in changed:
        name = path.name
        if name in WHOLE_TARGET_NAMES or name.startswith("Kconfig"):
            return Scope.ALL
        if name in PRIMARY_BUILD_NAMES:
            continue
        kind = kinds.get(path)
        if path.suffix in SOURCE_SUFFIXES and kind in (FileKind.SOURCE, None):
            continue  # a deleted source (no kind) is found by its module's member stem
        scope = Scope.WIDE
    return scope


def affected(
    changed: Iterable[PurePosixPath], includes: Mapping[PurePosixPath, tuple[PurePosixPath, ...]]
) -> set[PurePosixPath]:
    """The changed files and every file that includes one of them, directly or not."""
    included_by: dict[PurePosixPath, list[PurePosixPath]] = {}
    for path, headers in includes.items():
        for header in headers:
            included_by.setdefault(header, []).append(path)
    seen = set(changed)
    todo = list(seen)
    while todo:
        for parent in included_by.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def inputs(binary: Binary) -> set[PurePosixPath]:
    """A binary's own inputs: itself, its build line, its components' files, sources and
    the places that say so, archive members included (the headers the sources include
    are :func:`affected`'s part)."""
    found = {binary.path}
    if binary.defined_at is not None and binary.defined_at.path is not None:
        found.add(binary.defined_at.path)
    todo = list(binary.components)
    while todo:
        c = todo.pop()
        todo.extend(c.members)
        found.update(c.sources)
        found.add(c.path)
        found.update(p for p in (c.file, c.named_source, c.linked_by.path) if p is not None)
        found.update(e.path for e in c.provenance if e.path is not None)
    return found


def select(
    binaries: Iterable[Binary],
    hit: set[PurePosixPath],
    fragments: Mapping[PurePosixPath, set[PurePosixPath]],
) -> tuple[Binary, ...]:
    """The binaries a change can affect: ``hit`` (from :func:`affected`) meets their inputs
    or a make fragment their directory's build file includes."""
    touched_dirs = {d for d, files in fragments.items() if files & hit}
    return tuple(
        b
        for b in binaries
        if inputs(b) & hit
        or (
            b.defined_at is not None
            and b.defined_at.path is not None
            and (b.defined_at.path.parent in touched_dirs)
        )
    )


def unaccounted(
    changed: Iterable[PurePosixPath],
    binaries: Iterable[Binary],
    includes: Mapping[PurePosixPath, tuple[PurePosixPath, ...]],
    kinds: Mapping[PurePosixPath, FileKind],
) -> list[PurePosixPath]:
    """Changed files of the target that no judged binary has among its inputs (and that
    can matter: not documentation or data; a deleted file is found by its module's member
    stem): a narrow run that leaves one must be redone the wide way."""
    seen: set[PurePosixPath] = set()
    for b in binaries:
        seen |= inputs(b)
    return sorted(
        p
        for p in changed
        if p in kinds and kinds[p] not in _INERT and not affected([p], includes) & seen
    )


def keep_gap(gap: Gap, judged: set[PurePosixPath], hit: set[PurePosixPath]) -> bool:
    """Whether a gap concerns what a partial run judges: one of its binaries, or a
    changed file."""
    if gap.binary is not None:
        return gap.binary in judged
    return gap.at.path in hit
