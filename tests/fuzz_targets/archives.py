"""Fuzz targets for what gplscan unpacks: tarballs (plain, gzip, xz, zstd), Debian packages
(an ``ar`` container around ``data.tar.*``), static libraries (``ar`` and GNU thin
archives, read member by member) and compressed kernel modules.

Each input is fed the way a scan feeds it (a file given to :func:`gplscan.unpack.prepare`,
the bytes of a ``.a`` to :func:`gplscan.facts.archive.members`, a ``.ko.*`` to
:func:`gplscan.unpack.decompress_module`), with small limits so one run takes
milliseconds. The property: the input ends as content or as a reported problem (a note on
the unpacked tree, an :class:`UnpackError` or :class:`ArchiveError` with the reason), never
a traceback and never a silent drop: an archive unpacked without a single note holds every
regular file a second reader finds in it, byte for byte, and a static library's headers
the checker passes are the ones the reader reads.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import zstandard

from gplscan.errors import ArchiveError, UnpackError
from gplscan.facts.archive import damage, members
from gplscan.unpack import Limits, Prepared, decompress_module, prepare
from tests.fuzz_targets import Target

# small enough that a run stays in milliseconds, large enough for every seed
LIMITS = Limits(
    max_total_bytes=4 << 20,
    max_member_bytes=1 << 20,
    max_members=500,
    ratio_grace_bytes=256 << 10,
    max_depth=32,
)

FILES = {
    "drv/Makefile": b"obj-m += drv.o\ndrv-objs := main.o blob.o\n",
    "drv/main.c": b'// SPDX-License-Identifier: GPL-2.0\nMODULE_LICENSE("GPL");\n',
    "drv/blob.o_shipped": b"\x7fELF\x02\x01\x01" + bytes(range(256)),
    "drv/a_rather_long_directory_name_for_ustar/" + "n" * 90 + ".h": b"#define N 1\n",
}


def _python_tars() -> list[bytes]:
    """The same tree in each of tarfile's formats, with a link of each kind."""
    out = []
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
            top = tarfile.TarInfo("drv")
            top.type = tarfile.DIRTYPE
            top.mode = 0o755
            archive.addfile(top)
            for name, data in FILES.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            link = tarfile.TarInfo("drv/Kbuild")
            link.type = tarfile.SYMTYPE
            link.linkname = "Makefile"
            archive.addfile(link)
            hard = tarfile.TarInfo("drv/main2.c")
            hard.type = tarfile.LNKTYPE
            hard.linkname = "drv/main.c"
            archive.addfile(hard)
        out.append(buf.getvalue())
    return out


def _tool_tar(scratch: Path) -> list[bytes]:
    """The tree as GNU tar writes it (padded to its 10 KiB records), when tar is there."""
    if shutil.which("tar") is None:
        return []
    tree = scratch / "tree"
    for name, data in FILES.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    proc = subprocess.run(
        ["tar", "-C", str(tree), "--owner=0", "--group=0", "-cf", "-", "drv"],
        capture_output=True,
        check=True,
    )
    shutil.rmtree(tree)
    return [proc.stdout]


def tar_seeds(scratch: Path) -> list[bytes]:
    return _tool_tar(scratch) + _python_tars()


def _compress(codec: str, data: bytes) -> bytes:
    if codec == "gz":
        return gzip.compress(data, mtime=0)
    if codec == "xz":
        return lzma.compress(data, preset=1)
    return zstandard.ZstdCompressor(level=3).compress(data)


def _compressed_seeds(codec: str, tool: str) -> Callable[[Path], list[bytes]]:
    def seeds(scratch: Path) -> list[bytes]:
        plain = tar_seeds(scratch)[:2]
        out = [_compress(codec, p) for p in plain]
        if shutil.which(tool):  # and once as the real tool writes it
            proc = subprocess.run([tool, "-c"], input=plain[0], capture_output=True, check=True)
            out.append(proc.stdout)
        return out

    return seeds


def _unpack(data: bytes, scratch: Path, name: str) -> None:
    """Unpack ``data`` as the file ``name``: the notes and the tree are checked inside,
    then the scratch area must be gone."""
    target = scratch / name
    target.write_bytes(data)
    area = scratch / "area"
    area.mkdir()
    try:
        with prepare(target, scratch=area, limits=LIMITS) as prepared:
            for note in prepared.notes:
                assert note.message and note.stage == "unpack", note
            if prepared.origin != "file":
                _check_tree(prepared.root, data if name.endswith(".tar") else None, prepared)
    except UnpackError as exc:
        assert str(exc), "an UnpackError says why"
    assert list(area.iterdir()) == [], "the scratch area is removed"


def _check_tree(root: Path, plain: bytes | None, prepared: Prepared) -> None:
    """Without a note, every regular file tarfile reads from a plain tar is in the tree."""
    if plain is None or prepared.notes:
        return
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as archive:
            listed = archive.getmembers()
            if any(not (m.isreg() or m.isdir()) for m in listed):
                return  # links and the rest: checked by the unit tests, not here
            last = {}
            for m in listed:
                parts = tuple(p for p in m.name.split("/") if p not in ("", "."))
                last[parts] = m
            for parts, m in last.items():
                if not m.isreg() or not parts:
                    continue
                content = archive.extractfile(m)
                assert content is not None
                expected = content.read()
                path = root.joinpath(*parts)
                assert path.is_file(), f"{'/'.join(parts)} was dropped without a note"
                assert path.read_bytes() == expected, f"{'/'.join(parts)} differs, no note"
    except (tarfile.TarError, EOFError, ValueError, OSError, UnicodeError):
        return  # the second reader cannot read it either


