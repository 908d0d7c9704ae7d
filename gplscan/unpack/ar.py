"""Reading an ``ar`` archive's member table (a Debian package's container).

Every size a member header declares is checked against what the file holds before a byte
of it is read: the last member may be cut short, and says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import IO

from gplscan.errors import UnpackError
from gplscan.kernel_names import AR_MAGIC
from gplscan.unpack.limits import human_size

_AR_SIZE = re.compile(rb" *[0-9]+ *")  # an ar header's size: decimal digits, space-padded


@dataclass(frozen=True, slots=True)
class ArMember:
    """One member as its header describes it, and how much of it the file holds."""

    name: str
    offset: int  # of its data
    size: int  # as its header declares
    present: int  # how much of it the file holds

    def cut_short(self) -> str:
        return (
            f"{self.name}: its ar header declares {human_size(self.size)} ({self.size:,} bytes), "
            f"but the file ends after {self.present:,} of them"
        )


def ar_members(fh: IO[bytes], display: str) -> list[ArMember]:
    """The members of an ``ar`` archive (a .deb's container), up to the end of the file:
    the last may be cut short (``present < size``)."""
    if fh.read(8) != AR_MAGIC:
        raise UnpackError(f"{display}: not an ar archive")
    end = os.fstat(fh.fileno()).st_size
    members: list[ArMember] = []
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
        members.append(ArMember(name, pos + 60, size, present))
        if present < size:
            break
        pos += 60 + size + (size & 1)
    return members
