"""The stages :func:`gplscan.scan.run` drives, one function each, in the order they run:

discover → read every file (pass 1) → build files → link graph (with the facts of the
sources that reach a binary and the headers they include) → license detection → the
binaries judged, their imports resolved → rules → result.

Work is proportional to what is asked: every file is read once (or not at all when the
cache knows it); full source facts only for the sources that reach a binary and the
headers they include; scancode only for the untagged files in scope.

The link graph is built twice, on purpose: first from the sources' SPDX tags alone (read
with every file), to learn which sources reach a binary, then — once the full facts of
those sources and their headers are read and the untagged ones license-detected — from
those facts. Reading every source's full facts first would be the only way to build it
once, and on a kernel tree most sources reach no binary the target builds. When the
second pass read nothing new, the first graph is kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path, PurePosixPath

from gplscan import __version__
from gplscan.changes import affected, keep_gap, scope_of, select, unaccounted
from gplscan.discover import Candidate, walk
from gplscan.errors import TargetError
from gplscan.facts import TreeFacts
from gplscan.facts.cache import FactCache
from gplscan.facts.collect import Pass1, read_all
from gplscan.facts.detection import Detection, ScancodeDetector
from gplscan.facts.includes import host_arch, include_closure, kernel_include_dirs
from gplscan.facts.pool import default_jobs
from gplscan.facts.symvers import KernelSymbols, load_kernel_symbols
from gplscan.graph import LinkGraph, build_graph, resolve_imports
from gplscan.kernel_names import object_stem
from gplscan.model import (
    Binary,
    BinaryKind,
    ChangeStats,
    FileKind,
    Finding,
    Gap,
    ModuleSpec,
    Origin,
    Rule,
    ScanIssue,
    ScanResult,
    ScanStats,
    Scope,
    SourceFacts,
    Stage,
)
from gplscan.policy import LicenseData, load_license_data
from gplscan.rules import load_rules
from gplscan.run_record import repository_path
from gplscan.scan.build import BuildFacts, not_shipped, read_build
from gplscan.scan.inventory import TEXT_KINDS, file_entries, inventory
from gplscan.scan.judge import gaps_of, judge
from gplscan.scan.options import Detector, Options, Progress
from gplscan.scan.session import FactSession
from gplscan.yamltext import parse_yaml


class Widen(Exception):
    """A narrow ``--changed-since`` run met a changed file none of its binaries reads:
    :func:`gplscan.scan.run` scans again, judging every binary whose inputs changed."""


@dataclass(frozen=True, slots=True)
class Linked:
    """The link graph, built from the facts of every source that reaches a binary."""

    facts: TreeFacts
    graph: LinkGraph
    scope: set[PurePosixPath]  # the sources that reach a binary and the headers they include
    includes: dict[PurePosixPath, tuple[PurePosixPath, ...]]  # file -> the files it includes
    detections: dict[PurePosixPath, Detection]  # untagged text files: what scancode found


@dataclass(frozen=True, slots=True)
class Judged:
    """The binaries judged, their imports resolved, and the kernel they were resolved against."""

    binaries: tuple[Binary, ...]
    kernel: KernelSymbols
    build_gaps: tuple[Gap, ...]  # the build stage's gaps about what is judged


def scan(
    target: Path,
    options: Options,
    progress: Progress,
    detector: Detector | None,
    display_target: str | None,
    notes: tuple[ScanIssue, ...],
    wide: bool = False,
) -> ScanResult:
    """One run of the pipeline over ``target``; ``wide``: a ``--changed-since`` run that
    reads every build file and judges every binary whose inputs changed."""
    if not target.exists():
        raise TargetError(f"{target}: no such file or directory")
    started = time.monotonic()
    root = target.resolve() if target.is_dir() else target.resolve().parent
    with FactCache(options.cache_directory) as cache:
        rules, licenses = _policy(options, cache)
        scancode = ScancodeDetector()
        jobs = options.jobs or default_jobs()
        issues = list(notes)
        first = read_all(_discover(target, progress, issues), cache, root, jobs, progress)
        session = _session(first, root, cache, jobs, progress, issues)
        judging = _judging(options, session, wide)
        arch = options.arch or host_arch()
        build = _build(session, arch, options, judging)
        linked = _link(session, build, arch, licenses, detector or scancode, options.inventory)
        judged = _judge_binaries(session, linked, build, licenses, options, judging)
        findings = _findings(rules, session, build, linked, judged, licenses, options, judging)
        if cache.error:
            issues.append(ScanIssue(PurePosixPath("."), Stage.CACHE, cache.error, skipped=False))
    entries = file_entries(session.records)
    return ScanResult(
        target=display_target if display_target is not None else str(target),
        tool_version=__version__,
        files=entries,
        binaries=judged.binaries,
        findings=findings,
        issues=tuple(sorted(issues, key=lambda i: (str(i.path), i.stage, i.message))),
        edges=linked.graph.edges,
        rules=rules,
        source_count=sum(1 for f in entries if f.kind is FileKind.SOURCE),
        object_count=sum(1 for f in entries if f.kind in (FileKind.OBJECT, FileKind.ARCHIVE)),
        inventory=inventory(
            session.records.keys() if options.inventory else linked.scope,
            session.records,
            linked.detections,
            judged.binaries,
            linked.includes,
        ),
        inventory_scope="all" if options.inventory else "binaries",
        stats=_stats(first, session, linked, judged, scancode, options, judging, started),
        repo_path=repository_path(root),
        changed_since=None if judging is Scope.ALL else (options.changed_since or "(files given)"),
    )


def _stats(
    first: Pass1,
    session: FactSession,
    linked: Linked,
    judged: Judged,
    scancode: ScancodeDetector,
    options: Options,
    judging: Scope,
    started: float,
) -> ScanStats:
    """How the scan ran: the jobs, the files read, what was loaded, how long it took."""
    kernel = judged.kernel
    changed = options.changed
    return ScanStats(
        jobs=session.jobs,
        files=len(session.records),
        files_read=first.read,
        detected=len(linked.detections),
        scancode_loaded=scancode.index_loaded,
        symbol_index_read=session.symbols.loaded,
        kernel_exports=len(kernel.exports),
        kernel_source=kernel.source,
        seconds=time.monotonic() - started,
        changed=None
        if changed is None
        else ChangeStats(options.changed_since, len(changed), judging),
    )


def _policy(options: Options, cache: FactCache) -> tuple[tuple[Rule, ...], LicenseData]:
    """The rules to evaluate and the license data they judge by (rule files parsed once
    per content, through the cache)."""
    parse = partial(cache.remembered, "yaml", compute=parse_yaml)
    rules = load_rules(options.rules_dir, parse=parse) if options.rules else ()
    licenses = load_license_data(
        options.rules_dir / "licenses.yml" if options.rules_dir else None, parse=parse
    )
    return rules, licenses


def _discover(target: Path, progress: Progress, issues: list[ScanIssue]) -> list[Candidate]:
    """Every file of the target; what cannot be walked is noted in ``issues``."""
    candidates: list[Candidate] = []
    for item in walk(target):
        if isinstance(item, ScanIssue):
            issues.append(item)
        else:
            candidates.append(item)
    progress("discover", len(candidates), len(candidates))
    return candidates


def _session(
    first: Pass1,
    root: Path,
    cache: FactCache,
    jobs: int,
    progress: Progress,
    issues: list[ScanIssue],
) -> FactSession:
    """The fact session of the files the first pass read, its problems noted."""
    issues.extend(first.issues)
    for rel, record in first.records.items():
        if record.entry.note:
            issues.append(ScanIssue(rel, Stage.DISCOVER, record.entry.note, skipped=False))
        if record.object_error:
            issues.append(ScanIssue(rel, Stage.OBJECT, f"not read: {record.object_error}"))
        if record.spdx_error:
            issues.append(ScanIssue(rel, Stage.SOURCE, record.spdx_error, skipped=False))
    for rel, obj in first.objects.items():
        if obj.dwarf_error:
            message = f"DWARF not read in full: {obj.dwarf_error}"
            issues.append(ScanIssue(rel, Stage.OBJECT, message, skipped=False))
    return FactSession(root, cache, jobs, progress, first.records, first.objects, issues)


def _judging(options: Options, session: FactSession, wide: bool) -> Scope:
    """Which binaries a ``--changed-since`` change can affect (gplscan/changes.py)."""
    if options.changed is None:
        return Scope.ALL
    judging = scope_of(options.changed, session.kinds())
    return Scope.WIDE if wide and judging is Scope.NARROW else judging


def _build(session: FactSession, arch: str, options: Options, judging: Scope) -> BuildFacts:
    """What the build files say; an inventory alone needs no link graph: none is read."""
    if not options.rules:
        return BuildFacts()
    return read_build(session, arch, options.changed if judging is Scope.NARROW else None)


def _link(
    session: FactSession,
    build: BuildFacts,
    arch: str,
    licenses: LicenseData,
    detect: Detector,
    everything: bool,
) -> Linked:
    """The link graph: first from every source's SPDX tag, then (see the module's
    docstring) from the full facts of the sources in scope, license-detected."""
    light = {
        rel: SourceFacts(rel, r.spdx, r.spdx_error)
        for rel, r in session.records.items()
        if r.entry.kind in (FileKind.SOURCE, FileKind.HEADER)
    }
    # the session's symbol index is lazy: read now only for the sources whose object is
    # built (each is checked against its object), for any other source when the graph asks
    facts = session.tree_facts(light, build.modules, build.copies)
    session.symbols.preload(_built_with_source(build.modules, session))
    graph = build_graph(facts, session.read_text, session.symbols)
    linked = _linked_sources(graph)
    full, headers, includes = _include_closure(session, linked, build.modules, arch)
    scope = linked | headers
    detections = _detect(session, session.records.keys() if everything else scope, detect)
    if full or detections or includes:  # else the facts, and so the graph, are the same
        sources = {**light, **full}
        for path, (expression, matches) in detections.items():
            if path in sources:
                sources[path] = replace(
                    sources[path],
                    detected=matches,
                    detected_expression=licenses.as_detected(expression),
                )
        facts = replace(session.tree_facts(sources, build.modules, build.copies), includes=includes)
        graph = build_graph(facts, session.read_text, session.symbols)
    return Linked(facts, graph, scope, includes, detections)


def _include_closure(
    session: FactSession, linked: set[PurePosixPath], modules: tuple[ModuleSpec, ...], arch: str
) -> tuple[
    dict[PurePosixPath, SourceFacts],
    set[PurePosixPath],
    dict[PurePosixPath, tuple[PurePosixPath, ...]],
]:
    """The full facts of the linked sources and every header they include, transitively."""
    include_dirs: list[PurePosixPath] = []
    if linked:  # a directory of built modules links no source: no includes to follow
        dirs = {p.parent for p in session.records}
        include_dirs = [
            # sorted: a set's order changes from run to run (hash randomization), and
            # an include two directories hold would resolve differently each time
            *sorted({d for m in modules for d in m.include_dirs}, key=str),
            *kernel_include_dirs(dirs, arch),
        ]
    return include_closure(linked, session.records.keys(), include_dirs, session.read_sources)


def _detect(
    session: FactSession, paths: Iterable[PurePosixPath], detect: Detector
) -> dict[PurePosixPath, Detection]:
    """License detection for the untagged text files among ``paths``."""
    wanted = [
        p
        for p in paths
        if session.records[p].entry.kind in TEXT_KINDS
        and session.records[p].spdx is None
        and session.records[p].spdx_error is None
    ]
    return session.detect(wanted, detect) if wanted else {}


def _judge_binaries(
    session: FactSession,
    linked: Linked,
    build: BuildFacts,
    licenses: LicenseData,
    options: Options,
    judging: Scope,
) -> Judged:
    """The binaries to judge (a ``--changed-since`` run: those a change can affect), their
    imports resolved; raises :class:`Widen` when a narrow run cannot account for a change."""
    binaries = linked.graph.binaries
    build_gaps = build.gaps
    if build.shipped:  # modules built where no build of the package reaches: configure's probes
        binaries = not_shipped(binaries, build.shipped, build.dkms, session.issues)
    changed = options.changed
    if changed is not None and judging is Scope.WIDE:
        hit = affected(changed, linked.includes)
        binaries = select(binaries, hit, build.fragments)
        judged = {b.path for b in binaries}
        build_gaps = tuple(g for g in build_gaps if keep_gap(g, judged, hit))
    elif changed is not None and judging is Scope.NARROW:
        # built modules no build file describes: only if changed
        binaries = tuple(b for b in binaries if b.defined_at is not None or b.path in changed)
        if unaccounted(changed, binaries, linked.includes, session.kinds()):
            raise Widen
    binaries, kernel = _resolve(binaries, session, linked.facts, licenses, options.kernel)
    return Judged(binaries, kernel, build_gaps)


def _resolve(
    binaries: tuple[Binary, ...],
    session: FactSession,
    facts: TreeFacts,
    licenses: LicenseData,
    kernel_given: Path | None,
) -> tuple[tuple[Binary, ...], KernelSymbols]:
    """Each binary's imports resolved to the target's exports and the kernel's, when any
    binary is built, binds symbols at run time, or is planned under a license the kernel
    takes as proprietary; the kernel's exports are loaded only then."""
    judge_sources = partial(_judge_sources, licenses)
    built = any(b.kind != BinaryKind.PLANNED for b in binaries)
    binds = any(sf.runtime_imports for sf in facts.sources.values())  # symbol_get
    if not (
        built or binds or any(b.kind == BinaryKind.PLANNED and judge_sources(b) for b in binaries)
    ):
        return binaries, KernelSymbols.none("not needed: no built module in the target")
    # a tree that is not built is judged against the kernel given, never against
    # whatever kernel this machine happens to run
    kernel = (
        load_kernel_symbols(kernel_given, session.root, session.records)
        if built or kernel_given is not None
        else KernelSymbols.none("none given with --kernel")
    )
    return resolve_imports(binaries, facts, kernel, session.read_text, judge_sources), kernel


