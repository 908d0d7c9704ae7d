"""Static libraries (``ar`` archives, GNU thin archives): their member objects, one by one.

An archive linked into a binary (``ldflags-y += --whole-archive $(src)/lib/x.a``) is as
many objects as it has members; each is judged like any object. The format: an 8-byte
magic, then 60-byte member headers (name, size in decimal at bytes 48-58, ``\\x60\\n`` at
58-60), data padded to an even offset. GNU keeps long names in the ``//`` member (a name
``/123`` is an offset into it) and the symbol index in ``/``; BSD writes ``#1/<len>`` and
puts the name before the data. A thin archive (``!<thin>``) holds only headers: each
member is a file named relative to the archive. Every size is checked against what is
there, and so is every field read (a size is decimal digits, a long name's offset lies in
the ``//`` member, a BSD name fits its member); a damaged archive is an
:class:`ArchiveError` with the reason, never a guess. :func:`damage` checks all of that
without reading a thin archive's member files, for archives nothing links.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gplscan.errors import ArchiveError
from gplscan.kernel_names import AR_MAGIC, THIN_AR_MAGIC

MAX_MEMBERS = 100_000


_SIZE = re.compile(rb" *[0-9]+ *")  # decimal digits, padded with spaces
_SPECIAL = (b"/", b"//", b"/SYM64/", b"__.SYMDEF", b"__.SYMDEF SORTED")


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str  # as the archive names it (a thin member: a path relative to the archive)
    body: bytes  # the data stored in the archive (none for a thin member)


def members(path: Path, data: bytes, root: Path) -> Iterator[tuple[str, bytes]]:
    """(member name, member bytes) of each member of the archive ``data`` (read from
    ``path``; a thin archive's members are read from beside it, never outside ``root``)."""
    thin = data.startswith(THIN_AR_MAGIC)
    top = root.resolve()
    for entry in _entries(data):
        if not thin:
            yield os.path.basename(entry.name), entry.body
            continue
        try:
            member = (path.parent / entry.name).resolve()
            inside = member.is_relative_to(top) and member.is_file()
        except (OSError, ValueError):  # a NUL byte, a loop of links
            inside = False
        if not inside:
            raise ArchiveError(f"thin member {entry.name!r} is not in the target")
        try:
            body = member.read_bytes()
        except OSError as exc:
            raise ArchiveError(f"thin member {entry.name!r}: {exc.strerror or exc}") from None
        yield entry.name, body


def damage(data: bytes) -> str | None:
    """Why the archive ``data`` cannot be read, or None: every header, size and name is
    checked; a thin archive's member files are not read."""
    try:
        for _ in _entries(data):
            pass
    except ArchiveError as exc:
        return str(exc)
    return None


def _entries(data: bytes) -> Iterator[_Entry]:
    thin = data.startswith(THIN_AR_MAGIC)
    if not thin and not data.startswith(AR_MAGIC):
        raise ArchiveError("not an ar archive")
    names: bytes | None = None
    offset = 8
    count = 0
    while offset < len(data):
        if offset == len(data) - 1 and data[offset:] == b"\n":
            return  # the padding byte after an odd-sized last member
        if offset + 60 > len(data):
            raise ArchiveError(f"member header at byte {offset} is cut short")
        header = data[offset : offset + 60]
        if header[58:60] != b"`\n":
            raise ArchiveError(f"member header at byte {offset} is damaged")
        field = header[48:58]
        if not _SIZE.fullmatch(field):
            if field.strip().startswith(b"-"):
                raise ArchiveError(f"member header at byte {offset}: negative size")
            raise ArchiveError(f"member header at byte {offset}: size is not a number")
        size = int(field)
        raw = header[:16].rstrip(b" ")
        start = offset + 60
        count += 1
        if count > MAX_MEMBERS:
            raise ArchiveError(f"more than {MAX_MEMBERS} members")
        special = raw in _SPECIAL
        stored = 0 if thin and not special else size  # a thin archive stores no data
        if start + stored > len(data):
            raise ArchiveError(f"member at byte {offset} declares {size} bytes; the file ends")
        body = data[start : start + stored]
        if raw == b"//":
            names = body
        elif not special:
            name, body = _name(raw, names, body, offset)
            yield _Entry(name, body)
        offset = start + stored + (stored & 1)


def _name(raw: bytes, names: bytes | None, body: bytes, offset: int) -> tuple[str, bytes]:
    """A member's name, and its data (a BSD name is stored before the data)."""
    where = f"member header at byte {offset}"
    if raw.startswith(b"#1/"):  # BSD: the name precedes the data
        if not raw[3:].isdigit() or int(raw[3:]) > len(body):
            raise ArchiveError(f"{where}: a BSD name length {raw[3:]!r} that does not fit")
        length = int(raw[3:])
        name, body = body[:length].rstrip(b"\0"), body[length:]
    elif raw.startswith(b"/") and raw[1:].isdigit():  # GNU: an offset into the // member
        at = int(raw[1:])
        if names is None or at >= len(names):
            raise ArchiveError(f"{where}: long name {raw.decode()} is not in the name table")
        end = names.find(b"/\n", at)
        name = names[at : end if end >= 0 else len(names)]
    else:
        name = raw.rstrip(b"/")
    if not name.strip(b"\0 "):
        raise ArchiveError(f"{where}: a member without a name")
    return name.rstrip(b"/").decode("utf-8", "replace"), body
