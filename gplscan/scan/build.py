"""The build stage: which modules the target's build files describe, and what they link.

Reads every build directory's Kbuild/Makefile (or, for ``--changed-since`` runs judged
narrowly, only the directories a change is in or above), Kbuild's own records of modules it
built (``<mod>.mod``), the package's ``dkms.conf`` files (read statically, never run) and the
symbolic links among objects. For a DKMS package, the modules no build of the package
reaches (configure's probes) are noted and left out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gplscan.facts.collect import FileRecord
from gplscan.facts.dkms import DkmsConf, read_dkms_conf
from gplscan.facts.kbuild import build_file_for, read_kbuild
from gplscan.facts.kbuild_records import apply_records
from gplscan.facts.kconfig import KconfigTypes
from gplscan.kernel_names import object_stem
from gplscan.model import (
    Binary,
    BinaryKind,
    CopyRule,
    Evidence,
    EvidenceKind,
    FileKind,
    Gap,
    Location,
    ModuleSpec,
    ScanIssue,
    Stage,
)
from gplscan.scan.session import FactSession


@dataclass(frozen=True, slots=True)
class BuildFacts:
    """What the build files say (empty when no rule is evaluated: an inventory alone needs
    no link graph, so the build files are not read)."""

    modules: tuple[ModuleSpec, ...] = ()
    copies: Mapping[PurePosixPath, CopyRule] = field(default_factory=dict)
    dkms: tuple[DkmsConf, ...] = ()
    gaps: tuple[Gap, ...] = ()  # build files gplscan could not read (in full)
    # the directories a DKMS package's build reaches (empty when there is no dkms.conf)
    shipped: frozenset[PurePosixPath] = frozenset()
    # the make fragments each directory's build file includes
    fragments: Mapping[PurePosixPath, set[PurePosixPath]] = field(default_factory=dict)


@dataclass(slots=True)
class _BuildFiles:
    """What reading the build directories one by one gathers."""

    modules: list[ModuleSpec] = field(default_factory=list)
    copies: dict[PurePosixPath, CopyRule] = field(default_factory=dict)
    reaches: dict[PurePosixPath, list[PurePosixPath]] = field(default_factory=dict)
    fragments: dict[PurePosixPath, set[PurePosixPath]] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)


def read_build(
    session: FactSession, arch: str, changed: frozenset[PurePosixPath] | None = None
) -> BuildFacts:
    """Modules, copy rules and dkms.conf files; with ``changed`` (a narrow
    ``--changed-since`` run), only the modules a change touches."""
    root, records = session.root, session.records
    dkms = _dkms_confs(root, records, session.issues)
    read = _read_build_files(session, arch, dkms, changed)
    modules = read.modules
    modules.extend(_recorded_modules(root, records, modules))
    shipped: set[PurePosixPath] = set()
    if dkms and changed is None:  # configure's probe modules (zfs' build/) are not shipped
        modules, shipped = _reached_modules(root, modules, dkms, read.reaches, session.issues)
    copies = read.copies
    for rel, rule in _symlinked_objects(root, records):
        copies.setdefault(rel, rule)
    specs = tuple(apply_records(m, root) for m in modules)
    if changed is not None:
        specs = tuple(m for m in specs if _touches(m, changed))
    return BuildFacts(
        specs, copies, tuple(dkms), tuple(read.gaps), frozenset(shipped), read.fragments
    )


def _read_build_files(
    session: FactSession,
    arch: str,
    dkms: list[DkmsConf],
    changed: frozenset[PurePosixPath] | None,
) -> _BuildFiles:
    """Each build directory's build file, read with the Kconfig types and the variables
    dkms.conf's MAKE line sets; a fragment another build file includes is read there."""
    root = session.root
    builds = session.of_kind(FileKind.BUILD)
    config = KconfigTypes(root, sorted(p for p in builds if p.name.startswith("Kconfig")), arch)
    build_dirs = sorted({rel.parent for rel in builds})
    if changed is not None:
        # only the directories a change is in, or above: where its modules are described
        touched = {d for p in changed for d in (p.parent, *p.parent.parents)}
        build_dirs = [d for d in build_dirs if d in touched]
    out = _BuildFiles()
    included: set[Path] = set()  # fragments another build file includes (nouveau/nvkm/Kbuild)
    for directory in build_dirs:  # sorted: a directory before those under it
        build_file = build_file_for(root / directory)
        if build_file is None or build_file.resolve() in included:
            continue  # read where it is included, with the includer's variables
        reached = out.reaches[directory] = []
        mine: set[Path] = set()  # the fragments this directory's build file includes
        try:
            mods, rules = read_kbuild(
                build_file,
                root,
                session.issues,
                config.for_directory(directory),
                gaps=out.gaps,
                command_line=_make_command_line(dkms, directory, root),
                reaches=reached,
                included=mine,
            )
        except (ValueError, RecursionError, OSError) as exc:  # a reader bug: judged as unread
            out.gaps.append(_reader_failed(build_file, root, exc))
            continue
        included |= mine
        out.fragments[directory] = {
            PurePosixPath(f.relative_to(root).as_posix()) for f in mine if f.is_relative_to(root)
        }
        out.modules.extend(mods)
        for rule in rules:
            out.copies.setdefault(rule.target, rule)
    return out


