"""What Kbuild really did: a module's members as the records of a built tree name them.

``<mod>.mod`` lists the member objects; the ld commands recorded in ``.<mod>.o.cmd`` and
``.<mod>.ko.cmd`` add what entered through linker flags. Where the tree holds them they
replace what the build files declare (``apply_records``).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path, PurePosixPath

from gplscan.facts.kbuild_names import OBJECT_LIKE
from gplscan.model import Evidence, EvidenceKind, MemberRef, ModuleSpec

_SAVEDCMD = re.compile(r"^(?:savedcmd|cmd)_(?P<target>\S+)\s*:=\s*(?P<cmd>.*)$", re.MULTILINE)


def _record_path(token: str, directory: Path, root: Path) -> PurePosixPath | None:
    """A path as a Kbuild record names it (relative to objtree, to M=, or absolute)."""
    candidates = [Path(token)] if os.path.isabs(token) else [root / token, directory / token]
    candidates.append(directory / Path(token).name)
    for c in candidates:
        resolved = Path(os.path.normpath(c))
        if resolved.is_relative_to(root) and resolved.exists():
            return PurePosixPath(resolved.relative_to(root).as_posix())
    resolved = Path(os.path.normpath(candidates[-1]))
    return (
        PurePosixPath(resolved.relative_to(root).as_posix())
        if resolved.is_relative_to(root)
        else None
    )


def _link_objects(cmd_file: Path, directory: Path, root: Path) -> list[tuple[str, Evidence]]:
    """Objects on the ld command line a ``.<target>.cmd`` file records (``@file`` expanded)."""
    try:
        text = cmd_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    m = _SAVEDCMD.search(text)
    if m is None:
        return []
    tokens = m.group("cmd").split()
    if not tokens or not any(t.endswith("ld") or t.endswith("ld.bfd") for t in tokens[:2]):
        return []
    line = text.count("\n", 0, m.start()) + 1
    rel = PurePosixPath(cmd_file.resolve().relative_to(root).as_posix())
    # the record holds absolute build paths: shown relative to the target
    shown = m.group(0).strip().replace(str(root) + os.sep, "")[:400]
    evidence = Evidence(EvidenceKind.MAKEFILE, shown, rel, line)
    out: list[tuple[str, Evidence]] = []
    skip_next = False
    for t in tokens[1:]:
        if skip_next:
            skip_next = False
            continue
        if t in ("-o", "-T", "--script", "-Map", "-z"):
            skip_next = True
            continue
        if t.startswith("@"):
            listing = directory / Path(t[1:]).name
            with contextlib.suppress(OSError):
                out.extend((w, evidence) for w in listing.read_text().split())
        elif not t.startswith("-") and OBJECT_LIKE.search(t) and not _kbuild_own(t):
            out.append((t, evidence))
    return out


def _kbuild_own(token: str) -> bool:
    """Objects Kbuild itself adds to every module: modpost's ``<mod>.mod.o`` and, since
    Linux 6.10, ``.module-common.o`` (compiled from the kernel's scripts/module-common.c)."""
    return token.endswith(".mod.o") or token.rsplit("/", 1)[-1] == ".module-common.o"


def apply_records(spec: ModuleSpec, root: Path) -> ModuleSpec:
    """The module as Kbuild built it, when the tree holds its records; else as declared.

    ``<mod>.mod`` lists the member objects; the ld commands recorded in ``.<mod>.o.cmd``
    and ``.<mod>.ko.cmd`` add what entered through linker flags. Members the build files
    name keep their build-file line as evidence; the others get the record's line.
    """
    directory = root / spec.directory
    mod_file = directory / f"{spec.name}.mod"
    if not mod_file.is_file():
        return spec
    try:
        mod_text = mod_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return spec
    mod_rel = PurePosixPath(mod_file.resolve().relative_to(root).as_posix())
    declared = {m.path: m for m in spec.members}
    members: list[MemberRef] = []
    seen: set[PurePosixPath] = set()
    for n, line in enumerate(mod_text.splitlines(), 1):
        for token in line.split():
            path = _record_path(token, directory, root)
            if path is None or path in seen:
                continue
            seen.add(path)
            members.append(
                declared.get(path)
                or MemberRef(
                    path,
                    "objs",
                    Evidence(EvidenceKind.MAKEFILE, f"{token} (Kbuild's record)", mod_rel, n),
                )
            )
    single = spec.name + ".o"
    for cmd in (f".{spec.name}.o.cmd", f".{spec.name}.ko.cmd"):
        for token, evidence in _link_objects(directory / cmd, directory, root):
            path = _record_path(token, directory, root)
            if path is None or path in seen or path.name == single:
                continue
            seen.add(path)
            members.append(declared.get(path) or MemberRef(path, "ldflags", evidence))
    if not members:
        return spec
    return ModuleSpec(
        spec.name,
        spec.directory,
        spec.declared_at,
        tuple(members),
        spec.include_dirs,
        spec.conditional,
    )
