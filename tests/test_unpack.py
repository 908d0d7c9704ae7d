"""Unpacking targets as users have them: .deb, tarballs, compressed modules, hostile archives.

Every input is real: packages built with ``dpkg-deb --build``, tarballs written by
:mod:`tarfile` and compressed with the gzip/xz/bzip2/zstd tools, modules compiled with gcc
and compressed the way Kbuild does. Hostile archives are written member by member with
:mod:`tarfile`; each test checks that nothing appeared outside the scratch area.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pytest
import zstandard

from gplscan.errors import GplscanError, TargetError, UnpackError
from gplscan.unpack import Limits, Prepared, decompress_module, prepare
from tests.helpers import compile_object, need_tools

MiB = 1 << 20
GiB = 1 << 30

SOURCES = {
    "Makefile": b"obj-m += foo.o\nfoo-objs := foo_main.o lib/blob.o\n",
    "foo.c": b'// SPDX-License-Identifier: GPL-2.0\nMODULE_LICENSE("GPL");\n',
    "lib/blob.o_shipped": b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4,
}


# --- helpers ------------------------------------------------------------------------------


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (links not followed), to compare before and after."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def member(name: str, data: bytes = b"", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    if info.type != tarfile.REGTYPE:
        info.size = 0
    return info, data


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A plain tar holding ``members`` exactly as given (names are not cleaned up)."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def compress(path: Path, tool: str) -> Path:
    """Compress ``path`` with the real command-line tool; returns the new file."""
    need_tools(tool)
    suffix = {"gzip": ".gz", "xz": ".xz", "bzip2": ".bz2", "zstd": ".zst"}[tool]
    out = path.with_name(path.name + suffix)
    with out.open("wb") as fh:
        subprocess.run([tool, "-c", str(path)], stdout=fh, check=True)
    return out


def source_tar(tmp_path: Path, name: str = "foo-1.0.tar") -> Path:
    """A tarball of a small driver tree with an inner symlink and an executable script."""
    members = [member("foo-1.0/", type=tarfile.DIRTYPE, mode=0o755)]
    for rel, data in SOURCES.items():
        members.append(member(f"foo-1.0/{rel}", data))
    members.append(member("foo-1.0/Kbuild", type=tarfile.SYMTYPE, linkname="Makefile"))
    members.append(member("foo-1.0/build.sh", b"#!/bin/sh\nmake\n", mode=0o4755))
    return write_tar(tmp_path / name, members)


def build_deb(
    tmp_path: Path, compression: str = "xz", extra: dict[str, bytes] | None = None
) -> Path:
    """A real DKMS-style package built by dpkg-deb (``extra``: more files, by path)."""
    need_tools("dpkg-deb")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: foo-dkms\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: test driver\n"
    )
    src = pkg / "usr" / "src" / "foo-1.0"
    for rel, data in SOURCES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    (src / "dkms.conf").write_text('PACKAGE_NAME="foo"\nPACKAGE_VERSION="1.0"\n')
    doc = pkg / "usr" / "share" / "doc" / "foo-dkms"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("GPL-2\n")
    for rel, data in (extra or {}).items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes(data)
    deb = tmp_path / f"foo-dkms_1.0-1_all.{compression}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(pkg), str(deb)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(pkg)
    return deb


def ar_members(deb: Path) -> dict[str, tuple[int, int]]:
    """name -> (offset, size) of a .deb's ar members, read with the ar layout by hand."""
    data = deb.read_bytes()
    pos, found = 8, {}
    while pos < len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58])
        found[name] = (pos + 60, size)
        pos += 60 + size + (size & 1)
    return found


def unpacked_files(prepared: Prepared) -> set[str]:
    return {
        str(p.relative_to(prepared.root))
        for p in prepared.root.rglob("*")
        if p.is_file() or p.is_symlink()
    }


@pytest.fixture()
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


# --- directories and plain files ----------------------------------------------------------


def test_directory_is_scanned_in_place(tmp_path: Path, scratch: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "foo.c").write_text("int x;\n")
    with prepare(tree, scratch=scratch) as prepared:
        assert prepared.root == tree
        assert prepared.origin == "directory"
        assert prepared.display == str(tree)
        assert prepared.notes == ()
        assert prepared.source_root is None
        assert list(scratch.iterdir()) == []
    assert (tree / "foo.c").exists()


