"""Read facts from many files at once: in parallel over all cores, through the cache.

Three passes, each over only the files that need it:

1. every file: read once, hashed, classified by content, its SPDX tag read, and (for ELF
   files) its object facts; an unchanged file (same stat as in the cache) is not opened;
2. the sources in scope: full source facts (MODULE_LICENSE, exports, includes, ...);
3. the untagged text files in scope: full license detection (scancode), once per content.

A file that cannot be read becomes a :class:`ScanIssue`; the other files go on.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from gplscan.discover import Candidate, sniff
from gplscan.errors import ObjectParseError
from gplscan.facts.cache import FactCache, Stat
from gplscan.facts.elf import object_facts
from gplscan.facts.source import decode, defined_functions, read_tag, rebind, source_facts
from gplscan.model import (
    FileEntry,
    FileKind,
    LicenseFinding,
    Location,
    ObjectFacts,
    ScanIssue,
    SourceFacts,
    SpdxTag,
)

Progress = Callable[[str, int, int], None]
T = TypeVar("T")
R = TypeVar("R")

CHUNK = 128  # files per task: large enough to amortize pickling, small enough to balance
SERIAL_BELOW = 96  # fewer files than this are read in-process (a pool costs ~50 ms)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What every file yields: its classification, content digest and SPDX tag."""

    entry: FileEntry
    sha256: str
    spdx: SpdxTag | None = None
    spdx_error: str | None = None
    object_error: str | None = None

    def to_row(self) -> list[object]:
        """Plain values for the cache (fast to store and load, unlike pickled objects)."""
        e, t = self.entry, self.spdx
        return [
            e.kind.value,
            e.size,
            e.note,
            self.sha256,
            t.raw if t else None,
            t.expression if t else None,
            t.at.line if t else None,
            self.spdx_error,
            self.object_error,
        ]

    @classmethod
    def from_row(cls, rel: PurePosixPath, row: list[Any]) -> FileRecord:
        kind, size, note, digest, raw, expression, line, spdx_error, object_error = row
        tag = SpdxTag(expression, raw, Location(rel, line)) if raw is not None else None
        return cls(
            FileEntry(rel, FileKind(kind), size, note), digest, tag, spdx_error, object_error
        )


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _map(
    func: Callable[[list[T]], list[R]],
    items: Sequence[T],
    jobs: int,
    progress: Progress,
    stage: str,
) -> list[R]:
    """``func`` over chunks of ``items``, in a process pool when it pays; order kept."""
    total = len(items)
    progress(stage, 0, total)
    if total == 0:
        return []
    chunks = [list(items[i : i + CHUNK]) for i in range(0, total, CHUNK)]
    results: list[list[R]] = [[] for _ in chunks]
    done = 0
    if jobs <= 1 or total < SERIAL_BELOW:
        for i, chunk in enumerate(chunks):
            results[i] = func(chunk)
            done += len(chunk)
            progress(stage, done, total)
    else:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = {pool.submit(func, chunk): i for i, chunk in enumerate(chunks)}
            for future in concurrent.futures.as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                done += len(chunks[i])
                progress(stage, done, total)
    return [r for chunk_results in results for r in chunk_results]


# --- pass 1: every file -------------------------------------------------------------------

_Read1 = tuple[PurePosixPath, "FileRecord | None", "ObjectFacts | None", "ScanIssue | None"]


