"""Read facts from many files at once: in parallel over all cores, through the cache.

Three passes, each over only the files that need it:

1. every file: read once, hashed, classified by content, its SPDX tag read, and (for ELF
   files) its object facts; an unchanged file (same stat as in the cache) is not opened;
2. the sources in scope: full source facts (MODULE_LICENSE, exports, includes, ...);
3. the untagged text files in scope: full license detection (scancode), once per content.

A file that cannot be read becomes a :class:`ScanIssue`; the other files go on.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from gplscan.discover import Candidate, sniff
from gplscan.errors import LicenseDetectionUnavailable, ObjectParseError
from gplscan.facts.archive import damage as archive_damage
from gplscan.facts.cache import FactCache, Stat
from gplscan.facts.detection import Detection, ScancodeDetector
from gplscan.facts.elf import object_facts
from gplscan.facts.pool import Progress, R, iter_chunks, map_chunks
from gplscan.facts.rows import OBJECT_ROW, flat_row
from gplscan.facts.source import decode, defined_functions, read_tag, rebind, source_facts
from gplscan.model import (
    FileEntry,
    FileKind,
    ObjectFacts,
    ScanIssue,
    SourceFacts,
    SpdxTag,
    Stage,
)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What every file yields: its classification, content digest and SPDX tag."""

    entry: FileEntry
    sha256: str
    spdx: SpdxTag | None = None
    spdx_error: str | None = None
    object_error: str | None = None


# What the cache keeps of a FileRecord: its fields, the entry's and the tag's in their
# place, paths left out (the row is stored under the file's path). Rows of another shape
# are misses.
RECORD = flat_row(FileRecord)


# --- pass 1: every file -------------------------------------------------------------------

# What pass 1 gives for one file, in the cache's own plain forms (cheap to send back from
# a worker, and what the parent stores as they are): the record's row and the object
# facts' row marshalled (RECORD, rows.OBJECT_ROW); or why it failed.
_Read1 = tuple["tuple[object, ...] | None", "bytes | None", "ScanIssue | None"]


