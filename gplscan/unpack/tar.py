"""Reading a tar stream (plain, or compressed with any codec of
:mod:`~gplscan.unpack.decompress`) and handing its members to a
:class:`~gplscan.unpack.tree.TreeWriter`.

tarfile trusts what headers declare; here every declared size (a member's, a pax or GNU
long-name header's) is checked against the limits and against what the input holds before
tarfile reads or skips a byte of it, and how the archive ended (real end blocks, damage, a
stream cut between members, data appended after the end) becomes a note.
"""

from __future__ import annotations

import errno
import tarfile
from collections.abc import Callable
from typing import Self

from gplscan.errors import LimitReached, UnpackError
from gplscan.unpack.decompress import OUT_STEP, Damaged, Decoded, Input, Meter, chunks
from gplscan.unpack.limits import KiB, MiB, human_size
from gplscan.unpack.tree import Refused, TreeWriter

_FATAL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # the scratch area itself fails
# tarfile reads a pax or GNU long-name header into memory whole: long names, link targets
# and extended attributes take a few KiB; anything near this is not a real header
_MAX_HEADER_BYTES = 1 * MiB


def looks_like_tar(block: bytes) -> bool:
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


def unpack_tar(
    writer: TreeWriter, source: Input, codec: str, where: str, *, length: int | None = None
) -> None:
    """Unpack one tar stream, compressed with ``codec`` ("none" for a plain tar, whose
    size is ``length`` when known)."""
    limits = writer.limits
    meter = Meter(source, limits, where, cap="max_total_bytes", what="archive")
    stream = Decoded(chunks(codec, source), meter)
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
                _check_extent(limits.max_total_bytes, member, archive.offset, plain, where)
                writer.members += 1
                if writer.members > limits.max_members:
                    raise LimitReached(
                        f"{where}: more than {limits.max_members} members; refused "
                        "(limit max_members)"
                    )
                _one_member(writer, archive, member, where)
                done += 1
                current = None
            _check_end(archive, ended[-1] if ended else None, where)
    except _Stop as exc:
        writer.note(current or ".", str(exc), skipped=True)
    except LimitReached as exc:
        writer.note(current or ".", f"{exc}; {_rest(current)}", skipped=True)
    except (Damaged, tarfile.TarError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if done == 0:
            raise UnpackError(f"{where}: not a readable tar archive ({reason})") from None
        writer.note(
            current or ".",
            f"{where} is damaged here ({reason}); {_rest(current)}",
            skipped=True,
        )
    if source.trailing:
        writer.note(
            ".",
            f"{where}: bytes after the end of the {codec} data were not read "
            "(not another compressed stream)",
            skipped=False,
        )


def _one_member(
    writer: TreeWriter, archive: tarfile.TarFile, member: tarfile.TarInfo, where: str
) -> None:
    """Write one member, or note why not (a write error of the scratch area itself stops
    everything)."""
    try:
        writer.member(archive, member)
    except Refused as exc:
        writer.note(member.name, str(exc), skipped=member.isreg())
    except OSError as exc:
        if exc.errno in _FATAL_ERRNOS:
            raise UnpackError(
                f"{where}: cannot write into the scratch area {writer.tree}: {exc.strerror or exc}"
            ) from exc
        writer.note(
            member.name,
            f"cannot be written: {exc.strerror or exc}; skipped",
            skipped=member.isreg(),
        )


def _check_extent(
    cap: int, member: tarfile.TarInfo, following: int, plain: int | None, where: str
) -> None:
    """Stop at a member whose data cannot be there or cannot be read within the limits
    (``cap`` is ``max_total_bytes``), before tarfile reads or skips a byte of it (it would
    skip a 1 PiB declaration block by block, for days). ``following`` is where tarfile will
    look for the next header."""
    size = member.size
    if size < 0 or following < member.offset_data:
        raise _Stop(f"{where} is damaged here (a negative size, {size}); {_rest(member.name)}")
    declared = f"declares {human_size(size)} ({size:,} bytes)"
    if plain is not None and following > plain:
        raise _Stop(
            f"{where} {declared} for this member, but the archive ends after "
            f"{human_size(plain)}: cut short or damaged; {_rest(member.name)}"
        )
    if following > cap:
        raise _Stop(
            f"{where} {declared} for this member, more than the {human_size(cap)} an archive "
            f"may unpack to (limit max_total_bytes); {_rest(member.name)}"
        )


def _check_end(archive: tarfile.TarFile, last: tarfile.HeaderError | None, where: str) -> None:
    """How the archive ended: tarfile takes a damaged header, or a stream cut between
    members, for the end; and ignores what follows the end blocks."""
    if isinstance(last, _EOF_HEADER):  # a block of zeros: the real end
        rest = archive.fileobj
        if rest is None:  # pragma: no cover - a stream archive always has its file
            return
        while chunk := rest.read(OUT_STEP):
            if chunk.strip(b"\0"):
                raise _Stop(
                    f"{where} holds data after its end-of-archive blocks (another archive "
                    "appended?); that data was not unpacked"
                )
        return
    if isinstance(last, _BAD_HEADER):
        raise _Stop(f"{where} is damaged here ({last}); the rest of the archive was not unpacked")
    raise _Stop(
        f"{where} ends without tar's end-of-archive blocks: cut short between members; "
        "any members after this point are missing"
    )


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
                    f"a {kind} header declares {human_size(self.size)}, more than "
                    f"{human_size(_MAX_HEADER_BYTES)}; not read"
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