def _reader_failed(build_file: Path, root: Path, exc: BaseException) -> Gap:
    rel = PurePosixPath(build_file.relative_to(root).as_posix())
    return Gap(
        f"the build file {rel}",
        f"gplscan's make reader failed on it ({type(exc).__name__}: {exc})",
        Location(rel),
    )


def _reached_modules(
    root: Path,
    modules: list[ModuleSpec],
    dkms: list[DkmsConf],
    reaches: Mapping[PurePosixPath, list[PurePosixPath]],
    issues: list[ScanIssue],
) -> tuple[list[ModuleSpec], set[PurePosixPath]]:
    """The modules a DKMS package's build reaches, and the directories it reaches: from the
    directory dkms runs MAKE in and the directories of the modules dkms.conf names, down
    every ``obj-m += dir/`` and ``$(MAKE) -C dir``. A build file nothing reaches (dahdi's
    datamods/, a developer-only tool) describes no module the package ships: noted, not
    judged as shipped."""
    todo = [
        home / m.location if m.location else home
        for conf in dkms
        for home in [conf.path.parent]
        for m in (*conf.modules, None)
        if m is not None
    ] + [conf.path.parent for conf in dkms]
    for conf in dkms:  # where the MAKE line runs make (-C dir, M=dir)
        home = conf.path.parent
        todo.extend(
            home / os.path.relpath(d, str(root / home))
            for d in conf.make_directories(str(root / home))
        )
    reached: set[PurePosixPath] = set()
    while todo:
        d = PurePosixPath(os.path.normpath(str(todo.pop())))
        if d in reached:
            continue
        reached.add(d)
        todo.extend(reaches.get(d, ()))
    named = {m.name for conf in dkms for m in conf.modules}
    kept = []
    for spec in modules:
        # a module dkms.conf names is shipped wherever it is built (openafs builds in
        # src/libafs/MODLOAD-<kernel>/ by a make that changes directory, not by -C)
        if spec.directory in reached or spec.name in named:
            kept.append(spec)
            continue
        issues.append(
            ScanIssue(
                spec.declared_at.path or spec.directory,
                Stage.BUILD,
                f"line {spec.declared_at.line}: {spec.name}.ko is described here, but no build "
                "of the package reaches this directory (not a module dkms.conf names, not a "
                "subdirectory of one built): not judged as a module the package ships",
                skipped=False,
            )
        )
    return kept, reached


def not_shipped(
    binaries: tuple[Binary, ...],
    shipped: frozenset[PurePosixPath],
    dkms: tuple[DkmsConf, ...],
    issues: list[ScanIssue],
) -> tuple[Binary, ...]:
    """Built modules no build file describes, in a directory no build of the package
    reaches and not named by dkms.conf (zfs' configure leaves ~140 probe modules in
    build/): noted, not judged as modules the package ships."""
    named = {m.name for conf in dkms for m in conf.modules}
    kept = []
    for b in binaries:
        probe = (
            b.kind == BinaryKind.KERNEL_MODULE
            and b.defined_at is None
            and b.path.parent not in shipped
            and b.path.stem not in named
        )
        if not probe:
            kept.append(b)
            continue
        issues.append(
            ScanIssue(
                b.path,
                Stage.BUILD,
                "a built module in a directory no build of the package reaches, not one "
                "dkms.conf names (a configure probe): not judged as a module it ships",
                skipped=False,
            )
        )
    return tuple(kept)