def test_compressed_module_is_a_file_not_a_tarball(tmp_path: Path, scratch: Path) -> None:
    module = tmp_path / "foo.ko.xz"
    module.write_bytes(lzma.compress(b"\x7fELF\x02\x01\x01" + bytes(2000)))
    with prepare(module, scratch=scratch) as prepared:
        assert (prepared.root, prepared.origin) == (module, "file")
        assert list(scratch.iterdir()) == []


def test_missing_target_is_a_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file"), prepare(tmp_path / "nope.deb"):
        pass


# --- tarballs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "name"),
    [
        (None, "foo-1.0.tar"),
        ("gzip", "foo-1.0.tar"),
        ("xz", "foo-1.0.tar"),
        ("bzip2", "foo-1.0.tar"),
        ("zstd", "foo-1.0.tar"),
        ("gzip", "foo-1.0.tgz.download"),  # recognized by content, not by name
    ],
)
def test_tarball_of_each_compression(
    tmp_path: Path, scratch: Path, tool: str | None, name: str
) -> None:
    archive = source_tar(tmp_path, name)
    if tool:
        archive = compress(archive, tool)
    with prepare(archive, scratch=scratch) as prepared:
        assert prepared.origin == "tarball"
        assert prepared.display == str(archive)
        assert prepared.notes == ()
        root = prepared.root
        assert root.is_relative_to(scratch)
        for rel, data in SOURCES.items():
            assert (root / "foo-1.0" / rel).read_bytes() == data
        kbuild = root / "foo-1.0" / "Kbuild"
        assert kbuild.is_symlink() and os.readlink(kbuild) == "Makefile"
        mode = (root / "foo-1.0" / "build.sh").stat().st_mode
        assert mode & 0o111 and not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
        assert stat.S_IMODE((root / "foo-1.0" / "foo.c").stat().st_mode) & 0o022 == 0
    assert list(scratch.iterdir()) == []


def test_system_tar_archive_with_links(tmp_path: Path, scratch: Path) -> None:
    """An archive made by GNU tar itself, with a hard link and a link into a directory."""
    need_tools("tar")
    tree = tmp_path / "drv"
    (tree / "src").mkdir(parents=True)
    (tree / "src" / "a.c").write_text("int a;\n")
    os.link(tree / "src" / "a.c", tree / "src" / "same.c")
    os.symlink("src", tree / "alias")
    archive = tmp_path / "drv.tar.xz"
    subprocess.run(["tar", "-C", str(tmp_path), "-cJf", str(archive), "drv"], check=True)
    with prepare(archive, scratch=scratch) as prepared:
        root = prepared.root / "drv"
        assert prepared.notes == ()
        assert (root / "src" / "same.c").read_text() == "int a;\n"
        assert (root / "alias" / "a.c").read_text() == "int a;\n"


# --- Debian packages ----------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_dkms_deb_finds_its_source_tree(tmp_path: Path, scratch: Path, compression: str) -> None:
    deb = build_deb(tmp_path, compression)
    with prepare(deb, scratch=scratch) as prepared:
        assert prepared.origin == "deb"
        assert prepared.notes == ()
        assert prepared.source_root == PurePosixPath("usr/src/foo-1.0")
        src = prepared.root / prepared.source_root
        for rel, data in SOURCES.items():
            assert (src / rel).read_bytes() == data
        assert (src / "dkms.conf").is_file()
        assert (prepared.root / "usr/share/doc/foo-dkms/copyright").is_file()
        assert not (prepared.root / "DEBIAN").exists()  # control.tar is not unpacked
    assert list(scratch.iterdir()) == []


def test_deb_with_two_source_trees_has_no_source_root(tmp_path: Path, scratch: Path) -> None:
    deb = build_deb(tmp_path, extra={"usr/src/bar-2.0/bar.c": b"int bar;\n"})
    with prepare(deb, scratch=scratch) as prepared:
        assert prepared.source_root is None
        (note,) = prepared.notes
        assert note.path == PurePosixPath("usr/src") and not note.skipped
        assert "bar-2.0, foo-1.0" in note.message


