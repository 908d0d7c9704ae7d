"""Decompressing gzip, xz, lzma, bzip2 and zstd data in bounded steps, metered.

Concatenated streams are read one after the other; output comes in steps of at most a
few MiB, so that :class:`Meter` can stop a decompression bomb before it fills memory or
the disk. Corrupt or cut-short data raises :class:`Damaged`, which callers turn into a
note or an :class:`~gplscan.errors.UnpackError`.
"""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Protocol

from gplscan.errors import LimitReached
from gplscan.kernel_names import GZIP_MAGIC, XZ_MAGIC, ZSTD_MAGIC
from gplscan.unpack.limits import KiB, Limits, MiB, human_size

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

OUT_STEP = 1 * MiB  # most output one decompression step may produce
_IN_STEP = 64 * KiB  # compressed bytes read at a time
_ZSTD_PIECE = 1 * KiB  # zstd output is unbounded per call: feed it small pieces (<= 32 MiB out)


class Damaged(Exception):
    """Compressed data that is corrupt or cut short (an internal signal, never escapes)."""


class Input:
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


class Meter:
    """Counts decompressed bytes and stops a stream that grows past a limit."""

    def __init__(self, source: Input, limits: Limits, where: str, *, cap: str, what: str):
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
            raise LimitReached(
                f"{self._where}: the {self._what} unpacks to more than {human_size(self._cap)}; "
                f"refused (limit {self._cap_name})"
            )
        consumed = max(self._source.consumed, 1)
        if self.produced > limits.ratio_grace_bytes and self.produced > limits.max_ratio * consumed:
            raise LimitReached(
                f"{self._where}: decompresses at more than {limits.max_ratio}:1 "
                f"({human_size(self.produced)} from {human_size(consumed)}); refused as a likely "
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


def sniff_codec(head: bytes) -> str | None:
    """The compression a stream starts with, from its magic bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[3:4] != b"0":
        return "bzip2"
    return None


def chunks(codec: str, source: Input) -> Iterator[bytes]:
    """Decompressed output of ``source`` in steps of at most a few MiB.

    Concatenated streams (multi-member gzip, pbzip2, several xz streams or zstd frames)
    are read one after the other; bytes after the last stream that do not start another
    one (padding) end the data. Raises :class:`Damaged` for corrupt or cut-short data.
    """
    try:
        if codec == "none":
            while chunk := source.read(OUT_STEP):
                yield chunk
        elif codec == "gzip":
            yield from _gzip_chunks(source)
        elif codec in ("xz", "lzma"):
            fmt = lzma.FORMAT_XZ if codec == "xz" else lzma.FORMAT_ALONE
            yield from _std_chunks(source, lambda: lzma.LZMADecompressor(format=fmt), XZ_MAGIC)
        elif codec == "bzip2":
            yield from _std_chunks(source, bz2.BZ2Decompressor, b"BZh")
        elif codec == "zstd":
            yield from _zstd_chunks(source)
        else:
            raise AssertionError(codec)
    except (lzma.LZMAError, zlib.error, OSError, EOFError) as exc:
        raise Damaged(f"corrupt {codec} data ({exc})") from None


def _next_stream(source: Input, rest: bytes, magic: bytes) -> bytes | None:
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
    source: Input, make: Callable[[], _StdDecompressor], magic: bytes
) -> Iterator[bytes]:
    data: bytes | None = source.read(_IN_STEP)
    while data is not None:
        dec = make()
        while True:
            out = dec.decompress(data, OUT_STEP)
            if out:
                yield out
            if dec.eof:
                break
            if not data and not out:
                raise Damaged("the compressed data is cut short")
            data = source.read(_IN_STEP) if dec.needs_input else b""
        data = _next_stream(source, dec.unused_data, magic)


def _gzip_chunks(source: Input) -> Iterator[bytes]:
    data: bytes | None = source.read(_IN_STEP)
    while data is not None:
        dec = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while True:
            out = dec.decompress(data, OUT_STEP)
            if out:
                yield out
            if dec.eof:
                break
            if not data and not out:
                raise Damaged("the compressed data is cut short")
            data = dec.unconsumed_tail or source.read(_IN_STEP)
        data = _next_stream(source, dec.unused_data, GZIP_MAGIC)


def _zstd_chunks(source: Input) -> Iterator[bytes]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        raise Damaged("zstd data needs the 'zstandard' package") from None
    data: bytes | None = source.read(_IN_STEP)
    try:
        while data is not None:
            dec = zstandard.ZstdDecompressor().decompressobj()
            pending = memoryview(data)
            while not dec.eof:
                if not pending:
                    pending = memoryview(source.read(_IN_STEP))
                    if not pending:
                        raise Damaged("the compressed data is cut short")
                out = dec.decompress(pending[:_ZSTD_PIECE])
                pending = pending[_ZSTD_PIECE:]
                for at in range(0, len(out), OUT_STEP):
                    yield out[at : at + OUT_STEP]
            data = _next_stream(source, dec.unused_data + bytes(pending), ZSTD_MAGIC)
    except zstandard.ZstdError as exc:
        raise Damaged(f"corrupt zstd data ({exc})") from None


class Decoded(io.RawIOBase):
    """A decompressed stream as a file for :mod:`tarfile`, metered as it is read."""

    def __init__(self, chunks: Iterator[bytes], meter: Meter) -> None:
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