def unpack_tar(data: bytes, scratch: Path) -> None:
    _unpack(data, scratch, "in.tar")


def _unpack_as(name: str) -> Callable[[bytes, Path], None]:
    def run(data: bytes, scratch: Path) -> None:
        _unpack(data, scratch, name)

    return run


# --- .deb ---------------------------------------------------------------------------------


def _ar_member(name: bytes, data: bytes) -> bytes:
    head = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) * 2 + b"100644".ljust(8)
    head += str(len(data)).encode().ljust(10) + b"`\n"
    return head + data + (b"\n" if len(data) & 1 else b"")


def deb_seeds(scratch: Path) -> list[bytes]:
    plain = _python_tars()[0]
    control = _python_tars()[1][:2048]
    out = [
        b"!<arch>\n"
        + _ar_member(b"debian-binary", b"2.0\n")
        + _ar_member(b"control.tar", control)
        + _ar_member(name, data)
        for name, data in (
            (b"data.tar", plain),
            (b"data.tar.xz", _compress("xz", plain)),
            (b"data.tar.zst", _compress("zst", plain)),
        )
    ]
    if shutil.which("dpkg-deb"):
        pkg = scratch / "pkg"
        (pkg / "DEBIAN").mkdir(parents=True)
        (pkg / "DEBIAN" / "control").write_text(
            "Package: drv-dkms\nVersion: 1.0\nArchitecture: all\n"
            "Maintainer: T <t@example.org>\nDescription: d\n"
        )
        for name, data in FILES.items():
            path = pkg / "usr" / "src" / "drv-1.0" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        deb = scratch / "drv.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(deb)],
            capture_output=True,
            check=True,
        )
        out.append(deb.read_bytes())
        shutil.rmtree(pkg)
    return out


# --- static libraries ---------------------------------------------------------------------

OBJECTS = {
    "a.o": b"\x7fELF\x02\x01\x01\0object a",
    "b.o": b"\x7fELF\x02\x01\x01\0object b!",
    "a_member_name_longer_than_16.o": b"\x7fELF\x02\x01\x01\0long",
}


def ar_seeds(scratch: Path) -> list[bytes]:
    out = [
        b"!<arch>\n"
        + _ar_member(b"/", b"\0\0\0\0")
        + _ar_member(b"//", b"a_member_name_longer_than_16.o/\n")
        + _ar_member(b"/0", OBJECTS["a_member_name_longer_than_16.o"])
        + _ar_member(b"a.o/", OBJECTS["a.o"]),
        b"!<arch>\n" + _ar_member(b"#1/8", b"bsd.o\0\0\0" + OBJECTS["b.o"]),
    ]
    if shutil.which("ar"):
        for name, data in OBJECTS.items():
            (scratch / name).write_bytes(data)
        names = sorted(OBJECTS)
        for flags, lib in (("rcs", "lib.a"), ("rcsT", "thin.a")):
            subprocess.run(["ar", flags, lib, *names], cwd=scratch, check=True)
            out.append((scratch / lib).read_bytes())
    return out


def read_ar(data: bytes, scratch: Path) -> None:
    """A static library: its members, or why not; the header check (used for archives
    nothing links) agrees with the reader on every header."""
    for name, obj in OBJECTS.items():  # what a thin archive names, beside it
        (scratch / name).write_bytes(obj)
    path = scratch / "lib.a"
    path.write_bytes(data)
    found = damage(data)
    try:
        got = list(members(path, data, scratch))
    except ArchiveError as exc:
        assert str(exc), "an ArchiveError says why"
        thin = data.startswith(b"!<thin>\n")
        assert found is not None or (thin and "thin member" in str(exc)), (
            f"the reader refused ({exc}) what the header check passed"
        )
        return
    assert found is None, f"the header check says {found!r}, the reader read it"
    for name, body in got:
        assert isinstance(name, str) and name and isinstance(body, bytes)


# --- compressed modules -------------------------------------------------------------------


def module_seeds(scratch: Path) -> list[bytes]:
    elf = b"\x7fELF\x02\x01\x01" + os.urandom(256) + bytes(4096) + b"license=GPL\0"
    out = [gzip.compress(elf, mtime=0), lzma.compress(elf, preset=1), _compress("zst", elf)]
    for tool in ("xz", "zstd", "gzip"):
        if shutil.which(tool):
            proc = subprocess.run([tool, "-c"], input=elf, capture_output=True, check=True)
            out.append(proc.stdout)
    return out


def read_module(data: bytes, scratch: Path) -> None:
    """The module's bytes, or an UnpackError with the reason; never beyond the limits."""
    try:
        out = decompress_module(data, "m.ko.xz", LIMITS)
    except UnpackError as exc:
        assert str(exc).startswith("m.ko.xz: "), exc
        return
    assert len(out) <= LIMITS.max_member_bytes or out is data


TARGETS = [
    Target("tar", tar_seeds, unpack_tar),
    Target("tar-gz", _compressed_seeds("gz", "gzip"), _unpack_as("in.tar.gz")),
    Target("tar-xz", _compressed_seeds("xz", "xz"), _unpack_as("in.tar.xz")),
    Target("tar-zst", _compressed_seeds("zst", "zstd"), _unpack_as("in.tar.zst")),
    Target("deb", deb_seeds, _unpack_as("in.deb")),
    Target("ar", ar_seeds, read_ar),
    Target("module", module_seeds, read_module),
]