def test_deb_with_corrupt_data_tar_is_refused(tmp_path: Path, scratch: Path) -> None:
    deb = build_deb(tmp_path)
    offset, size = ar_members(deb)["data.tar.xz"]
    raw = bytearray(deb.read_bytes())
    raw[offset + 24 : offset + size - 24] = b"\x5a" * (size - 48)
    deb.write_bytes(bytes(raw))
    refused = pytest.raises(UnpackError, match=r"data\.tar\.xz: not a readable tar archive")
    with refused, prepare(deb, scratch=scratch):
        pass
    assert list(scratch.iterdir()) == []


def test_truncated_deb_notes_the_loss(tmp_path: Path, scratch: Path) -> None:
    deb = build_deb(tmp_path, "gzip")
    offset, size = ar_members(deb)["data.tar.gz"]
    deb.write_bytes(deb.read_bytes()[: offset + size - 40])
    with prepare(deb, scratch=scratch) as prepared:
        damaged = [n for n in prepared.notes if "damaged" in n.message]
        assert damaged and damaged[0].skipped
    assert list(scratch.iterdir()) == []


def test_not_a_deb_ar_archive_is_a_file(tmp_path: Path, scratch: Path) -> None:
    library = tmp_path / "libfoo.a"
    library.write_bytes(
        b"!<arch>\nfoo.o/          0           0     0     644     4         `\nabcd"
    )
    with prepare(library, scratch=scratch) as prepared:
        assert prepared.origin == "file"


# --- hostile archives ---------------------------------------------------------------------


def test_hostile_members_are_refused_and_nothing_escapes(tmp_path: Path, scratch: Path) -> None:
    tag = uuid.uuid4().hex
    absolute = Path(f"/tmp/gplscan-evil-{tag}")
    passwd = Path("/etc/passwd")
    passwd_before = passwd.stat() if passwd.exists() else None
    archive = write_tar(
        tmp_path / "hostile.tar",
        [
            member("../evil", b"x"),
            member("../../evil", b"x"),
            member(f"../../../evil-{tag}", b"x"),
            member(f"sub/../../../../evil-{tag}", b"x"),
            member(str(absolute), b"x"),
            member("link", type=tarfile.SYMTYPE, linkname="/etc"),
            member("link/passwd", b"root::0:0::/:/bin/sh\n"),
            member("up", type=tarfile.SYMTYPE, linkname="../../.."),
            member(f"up/evil-{tag}", b"x"),
            member("hard", type=tarfile.LNKTYPE, linkname="/etc/passwd"),
            member("hard2", type=tarfile.LNKTYPE, linkname="../../outside"),
            member("dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
            member("blk", type=tarfile.BLKTYPE, devmajor=8, devminor=0),
            member("fifo", type=tarfile.FIFOTYPE),
            member("ok.c", b"int ok;\n", mode=0o6777),
        ],
    )
    before = snapshot(tmp_path)
    with prepare(archive, scratch=scratch) as prepared:
        assert os.listdir(scratch) == [prepared.root.parent.name]
        area = os.path.relpath(prepared.root.parent, tmp_path)
        assert all(p.startswith(area) for p in snapshot(tmp_path) - before)
        assert unpacked_files(prepared) == {"ok.c"}
        mode = (prepared.root / "ok.c").stat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID) and not mode & 0o002
        notes = {str(n.path): n for n in prepared.notes}
    assert snapshot(tmp_path) == before
    assert not absolute.exists()
    assert not list(Path("/tmp").glob(f"evil-{tag}"))
    if passwd_before is not None:
        after = passwd.stat()
        assert (after.st_size, after.st_mtime_ns) == (
            passwd_before.st_size,
            passwd_before.st_mtime_ns,
        )

    assert "'..'" in notes["../evil"].message and notes["../evil"].skipped
    assert "absolute path" in notes[str(absolute)].message
    assert "points outside" in notes["link"].message and not notes["link"].skipped
    assert "refused link link" in notes["link/passwd"].message and notes["link/passwd"].skipped
    assert "points outside" in notes["up"].message
    assert "refused link up" in notes[f"up/evil-{tag}"].message
    assert "hard link to /etc/passwd" in notes["hard"].message
    assert "outside" in notes["hard2"].message or "data filter" in notes["hard2"].message
    assert "device" in notes["dev"].message and not notes["dev"].skipped
    assert "device" in notes["blk"].message
    assert "FIFO" in notes["fifo"].message
    assert "ok.c" not in notes


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield Path(dirpath, name)


