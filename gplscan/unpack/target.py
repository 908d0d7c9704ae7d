"""Recognizing a scan target by its content and making it ready: :func:`prepare` (a
directory or file in place, a ``.deb`` or tarball unpacked into a scratch area) and
:func:`decompress_module` (a compressed kernel module's bytes, in memory)."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from gplscan.errors import TargetError, UnpackError
from gplscan.kernel_names import AR_MAGIC
from gplscan.model import ScanIssue
from gplscan.unpack.deb import dkms_source_root, unpack_deb
from gplscan.unpack.decompress import Damaged, Input, Meter, chunks, sniff_codec
from gplscan.unpack.limits import Limits
from gplscan.unpack.scratch import remove_tree
from gplscan.unpack.tar import looks_like_tar, unpack_tar
from gplscan.unpack.tree import TreeWriter

_DEFAULT_LIMITS = Limits()
_TARBALL_SUFFIXES = (
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".tar.bz2",
    ".tbz2",
    ".tbz",
    ".tar.zst",
    ".tzst",
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A scan target made ready: the directory (or file) to scan and how it got there."""

    root: Path  # the directory to scan (the scratch copy, or the user's directory itself)
    display: str  # how to name the target in reports (the user's argument)
    origin: str  # "directory" | "deb" | "tarball" | "file"
    notes: tuple[ScanIssue, ...]  # what unpacking refused or skipped, and why
    source_root: PurePosixPath | None  # a .deb's single usr/src/<pkg>-<ver>, inside root


@contextmanager
def prepare(
    target: Path, *, scratch: Path | None = None, limits: Limits = _DEFAULT_LIMITS
) -> Iterator[Prepared]:
    """Yield ``target`` ready to scan; remove any scratch copy on exit, even on errors.

    Directories and plain files (objects, ``.ko.xz`` modules, ...) are used in place. A
    ``.deb`` or a tarball, recognized by content rather than by name, is unpacked into a
    new directory ``gplscan-*`` made under ``scratch`` (default: the system's temporary
    directory). Raises :class:`~gplscan.errors.TargetError` for a target that does not
    exist and :class:`UnpackError` for one that cannot be unpacked.
    """
    display = str(target)
    if target.is_dir():
        yield Prepared(target, display, "directory", (), None)
        return
    if not target.exists():
        raise TargetError(f"{target}: no such file or directory")
    if not target.is_file():
        raise TargetError(f"{target}: not a regular file or directory")
    kind, codec = identify(target, display)
    if kind == "file":
        yield Prepared(target, display, "file", (), None)
        return
    try:
        area = Path(tempfile.mkdtemp(prefix="gplscan-", dir=scratch))
    except OSError as exc:
        raise UnpackError(
            f"{display}: cannot make a scratch area in {scratch or tempfile.gettempdir()}: "
            f"{exc.strerror or exc}"
        ) from exc
    try:
        tree = area / "tree"
        tree.mkdir(mode=0o755)
        writer = TreeWriter(tree, display, limits)
        source_root = None
        with open_input(target, display) as fh:
            if kind == "deb":
                unpack_deb(writer, fh)
            else:
                size = os.fstat(fh.fileno()).st_size
                unpack_tar(writer, Input(fh, None), codec, display, length=size)
        if kind == "deb":
            source_root = dkms_source_root(writer)
        writer.drop_outward_links()
        yield Prepared(tree, display, kind, tuple(writer.notes), source_root)
    finally:
        remove_tree(area)


def decompress_module(data: bytes, name: str, limits: Limits = _DEFAULT_LIMITS) -> bytes:
    """The bytes a compressed kernel module (``.ko.xz``, ``.ko.zst``, ``.ko.gz``) holds.

    The format is read from the magic bytes, not from ``name`` (which is used in
    messages). Data that is not compressed is returned as it is. Raises
    :class:`UnpackError` for damaged or truncated data and for output beyond
    ``limits.max_member_bytes`` or above ``limits.max_ratio``, before building it all.
    """
    codec = sniff_codec(data[:8])
    if codec is None:
        return data
    source = Input(io.BytesIO(data), None)
    # BytesIO, not bytearray: its getvalue() hands over the buffer it grew (trimmed in
    # place), where bytes(bytearray) would copy it; the module is held in memory once
    out = io.BytesIO()
    meter = Meter(source, limits, name, cap="max_member_bytes", what="module")
    try:
        for chunk in chunks(codec, source):
            meter.add(len(chunk))
            out.write(chunk)
    except Damaged as exc:
        raise UnpackError(f"{name}: {exc}; not read") from None
    if source.trailing:  # what follows may be what a loader reads; nothing is dropped unsaid
        raise UnpackError(f"{name}: bytes after the end of the {codec} data; not read")
    return out.getvalue()


# --- recognizing the target ---------------------------------------------------------------


@contextmanager
def open_input(path: Path, display: str) -> Iterator[IO[bytes]]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise TargetError(f"{display}: cannot read: {exc.strerror or exc}") from exc
    with fh:
        yield fh


def identify(path: Path, display: str) -> tuple[str, str]:
    """("deb" | "tarball" | "file", codec) from the target's first bytes."""
    with open_input(path, display) as fh:
        head = fh.read(512)
        if head.startswith(AR_MAGIC):
            name = head[8:24].rstrip(b" ").rstrip(b"/")
            return ("deb", "") if name == b"debian-binary" else ("file", "")
        codec = sniff_codec(head)
        if codec is None:
            return ("tarball", "none") if looks_like_tar(head) else ("file", "")
        fh.seek(0)
        first = b""
        try:
            for chunk in chunks(codec, Input(fh, None)):
                first += chunk
                if len(first) >= 512:
                    break
        except Damaged as exc:
            if path.name.endswith(_TARBALL_SUFFIXES):
                raise UnpackError(f"{display}: {exc}; not unpacked") from None
            return "file", ""  # e.g. a damaged .ko.xz: the object reader will say so
    return ("tarball", codec) if looks_like_tar(first) else ("file", "")