def _read_files(batch: list[tuple[PurePosixPath, str, int]]) -> list[_Read1]:
    prefetch(abspath for _, abspath, _ in batch)
    out: list[_Read1] = []
    for rel, abspath, size in batch:
        try:
            with open(abspath, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            out.append(
                (None, None, ScanIssue(rel, Stage.READ, f"not readable: {exc.strerror or exc}"))
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
        elif _holds_object(entry):
            obj, obj_error = _compressed_module(abspath, rel, data)
        elif entry.kind is FileKind.ARCHIVE:  # linked or not, a damaged one is reported
            reason = archive_damage(data)
            obj_error = f"a damaged archive: {reason}" if reason else None
        record = FileRecord(entry, digest, tag, tag_error, obj_error)
        out.append(
            (RECORD.encode(record), marshal.dumps(OBJECT_ROW.encode(obj)) if obj else None, None)
        )
    return out


def prefetch(paths: Iterable[str]) -> None:
    """Ask the kernel to start reading these files now, all at once (POSIX_FADV_WILLNEED),
    so that a cold read waits for many requests in flight rather than one file after
    another: on Debian's 4,022 modules with the page cache dropped, reading them in order
    took 1.2 s alone and 0.33 s after this. Only a hint: errors are left to the real read.
    """
    advise = getattr(os, "posix_fadvise", None)  # not on every system
    if advise is None:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


_COMPRESSED_MODULE = re.compile(r"\.(?:ko|o)\.(?:xz|zst|gz)$")


def _holds_object(entry: FileEntry) -> bool:
    """Whether pass 1 gives this file object facts: an ELF object, or a compressed module
    (decompressed in memory). Such a file has facts or an ``object_error``, never neither."""
    return entry.kind is FileKind.OBJECT or (
        entry.kind is FileKind.COMPRESSED and _COMPRESSED_MODULE.search(entry.path.name) is not None
    )


def _compressed_module(
    abspath: str, rel: PurePosixPath, data: bytes
) -> tuple[ObjectFacts | None, str | None]:
    """Object facts of a compressed module (.ko.xz, .ko.zst, .ko.gz), decompressed in
    memory with the limits that stop a decompression bomb."""
    from gplscan.errors import UnpackError
    from gplscan.unpack import decompress_module

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
    cached = cache.records(str(root), RECORD.shape)
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
                records[c.path] = RECORD.decode(c.path, hit[1])
                continue
            except (ValueError, TypeError):  # a row this code cannot read: read the file
                pass
        todo.append((c.path, key, c.stat.st_size))

    issues: list[ScanIssue] = []
    objects: dict[PurePosixPath, ObjectFacts] = {}
    fresh: dict[str, tuple[Stat, tuple[object, ...]]] = {}
    fresh_objects: dict[str, bytes] = {}

    def take(rel: PurePosixPath, row: tuple[object, ...], blob: bytes | None) -> None:
        record = records[rel] = RECORD.decode(rel, row)
        if blob is not None:
            objects[rel] = OBJECT_ROW.decode(rel, marshal.loads(blob))
            fresh_objects[record.sha256] = blob

    # taken as each chunk arrives: the facts are made while the pool reads the rest
    results = iter_chunks(_read_files, todo, jobs, progress, "reading")
    for (rel, key, _), (row, blob, issue) in zip(todo, results, strict=True):
        if issue is not None:
            issues.append(issue)
            continue
        assert row is not None
        take(rel, row, blob)
        fresh[key] = (stats[rel][1], row)

    # objects of unchanged files come from the content-keyed store; every path of a
    # content is given its facts (two copies of one blob are two objects, both judged)
    wanted: dict[str, list[PurePosixPath]] = {}
    for rel, r in records.items():
        if rel not in objects and r.object_error is None and _holds_object(r.entry):
            wanted.setdefault(r.sha256, []).append(rel)
    if wanted:
        found = cache.facts("object", wanted)
        missing: list[tuple[PurePosixPath, str, int]] = []
        for digest, rels in wanted.items():
            row = found.get(digest)
            for rel in rels:
                if row is not None:
                    objects[rel] = OBJECT_ROW.decode(rel, row)
                else:
                    missing.append((rel, str(root / rel), records[rel].entry.size))
        for (rel, _, _), (row, blob, issue) in zip(missing, _read_files(missing), strict=True):
            if issue is not None:
                issues.append(issue)
            elif row is not None:
                take(rel, row, blob)
    cache.put_records(fresh)
    cache.put_encoded("object", fresh_objects)
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
    for rel, result in map_chunks(worker, todo, jobs, progress, kind):
        if isinstance(result, str):
            issues.append(ScanIssue(rel, Stage.SOURCE, result))
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


def detect_licenses(
    paths: Iterable[PurePosixPath],
    records: dict[PurePosixPath, FileRecord],
    cache: FactCache,
    root: Path,
    detector: Callable[[Path], Detection],
    progress: Progress,
    issues: list[ScanIssue],
    jobs: int = 1,
) -> dict[PurePosixPath, Detection]:
    """Pass 3: full license detection, once per content, cached.

    scancode's detector works over all the files at once (on all cores, its index loaded
    once); any other detector (tests give their own) is called file by file.
    """
    paths = sorted(set(paths))
    found = cache.facts("license", {records[p].sha256 for p in paths})
    out: dict[PurePosixPath, Detection] = {}
    todo: dict[str, PurePosixPath] = {}  # one file per content not in the cache
    for p in paths:
        hit = found.get(records[p].sha256)
        if hit is not None:
            out[p] = hit
        else:
            todo.setdefault(records[p].sha256, p)
    by_digest: dict[str, Detection] = {}
    failed: dict[PurePosixPath, str] = {}
    unavailable: tuple[PurePosixPath, str] | None = None
    if isinstance(detector, ScancodeDetector):
        files = [(p, str(root / p)) for p in todo.values()]
        detected, failed, why = detector.detect_many(files, jobs, progress)
        by_digest = {records[p].sha256: d for p, d in detected.items()}
        if why is not None:
            first = next(p for p in todo.values() if p not in detected and p not in failed)
            unavailable = (first, why)
    else:
        progress("licenses", 0, len(todo))
        for done, (digest, p) in enumerate(todo.items(), 1):
            try:
                by_digest[digest] = detector(root / p)
            except OSError as exc:
                failed[p] = f"not readable: {exc.strerror or exc}"
            except LicenseDetectionUnavailable as exc:
                unavailable = (p, str(exc))
                break
            progress("licenses", done, len(todo))
    if unavailable is not None:
        issues.append(ScanIssue(unavailable[0], Stage.LICENSE, unavailable[1]))
    issues.extend(ScanIssue(p, Stage.LICENSE, why) for p, why in sorted(failed.items()))
    for p in paths:
        if p not in out and records[p].sha256 in by_digest:
            out[p] = by_digest[records[p].sha256]
    cache.put_facts("license", by_digest)
    return out
