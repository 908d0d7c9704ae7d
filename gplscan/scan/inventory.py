"""The license inventory: each file's license (tagged, detected, none...) and the binaries
its code reaches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import PurePosixPath

from gplscan.facts.collect import FileRecord
from gplscan.facts.detection import Detection
from gplscan.model import Binary, FileEntry, FileKind, FileLicense, LicenseStatus

# the kinds of file license detection reads (a file of any other kind is "binary")
TEXT_KINDS = (
    FileKind.SOURCE,
    FileKind.HEADER,
    FileKind.BUILD,
    FileKind.LICENSE_TEXT,
    FileKind.OTHER,
)


def file_entries(records: Mapping[PurePosixPath, FileRecord]) -> tuple[FileEntry, ...]:
    """Every file of the target, with its content digest, by path."""
    return tuple(
        replace(r.entry, sha256=r.sha256)
        for _, r in sorted(records.items(), key=lambda kv: str(kv[0]))
    )


def inventory(
    paths: Iterable[PurePosixPath],
    records: Mapping[PurePosixPath, FileRecord],
    detections: Mapping[PurePosixPath, Detection],
    binaries: Iterable[Binary],
    includes: Mapping[PurePosixPath, tuple[PurePosixPath, ...]],
) -> tuple[FileLicense, ...]:
    """The license of each of ``paths``, by path."""
    reach = _reach(binaries, includes)
    return tuple(
        _file_license(p, records[p], detections.get(p), reach.get(p, ()))
        for p in sorted(paths, key=str)
    )


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
            path,
            LicenseStatus.TAGGED,
            record.spdx.expression,
            record.spdx.at.line,
            binaries=binaries,
        )
    if record.spdx_error is not None:
        return FileLicense(path, LicenseStatus.MALFORMED, None, binaries=binaries)
    if record.entry.kind not in TEXT_KINDS:
        return FileLicense(path, LicenseStatus.BINARY, None, binaries=binaries)
    if detection is None:
        return FileLicense(path, LicenseStatus.UNREAD, None, binaries=binaries)
    expression, matches = detection
    if expression:
        first = matches[0] if matches else None
        return FileLicense(
            path,
            LicenseStatus.DETECTED,
            expression,
            first.start_line if first else None,
            end_line=first.end_line if first else None,
            rule=first.rule if first else None,
            score=first.score if first else None,
            binaries=binaries,
        )
    return FileLicense(path, LicenseStatus.NONE, None, binaries=binaries)
