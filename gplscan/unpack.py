"""Turn a scan target as users have it into a directory to scan.

A directory is scanned where it is. A Debian package (``.deb``) or a tarball (``.tar``,
``.tar.gz``/``.tgz``, ``.tar.xz``, ``.tar.bz2``, ``.tar.zst``) is unpacked into a scratch
area that :func:`prepare` removes on exit, whatever happens. Compressed kernel modules
(``.ko.xz``, ``.ko.zst``, ``.ko.gz``) are never unpacked on disk: the object reader asks
:func:`decompress_module` for their ELF bytes in memory.

Archives are untrusted input. Nothing is ever written outside the scratch area:

* A member with an absolute path, a ``..`` component, or a path that reaches outside
  through a symbolic link is refused, and so is everything under a refused link.
* Symbolic links are kept when they resolve inside the tree (DKMS trees and kernel
  sources use them); links that are absolute or lead outside are not created. Links are
  resolved by reading them one component at a time, never with ``realpath``, and every
  write re-resolves its parent against the tree as it is at that moment; a last pass
  removes any link that later members turned outward.
* Hard links are made only to regular files already unpacked inside the tree.
* Device files, FIFOs and sparse files are never created. Files get 0644 or 0755, directories 0755:
  no setuid, setgid or sticky bits, no ownership from the archive.
* Every member is also checked by :func:`tarfile.data_filter` (belt and braces).
* Decompression is streamed in bounded steps with a ratio check, and the total size,
  the size of one member and the number of members are capped (:class:`Limits`), so a
  decompression bomb stops early instead of filling memory or the disk. Every size an
  archive declares (an ``ar`` member, a tar member, a pax or GNU long-name header) is
  checked against the limits and against what the input holds before a byte of it is
  read or skipped: a 1 PiB declaration in a 3 KiB file is refused at once.

What is refused becomes a :class:`~gplscan.model.ScanIssue` on :attr:`Prepared.notes`
(``skipped=True`` when content was lost): a member refused, a limit reached (what came
before is kept, the rest of that archive is not unpacked), an archive damaged or cut
short after its first member, data after an archive's end. Nothing read is dropped
without a note. An input that is not the archive it claims to be, an archive damaged
before its first member, and a scratch area that cannot be written raise
:class:`UnpackError`.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import io
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Protocol, Self

from gplscan.errors import GplscanError, TargetError
from gplscan.model import ScanIssue

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
PiB = 1 << 50

_STAGE = "unpack"
_OUT_STEP = 1 * MiB  # most output one decompression step may produce
_IN_STEP = 64 * KiB  # compressed bytes read at a time
_ZSTD_PIECE = 1 * KiB  # zstd output is unbounded per call: feed it small pieces (<= 32 MiB out)
_FATAL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # the scratch area itself fails
_MAX_LINK_HOPS = 40  # as the kernel's own limit on nested symbolic links
# tarfile reads a pax or GNU long-name header into memory whole: long names, link targets
# and extended attributes take a few KiB; anything near this is not a real header
_MAX_HEADER_BYTES = 1 * MiB
_AR_SIZE = re.compile(rb" *[0-9]+ *")  # an ar header's size: decimal digits, space-padded

_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_AR_MAGIC = b"!<arch>\n"
_ELF_MAGIC = b"\x7fELF"

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


class UnpackError(GplscanError):
    """A target that cannot be unpacked: a limit reached, damaged data, not an archive."""


class _LimitReached(UnpackError):
    """A :class:`Limits` cap reached; inside an archive, a note that ends that archive."""


@dataclass(frozen=True)
class Limits:
    """Caps on what unpacking may cost.

    ``max_total_bytes`` bounds everything one target unpacks to (a full kernel source
    tree is about 1.5 GiB; 8 GiB leaves room and still fits a scratch disk).
    ``max_member_bytes`` bounds one file (the largest kernel module with debug info is a
    few hundred MiB). ``max_ratio`` bounds decompressed : compressed size once more than
    ``ratio_grace_bytes`` came out: sources and modules compress 3-10:1, and even
    archives of tiny files stay far below 200:1, while a bomb of zeros reaches 1000:1
    and more. ``max_members`` bounds the number of archive members (a kernel source tree
    has about 90,000). ``max_depth`` bounds how many directories deep a path may lead,
    links followed (kernel sources nest about 12 deep; every check of a path costs as
    much as it is deep).
    """

    max_total_bytes: int = 8 * GiB
    max_member_bytes: int = 2 * GiB
    max_ratio: int = 200
    max_members: int = 500_000
    max_depth: int = 256
    ratio_grace_bytes: int = 64 * MiB


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
    target: Path, *, scratch: Path | None = None, limits: Limits = Limits()
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
    kind, codec = _identify(target, display)
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
        unpacker = _Unpacker(tree, display, limits)
        source_root = None
        if kind == "deb":
            unpacker.deb(target)
            source_root = unpacker.dkms_source_root()
        else:
            with _open_input(target, display) as fh:
                size = os.fstat(fh.fileno()).st_size
                unpacker.tar(_Input(fh, None), codec, display, length=size)
        unpacker.drop_outward_links()
        yield Prepared(tree, display, kind, tuple(unpacker.notes), source_root)
    finally:
        _remove_tree(area)


def decompress_module(data: bytes, name: str, limits: Limits = Limits()) -> bytes:
    """The bytes a compressed kernel module (``.ko.xz``, ``.ko.zst``, ``.ko.gz``) holds.

    The format is read from the magic bytes, not from ``name`` (which is used in
    messages). Data that is not compressed is returned as it is. Raises
    :class:`UnpackError` for damaged or truncated data and for output beyond
    ``limits.max_member_bytes`` or above ``limits.max_ratio``, before building it all.
    """
    codec = _sniff_codec(data[:8])
    if codec is None:
        return data
    source = _Input(io.BytesIO(data), None)
    # BytesIO, not bytearray: its getvalue() hands over the buffer it grew (trimmed in
    # place), where bytes(bytearray) would copy it; the module is held in memory once
    out = io.BytesIO()
    meter = _Meter(source, limits, name, cap="max_member_bytes", what="module")
    try:
        for chunk in _chunks(codec, source):
            meter.add(len(chunk))
            out.write(chunk)
    except _Damaged as exc:
        raise UnpackError(f"{name}: {exc}; not read") from None
    if source.trailing:  # what follows may be what a loader reads; nothing is dropped unsaid
        raise UnpackError(f"{name}: bytes after the end of the {codec} data; not read")
    return out.getvalue()


# --- reading compressed streams -----------------------------------------------------------


class _Damaged(Exception):
    """Compressed data that is corrupt or cut short (an internal signal, never escapes)."""


class _Input:
    """Compressed bytes from a file, or from ``length`` bytes of it, counted as read."""

    def __init__(self, fh: IO[bytes], length: int | None) -> None:
        self._fh = fh
        self._left = length
        self.consumed = 0
        self.trailing = False  # bytes followed the compressed data that were not read

    def read(self, n: int) -> bytes:
        if self._left is not None:
            n = min(n, self._left)
            if n <= 0:
                return b""
        data = self._fh.read(n)
        self.consumed += len(data)
        if self._left is not None:
            self._left -= len(data)
        return data


class _Meter:
    """Counts decompressed bytes and stops a stream that grows past a limit."""

    def __init__(self, source: _Input, limits: Limits, where: str, *, cap: str, what: str):
        self._source = source
        self._limits = limits
        self._where = where
        self._cap_name = cap
        self._cap: int = getattr(limits, cap)
        self._what = what
        self.produced = 0

    def add(self, n: int) -> None:
        self.produced += n
        limits = self._limits
        if self.produced > self._cap:
            raise _LimitReached(
                f"{self._where}: the {self._what} unpacks to more than {_size(self._cap)}; "
                f"refused (limit {self._cap_name})"
            )
        consumed = max(self._source.consumed, 1)
        if self.produced > limits.ratio_grace_bytes and self.produced > limits.max_ratio * consumed:
            raise _LimitReached(
                f"{self._where}: decompresses at more than {limits.max_ratio}:1 "
                f"({_size(self.produced)} from {_size(consumed)}); refused as a likely "
                "decompression bomb"
            )


class _StdDecompressor(Protocol):
    """What lzma's and bz2's decompressors share."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _sniff_codec(head: bytes) -> str | None:
    """The compression a stream starts with, from its magic bytes."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_XZ_MAGIC):
        return "xz"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[3:4] != b"0":
        return "bzip2"
    return None


def _chunks(codec: str, source: _Input) -> Iterator[bytes]:
    """Decompressed output of ``source`` in steps of at most a few MiB.

    Concatenated streams (multi-member gzip, pbzip2, several xz streams or zstd frames)
    are read one after the other; bytes after the last stream that do not start another
    one (padding) end the data. Raises :class:`_Damaged` for corrupt or cut-short data.
    """
    try:
        if codec == "none":
            while chunk := source.read(_OUT_STEP):
                yield chunk
        elif codec == "gzip":
            yield from _gzip_chunks(source)
        elif codec in ("xz", "lzma"):
            fmt = lzma.FORMAT_XZ if codec == "xz" else lzma.FORMAT_ALONE
            yield from _std_chunks(source, lambda: lzma.LZMADecompressor(format=fmt), _XZ_MAGIC)
        elif codec == "bzip2":
            yield from _std_chunks(source, bz2.BZ2Decompressor, b"BZh")
        elif codec == "zstd":
            yield from _zstd_chunks(source)
        else:
            raise AssertionError(codec)
    except (lzma.LZMAError, zlib.error, OSError, EOFError) as exc:
        raise _Damaged(f"corrupt {codec} data ({exc})") from None


def _next_stream(source: _Input, rest: bytes, magic: bytes) -> bytes | None:
    """The start of another concatenated stream after ``rest``, or None at the end."""
    while True:
        rest = rest.lstrip(b"\0")  # xz stream padding; zeros some tools append
        if len(rest) >= len(magic):
            if rest.startswith(magic):
                return rest
            source.trailing = True
            return None
        more = source.read(_IN_STEP)
        if not more:
            source.trailing = source.trailing or bool(rest)
            return None
        rest += more


def _std_chunks(
    source: _Input, make: Callable[[], _StdDecompressor], magic: bytes
) -> Iterator[bytes]:
    data: bytes | None = source.read(_IN_STEP)
    while data is not None:
        dec = make()
        while True:
            out = dec.decompress(data, _OUT_STEP)
            if out:
                yield out
            if dec.eof:
                break
            if not data and not out:
                raise _Damaged("the compressed data is cut short")
            data = source.read(_IN_STEP) if dec.needs_input else b""
        data = _next_stream(source, dec.unused_data, magic)


def _gzip_chunks(source: _Input) -> Iterator[bytes]:
    data: bytes | None = source.read(_IN_STEP)
    while data is not None:
        dec = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while True:
            out = dec.decompress(data, _OUT_STEP)
            if out:
                yield out
            if dec.eof:
                break
            if not data and not out:
                raise _Damaged("the compressed data is cut short")
            data = dec.unconsumed_tail or source.read(_IN_STEP)
        data = _next_stream(source, dec.unused_data, _GZIP_MAGIC)


def _zstd_chunks(source: _Input) -> Iterator[bytes]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        raise _Damaged("zstd data needs the 'zstandard' package") from None
    data: bytes | None = source.read(_IN_STEP)
    try:
        while data is not None:
            dec = zstandard.ZstdDecompressor().decompressobj()
            pending = memoryview(data)
            while not dec.eof:
                if not pending:
                    pending = memoryview(source.read(_IN_STEP))
                    if not pending:
                        raise _Damaged("the compressed data is cut short")
                out = dec.decompress(pending[:_ZSTD_PIECE])
                pending = pending[_ZSTD_PIECE:]
                for at in range(0, len(out), _OUT_STEP):
                    yield out[at : at + _OUT_STEP]
            data = _next_stream(source, dec.unused_data + bytes(pending), _ZSTD_MAGIC)
    except zstandard.ZstdError as exc:
        raise _Damaged(f"corrupt zstd data ({exc})") from None


class _Decoded(io.RawIOBase):
    """A decompressed stream as a file for :mod:`tarfile`, metered as it is read."""

    def __init__(self, chunks: Iterator[bytes], meter: _Meter) -> None:
        super().__init__()
        self._chunks = chunks
        self._meter = meter
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._meter.add(len(chunk))
            self._buf = memoryview(chunk)
        target = memoryview(buffer).cast("B")
        n = min(len(target), len(self._buf))
        target[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _looks_like_tar(block: bytes) -> bool:
    """A tar header: the ustar magic, or (old v7 archives) a header checksum that adds up."""
    if len(block) < 512 or not any(block[:512]):
        return False
    if block[257:262] == b"ustar":
        return True
    field_ = block[148:156].replace(b"\0", b" ").strip()
    try:
        recorded = int(field_, 8)
    except ValueError:
        return False
    header = block[:148] + b" " * 8 + block[156:512]
    return recorded == sum(header)


# --- recognizing the target ---------------------------------------------------------------


@contextmanager
def _open_input(path: Path, display: str) -> Iterator[IO[bytes]]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise TargetError(f"{display}: cannot read: {exc.strerror or exc}") from exc
    with fh:
        yield fh


def _identify(path: Path, display: str) -> tuple[str, str]:
    """("deb" | "tarball" | "file", codec) from the target's first bytes."""
    with _open_input(path, display) as fh:
        head = fh.read(512)
        if head.startswith(_AR_MAGIC):
            name = head[8:24].rstrip(b" ").rstrip(b"/")
            return ("deb", "") if name == b"debian-binary" else ("file", "")
        codec = _sniff_codec(head)
        if codec is None:
            return ("tarball", "none") if _looks_like_tar(head) else ("file", "")
        fh.seek(0)
        first = b""
        try:
            for chunk in _chunks(codec, _Input(fh, None)):
                first += chunk
                if len(first) >= 512:
                    break
        except _Damaged as exc:
            if path.name.endswith(_TARBALL_SUFFIXES):
                raise UnpackError(f"{display}: {exc}; not unpacked") from None
            return "file", ""  # e.g. a damaged .ko.xz: the object reader will say so
    return ("tarball", codec) if _looks_like_tar(first) else ("file", "")