def _read_files(batch: list[tuple[PurePosixPath, str, int]]) -> list[_Read1]:
    out: list[_Read1] = []
    for rel, abspath, size in batch:
        try:
            with open(abspath, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            out.append(
                (rel, None, None, ScanIssue(rel, "read", f"not readable: {exc.strerror or exc}"))
            )
            continue
        entry = sniff(rel, data, size)
        digest = hashlib.sha256(data).hexdigest()
        tag: SpdxTag | None = None
        tag_error: str | None = None
        obj: ObjectFacts | None = None
        obj_error: str | None = None
        if entry.kind not in (
            FileKind.OBJECT,
            FileKind.ARCHIVE,
            FileKind.COMPRESSED,
            FileKind.DATA,
        ):
            tag, tag_error = read_tag(data, rel)
        elif entry.kind is FileKind.OBJECT:
            try:
                obj = object_facts(Path(abspath), rel, data, sha256=digest)
            except ObjectParseError as exc:
                obj_error = exc.reason
        elif entry.kind is FileKind.COMPRESSED and _COMPRESSED_MODULE.search(rel.name):
            obj, obj_error = _compressed_module(abspath, rel, data)
        out.append((rel, FileRecord(entry, digest, tag, tag_error, obj_error), obj, None))
    return out


_COMPRESSED_MODULE = re.compile(r"\.(?:ko|o)\.(?:xz|zst|gz)$")


def _compressed_module(
    abspath: str, rel: PurePosixPath, data: bytes
) -> tuple[ObjectFacts | None, str | None]:
    """Object facts of a compressed module (.ko.xz, .ko.zst, .ko.gz), decompressed in
    memory with the limits that stop a decompression bomb."""
    from gplscan.unpack import UnpackError, decompress_module

    try:
        elf = decompress_module(data, str(rel))
        return object_facts(Path(abspath), rel, elf), None
    except UnpackError as exc:
        return None, str(exc)
    except ObjectParseError as exc:
        return None, f"decompressed, but {exc.reason}"


@dataclass(slots=True)
class Pass1:
    """The result of the first pass over every file."""

    records: dict[PurePosixPath, FileRecord]
    objects: dict[PurePosixPath, ObjectFacts]
    issues: list[ScanIssue]
    read: int  # files actually opened (the rest came from the cache)


def read_all(
    candidates: Sequence[Candidate],
    cache: FactCache,
    root: Path,
    jobs: int,
    progress: Progress,
) -> Pass1:
    """Pass 1 over every candidate file, through the cache."""
    cached = cache.records(str(root))
    records: dict[PurePosixPath, FileRecord] = {}
    todo: list[tuple[PurePosixPath, str, int]] = []
    stats: dict[PurePosixPath, tuple[str, Stat]] = {}
    for c in candidates:
        key = c.abspath
        stat = Stat.of(c.stat)
        stats[c.path] = (key, stat)
        hit = cached.get(key)
        if hit is not None and hit[0] == stat:
            try:
                records[c.path] = FileRecord.from_row(c.path, hit[1])
                continue
            except (ValueError, TypeError):  # a row this code cannot read: read the file
                pass
        todo.append((c.path, key, c.stat.st_size))

    issues: list[ScanIssue] = []
    objects: dict[PurePosixPath, ObjectFacts] = {}
    fresh: dict[str, tuple[Stat, list[object]]] = {}
    fresh_objects: dict[str, ObjectFacts] = {}
    for rel, record, obj, issue in _map(_read_files, todo, jobs, progress, "reading"):
        if issue is not None:
            issues.append(issue)
            continue
        assert record is not None
        records[rel] = record
        fresh[stats[rel][0]] = (stats[rel][1], record.to_row())
        if obj is not None:
            objects[rel] = obj
            fresh_objects[record.sha256] = replace(obj, path=PurePosixPath(""))

    # objects of unchanged files come from the content-keyed store
    wanted = {
        r.sha256: rel
        for rel, r in records.items()
        if r.entry.kind is FileKind.OBJECT and rel not in objects and r.object_error is None
    }
    if wanted:
        found = cache.facts("object", wanted)
        for digest, rel in wanted.items():
            if digest in found:
                objects[rel] = replace(found[digest], path=rel)
        missing = [
            (rel, str(root / rel), records[rel].entry.size)
            for digest, rel in wanted.items()
            if digest not in found
        ]
        for rel, record, obj, issue in _read_files(missing):
            if obj is not None:
                objects[rel] = obj
                fresh_objects[record.sha256 if record else ""] = replace(
                    obj, path=PurePosixPath("")
                )
            elif issue is not None:
                issues.append(issue)
    cache.put_records(fresh)
    cache.put_facts("object", fresh_objects)
    return Pass1(records, objects, issues, len(todo))


# --- pass 2: full source facts for the sources in scope -----------------------------------


def _read_sources(
    batch: list[tuple[PurePosixPath, str]],
) -> list[tuple[PurePosixPath, SourceFacts | str]]:
    return [(rel, _read_text(abspath, partial(_full_source_facts, rel))) for rel, abspath in batch]


def _full_source_facts(rel: PurePosixPath, text: str) -> SourceFacts:
    return source_facts(None, rel, text, defines=False)


def _read_defines(
    batch: list[tuple[PurePosixPath, str]],
) -> list[tuple[PurePosixPath, frozenset[str] | str]]:
    return [(rel, _read_text(abspath, defined_functions)) for rel, abspath in batch]


def _read_text(abspath: str, compute: Callable[[str], R]) -> R | str:
    """``compute`` over a file's text, or the reason it cannot be read."""
    try:
        with open(abspath, "rb") as fh:
            return compute(decode(fh.read()))
    except OSError as exc:
        return f"not readable: {exc.strerror or exc}"


def _per_content(
    kind: str,
    worker: Callable[[list[tuple[PurePosixPath, str]]], list[tuple[PurePosixPath, R | str]]],
    paths: Iterable[PurePosixPath],
    records: dict[PurePosixPath, FileRecord],
    cache: FactCache,
    root: Path,
    jobs: int,
    progress: Progress,
    issues: list[ScanIssue],
) -> dict[PurePosixPath, R]:
    """A fact of each file computed once per content: from the cache where that content
    was read before, else by ``worker`` in the pool (and then cached)."""
    paths = sorted(p for p in set(paths) if p in records)
    found = cache.facts(kind, {records[p].sha256 for p in paths})
    out: dict[PurePosixPath, R] = {}
    todo: list[tuple[PurePosixPath, str]] = []
    for p in paths:
        hit = found.get(records[p].sha256)
        if hit is not None:
            out[p] = hit
        else:
            todo.append((p, str(root / p)))
    fresh: dict[str, R] = {}
    for rel, result in _map(worker, todo, jobs, progress, kind):
        if isinstance(result, str):
            issues.append(ScanIssue(rel, "source", result))
            continue
        out[rel] = result
        fresh[records[rel].sha256] = result
    cache.put_facts(kind, fresh)
    return out


def read_sources(
    paths: Iterable[PurePosixPath],
    records: dict[PurePosixPath, FileRecord],
    cache: FactCache,
    root: Path,
    jobs: int,
    progress: Progress,
    issues: list[ScanIssue],
) -> dict[PurePosixPath, SourceFacts]:
    """Pass 2: full source facts (cached by content, so re-bound to each file's path)."""
    facts = _per_content(
        "source", _read_sources, paths, records, cache, root, jobs, progress, issues
    )
    return {p: rebind(sf, p) for p, sf in facts.items()}


def read_defines(
    paths: Iterable[PurePosixPath],
    records: dict[PurePosixPath, FileRecord],
    cache: FactCache,
    root: Path,
    jobs: int,
    progress: Progress,
    issues: list[ScanIssue],
) -> dict[PurePosixPath, frozenset[str]]:
    """The functions each of ``paths`` defines, for the symbol index."""
    return _per_content(
        "defines", _read_defines, paths, records, cache, root, jobs, progress, issues
    )


# --- pass 3: license detection for untagged files in scope --------------------------------

Detection = tuple[str | None, tuple[LicenseFinding, ...]]


def detect_licenses(
    paths: Iterable[PurePosixPath],
    records: dict[PurePosixPath, FileRecord],
    cache: FactCache,
    root: Path,
    detector: Callable[[Path], Detection],
    progress: Progress,
    issues: list[ScanIssue],
) -> dict[PurePosixPath, Detection]:
    """Pass 3: full license detection, once per content, cached."""
    paths = sorted(set(paths))
    found = cache.facts("license", {records[p].sha256 for p in paths})
    out: dict[PurePosixPath, Detection] = {}
    todo = []
    for p in paths:
        hit = found.get(records[p].sha256)
        if hit is not None:
            out[p] = hit
        else:
            todo.append(p)
    by_digest: dict[str, Detection] = {}
    progress("licenses", 0, len(todo))
    for done, p in enumerate(todo, 1):
        digest = records[p].sha256
        if digest not in by_digest:
            try:
                by_digest[digest] = detector(root / p)
            except OSError as exc:
                issues.append(ScanIssue(p, "license", f"not readable: {exc.strerror or exc}"))
                continue
            except LicenseDetectionUnavailableError as exc:
                issues.append(ScanIssue(p, "license", str(exc)))
                break
        out[p] = by_digest[digest]
        progress("licenses", done, len(todo))
    cache.put_facts("license", by_digest)
    return out


class LicenseDetectionUnavailableError(Exception):
    """Full license detection cannot run here (scancode missing or broken)."""


class ScancodeDetector:
    """Full license detection with scancode-toolkit, one detector per scan.

    scancode is imported, and its license index loaded, only when a file has license-like
    text to match; identical license regions are matched once (the detector's cache).
    """

    def __init__(self) -> None:
        self._detector: Any = None

    @property
    def index_loaded(self) -> bool:
        return self._detector is not None and bool(self._detector.index_loaded)

    def __call__(self, path: Path) -> Detection:
        from gplscan.facts.licenses import Detector, LicenseDetectionUnavailable

        if self._detector is None:
            self._detector = Detector()
        try:
            detection = self._detector.detect_file(path)
        except LicenseDetectionUnavailable as exc:
            raise LicenseDetectionUnavailableError(
                f"license detection unavailable, license left unknown: {exc}"
            ) from exc
        return detection.expression, tuple(
            LicenseFinding(m.expression, m.start_line, m.end_line, m.rule)
            for m in detection.matches
        )
