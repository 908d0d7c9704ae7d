"""Walk a target and classify every file by what it holds, not by what it is called.

A file named ``.o`` that holds text is not an object; an ``.o_shipped`` that holds C is a
generated source; an ELF file named ``.c`` is an object. Names decide only among text
files (source, header, build file, license text).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gplscan.kernel_names import (
    AR_MAGICS,
    COMPRESSED_MAGICS,
    ELF_MAGIC,
    HEADER_SUFFIXES,
    OBJECT_SUFFIXES,
    SOURCE_SUFFIXES,
)
from gplscan.model import FileEntry, FileKind, ScanIssue, Stage

SNIFF_BYTES = 8192


SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".gplscan-cache", "__pycache__"})

BUILD_NAMES = frozenset(
    {
        "Makefile",
        "makefile",
        "GNUmakefile",
        "Kbuild",
        "Kconfig",
        "dkms.conf",
        "modules.order",
        "Module.symvers",
        "compile_commands.json",
    }
)
LICENSE_STEMS = ("COPYING", "LICENSE", "LICENCE", "NOTICE")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A regular file found by the walk, not read yet (absolute paths stay in this layer)."""

    path: PurePosixPath
    abspath: str
    stat: os.stat_result


def _text_kind(name: str) -> FileKind:
    """Classify a text file by name."""
    base = name.removesuffix("_shipped")
    suffix = os.path.splitext(base)[1]
    if suffix in SOURCE_SUFFIXES:
        return FileKind.SOURCE
    if suffix in HEADER_SUFFIXES:
        return FileKind.HEADER
    if name.endswith("_shipped") and suffix == ".o":
        # A text *.o_shipped is a generated source that Kbuild copies into place.
        return FileKind.SOURCE
    if (
        name in BUILD_NAMES
        or name.startswith(("Makefile.", "Kbuild.", "Kconfig."))
        or name.endswith((".mk", ".mod", ".cmd"))
    ):
        return FileKind.BUILD
    if name.upper().startswith(LICENSE_STEMS):
        return FileKind.LICENSE_TEXT
    return FileKind.OTHER


def _is_text(head: bytes) -> bool:
    """Text: no NUL and almost no control characters (any 8-bit encoding counts as text)."""
    if b"\0" in head:
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls * 100 <= len(head)


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f\v\x1b")


_OWN_JSON = re.compile(rb'\A\s*\{\s*"schema"\s*:\s*"gplscan/')
_SARIF = re.compile(rb'\A\s*\{\s*"\$schema"\s*:\s*"[^"]*sarif')
_SARIF_BY_GPLSCAN = re.compile(rb'"driver"\s*:\s*\{\s*"name"\s*:\s*"gplscan"')
_CODE_QUALITY = re.compile(rb'\A\s*\[\s*(\]|\{\s*"description"\s*:.*"check_name")', re.DOTALL)


def _is_own_report(name: str, head: bytes) -> bool:
    """gplscan's own output: a baseline or JSON report (schema gplscan/1), its SARIF, its
    GitLab Code Quality file. Committed next to the drivers, they are neither sources nor
    license texts (a baseline quotes SPDX tags and MODULE_LICENSE strings)."""
    if not name.endswith((".json", ".sarif")):
        return False
    if _OWN_JSON.match(head):
        return True
    if _SARIF.match(head) and _SARIF_BY_GPLSCAN.search(head):
        return True
    return _CODE_QUALITY.match(head) is not None and '"fingerprint"' in head.decode(
        "utf-8", "replace"
    )