def test_link_turned_outward_by_a_later_link_is_removed(tmp_path: Path, scratch: Path) -> None:
    """``a -> b/../c`` is inside while ``b`` is missing; ``b -> .`` then points ``a`` outside.
    Writing through ``a`` is refused and ``a`` itself does not survive the unpacking."""
    tag = uuid.uuid4().hex
    archive = write_tar(
        tmp_path / "chain.tar",
        [
            member("a", type=tarfile.SYMTYPE, linkname=f"b/../{tag}"),
            member("b", type=tarfile.SYMTYPE, linkname="."),
            member("a/passwd", b"pwned\n"),
            member("kept.c", b"int kept;\n"),
        ],
    )
    before = snapshot(tmp_path)
    with prepare(archive, scratch=scratch) as prepared:
        notes = {str(n.path): n for n in prepared.notes}
        assert notes["a/passwd"].skipped
        assert "removed after unpacking" in notes["a"].message
        assert not (prepared.root / "a").is_symlink()
        assert (prepared.root / "b").is_symlink()
        assert (prepared.root / "kept.c").is_file()
        assert not (scratch / tag).exists()
        assert not (prepared.root.parent / tag).exists()
    assert snapshot(tmp_path) == before


def test_links_inside_the_tree_are_kept_and_followed(tmp_path: Path, scratch: Path) -> None:
    archive = write_tar(
        tmp_path / "inner.tar",
        [
            member("real/", type=tarfile.DIRTYPE, mode=0o755),
            member("alias", type=tarfile.SYMTYPE, linkname="real"),
            member("alias/x.c", b"int x;\n"),
            member("deep/inc/", type=tarfile.DIRTYPE),
            member("deep/inc/up", type=tarfile.SYMTYPE, linkname="../../real"),
            member("copy.c", type=tarfile.LNKTYPE, linkname="real/x.c"),
            member("copy.c", b"int replaced;\n"),  # a later member replaces an earlier one
            member("real", b"not a directory"),  # never replaces a directory
        ],
    )
    with prepare(archive, scratch=scratch) as prepared:
        root = prepared.root
        assert (root / "real" / "x.c").read_text() == "int x;\n"
        assert (root / "deep/inc/up/x.c").read_text() == "int x;\n"
        assert (root / "copy.c").read_text() == "int replaced;\n"
        assert (root / "real" / "x.c").read_text() == "int x;\n"
        (note,) = prepared.notes
        assert note.path == PurePosixPath("real") and "directory there" in note.message


