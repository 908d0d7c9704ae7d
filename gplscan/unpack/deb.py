"""Unpacking a Debian binary package: its ``ar`` container, its ``data.tar.*``, and the
single DKMS source tree (``usr/src/<pkg>-<version>``) it may hold."""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import IO

from gplscan.errors import UnpackError
from gplscan.unpack.ar import ar_members
from gplscan.unpack.decompress import Input, sniff_codec
from gplscan.unpack.tar import unpack_tar
from gplscan.unpack.tree import TreeWriter


def unpack_deb(writer: TreeWriter, fh: IO[bytes]) -> None:
    """Unpack the Debian binary package open as ``fh``: its ``data.tar.*`` member, read
    out of the ``ar`` container."""
    display = writer.display
    members = ar_members(fh, display)
    if not members or members[0].name != "debian-binary":
        raise UnpackError(f"{display}: not a Debian package (no debian-binary)")
    fh.seek(members[0].offset)
    version = fh.read(min(members[0].present, 16))
    if not version.startswith(b"2."):
        raise UnpackError(
            f"{display}: Debian package format {version.strip()!r} is not supported (only 2.x)"
        )
    data = next((m for m in members if m.name.startswith("data.tar")), None)
    last = members[-1]
    if data is None:
        if last.present < last.size:  # the members after it are not there
            raise UnpackError(f"{display}: {last.cut_short()}; no data.tar member")
        raise UnpackError(f"{display}: not a Debian package (no data.tar member)")
    if data.present < data.size:
        writer.note(
            data.name,
            f"{display}: {data.cut_short()}; what it holds is unpacked, the rest is missing",
            skipped=True,
        )
    fh.seek(data.offset)
    head = fh.read(8)
    fh.seek(data.offset)
    source = Input(fh, data.present)
    codec = sniff_codec(head) or ("lzma" if data.name.endswith(".lzma") else "none")
    unpack_tar(writer, source, codec, f"{display}: {data.name}", length=data.present)


def dkms_source_root(writer: TreeWriter) -> PurePosixPath | None:
    """``usr/src/<pkg>-<version>`` when the unpacked package holds exactly one such tree."""
    src = writer.tree / "usr" / "src"
    try:
        entries = sorted(e.name for e in os.scandir(src) if e.is_dir(follow_symlinks=False))
    except OSError:
        return None
    if len(entries) == 1:
        return PurePosixPath("usr/src", entries[0])
    if entries:
        writer.note(
            "usr/src",
            f"holds {len(entries)} source trees ({', '.join(entries)}); no single DKMS source tree",
            skipped=False,
        )
    return None