def classify(name: str, head: bytes) -> tuple[FileKind, str | None]:
    """Decide a file's kind from its first bytes and its name; return a note when they clash."""
    suffix = os.path.splitext(name.removesuffix("_shipped"))[1]
    if head.startswith(ELF_MAGIC):
        note = None
        if suffix in SOURCE_SUFFIXES | HEADER_SUFFIXES:
            note = f"named like a {suffix} source but is an ELF object; read as an object"
        return FileKind.OBJECT, note
    if head.startswith(AR_MAGICS):
        return FileKind.ARCHIVE, None
    if head.startswith(COMPRESSED_MAGICS):
        return FileKind.COMPRESSED, None
    if not head:
        if suffix in OBJECT_SUFFIXES:
            return FileKind.DATA, f"an empty file named like a {suffix} object: nothing to read"
        return _text_kind(name), None
    if _is_own_report(name, head):
        return FileKind.DATA, None  # gplscan's baseline or report: not a source, no license
    if _is_text(head):
        kind = _text_kind(name)
        note = None
        if suffix in OBJECT_SUFFIXES and kind is not FileKind.SOURCE:
            note = f"named like a {suffix} object but holds text, not ELF; not read as an object"
        return kind, note
    note = None
    if suffix in SOURCE_SUFFIXES | HEADER_SUFFIXES:
        # the compiler reads it all the same (gcc drops a NUL with a warning): one NUL
        # byte in a comment must not hide the MODULE_LICENSE beside it
        nuls = head.count(0)
        what = f"{nuls} NUL byte(s)" if nuls else "control characters"
        note = (
            f"named like a {suffix} source but holds binary data ({what} in its first "
            f"{len(head):,} bytes); read as source all the same, as the compiler reads it"
        )
        return _text_kind(name), note
    if suffix in OBJECT_SUFFIXES:
        note = f"named like a {suffix} object but is not ELF or ar; not read as an object"
    return FileKind.DATA, note


def walk(root: Path) -> Iterator[Candidate | ScanIssue]:
    """Yield every regular file under ``root`` (or ``root`` itself) with its metadata.

    Nothing is opened here: reading and classifying happen in :func:`sniff`, in parallel.
    Symbolic links are followed only when they stay inside ``root``; special files (FIFOs,
    sockets, devices) are reported and never opened, so a scan cannot block on them. Paths
    are handled as strings here: a kernel tree has 80,000 files and pathlib objects for
    each step of each would cost more than the walk itself.
    """
    root = root.resolve()
    if root.is_file():
        yield from _visit(str(root), root.name)
        return
    top = str(root)
    stack: list[tuple[str, str]] = [(top, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield ScanIssue(
                PurePosixPath(prefix.rstrip("/") or "."),
                Stage.DISCOVER,
                f"directory not readable: {exc.strerror or exc}",
            )
            continue
        subdirs = []
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                    if real != top and not real.startswith(top + os.sep):
                        yield ScanIssue(
                            PurePosixPath(rel),
                            Stage.DISCOVER,
                            "symbolic link points outside the target; not followed",
                        )
                        continue
                    if os.path.isdir(real):
                        continue  # the directory it names is walked in its own place
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        subdirs.append((entry.path, rel + "/"))
                    continue
            except OSError as exc:
                yield ScanIssue(
                    PurePosixPath(rel), Stage.DISCOVER, f"not readable: {exc.strerror or exc}"
                )
                continue
            yield from _visit(entry.path, rel)
        stack.extend(reversed(subdirs))


def _visit(path: str, rel: str) -> Iterator[Candidate | ScanIssue]:
    try:
        st = os.stat(path)
    except OSError as exc:
        yield ScanIssue(PurePosixPath(rel), Stage.DISCOVER, f"not readable: {exc.strerror or exc}")
        return
    if not stat.S_ISREG(st.st_mode):
        yield ScanIssue(
            PurePosixPath(rel),
            Stage.DISCOVER,
            "not a regular file (FIFO, socket or device); not read",
            skipped=False,
        )
        return
    yield Candidate(PurePosixPath(rel), path, st)


def sniff(rel: PurePosixPath, data: bytes, size: int) -> FileEntry:
    """Classify a file from its content (``data``, at least its first bytes) and its name."""
    kind, note = classify(rel.name, data[:SNIFF_BYTES])
    return FileEntry(rel, kind, size, note)