def _judge_sources(licenses: LicenseData, b: Binary) -> bool:
    """A planned module whose GPL-only use matters: one the kernel takes as
    proprietary, or whose license string hides text after a NUL."""
    return b.declared is not None and not licenses.honestly_gpl(b.declared.value)


def _findings(
    rules: tuple[Rule, ...],
    session: FactSession,
    build: BuildFacts,
    linked: Linked,
    judged: Judged,
    licenses: LicenseData,
    options: Options,
    judging: Scope,
) -> tuple[Finding, ...]:
    """Every rule evaluated on the judged binaries, with what could not be judged."""
    if not rules:
        return ()
    gaps = gaps_of(
        judged.build_gaps,
        build.dkms,
        judged.binaries,
        session.records,
        judged.kernel,
        licenses,
        whole_target=judging is Scope.ALL,
    )
    edges = linked.graph.edges
    read = session.read_text
    return judge(rules, judged.binaries, edges, gaps, linked.facts, read, licenses, options)


def _built_with_source(
    modules: tuple[ModuleSpec, ...], session: FactSession
) -> list[PurePosixPath]:
    """Sources whose object is built in the tree: each is checked against its object."""
    out = []
    for spec in modules:
        for m in spec.members:
            if m.path in session.objects and m.path.name.endswith(".o"):
                for ext in (".c", ".S"):
                    src = PurePosixPath(object_stem(m.path) + ext)
                    if src in session.records:
                        out.append(src)
    return out


def _linked_sources(graph: LinkGraph) -> set[PurePosixPath]:
    return {
        src
        for binary in graph.binaries
        for c in binary.components
        if c.origin is Origin.SOURCE
        for src in c.sources
    }
