"""The one orchestrator: discover -> facts -> link graph -> rules -> findings.

``run()`` never prints; progress reaches the caller through a callback. A file that cannot
be read becomes a :class:`ScanIssue` on the result and the scan goes on with the rest.

Work is proportional to what is asked: every file is read once (or not at all when the
cache knows it); full source facts only for the sources that reach a binary and the
headers they include; scancode only for the untagged files in scope.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path, PurePosixPath

from gplscan import __version__
from gplscan.changes import Scope, affected, keep_gap, scope_of, select, unaccounted
from gplscan.discover import Candidate, walk
from gplscan.errors import GplscanError, TargetError
from gplscan.facts import SymbolIndex, TreeFacts
from gplscan.facts.cache import FactCache, default_cache_dir
from gplscan.facts.collect import (
    FileRecord,
    detect_licenses,
    read_all,
    read_defines,
    read_sources,
)
from gplscan.facts.detection import Detection, ScancodeDetector
from gplscan.facts.dkms import DkmsConf, read_dkms_conf
from gplscan.facts.includes import host_arch, include_closure, kernel_include_dirs
from gplscan.facts.kbuild import apply_records, build_file_for, read_kbuild
from gplscan.facts.kconfig import KconfigTypes
from gplscan.facts.pool import default_jobs
from gplscan.facts.source import function_bodies, identifiers
from gplscan.facts.symvers import KernelSymbols, load_kernel_symbols
from gplscan.findings import build_findings
from gplscan.graph import LinkGraph, build_graph, resolve_imports
from gplscan.model import (
    Binary,
    CopyRule,
    Evidence,
    FileKind,
    FileLicense,
    Finding,
    Gap,
    LicenseFinding,
    Location,
    ModuleSpec,
    ObjectFacts,
    Origin,
    ScanIssue,
    ScanResult,
    SourceFacts,
    few,
)
from gplscan.policy import LicenseData, load_license_data
from gplscan.rules import load_rules
from gplscan.rules.engine import evaluate
from gplscan.rules.predicates import Context
from gplscan.run_record import repository_path
from gplscan.tuning import few_collections
from gplscan.yamltext import parse_yaml

Progress = Callable[[str, int, int], None]  # (stage, done, total)
Detector = Callable[[Path], Detection]
TEXT_KINDS = (
    FileKind.SOURCE,
    FileKind.HEADER,
    FileKind.BUILD,
    FileKind.LICENSE_TEXT,
    FileKind.OTHER,
)
_DEFAULT = Path("<default>")


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Options:
    """How to scan: parallelism, cache, scope."""

    jobs: int | None = None  # None: all cores
    cache_dir: Path | None = _DEFAULT  # None: no cache
    inventory: bool = False  # also license-scan every file, not only what reaches a binary
    rules: bool = True  # evaluate rules (an inventory alone does not need them)
    arch: str | None = None  # kernel architecture for <asm/...> includes; None: the host's
    kernel: Path | None = None  # Module.symvers, a kernel build/headers tree or source tree
    changed: frozenset[PurePosixPath] | None = None  # judge only modules these files touch
    changed_since: str | None = None  # the revision ``changed`` is from (for the report)
    license_allow: tuple[str, ...] | None = None  # policy: SPDX ids allowed in binaries
    license_deny: tuple[str, ...] = ()  # policy: SPDX ids denied in binaries
    rules_dir: Path | None = None


def run(
    target: Path,
    options: Options | None = None,
    *,
    progress: Progress = _no_progress,
    detector: Detector | None = None,
    display_target: str | None = None,
    notes: tuple[ScanIssue, ...] = (),
) -> ScanResult:
    """Scan ``target`` (a directory or one file) and evaluate every rule on it."""
    with few_collections():
        opts = options or Options()
        try:
            return _run(target, opts, progress, detector, display_target, notes)
        except _Widen:  # a narrow --changed-since run left a changed file unaccounted for
            return _run(target, opts, progress, detector, display_target, notes, wide=True)


class _Widen(Exception):
    """A narrow ``--changed-since`` run met a changed file none of its binaries reads."""


def _run(
    target: Path,
    options: Options,
    progress: Progress,
    detector: Detector | None,
    display_target: str | None,
    notes: tuple[ScanIssue, ...],
    wide: bool = False,
) -> ScanResult:
    if not target.exists():
        raise TargetError(f"{target}: no such file or directory")
    started = time.monotonic()
    root = target.resolve() if target.is_dir() else target.resolve().parent
    cache = FactCache(default_cache_dir() if options.cache_dir == _DEFAULT else options.cache_dir)
    parse = partial(cache.remembered, "yaml", compute=parse_yaml)  # rule files, by content
    try:
        rules = load_rules(options.rules_dir, parse=parse) if options.rules else ()
        licenses = load_license_data(
            options.rules_dir / "licenses.yml" if options.rules_dir else None, parse=parse
        )
    except GplscanError:
        cache.close()
        raise
    jobs = options.jobs or default_jobs()
    scancode = ScancodeDetector()
    detect = detector or scancode

    issues: list[ScanIssue] = list(notes)
    candidates: list[Candidate] = []
    for item in walk(target):
        if isinstance(item, ScanIssue):
            issues.append(item)
        else:
            candidates.append(item)
    progress("discover", len(candidates), len(candidates))

    p1 = read_all(candidates, cache, root, jobs, progress)
    issues.extend(p1.issues)
    records = p1.records
    for rel, record in records.items():
        if record.entry.note:
            issues.append(ScanIssue(rel, "discover", record.entry.note, skipped=False))
        if record.object_error:
            issues.append(ScanIssue(rel, "object", f"not read: {record.object_error}"))
        if record.spdx_error:
            issues.append(ScanIssue(rel, "source", record.spdx_error, skipped=False))
    for rel, obj in p1.objects.items():
        if obj.dwarf_error:
            issues.append(
                ScanIssue(
                    rel, "object", f"DWARF not read in full: {obj.dwarf_error}", skipped=False
                )
            )

    arch = options.arch or host_arch()
    # --changed-since: which binaries a change can affect (gplscan/changes.py)
    changed = options.changed
    kinds = {rel: r.entry.kind for rel, r in records.items()}
    judging = Scope.ALL if changed is None else scope_of(changed, kinds)
    if wide and judging is Scope.NARROW:
        judging = Scope.WIDE
    fragments: dict[PurePosixPath, set[PurePosixPath]] = {}
    # an inventory alone needs no link graph: the build files are not read
    build_gaps: list[Gap] = []
    shipped: set[PurePosixPath] = set()
    modules, copies, dkms = (
        _build_facts(
            root,
            records,
            issues,
            build_gaps,
            arch,
            changed if judging is Scope.NARROW else None,
            shipped,
            fragments,
        )
        if options.rules
        else ((), {}, [])
    )
    light = {
        rel: SourceFacts(rel, r.spdx, r.spdx_error)
        for rel, r in records.items()
        if r.entry.kind in (FileKind.SOURCE, FileKind.HEADER)
    }

    def read_batch(paths: list[PurePosixPath]) -> dict[PurePosixPath, SourceFacts]:
        return read_sources(paths, records, cache, root, jobs, progress, issues)

    def load_defines(paths: list[PurePosixPath]) -> dict[PurePosixPath, frozenset[str]]:
        return read_defines(paths, records, cache, root, jobs, progress, issues)

    def every_source() -> list[PurePosixPath]:
        return [p for p in light if records[p].entry.kind is FileKind.SOURCE]

    symbols = SymbolIndex(load_defines, every_source)
    facts = _tree_facts(root, records, light, p1.objects, modules, copies, symbols)
    symbols.preload(_built_with_source(modules, records, p1.objects))
    graph = build_graph(facts, _source_reader(root))
    linked = _linked_sources(graph)
    include_dirs: list[PurePosixPath] = []
    if linked:  # a directory of built modules links no source: no includes to follow
        dirs = {p.parent for p in records}
        include_dirs = [
            # sorted: a set's order changes from run to run (hash randomization), and
            # an include two directories hold would resolve differently each time
            *sorted({d for m in modules for d in m.include_dirs}, key=str),
            *kernel_include_dirs(dirs, arch),
        ]
    full, headers, includes = include_closure(linked, records.keys(), include_dirs, read_batch)
    scope = set(linked) | headers

    detections: dict[PurePosixPath, Detection] = {}
    wanted = [
        p
        for p in (records if options.inventory else scope)
        if records[p].entry.kind in TEXT_KINDS
        and records[p].spdx is None
        and records[p].spdx_error is None
    ]
    if wanted:
        detections = detect_licenses(wanted, records, cache, root, detect, progress, issues, jobs)
    sources = dict(light)
    sources.update(full)
    for path, (expression, matches) in detections.items():
        if path in sources:
            sources[path] = replace(
                sources[path],
                detected=matches,
                detected_expression=licenses.as_detected(expression),
            )
    if full or detections or includes:  # else the facts, and so the graph, are the same
        facts = replace(
            _tree_facts(root, records, sources, p1.objects, modules, copies, symbols),
            includes=includes,
        )
        graph = build_graph(facts, _source_reader(root))
    kernel = KernelSymbols.none("not needed: no built module in the target")
    binaries = graph.binaries
    if shipped:  # modules built where no build of the package reaches: configure's probes
        binaries = _not_shipped(binaries, shipped, dkms, issues)
    if changed is not None and judging is Scope.WIDE:
        hit = affected(changed, includes)
        binaries = select(binaries, hit, fragments)
        judged = {b.path for b in binaries}
        build_gaps = [g for g in build_gaps if keep_gap(g, judged, hit)]
    elif changed is not None and judging is Scope.NARROW:
        # built modules no build file describes: only if changed
        binaries = tuple(b for b in binaries if b.defined_at is not None or b.path in changed)
        if unaccounted(changed, binaries, includes, kinds):
            cache.close()
            raise _Widen
    edges = graph.edges

    def judge_sources(b: Binary) -> bool:
        """A planned module whose GPL-only use matters: one the kernel takes as
        proprietary, or whose license string hides text after a NUL."""
        return b.declared is not None and not licenses.honestly_gpl(b.declared.value)

    built = any(b.kind != "planned" for b in binaries)
    binds = any(sf.runtime_imports for sf in facts.sources.values())  # symbol_get
    if built or binds or any(b.kind == "planned" and judge_sources(b) for b in binaries):
        # a tree that is not built is judged against the kernel given, never against
        # whatever kernel this machine happens to run
        kernel = (
            load_kernel_symbols(options.kernel, root, records)
            if built or options.kernel is not None
            else KernelSymbols.none("none given with --kernel")
        )
        binaries = resolve_imports(binaries, facts, kernel, _source_reader(root), judge_sources)

    findings: tuple[Finding, ...] = ()
    if rules:
        gaps = [*build_gaps, *_judgement_gaps(binaries, records, kernel, licenses)]
        if judging is Scope.ALL:
            gaps.extend(_dkms_gaps(dkms, binaries))
            if not binaries:
                gaps.extend(_nothing_found(records))
        ctx = Context(
            gaps=tuple(gaps),
            licenses=licenses,
            edges=edges,
            binaries={str(b.path): b for b in binaries},
            wrappers=_wrappers(binaries, facts, _source_reader(root)),
            export_sites=_export_sites(binaries, facts),
            allow=options.license_allow,
            deny=options.license_deny,
        )
        findings = tuple(build_findings(evaluate(rules, binaries, ctx)))
    entries = tuple(
        replace(r.entry, sha256=r.sha256)
        for _, r in sorted(records.items(), key=lambda kv: str(kv[0]))
    )
    inventory_paths = records.keys() if options.inventory else scope
    reach = _reach(binaries, includes)
    inventory = tuple(
        _file_license(p, records[p], detections.get(p), reach.get(p, ()))
        for p in sorted(inventory_paths, key=str)
    )
    if cache.error:
        issues.append(ScanIssue(PurePosixPath("."), "cache", cache.error, skipped=False))
    cache.close()
    scan_facts: tuple[tuple[str, str], ...] = (
        ("jobs", str(jobs)),
        (
            "files read",
            f"{p1.read} of {len(records)} (the rest unchanged, from the cache)"
            if cache.enabled or p1.read < len(records)
            else str(p1.read),
        ),
        (
            "license detection",
            f"{len(detections)} untagged file(s) in scope"
            if detections
            else "not needed: every file in scope carries an SPDX tag",
        ),
        ("scancode index", "loaded" if scancode.index_loaded else "not loaded"),
        ("symbol index", "read" if symbols.loaded else "not needed"),
        (
            "kernel exports",
            f"{len(kernel.exports)} from {kernel.source}" if kernel.exports else kernel.source,
        ),
        ("seconds", f"{time.monotonic() - started:.2f}"),
    )
    if changed is not None:
        since = options.changed_since or "the files given"
        how = {
            Scope.ALL: "a change to a file that can affect every binary: the whole target judged",
            Scope.NARROW: "only the binaries the changed build files and sources reach judged",
            Scope.WIDE: "only the binaries whose inputs (headers, make fragments, objects "
            "and sources included) changed judged",
        }[judging]
        scan_facts += (("changed since", f"{since}: {len(changed)} changed file(s); {how}"),)
    return ScanResult(
        target=display_target if display_target is not None else str(target),
        tool_version=__version__,
        files=entries,
        binaries=binaries,
        findings=findings,
        issues=tuple(sorted(issues, key=lambda i: (str(i.path), i.stage, i.message))),
        edges=edges,
        rules=rules,
        source_count=sum(1 for f in entries if f.kind is FileKind.SOURCE),
        object_count=sum(1 for f in entries if f.kind in (FileKind.OBJECT, FileKind.ARCHIVE)),
        inventory=inventory,
        inventory_scope="all" if options.inventory else "binaries",
        facts=scan_facts,
        repo_path=repository_path(root),
        changed_since=None if judging is Scope.ALL else (options.changed_since or "(files given)"),
    )


def _build_facts(
    root: Path,
    records: Mapping[PurePosixPath, FileRecord],
    issues: list[ScanIssue],
    gaps: list[Gap],
    arch: str,
    changed: frozenset[PurePosixPath] | None = None,
    shipped: set[PurePosixPath] | None = None,
    fragments: dict[PurePosixPath, set[PurePosixPath]] | None = None,
) -> tuple[tuple[ModuleSpec, ...], dict[PurePosixPath, CopyRule], list[DkmsConf]]:
    """Modules, copy rules and dkms.conf files; ``shipped`` receives the directories a
    DKMS package's build reaches (left empty when there is no dkms.conf), ``fragments``
    the make fragments each directory's build file includes."""
    shipped = shipped if shipped is not None else set()
    modules: list[ModuleSpec] = []
    copies: dict[PurePosixPath, CopyRule] = {}
    config = KconfigTypes(
        root,
        sorted(
            rel
            for rel, r in records.items()
            if r.entry.kind is FileKind.BUILD and rel.name.startswith("Kconfig")
        ),
        arch,
    )
    dkms = _dkms_confs(root, records, issues)
    build_dirs = sorted(
        {rel.parent for rel, r in records.items() if r.entry.kind is FileKind.BUILD}
    )
    if changed is not None:
        # only the directories a change is in, or above: where its modules are described
        touched = {d for p in changed for d in (p.parent, *p.parent.parents)}
        build_dirs = [d for d in build_dirs if d in touched]
    reaches: dict[PurePosixPath, list[PurePosixPath]] = {}
    included: set[Path] = set()  # fragments another build file includes (nouveau/nvkm/Kbuild)
    for directory in build_dirs:  # sorted: a directory before those under it
        build_file = build_file_for(root / directory)
        if build_file is None or build_file.resolve() in included:
            continue  # read where it is included, with the includer's variables
        reached = reaches[directory] = []
        mine: set[Path] = set()  # the fragments this directory's build file includes
        try:
            mods, rules = read_kbuild(
                build_file,
                root,
                issues,
                config.for_directory(directory),
                gaps=gaps,
                command_line=_make_command_line(dkms, directory, root),
                reaches=reached,
                included=mine,
            )
        except (ValueError, RecursionError, OSError) as exc:  # a reader bug: judged as unread
            rel = PurePosixPath(build_file.relative_to(root).as_posix())
            gaps.append(
                Gap(
                    f"the build file {rel}",
                    f"gplscan's make reader failed on it ({type(exc).__name__}: {exc})",
                    Location(rel),
                )
            )
            continue
        included |= mine
        if fragments is not None:
            fragments[directory] = {
                PurePosixPath(f.relative_to(root).as_posix())
                for f in mine
                if f.is_relative_to(root)
            }
        modules.extend(mods)
        for rule in rules:
            copies.setdefault(rule.target, rule)
    modules.extend(_recorded_modules(root, records, modules))
    if dkms and changed is None:  # configure's probe modules (zfs' build/) are not shipped
        modules = _reached_modules(root, modules, dkms, reaches, issues, shipped)
    for rel, rule in _symlinked_objects(root, records):
        copies.setdefault(rel, rule)
    specs = tuple(apply_records(m, root) for m in modules)
    if changed is not None:
        specs = tuple(m for m in specs if _touches(m, changed))
    return specs, copies, dkms


