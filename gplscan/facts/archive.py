"""Static libraries (``ar`` archives, GNU thin archives): their member objects, one by one.

An archive linked into a binary (``ldflags-y += --whole-archive $(src)/lib/x.a``) is as
many objects as it has members; each is judged like any object. The format: an 8-byte
magic, then 60-byte member headers (name, size in decimal at bytes 48-58, ``\\x60\\n`` at
58-60), data padded to an even offset. GNU keeps long names in the ``//`` member (a name
``/123`` is an offset into it) and the symbol index in ``/``; BSD writes ``#1/<len>`` and
puts the name before the data. A thin archive (``!<thin>``) holds only headers: each
member is a file named relative to the archive. Every size is checked against what is
there; a damaged archive is an :class:`ArchiveError` with the reason, never a guess.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from gplscan.errors import GplscanError

AR_MAGIC = b"!<arch>\n"
THIN_MAGIC = b"!<thin>\n"
MAX_MEMBERS = 100_000


class ArchiveError(GplscanError):
    """An archive whose members cannot be read, and why."""


def members(path: Path, data: bytes, root: Path) -> Iterator[tuple[str, bytes]]:
    """(member name, member bytes) of each member of the archive ``data`` (read from
    ``path``; a thin archive's members are read from beside it, never outside ``root``)."""
    thin = data.startswith(THIN_MAGIC)
    if not thin and not data.startswith(AR_MAGIC):
        raise ArchiveError("not an ar archive")
    names = b""
    offset = 8
    count = 0
    while offset < len(data):
        if offset + 60 > len(data):
            raise ArchiveError(f"member header at byte {offset} is cut short")
        header = data[offset : offset + 60]
        if header[58:60] != b"`\n":
            raise ArchiveError(f"member header at byte {offset} is damaged")
        try:
            size = int(header[48:58].decode("ascii").strip() or "0")
        except (UnicodeDecodeError, ValueError):
            raise ArchiveError(f"member header at byte {offset}: size is not a number") from None
        if size < 0:
            raise ArchiveError(f"member header at byte {offset}: negative size")
        raw = header[:16].rstrip(b" ")
        start = offset + 60
        count += 1
        if count > MAX_MEMBERS:
            raise ArchiveError(f"more than {MAX_MEMBERS} members")
        special = raw in (b"/", b"//", b"/SYM64/", b"__.SYMDEF", b"__.SYMDEF SORTED")
        stored = 0 if thin and not special else size  # a thin archive stores no data
        if start + stored > len(data):
            raise ArchiveError(f"member at byte {offset} declares {size} bytes; the file ends")
        body = data[start : start + stored]
        if raw == b"//":
            names = body
        elif not special:
            name = _name(raw, names)
            if raw.startswith(b"#1/"):  # BSD: the name precedes the data
                length = int(raw[3:]) if raw[3:].isdigit() else 0
                name, body = body[:length].rstrip(b"\0").decode("utf-8", "replace"), body[length:]
            if thin:
                member = (path.parent / name).resolve()
                if not member.is_relative_to(root.resolve()) or not member.is_file():
                    raise ArchiveError(f"thin member {name} is not in the target")
                body = member.read_bytes()
            else:
                name = os.path.basename(name)
            yield name, body
        offset = start + stored + (stored & 1)


def _name(raw: bytes, names: bytes) -> str:
    if raw.startswith(b"/") and raw[1:].isdigit():  # GNU: an offset into the // member
        at = int(raw[1:])
        end = names.find(b"/\n", at)
        raw = names[at : end if end >= 0 else len(names)]
    return raw.rstrip(b"/").decode("utf-8", "replace")