# --- unpacking ----------------------------------------------------------------------------


class _Refused(Exception):
    """A member that must not be written; the message says why."""


class _TooDeep(_Refused):
    """A path that leads deeper than ``Limits.max_depth``."""


_Trie = dict[str, "_Trie"]
_END = "\0"  # marks a path's end in a _Trie (a NUL is never in a member's name)


def _shown(name: str) -> PurePosixPath:
    """A member name for a note: undecodable bytes made visible, not dropped."""
    return PurePosixPath(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


@dataclass
class _Unpacker:
    """Writes archive members into ``tree`` and keeps the notes and the running totals."""

    tree: Path
    display: str
    limits: Limits
    notes: list[ScanIssue] = field(default_factory=list)
    members: int = 0
    written: int = 0
    _root: str = ""
    _dirs: dict[tuple[str, ...], str] = field(default_factory=dict)
    _links: list[tuple[str, ...]] = field(default_factory=list)
    _refused_links: _Trie = field(default_factory=dict)  # refused links' paths

    def __post_init__(self) -> None:
        self._root = os.path.realpath(self.tree)
        self._dirs[()] = self._root

    def note(self, name: str, message: str, *, skipped: bool) -> None:
        self.notes.append(ScanIssue(_shown(name), _STAGE, message, skipped=skipped))

    # .deb ----------------------------------------------------------------------------

    def deb(self, path: Path) -> None:
        """Unpack a Debian binary package's ``data.tar.*`` (its ``ar`` container read here)."""
        with _open_input(path, self.display) as fh:
            members = _ar_members(fh, self.display)
            if not members or members[0].name != "debian-binary":
                raise UnpackError(f"{self.display}: not a Debian package (no debian-binary)")
            fh.seek(members[0].offset)
            version = fh.read(min(members[0].present, 16))
            if not version.startswith(b"2."):
                raise UnpackError(
                    f"{self.display}: Debian package format {version.strip()!r} "
                    "is not supported (only 2.x)"
                )
            data = next((m for m in members if m.name.startswith("data.tar")), None)
            last = members[-1]
            if data is None:
                if last.present < last.size:  # the members after it are not there
                    raise UnpackError(f"{self.display}: {last.cut_short()}; no data.tar member")
                raise UnpackError(f"{self.display}: not a Debian package (no data.tar member)")
            if data.present < data.size:
                self.note(
                    data.name,
                    f"{self.display}: {data.cut_short()}; what it holds is unpacked, the rest "
                    "is missing",
                    skipped=True,
                )
            fh.seek(data.offset)
            head = fh.read(8)
            fh.seek(data.offset)
            source = _Input(fh, data.present)
            codec = _sniff_codec(head) or ("lzma" if data.name.endswith(".lzma") else "none")
            self.tar(source, codec, f"{self.display}: {data.name}", length=data.present)

    def dkms_source_root(self) -> PurePosixPath | None:
        """``usr/src/<pkg>-<version>`` when the package holds exactly one such tree."""
        src = self.tree / "usr" / "src"
        try:
            entries = sorted(e.name for e in os.scandir(src) if e.is_dir(follow_symlinks=False))
        except OSError:
            return None
        if len(entries) == 1:
            return PurePosixPath("usr/src", entries[0])
        if entries:
            self.note(
                "usr/src",
                f"holds {len(entries)} source trees ({', '.join(entries)}); "
                "no single DKMS source tree",
                skipped=False,
            )
        return None

    # tar -----------------------------------------------------------------------------

    def tar(self, source: _Input, codec: str, where: str, *, length: int | None = None) -> None:
        """Unpack one tar stream, compressed with ``codec`` ("none" for a plain tar, whose
        size is ``length`` when known)."""
        meter = _Meter(source, self.limits, where, cap="max_total_bytes", what="archive")
        stream = _Decoded(_chunks(codec, source), meter)
        plain = length if codec == "none" else None
        ended: list[tarfile.HeaderError] = []
        done = 0
        current: str | None = None
        try:
            with tarfile.open(
                fileobj=stream, mode="r|", bufsize=256 * KiB, tarinfo=_checked_info(ended)
            ) as archive:
                while (member := _next_member(archive)) is not None:
                    # tarfile keeps every header read (not in typeshed); nothing here needs them
                    archive.members.clear()  # type: ignore[attr-defined]
                    current = member.name
                    self._check_extent(member, archive.offset, plain, where)
                    self.members += 1
                    if self.members > self.limits.max_members:
                        raise _LimitReached(
                            f"{where}: more than {self.limits.max_members} members; refused "
                            "(limit max_members)"
                        )
                    self._one_member(archive, member, where)
                    done += 1
                    current = None
                self._check_end(archive, ended[-1] if ended else None, where)
        except _Stop as exc:
            self.note(current or ".", str(exc), skipped=True)
        except _LimitReached as exc:
            self.note(current or ".", f"{exc}; {_rest(current)}", skipped=True)
        except (_Damaged, tarfile.TarError, EOFError) as exc:
            reason = str(exc) or type(exc).__name__
            if done == 0:
                raise UnpackError(f"{where}: not a readable tar archive ({reason})") from None
            self.note(
                current or ".",
                f"{where} is damaged here ({reason}); {_rest(current)}",
                skipped=True,
            )
        if source.trailing:
            self.note(
                ".",
                f"{where}: bytes after the end of the {codec} data were not read "
                "(not another compressed stream)",
                skipped=False,
            )

    def _one_member(self, archive: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> None:
        """Write one member, or note why not (a write error of the scratch area itself stops
        everything)."""
        try:
            self.member(archive, member)
        except _Refused as exc:
            self.note(member.name, str(exc), skipped=member.isreg())
        except OSError as exc:
            if exc.errno in _FATAL_ERRNOS:
                raise UnpackError(
                    f"{where}: cannot write into the scratch area {self.tree}: "
                    f"{exc.strerror or exc}"
                ) from exc
            self.note(
                member.name,
                f"cannot be written: {exc.strerror or exc}; skipped",
                skipped=member.isreg(),
            )

    def _check_extent(
        self, member: tarfile.TarInfo, following: int, plain: int | None, where: str
    ) -> None:
        """Stop at a member whose data cannot be there or cannot be read within the limits,
        before tarfile reads or skips a byte of it (it would skip a 1 PiB declaration block
        by block, for days). ``following`` is where tarfile will look for the next header."""
        size = member.size
        if size < 0 or following < member.offset_data:
            raise _Stop(f"{where} is damaged here (a negative size, {size}); {_rest(member.name)}")
        declared = f"declares {_size(size)} ({size:,} bytes)"
        if plain is not None and following > plain:
            raise _Stop(
                f"{where} {declared} for this member, but the archive ends after "
                f"{_size(plain)}: cut short or damaged; {_rest(member.name)}"
            )
        cap = self.limits.max_total_bytes
        if following > cap:
            raise _Stop(
                f"{where} {declared} for this member, more than the {_size(cap)} an archive "
                f"may unpack to (limit max_total_bytes); {_rest(member.name)}"
            )

    def _check_end(
        self, archive: tarfile.TarFile, last: tarfile.HeaderError | None, where: str
    ) -> None:
        """How the archive ended: tarfile takes a damaged header, or a stream cut between
        members, for the end; and ignores what follows the end blocks."""
        if isinstance(last, _EOF_HEADER):  # a block of zeros: the real end
            rest = archive.fileobj
            if rest is None:  # pragma: no cover - a stream archive always has its file
                return
            while chunk := rest.read(_OUT_STEP):
                if chunk.strip(b"\0"):
                    raise _Stop(
                        f"{where} holds data after its end-of-archive blocks (another archive "
                        "appended?); that data was not unpacked"
                    )
            return
        if isinstance(last, _BAD_HEADER):
            raise _Stop(
                f"{where} is damaged here ({last}); the rest of the archive was not unpacked"
            )
        raise _Stop(
            f"{where} ends without tar's end-of-archive blocks: cut short between members; "
            "any members after this point are missing"
        )

    def member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """Check one member and write it; raise :class:`_Refused` with the reason.

        Our own checks come first (their messages name the problem in the archive's
        terms); :func:`tarfile.data_filter` then checks again before anything is written.
        """
        name = member.name
        if "\0" in name or "\0" in member.linkname:
            raise _Refused("has a NUL byte in its name or link target; refused")
        if name.startswith("/"):
            raise _Refused("has an absolute path, outside the scratch area; refused")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if ".." in parts:
            raise _Refused("escapes the scratch area (a '..' in its path); refused")
        if not parts:
            return  # the archive's top directory itself: "./"
        if len(parts) > self.limits.max_depth:
            raise _TooDeep(
                f"lies {len(parts)} directories deep, more than {self.limits.max_depth} "
                "(limit max_depth); refused"
            )
        node = self._refused_links
        for i, part in enumerate(parts[:-1]):
            if part not in node:
                break
            node = node[part]
            if _END in node:
                refused = "/".join(parts[: i + 1])
                raise _Refused(f"lies under the refused link {refused}; refused")
        if member.ischr() or member.isblk():
            raise _Refused("a device file; not created")
        if member.isfifo():
            raise _Refused("a FIFO; not created")
        if member.issparse():
            # a few bytes of archive that write up to max_member_bytes of zeros each
            raise _Refused(f"a sparse file of {_size(member.size)}; not unpacked")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise _Refused(f"member type {member.type!r} is not supported; skipped")
        is_link = member.issym() or member.islnk()
        try:
            hardlink_target = self._check_link(parts, member) if is_link else None
            try:
                tarfile.data_filter(member, self._root)
            except tarfile.FilterError as exc:
                raise _Refused(f"refused by tarfile's data filter: {exc}") from None
        except _Refused:
            if is_link:  # members meant to go through it are refused too
                node = self._refused_links
                for part in parts:
                    node = node.setdefault(part, {})
                node[_END] = {}
            raise

        if member.isdir():
            self._make_dir(parts)
        elif member.issym():
            path = self._replaceable(parts)
            os.symlink(member.linkname, path)
            self._links.append(parts)
        elif hardlink_target is not None:
            self._make_hardlink(parts, hardlink_target)
        else:
            self._make_file(archive, member, parts)

    def _check_link(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> str | None:
        """Refuse a link that leads outside the tree; a hard link's target file when fine.

        A symbolic link's target is relative to the link's directory, a hard link's to the
        archive's top; either must resolve inside the tree as it stands.
        """
        linkname = member.linkname
        kind = "symbolic" if member.issym() else "hard"
        if linkname.startswith("/"):
            raise _Refused(f"{kind} link to {linkname} points outside the archive; not created")
        link_parts = tuple(linkname.split("/"))
        try:
            if member.issym():
                self._resolve(parts[:-1] + link_parts)
                return None
            target = self._resolve(link_parts)
        except _TooDeep as exc:
            raise _Refused(f"{kind} link to {linkname}: {exc}") from None
        except _Refused:
            raise _Refused(
                f"{kind} link to {linkname} points outside the archive; not created"
            ) from None
        try:
            st = os.lstat(target)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise _Refused(f"hard link to {linkname}, which is not a file unpacked before it")
        return target

    def _make_dir(self, parts: tuple[str, ...]) -> None:
        parent = self._parent(parts)
        path = os.path.join(parent, parts[-1])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            self._dirs[parts] = path  # never replaced: a directory is never removed
            return
        if stat.S_ISDIR(st.st_mode):
            return
        if stat.S_ISLNK(st.st_mode) and os.path.isdir(self._resolve(parts)):
            return  # a link to a directory inside the tree: its members go there
        raise _Refused("a directory where the archive already put a file; skipped")

    def _make_hardlink(self, parts: tuple[str, ...], target: str) -> None:
        path = self._replaceable(parts)
        try:
            os.link(target, path, follow_symlinks=False)
        except OSError:  # a file system without hard links: copy
            self._charge(parts, os.lstat(target).st_size)
            shutil.copyfile(target, path, follow_symlinks=False)

    def _make_file(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, parts: tuple[str, ...]
    ) -> None:
        if member.size > self.limits.max_member_bytes:
            raise _Refused(
                f"holds {_size(member.size)}, more than the {_size(self.limits.max_member_bytes)} "
                "one file may hold (limit max_member_bytes); skipped"
            )
        self._charge(parts, member.size)
        content = archive.extractfile(member)
        if content is None:  # pragma: no cover - isreg() members always have content
            raise _Refused("has no content to read; skipped")
        path = self._replaceable(parts)
        mode = 0o755 if member.mode & 0o111 else 0o644
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode
        )
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := content.read(_OUT_STEP):
                    out.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    def _charge(self, parts: tuple[str, ...], size: int) -> None:
        self.written += size
        if self.written > self.limits.max_total_bytes:
            raise _LimitReached(
                f"{self.display}: unpacks to more than {_size(self.limits.max_total_bytes)} "
                f"(reached at {'/'.join(parts)}); refused (limit max_total_bytes)"
            )

    # paths inside the tree ------------------------------------------------------------

    def _parent(self, parts: tuple[str, ...]) -> str:
        """The real directory that will hold ``parts``, made where missing."""
        key = parts[:-1]
        known = self._dirs.get(key)
        if known is not None:
            return known
        path = self._resolve(key, mkdirs=True)
        if not os.path.isdir(path) or os.path.islink(path):
            raise _Refused(f"its directory {'/'.join(key)} is not a directory; skipped")
        return path

    def _replaceable(self, parts: tuple[str, ...]) -> str:
        """The path for a new non-directory entry; an older one there is replaced, as tar
        does, but never a directory."""
        path = os.path.join(self._parent(parts), parts[-1])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return path
        if stat.S_ISDIR(st.st_mode):
            raise _Refused("the archive already put a directory there; skipped")
        os.unlink(path)
        return path

    def _resolve(self, parts: tuple[str, ...], *, mkdirs: bool = False) -> str:
        """The real path ``parts`` names inside the tree, following the tree's own links.

        Links are read one at a time (never ``realpath``, whose answers degrade on long
        paths), so a ``..`` or a link that would leave the tree is caught wherever it
        occurs. Missing components are taken literally, or made as directories when
        ``mkdirs``. Real directories met on the way are remembered for :meth:`_parent`
        (a directory is never replaced, so the memory stays true). Raises :class:`_Refused`.
        """
        pending = list(reversed(parts))
        resolved: list[str] = []  # a real path: links are expanded as they are met
        hops = 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if not resolved:
                    raise _Refused("escapes the scratch area through a link; refused")
                resolved.pop()
                continue
            if len(resolved) >= self.limits.max_depth:
                raise _TooDeep(
                    f"leads more than {self.limits.max_depth} directories deep "
                    "(limit max_depth); refused"
                )
            path = os.path.join(self._root, *resolved, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if mkdirs:
                    os.mkdir(path, 0o755)
                resolved.append(name)
                if mkdirs:
                    self._dirs[tuple(resolved)] = path
                continue
            except NotADirectoryError:
                raise _Refused(f"{'/'.join(resolved)} is not a directory; skipped") from None
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise _Refused("too many levels of symbolic links; refused")
                target = os.readlink(path)
                if target.startswith("/"):
                    raise _Refused("escapes the scratch area through an absolute link; refused")
                pending.extend(reversed(target.split("/")))
                continue
            resolved.append(name)
            if stat.S_ISDIR(st.st_mode):
                self._dirs[tuple(resolved)] = path
        return os.path.join(self._root, *resolved)

    def drop_outward_links(self) -> None:
        """Remove links that a later member turned outward (``a -> b/../c``, then ``b -> .``)
        or into a loop, so that nothing that reads the tree is led outside it."""
        for parts in self._links:
            path = os.path.join(self._root, *parts)
            if not os.path.islink(path):
                continue  # replaced by a later member
            try:
                self._resolve(parts)
            except _Refused:
                os.unlink(path)
                self.note(
                    "/".join(parts),
                    "symbolic link removed after unpacking: later members made it lead "
                    "outside the tree (or into a loop)",
                    skipped=False,
                )


@dataclass(frozen=True, slots=True)
class _ArMember:
    name: str
    offset: int  # of its data
    size: int  # as its header declares
    present: int  # how much of it the file holds

    def cut_short(self) -> str:
        return (
            f"{self.name}: its ar header declares {_size(self.size)} ({self.size:,} bytes), "
            f"but the file ends after {self.present:,} of them"
        )


def _ar_members(fh: IO[bytes], display: str) -> list[_ArMember]:
    """The members of an ``ar`` archive (a .deb's container), up to the end of the file:
    the last may be cut short (``present < size``)."""
    if fh.read(8) != _AR_MAGIC:
        raise UnpackError(f"{display}: not an ar archive")
    end = os.fstat(fh.fileno()).st_size
    members: list[_ArMember] = []
    pos = 8
    while pos < end:
        fh.seek(pos)
        header = fh.read(60)
        if pos == end - 1 and header == b"\n":
            break  # the padding byte after an odd-sized last member
        if len(header) < 60 or header[58:60] != b"`\n":
            raise UnpackError(f"{display}: malformed ar member header at byte {pos}")
        name = header[:16].decode("ascii", "replace").rstrip(" ").rstrip("/")
        if not _AR_SIZE.fullmatch(header[48:58]):
            raise UnpackError(f"{display}: malformed ar member size at byte {pos}")
        size = int(header[48:58])
        present = min(size, end - (pos + 60))
        members.append(_ArMember(name, pos + 60, size, present))
        if present < size:
            break
        pos += 60 + size + (size & 1)
    return members


def _rest(member: str | None) -> str:
    return ("this member and " if member else "") + "the rest of the archive were not unpacked"


class _Stop(Exception):
    """The archive cannot be read on from this member; the message says why (an internal
    signal, never escapes)."""


class _Oversized(tarfile.TarError):
    """A pax or GNU long-name header too large to be a real one."""


_HEADER_KINDS = {
    tarfile.XHDTYPE: "pax",
    tarfile.XGLTYPE: "pax global",
    tarfile.SOLARIS_XHDTYPE: "pax",
    tarfile.GNUTYPE_LONGNAME: "GNU long-name",
    tarfile.GNUTYPE_LONGLINK: "GNU long-link",
}


def _checked_info(ended: list[tarfile.HeaderError]) -> type[tarfile.TarInfo]:
    """A :class:`tarfile.TarInfo` that refuses a pax or long-name header larger than
    ``_MAX_HEADER_BYTES`` before tarfile reads it into memory, and keeps in ``ended`` why
    the last header could not be read (tarfile takes any such header for the end)."""

    class Checked(tarfile.TarInfo):
        @classmethod
        def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
            try:
                return super().fromtarfile(tarfile_)
            except tarfile.HeaderError as exc:
                ended.append(exc)
                raise

        def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
            kind = _HEADER_KINDS.get(self.type)
            if kind is not None and not 0 <= self.size <= _MAX_HEADER_BYTES:
                raise _Oversized(
                    f"a {kind} header declares {_size(self.size)}, more than "
                    f"{_size(_MAX_HEADER_BYTES)}; not read"
                )
            # tarfile documents _proc_member as the method a subclass overrides
            proc: Callable[[tarfile.TarFile], tarfile.TarInfo] = getattr(super(), "_proc_member")  # noqa: B009
            return proc(tarfile_)

    return Checked


# tarfile's reasons a header is not read (not in typeshed): zeros (the end), and damage
_EOF_HEADER: type[tarfile.HeaderError] = vars(tarfile)["EOFHeaderError"]
_BAD_HEADER: tuple[type[tarfile.HeaderError], ...] = (
    vars(tarfile)["InvalidHeaderError"],
    vars(tarfile)["TruncatedHeaderError"],
)

# what tarfile lets escape from a damaged header besides TarError (e.g. a GNU sparse map
# that is not numbers)
_HEADER_FAULTS = (ValueError, OverflowError, IndexError, KeyError, UnicodeError)


def _next_member(archive: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return archive.next()
    except _HEADER_FAULTS as exc:
        raise tarfile.ReadError(f"a damaged header ({type(exc).__name__}: {exc})") from None


def _size(n: int) -> str:
    if n >= 1024 * PiB:
        return f"{n / PiB:.3g} PiB"
    for unit, scale in (("PiB", PiB), ("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _remove_tree(path: Path) -> None:
    """Remove the scratch area, making read-only directories writable on the way.

    Iterative and relative to one open directory at a time (:func:`shutil.rmtree` recurses
    in Python 3.11: 2,100 nested directories made it fail with RecursionError and leave
    the area behind; paths that deep are also longer than the system allows). Never
    follows a symbolic link; never raises: what cannot be removed stays.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    names: list[str] = []  # the directories descended into, from ``path`` down
    stuck: set[tuple[int, int]] = set()  # directories that could not be removed
    try:
        while True:
            sub = _empty_but_directories(fd, stuck)
            if sub is not None:
                try:
                    child = os.open(sub, flags, dir_fd=fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.chmod(sub, 0o700, dir_fd=fd)
                    try:
                        child = os.open(sub, flags, dir_fd=fd)
                    except OSError:
                        with contextlib.suppress(OSError):
                            st = os.stat(sub, dir_fd=fd, follow_symlinks=False)
                            stuck.add((st.st_dev, st.st_ino))
                        continue
                os.close(fd)
                fd = child
                names.append(sub)
                continue
            if not names:
                break
            here = os.fstat(fd)
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            name = names.pop()
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.chmod(fd, 0o700)  # a read-only directory holds it
                    os.rmdir(name, dir_fd=fd)
                    continue
                stuck.add((here.st_dev, here.st_ino))
    except OSError:
        pass
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _empty_but_directories(fd: int, stuck: set[tuple[int, int]]) -> str | None:
    """Remove everything but directories in the open directory ``fd``; the name of a
    directory left in it to descend into, or None."""
    try:
        entries = list(os.scandir(fd))
    except OSError:
        return None
    found = None
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if found is None and (st.st_dev, st.st_ino) not in stuck:
                found = entry.name
            continue
        try:
            os.unlink(entry.name, dir_fd=fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.chmod(fd, 0o700)
                os.unlink(entry.name, dir_fd=fd)
    return found