def _dkms_confs(
    root: Path, records: Mapping[PurePosixPath, FileRecord], issues: list[ScanIssue]
) -> list[DkmsConf]:
    """Every dkms.conf of the target, read statically (never run)."""
    out = []
    for rel in sorted(p for p in records if p.name == "dkms.conf"):
        try:
            text = (root / rel).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            issues.append(ScanIssue(rel, Stage.BUILD, f"not readable: {exc.strerror or exc}"))
            continue
        conf = read_dkms_conf(text, rel)
        out.append(conf)
        for patch, line in conf.patches:
            issues.append(
                ScanIssue(
                    rel,
                    Stage.BUILD,
                    f"line {line}: dkms applies {patch} before it builds; gplscan read the "
                    "sources as shipped, without it",
                    skipped=False,
                )
            )
    return out


def _make_command_line(
    dkms: list[DkmsConf], directory: PurePosixPath, root: Path
) -> dict[str, str]:
    """The variables dkms.conf's MAKE line sets, for the build files of its package."""
    for conf in dkms:
        home = conf.path.parent
        if home == directory or home in directory.parents or str(home) == ".":
            return conf.make_variables(str(root / home))
    return {}


def _recorded_modules(
    root: Path, records: Mapping[PurePosixPath, FileRecord], described: list[ModuleSpec]
) -> list[ModuleSpec]:
    """Modules Kbuild recorded building (``<mod>.mod``) that no build file read describes:
    their composition comes from the records (:func:`apply_records`), never "unknown"."""
    known = {(m.directory, m.name) for m in described}
    out = []
    for rel, record in records.items():
        if record.entry.kind is not FileKind.BUILD or not rel.name.endswith(".mod"):
            continue
        name = rel.name[:-4]
        if not name or name.startswith(".") or (rel.parent, name) in known:
            continue
        if not _is_kbuild_record(root / rel):
            continue  # e.g. go.mod
        evidence = Evidence(
            EvidenceKind.MAKEFILE, f"{rel.name}: Kbuild's record of the module it built", rel, 1
        )
        out.append(ModuleSpec(name, rel.parent, evidence, ()))
    return sorted(out, key=lambda m: (str(m.directory), m.name))


def _symlinked_objects(
    root: Path, records: Mapping[PurePosixPath, FileRecord]
) -> list[tuple[PurePosixPath, CopyRule]]:
    """Objects that are symbolic links to another file of the target (NVIDIA's build links
    nv-kernel.o to nv-kernel.o_binary): the link is made from the file it names."""
    out = []
    for rel, record in records.items():
        if (
            record.entry.kind is not FileKind.OBJECT
            or rel.name.endswith(".ko")  # modules are binaries, never symlinked members
            or not os.path.islink(root / rel)
        ):
            continue
        try:
            real = PurePosixPath(Path(os.path.realpath(root / rel)).relative_to(root).as_posix())
        except ValueError:
            continue  # discovery reported a link out of the target
        if real != rel and real in records:
            text = f"{rel.name} is a symbolic link to {real}"
            out.append((rel, CopyRule(rel, real, Evidence(EvidenceKind.MAKEFILE, text, rel))))
    return out


def _is_kbuild_record(path: Path) -> bool:
    """Whether a ``.mod`` file is Kbuild's list of a module's objects."""
    try:
        words = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return False
    return bool(words) and all(w.endswith((".o", ".ko")) for w in words)


def _touches(spec: ModuleSpec, changed: frozenset[PurePosixPath]) -> bool:
    """Whether a change touches a module: its build line, a member, or a member's source."""
    if spec.declared_at.path in changed:
        return True
    for m in spec.members:
        if m.path in changed or m.evidence.path in changed:
            return True
        stem = object_stem(m.path)
        if any(PurePosixPath(stem + ext) in changed for ext in (".c", ".S", ".o_shipped")):
            return True
    return False