def _reached_modules(
    root: Path,
    modules: list[ModuleSpec],
    dkms: list[DkmsConf],
    reaches: Mapping[PurePosixPath, list[PurePosixPath]],
    issues: list[ScanIssue],
    shipped: set[PurePosixPath],
) -> list[ModuleSpec]:
    """The modules a DKMS package's build reaches: from the directory dkms runs MAKE in
    and the directories of the modules dkms.conf names, down every ``obj-m += dir/`` and
    ``$(MAKE) -C dir``. A build file nothing reaches (dahdi's datamods/, a developer-only
    tool) describes no module the package ships: noted, not judged as shipped."""
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
    shipped.update(reached)
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
                "build",
                f"line {spec.declared_at.line}: {spec.name}.ko is described here, but no build "
                "of the package reaches this directory (not a module dkms.conf names, not a "
                "subdirectory of one built): not judged as a module the package ships",
                skipped=False,
            )
        )
    return kept


def _not_shipped(
    binaries: tuple[Binary, ...],
    shipped: set[PurePosixPath],
    dkms: list[DkmsConf],
    issues: list[ScanIssue],
) -> tuple[Binary, ...]:
    """Built modules no build file describes, in a directory no build of the package
    reaches and not named by dkms.conf (zfs' configure leaves ~140 probe modules in
    build/): noted, not judged as modules the package ships."""
    named = {m.name for conf in dkms for m in conf.modules}
    kept = []
    for b in binaries:
        probe = (
            b.kind == "kernel-module"
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
                "build",
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
            issues.append(ScanIssue(rel, "build", f"not readable: {exc.strerror or exc}"))
            continue
        conf = read_dkms_conf(text, rel)
        out.append(conf)
        for patch, line in conf.patches:
            issues.append(
                ScanIssue(
                    rel,
                    "build",
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


def _dkms_gaps(dkms: list[DkmsConf], binaries: tuple[Binary, ...]) -> list[Gap]:
    """Every module a dkms.conf names is in the report: judged, or not judged, here."""
    gaps = []
    for conf in dkms:
        home = conf.path.parent
        for module in conf.modules:
            where = home / module.location if module.location else home
            found = [
                b
                for b in binaries
                if b.path.name == f"{module.name}.ko"
                or (b.name == module.name and b.kind != "relocatable")
            ]
            if found:
                continue
            gaps.append(
                Gap(
                    f"{module.name}.ko, which dkms.conf builds",
                    f"dkms.conf names it (BUILT_MODULE_NAME[{module.index}], built in "
                    f"{where}), but no build file gplscan could read describes it and it is "
                    "not built in the target, so what it links is not known",
                    Location(conf.path, module.line),
                    evidence=(
                        Evidence(
                            "makefile",
                            f'BUILT_MODULE_NAME[{module.index}]="{module.name}"',
                            conf.path,
                            module.line,
                        ),
                    ),
                )
            )
    return gaps


def _judgement_gaps(
    binaries: tuple[Binary, ...],
    records: Mapping[PurePosixPath, FileRecord],
    kernel: KernelSymbols,
    licenses: LicenseData,
) -> list[Gap]:
    """What could not be judged about each binary: a built module whose composition is
    unknown in a target that holds sources (a directory of built modules alone is judged on
    what the modules carry), and a module the kernel takes as proprietary whose imports
    could not all be resolved (its GPL-only use cannot be judged)."""
    gaps: list[Gap] = []
    has_sources = any(r.entry.kind is FileKind.SOURCE for r in records.values())
    kernel_tree = PurePosixPath("scripts/Makefile.build") in records
    for b in binaries:
        unknown = [c for c in b.components if c.origin is Origin.UNKNOWN]
        if unknown:  # a member whose code nothing in the tree shows: not judged
            line = unknown[0].linked_by
            gaps.append(
                Gap(
                    f"what {len(unknown)} object(s) linked into {b.path} hold",
                    "; ".join(f"{c.path}: {c.reasons[0]}" for c in unknown[:3])
                    + (f"; and {len(unknown) - 3} more" if len(unknown) > 3 else ""),
                    Location(line.path, line.line) if line.path is not None else Location(b.path),
                    b.path,
                )
            )
        if not b.composition_known and has_sources:
            what = (
                "no build file gplscan could read and no Kbuild record (<module>.mod, "
                ".<module>.o.cmd) describes this module"
                if b.kind == "kernel-module"
                else f"no make rule gplscan could read links this {b.kind}, and its symbol "
                "table does not show where all of its code comes from (stripped, or code "
                "from objects the target does not hold)"
            )
            gaps.append(
                Gap(
                    f"the objects linked into {b.path}",
                    f"the target holds sources, but {what}, so whether it links closed code "
                    "is not known",
                    Location(b.path),
                    b.path,
                )
            )
        declared = b.declared.value if b.declared is not None else None
        # symbol_get bindings come from sources: a directory of built modules has none
        unbound = (
            [i for i in b.imports if i.runtime and i.provider == "unresolved"]
            if has_sources
            else []
        )
        if unbound:
            first = unbound[0].evidence
            gaps.append(
                Gap(
                    f"what {b.path} binds at run time",
                    f"it binds {few([i.symbol for i in unbound])} with symbol_get, and no "
                    "module of the target and no kernel export known provides "
                    f"{'them' if len(unbound) > 1 else 'it'}: whether it uses a proprietary "
                    "module's interface is not known (since Linux 6.6, symbol_get binds "
                    "EXPORT_SYMBOL_GPL symbols only)",
                    Location(first.path, first.line)
                    if first is not None and first.path is not None
                    else Location(b.path),
                    b.path,
                )
            )
        if b.kind not in ("kernel-module", "planned") or (
            declared is not None and licenses.kernel_accepts(declared)
        ):
            continue
        at = b.declared.at if b.declared is not None and b.declared.at else Location(b.path)
        if (
            b.declared is None
            and b.kind == "planned"
            and not b.license_note
            and b.conditional
            and not kernel_tree  # in a kernel tree most obj-$(CONFIG_X) are bool: built in
        ):
            # proprietary-module reports a missing MODULE_LICENSE of a module that is surely
            # built; an obj-$(CONFIG_X) one is judged here
            gaps.append(
                Gap(
                    f"the license {b.path} declares",
                    "no MODULE_LICENSE was found in the sources of this module "
                    "(obj-$(CONFIG_...): built only when the option is m), so whether the "
                    "kernel takes it as GPL-compatible is not known",
                    _build_line(b),
                    b.path,
                )
            )
            continue
        if b.declared is None and b.license_note:
            gaps.append(
                Gap(
                    f"the license {b.path} declares",
                    f"{b.license_note}, so whether the kernel takes it as GPL-compatible (and "
                    "lets it use GPL-only symbols) is not known",
                    _build_line(b),
                    b.path,
                )
            )
            continue
        if b.kind == "planned":
            # judged from its built objects or its sources' calls where the kernel's exports
            # are known (resolve_imports); with no kernel, only the tree's own exports are
            if (
                b.declared is not None
                and kernel.exports
                and not any(
                    i.evidence is not None and i.evidence.kind == "symbol" for i in b.imports
                )
            ):
                # judged from its sources' calls: those under #if are not evaluated
                gaps.append(
                    Gap(
                        f"GPL-only symbol use by {b.path}",
                        f"the kernel takes its license ({b.declared.text!r}) as proprietary "
                        "and it is not built: its sources' calls were resolved against "
                        f"{kernel.source}, except calls under #if/#ifdef, which gplscan does "
                        "not evaluate; audit the built tree to judge them all",
                        at,
                        b.path,
                    )
                )
            if b.declared is not None and not kernel.exports:
                gaps.append(
                    Gap(
                        f"GPL-only symbol use by {b.path}",
                        f"the kernel takes its license ({b.declared.text!r}) as proprietary, "
                        "it is not built, and no kernel exports are known to resolve the "
                        f"kernel functions it calls ({kernel.source}); audit the built tree, "
                        "or give --kernel",
                        at,
                        b.path,
                    )
                )
            continue
        unresolved = [i.symbol for i in b.imports if i.provider == "unresolved"]
        if unresolved:
            shown = few(unresolved)
            gaps.append(
                Gap(
                    f"GPL-only symbol use by {b.path}",
                    f"the kernel takes its license as proprietary, and {len(unresolved)} of "
                    f"its {len(b.imports)} imported symbols ({shown}) resolve to no export "
                    f"known (kernel exports: {kernel.source}); give the kernel it was built "
                    "for with --kernel",
                    at,
                    b.path,
                )
            )
    return gaps


def _build_line(b: Binary) -> Location:
    """Where a binary is declared (its obj-m line), else the binary itself."""
    if b.defined_at is not None and b.defined_at.path is not None:
        return Location(b.defined_at.path, b.defined_at.line)
    return Location(b.path)


def _nothing_found(records: Mapping[PurePosixPath, FileRecord]) -> list[Gap]:
    """A target with sources or objects in which no binary was found was not judged."""
    sources = sorted(p for p, r in records.items() if r.entry.kind is FileKind.SOURCE)
    objects = sorted(
        p for p, r in records.items() if r.entry.kind in (FileKind.OBJECT, FileKind.ARCHIVE)
    )
    if not sources and not objects:
        return []
    builds = sorted(p for p, r in records.items() if r.entry.kind is FileKind.BUILD)
    at = builds[0] if builds else (sources or objects)[0]
    return [
        Gap(
            "which binaries the target builds",
            f"it holds {len(sources)} source file(s) and {len(objects)} object(s), but no "
            "build file gplscan could read describes a module or program, and no built "
            "module is in it"
            + (f" (build files: {', '.join(map(str, builds[:5]))})" if builds else ""),
            Location(at),
        )
    ]


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
            "makefile", f"{rel.name}: Kbuild's record of the module it built", rel, 1
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
            out.append((rel, CopyRule(rel, real, Evidence("makefile", text, rel))))
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
        stem = str(m.path)[:-2] if m.path.name.endswith(".o") else str(m.path)
        if any(PurePosixPath(stem + ext) in changed for ext in (".c", ".S", ".o_shipped")):
            return True
    return False


def _tree_facts(
    root: Path,
    records: Mapping[PurePosixPath, FileRecord],
    sources: Mapping[PurePosixPath, SourceFacts],
    objects: Mapping[PurePosixPath, ObjectFacts],
    modules: tuple[ModuleSpec, ...],
    copies: Mapping[PurePosixPath, CopyRule],
    symbols: SymbolIndex,
) -> TreeFacts:
    defines: dict[str, tuple[bytes, Location]] = {}
    for path in sorted(sources):
        for name, value in sources[path].string_defines:
            defines.setdefault(name, (value, Location(path)))
    return TreeFacts(
        root=root,
        files={rel: r.entry for rel, r in records.items()},
        sources=sources,
        string_defines=defines,
        objects=objects,
        object_errors={rel: r.object_error for rel, r in records.items() if r.object_error},
        modules=modules,
        copies={t: r for t, r in copies.items() if "%" not in str(t)},
        patterns=tuple(r for t, r in copies.items() if "%" in str(t)),
        symbols=symbols,
        source_names=frozenset(p.name for p in sources),
    )


def _built_with_source(
    modules: tuple[ModuleSpec, ...],
    records: Mapping[PurePosixPath, FileRecord],
    objects: Mapping[PurePosixPath, ObjectFacts],
) -> list[PurePosixPath]:
    """Sources whose object is built in the tree: each is checked against its object."""
    out = []
    for spec in modules:
        for m in spec.members:
            if m.path in objects and m.path.name.endswith(".o"):
                for ext in (".c", ".S"):
                    src = PurePosixPath(str(m.path)[:-2] + ext)
                    if src in records:
                        out.append(src)
    return out


_WRAPPER_STATEMENTS = 3


def _export_sites(binaries: tuple[Binary, ...], facts: TreeFacts) -> dict[str, dict[str, Location]]:
    """Per binary, the EXPORT_SYMBOL line of each symbol its sources export."""
    out: dict[str, dict[str, Location]] = {}
    for b in binaries:
        if not b.exports:
            continue
        sites: dict[str, Location] = {}
        for src in (s for c in b.components for s in c.sources):
            sf = facts.sources.get(src)
            for e in sf.exports if sf is not None else ():
                sites.setdefault(e.symbol, e.at)
        if sites:
            out[str(b.path)] = sites
    return out


def _wrappers(
    binaries: tuple[Binary, ...], facts: TreeFacts, read: Callable[[PurePosixPath], str | None]
) -> dict[str, dict[str, tuple[str, ...]]]:
    """For modules with sources, which GPL-only imports each plain export's body calls."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for b in binaries:
        gpl_only = {i.symbol for i in b.imports if i.gpl_only}
        plain = {sym for sym, gpl in b.exports if not gpl}
        sources = [src for c in b.components for src in c.sources]
        if not gpl_only or not plain or not sources:
            continue
        calls: dict[str, tuple[str, ...]] = {}
        for src in sources:
            text = read(src)
            if text is None:
                continue
            for name, body in function_bodies(text, plain).items():
                # a wrapper: a body that is essentially the GPL-only call (a few statements),
                # not an ordinary function that calls one GPL-only helper among many
                wrapper = body.count(";") <= _WRAPPER_STATEMENTS
                calls[name] = tuple(sorted(identifiers(body) & gpl_only)) if wrapper else ()
        out[str(b.path)] = calls
    return out


def _source_reader(root: Path) -> Callable[[PurePosixPath], str | None]:
    from gplscan.facts.source import read_text

    def read(path: PurePosixPath) -> str | None:
        try:
            return read_text(root / path)
        except OSError:
            return None

    return read


def _linked_sources(graph: LinkGraph) -> set[PurePosixPath]:
    return {
        src
        for binary in graph.binaries
        for c in binary.components
        if c.origin is Origin.SOURCE
        for src in c.sources
    }


# headers are attributed to binaries (by following every include from every binary's
# sources) only up to this many binaries: a kernel tree's 10,000 modules each reach about
# a thousand headers, and the table would list thousands of binaries per header anyway
ATTRIBUTE_HEADERS_UP_TO = 500


def _reach(
    binaries: Iterable[Binary], includes: Mapping[PurePosixPath, tuple[PurePosixPath, ...]]
) -> dict[PurePosixPath, tuple[str, ...]]:
    """file -> the binaries its code reaches: the sources and files of their objects, and
    (for targets of up to ATTRIBUTE_HEADERS_UP_TO binaries) the headers those include."""
    listed = list(binaries)
    headers = len(listed) <= ATTRIBUTE_HEADERS_UP_TO
    reach: dict[PurePosixPath, list[str]] = {}
    for b in listed:
        name = str(b.path)
        seen: set[PurePosixPath] = set()
        stack = [s for c in b.components for s in (*c.sources, *([c.file] if c.file else []))]
        while stack:
            path = stack.pop()
            if path in seen:
                continue
            seen.add(path)
            reach.setdefault(path, []).append(name)
            if headers:
                stack.extend(includes.get(path, ()))
    return {p: tuple(names) for p, names in reach.items()}


def _file_license(
    path: PurePosixPath,
    record: FileRecord,
    detection: Detection | None,
    binaries: tuple[str, ...] = (),
) -> FileLicense:
    if record.spdx is not None:
        return FileLicense(
            path, "tagged", record.spdx.expression, record.spdx.at.line, binaries=binaries
        )
    if record.spdx_error is not None:
        return FileLicense(path, "malformed", None, binaries=binaries)
    if record.entry.kind not in TEXT_KINDS:
        return FileLicense(path, "binary", None, binaries=binaries)
    if detection is None:
        return FileLicense(path, "unread", None, binaries=binaries)
    expression, matches = detection
    if expression:
        first = matches[0] if matches else None
        return FileLicense(
            path,
            "detected",
            expression,
            first.start_line if first else None,
            end_line=first.end_line if first else None,
            rule=first.rule if first else None,
            score=first.score if first else None,
            binaries=binaries,
        )
    return FileLicense(path, "none", None, binaries=binaries)


__all__ = ["LicenseFinding", "Options", "run"]
