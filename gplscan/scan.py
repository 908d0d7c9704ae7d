"""The one orchestrator: discover -> facts -> link graph -> rules -> findings.

``run()`` never prints; progress reaches the caller through a callback. A file that cannot
be read becomes a :class:`ScanIssue` on the result and the scan goes on with the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from gplscan import __version__
from gplscan.discover import Discovered, walk
from gplscan.errors import ObjectParseError, TargetError
from gplscan.facts import TreeFacts
from gplscan.facts.elf import object_facts
from gplscan.facts.kbuild import build_file_for, read_kbuild
from gplscan.facts.source import read_text, source_facts
from gplscan.findings import build_findings
from gplscan.graph import LinkGraph, build_graph
from gplscan.model import (
    CopyRule,
    FileEntry,
    FileKind,
    LicenseFinding,
    Location,
    ModuleSpec,
    ObjectFacts,
    Origin,
    ScanIssue,
    ScanResult,
    SourceFacts,
)
from gplscan.policy import load_license_data
from gplscan.rules import load_rules
from gplscan.rules.engine import evaluate
from gplscan.rules.predicates import Context

Progress = Callable[[str, int, int], None]  # (stage, done, total)
LicenseDetector = Callable[[Path], tuple[str | None, tuple[LicenseFinding, ...]]]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def run(
    target: Path,
    *,
    rules_dir: Path | None = None,
    progress: Progress = _no_progress,
    detect_licenses: LicenseDetector | None = None,
    display_target: str | None = None,
) -> ScanResult:
    """Scan ``target`` (a directory or one file) and evaluate every rule on it."""
    if not target.exists():
        raise TargetError(f"{target}: no such file or directory")
    root = target.resolve() if target.is_dir() else target.resolve().parent
    rules = load_rules(rules_dir)
    licenses = load_license_data(rules_dir / "licenses.yml" if rules_dir else None)
    detector = detect_licenses or scancode_detector

    issues: list[ScanIssue] = []
    found: list[Discovered] = []
    for item in walk(target):
        if isinstance(item, ScanIssue):
            issues.append(item)
        else:
            found.append(item)
            if item.entry.note:
                issues.append(
                    ScanIssue(item.entry.path, "discover", item.entry.note, skipped=False)
                )
    progress("discover", len(found), len(found))

    facts = collect_facts(root, found, issues, progress)
    graph = build_graph(facts, _source_reader(root))
    unlicensed = _unlicensed_linked_sources(graph, facts)
    if unlicensed:
        facts = _detect(facts, root, unlicensed, detector, issues, progress)
        graph = build_graph(facts, _source_reader(root))

    ctx = Context(licenses=licenses, edges=graph.edges)
    findings = build_findings(evaluate(rules, graph.binaries, ctx))
    files = tuple(sorted((d.entry for d in found), key=lambda e: str(e.path)))
    return ScanResult(
        target=display_target if display_target is not None else str(target),
        tool_version=__version__,
        files=files,
        binaries=graph.binaries,
        findings=tuple(findings),
        issues=tuple(sorted(issues, key=lambda i: (str(i.path), i.stage, i.message))),
        edges=graph.edges,
        rules=rules,
        source_count=sum(1 for f in files if f.kind is FileKind.SOURCE),
        object_count=sum(1 for f in files if f.kind in (FileKind.OBJECT, FileKind.ARCHIVE)),
    )


def collect_facts(
    root: Path, found: list[Discovered], issues: list[ScanIssue], progress: Progress
) -> TreeFacts:
    """Read the facts of every discovered file."""
    files: dict[PurePosixPath, FileEntry] = {}
    sources: dict[PurePosixPath, SourceFacts] = {}
    defines: dict[str, tuple[bytes, Location]] = {}
    objects: dict[PurePosixPath, ObjectFacts] = {}
    object_errors: dict[PurePosixPath, str] = {}
    build_dirs: set[Path] = set()
    total = len(found)
    for done, item in enumerate(found, 1):
        entry = item.entry
        files[entry.path] = entry
        if entry.kind in (FileKind.SOURCE, FileKind.HEADER):
            try:
                sf, file_defines = source_facts(item.abspath, entry.path)
            except OSError as exc:
                issues.append(ScanIssue(entry.path, "source", f"not readable: {exc.strerror}"))
                continue
            sources[entry.path] = sf
            if sf.spdx_error:
                issues.append(ScanIssue(entry.path, "source", sf.spdx_error, skipped=False))
            for name, value in file_defines:
                defines.setdefault(name, (value, Location(entry.path)))
        elif entry.kind is FileKind.OBJECT:
            try:
                objects[entry.path] = object_facts(item.abspath, entry.path)
            except ObjectParseError as exc:
                object_errors[entry.path] = exc.reason
                issues.append(ScanIssue(entry.path, "object", f"not read: {exc.reason}"))
        elif entry.kind is FileKind.BUILD:
            build_dirs.add(item.abspath.parent)
        elif entry.kind is FileKind.COMPRESSED and entry.path.suffix in (".xz", ".zst", ".gz"):
            issues.append(
                ScanIssue(entry.path, "discover", "compressed file: not unpacked by this version")
            )
        if done % 256 == 0 or done == total:
            progress("facts", done, total)

    modules: list[ModuleSpec] = []
    copies: dict[PurePosixPath, CopyRule] = {}
    for directory in sorted(build_dirs):
        build_file = build_file_for(directory)
        if build_file is None:
            continue
        mods, rules = read_kbuild(build_file, root, issues)
        modules.extend(mods)
        for rule in rules:
            copies.setdefault(rule.target, rule)

    definers: dict[str, list[PurePosixPath]] = {}
    for path, sf in sources.items():
        for symbol in sf.defines:
            definers.setdefault(symbol, []).append(path)
    return TreeFacts(
        root=root,
        files=files,
        sources=sources,
        string_defines=defines,
        objects=objects,
        object_errors=object_errors,
        modules=tuple(modules),
        copies=copies,
        definers={k: tuple(v) for k, v in definers.items()},
        source_names=frozenset(p.name for p in sources),
    )


def _source_reader(root: Path) -> Callable[[PurePosixPath], str | None]:
    def read(path: PurePosixPath) -> str | None:
        try:
            return read_text(root / path)
        except OSError:
            return None

    return read


def _unlicensed_linked_sources(graph: LinkGraph, facts: TreeFacts) -> list[PurePosixPath]:
    wanted: set[PurePosixPath] = set()
    for binary in graph.binaries:
        for c in binary.components:
            if c.origin is Origin.SOURCE:
                for src in c.sources:
                    sf = facts.sources.get(src)
                    if sf is not None and sf.spdx is None and sf.spdx_error is None:
                        wanted.add(src)
    return sorted(wanted)


def _detect(
    facts: TreeFacts,
    root: Path,
    paths: list[PurePosixPath],
    detector: LicenseDetector,
    issues: list[ScanIssue],
    progress: Progress,
) -> TreeFacts:
    """Full license detection for linked sources that carry no SPDX tag."""
    sources = dict(facts.sources)
    for done, path in enumerate(paths, 1):
        progress("licenses", done - 1, len(paths))
        try:
            expression, matches = detector(root / path)
        except OSError as exc:
            issues.append(ScanIssue(path, "license", f"not readable: {exc.strerror}"))
            continue
        except LicenseDetectionUnavailableError as exc:
            issues.append(ScanIssue(path, "license", str(exc)))
            break
        sources[path] = dataclasses.replace(
            sources[path], detected=matches, detected_expression=expression
        )
    progress("licenses", len(paths), len(paths))
    return dataclasses.replace(facts, sources=sources)


class LicenseDetectionUnavailableError(Exception):
    """Full license detection cannot run here (scancode missing or broken)."""


def scancode_detector(path: Path) -> tuple[str | None, tuple[LicenseFinding, ...]]:
    """Detect licenses with scancode-toolkit (imported only when a file needs it)."""
    try:
        from gplscan.facts.licenses import LicenseDetectionUnavailable, detect_licenses
    except ImportError as exc:  # pragma: no cover - the module is part of gplscan
        raise LicenseDetectionUnavailableError(str(exc)) from exc
    try:
        detection = detect_licenses(path)
    except LicenseDetectionUnavailable as exc:
        raise LicenseDetectionUnavailableError(
            f"license detection unavailable, license left unknown: {exc}"
        ) from exc
    return detection.expression, tuple(
        LicenseFinding(m.expression, m.start_line, m.end_line, m.rule) for m in detection.matches
    )