def test_sparse_and_unwritable_members_are_noted(tmp_path: Path, scratch: Path) -> None:
    """A GNU sparse member (100 MiB of holes in 10 KiB of archive) is not written out, and a
    path too long for the file system is a note, not a crash."""
    need_tools("tar", "truncate")
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["truncate", "-s", "100M", str(work / "holes.bin")], check=True)
    (work / "ok.c").write_text("int ok;\n")
    sparse = tmp_path / "sparse.tar"
    subprocess.run(["tar", "-C", str(work), "-cSf", str(sparse), "holes.bin", "ok.c"], check=True)
    with prepare(sparse, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.path == PurePosixPath("holes.bin") and "sparse" in note.message
        assert unpacked_files(prepared) == {"ok.c"}
    deep = "/".join(["d" * 200] * 30) + "/deep.c"
    archive = write_tar(tmp_path / "deep.tar", [member(deep, b"x"), member("ok.c", b"y")])
    with prepare(archive, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "cannot be written" in note.message
        assert (prepared.root / "ok.c").read_bytes() == b"y"
    assert list(scratch.iterdir()) == []


# --- limits and bombs ---------------------------------------------------------------------


def _bomb_stream(codec: str, head: bytes, zeros: int, tail: bytes) -> bytes:
    """``head + zeros * b"\\0" + tail`` compressed as concatenated streams, built in a few
    seconds without ever holding the decompressed data: one compressed 16 MiB block of
    zeros repeated (gzip members, xz streams, bzip2 streams and zstd frames all concatenate)."""
    make: Callable[[bytes], bytes] = {
        "xz": lambda b: lzma.compress(b, preset=1),
        "gzip": lambda b: gzip.compress(b, compresslevel=9, mtime=0),
        "bzip2": lambda b: bz2.compress(b, 9),
        "zstd": lambda b: zstandard.ZstdCompressor(level=19).compress(b),
    }[codec]
    block = 16 * MiB
    assert zeros % block == 0
    zero_block = make(bytes(block))
    return make(head) + zero_block * (zeros // block) + make(tail)


@pytest.mark.parametrize("codec", ["xz", "gzip", "bzip2", "zstd"])
def test_tarball_bomb_stops_early(tmp_path: Path, scratch: Path, codec: str) -> None:
    info = tarfile.TarInfo("zeros.bin")
    info.size = 2 * GiB
    head = info.tobuf(tarfile.GNU_FORMAT)
    stream = _bomb_stream(codec, head, 2 * GiB, bytes(1024))
    assert len(stream) < 4 * MiB
    bomb = tmp_path / "bomb.tar.x"
    bomb.write_bytes(stream)
    started = time.monotonic()
    with prepare(bomb, scratch=scratch) as prepared:  # a limit is a note; the archive stops
        (note,) = prepared.notes
        assert note.skipped and "decompression bomb" in note.message
        assert note.path == PurePosixPath("zeros.bin")
    assert time.monotonic() - started < 5
    assert list(scratch.iterdir()) == []


def test_member_limits(tmp_path: Path, scratch: Path) -> None:
    archive = write_tar(
        tmp_path / "many.tar",
        [member(f"f{i}.c", b"x" * 100) for i in range(5)] + [member("big.bin", b"y" * 5000)],
    )
    few = Limits(max_members=3)
    with prepare(archive, scratch=scratch, limits=few) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "more than 3 members" in note.message
        assert len(unpacked_files(prepared)) == 3
    with prepare(archive, scratch=scratch, limits=Limits(max_member_bytes=1000)) as prepared:
        (note,) = prepared.notes
        assert note.path == PurePosixPath("big.bin") and note.skipped
        assert "max_member_bytes" in note.message
        assert len(unpacked_files(prepared)) == 5
    small = Limits(max_total_bytes=2000)
    with prepare(archive, scratch=scratch, limits=small) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "max_total_bytes" in note.message
    assert list(scratch.iterdir()) == []


# --- damaged archives ---------------------------------------------------------------------


def test_truncated_tar_gz_keeps_what_came_before(tmp_path: Path, scratch: Path) -> None:
    members = [member(f"drv/part{i}.bin", os.urandom(64 * 1024)) for i in range(8)]
    archive = compress(write_tar(tmp_path / "drv.tar", members), "gzip")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with prepare(archive, scratch=scratch) as prepared:
        damaged = [n for n in prepared.notes if "damaged" in n.message]
        assert len(damaged) == 1 and damaged[0].skipped
        assert "cut short" in damaged[0].message or "unexpected end" in damaged[0].message
        got = unpacked_files(prepared)
        assert "drv/part0.bin" in got and "drv/part7.bin" not in got
        for name in got:  # nothing half-written stays behind
            assert (prepared.root / name).stat().st_size == 64 * 1024
    assert list(scratch.iterdir()) == []


def test_tarball_damaged_from_the_start_is_refused(tmp_path: Path, scratch: Path) -> None:
    archive = compress(source_tar(tmp_path), "xz")
    data = bytearray(archive.read_bytes())
    data[12:-12] = b"\x5a" * (len(data) - 24)
    archive.write_bytes(bytes(data))
    with pytest.raises(UnpackError, match="corrupt xz data"), prepare(archive, scratch=scratch):
        pass
    assert list(scratch.iterdir()) == []


def test_cut_short_at_a_header_boundary_is_noted(tmp_path: Path, scratch: Path) -> None:
    """A compressed tar that ends cleanly between members but before its end blocks."""
    plain = write_tar(tmp_path / "x.tar", [member("a.c", b"a" * 512), member("b.c", b"b" * 512)])
    raw = plain.read_bytes()[: 3 * 512]  # header + data of a.c, then the header of b.c
    archive = tmp_path / "x.tar.xz"
    archive.write_bytes(lzma.compress(raw)[:-30])
    with prepare(archive, scratch=scratch) as prepared:
        assert any(n.skipped and "damaged" in n.message for n in prepared.notes)
        assert (prepared.root / "a.c").read_bytes() == b"a" * 512


# --- scratch area lifetime ----------------------------------------------------------------


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_scratch_removed_on_errors(tmp_path: Path, scratch: Path, exc: type[BaseException]) -> None:
    archive = source_tar(tmp_path)
    with pytest.raises(exc), prepare(archive, scratch=scratch) as prepared:
        assert prepared.root.is_dir()
        os.chmod(prepared.root / "foo-1.0", 0o500)  # read-only directories are removed too
        raise exc()
    assert list(scratch.iterdir()) == []


def test_default_scratch_is_a_gplscan_temp_dir(tmp_path: Path) -> None:
    archive = source_tar(tmp_path)
    with prepare(archive) as prepared:
        area = prepared.root.parent
        assert area.name.startswith("gplscan-")
        assert area.parent == Path(tempfile.gettempdir())
    assert not area.exists()


def test_unpack_error_is_a_gplscan_error() -> None:
    assert issubclass(UnpackError, GplscanError)


# --- compressed kernel modules ------------------------------------------------------------


@pytest.fixture(scope="module")
def module_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real ELF relocatable, as a module's content."""
    work = tmp_path_factory.mktemp("module")
    source = work / "mod.c"
    source.write_text(
        'static const char license[] __attribute__((section(".modinfo"), used)) = "license=GPL";\n'
        "int init_module(void) { return 0; }\n"
    )
    return compile_object(source, work / "mod.ko").read_bytes()


@pytest.mark.parametrize(
    ("suffix", "command"),
    [
        (".xz", ["xz", "--check=crc32", "--lzma2=dict=1MiB", "-c"]),  # Kbuild's settings
        # the 128 MiB window --ultra -22 gives, without its second or more of table setup
        (".zst", ["zstd", "-T0", "--long=27", "-c"]),
        (".gz", ["gzip", "-n", "-f", "-9", "-c"]),
    ],
)
def test_decompress_module_round_trip(
    tmp_path: Path, module_bytes: bytes, suffix: str, command: list[str]
) -> None:
    need_tools(command[0])
    packed = subprocess.run(command, input=module_bytes, capture_output=True, check=True).stdout
    assert packed[:4] != b"\x7fELF"
    assert decompress_module(packed, f"mod.ko{suffix}", Limits()) == module_bytes
    with pytest.raises(UnpackError, match=rf"mod\.ko\{suffix}: .*(cut short|corrupt)"):
        decompress_module(packed[: len(packed) // 2], f"mod.ko{suffix}", Limits())


def test_decompress_module_leaves_plain_elf_alone(module_bytes: bytes) -> None:
    assert decompress_module(module_bytes, "mod.ko", Limits()) is module_bytes


def test_decompress_module_refuses_corrupt_data(module_bytes: bytes) -> None:
    packed = bytearray(lzma.compress(module_bytes, check=lzma.CHECK_CRC32))
    packed[-20] ^= 0xFF
    with pytest.raises(UnpackError, match="corrupt xz data"):
        decompress_module(bytes(packed), "mod.ko.xz", Limits())


@pytest.mark.parametrize("codec", ["xz", "zstd", "gzip"])
def test_decompress_module_refuses_a_bomb(codec: str) -> None:
    bomb = _bomb_stream(codec, b"\x7fELF", 1 * GiB, b"")
    started = time.monotonic()
    with pytest.raises(UnpackError, match="decompression bomb"):
        decompress_module(bomb, f"bomb.ko.{codec}", Limits())
    assert time.monotonic() - started < 5
    with pytest.raises(
        UnpackError, match=r"more than 1\.0 MiB; refused \(limit max_member_bytes\)"
    ):
        decompress_module(bomb, f"bomb.ko.{codec}", Limits(max_member_bytes=MiB))
