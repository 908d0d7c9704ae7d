"""Hostile archives (issue 13): every declared size is checked before a byte is read or
skipped, every limit and every damage is a note naming the file, nothing is dropped
silently, the scratch area always goes. Every input is generated here."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pytest

from gplscan.errors import ArchiveError
from gplscan.facts.archive import damage, members
from gplscan.unpack import prepare
from tests.helpers import need_tools, run_cli

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
PiB = 1 << 50


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (rather than hang the suite) if the block runs past ``seconds``: generous, a
    guard against the block-by-block skip of a huge declaration, not a timing assertion."""

    def expire(_sig: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def declaring(size: int, fmt: int = tarfile.GNU_FORMAT, pax: dict[str, str] | None = None) -> bytes:
    """A small tar: ok.c, then a member whose header declares ``size`` bytes (or a pax
    header saying so), then 1 KiB of data and an end block."""
    info = tarfile.TarInfo("huge.bin")
    info.size = size
    if pax:
        info.pax_headers = pax
    head = tar_bytes(reg("ok.c", b"int ok;\n"))[:1024]
    return head + info.tobuf(fmt) + b"A" * 1024 + bytes(1024)


@pytest.fixture()
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


# --- 4. huge declarations refused before a byte is skipped --------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (declaring(PiB), "1.0 PiB"),
        (declaring(10 << 40), "10.0 TiB"),
        (declaring(0, tarfile.PAX_FORMAT, {"size": str(10**26), "comment": "x" * 9000}), "PiB"),
        (declaring(0, tarfile.PAX_FORMAT, {"size": str(3 * GiB)}), "the archive ends"),
    ],
    ids=["1PiB", "10TiB", "pax-1e26", "3GiB-in-3KiB"],
)
def test_huge_declared_member_is_refused_at_once(
    tmp_path: Path, scratch: Path, data: bytes, words: str
) -> None:
    target = tmp_path / "huge.tar"
    target.write_bytes(data)
    with deadline(60), prepare(target, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.path == PurePosixPath("huge.bin") and note.skipped
        assert str(target) in note.message and words in note.message
        assert (prepared.root / "ok.c").read_bytes() == b"int ok;\n"
    assert list(scratch.iterdir()) == []


def test_huge_declaration_in_a_compressed_tar_is_refused_at_once(
    tmp_path: Path, scratch: Path
) -> None:
    need_tools("xz")
    plain = tmp_path / "huge.tar"
    plain.write_bytes(declaring(PiB))
    subprocess.run(["xz", "-k", str(plain)], check=True)
    with deadline(60), prepare(tmp_path / "huge.tar.xz", scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "max_total_bytes" in note.message


def test_oversized_pax_header_is_not_read_into_memory(tmp_path: Path, scratch: Path) -> None:
    """A pax header declaring 2 GiB (tarfile would read it whole) is refused unread."""
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 2 * GiB
    data = tar_bytes(reg("ok.c", b"int ok;\n"))[:1024] + pax.tobuf(tarfile.GNU_FORMAT)
    target = tmp_path / "pax.tar"
    target.write_bytes(data + bytes(4096))
    with deadline(60), prepare(target, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "pax header declares 2.0 GiB" in note.message
        assert (prepared.root / "ok.c").exists()


# --- 2. negative sizes, damage mid-archive, data after the end ----------------------------


@pytest.mark.parametrize("how", ["pax", "base256"])
def test_negative_member_size_is_noted(tmp_path: Path, scratch: Path, how: str) -> None:
    if how == "pax":
        data = declaring(0, tarfile.PAX_FORMAT, {"size": "-5"})
    else:  # GNU base-256: the first byte 0xff marks a negative number
        info = tarfile.TarInfo("huge.bin")
        header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
        header[124:136] = b"\xff" * 11 + b"\xfb"  # -5
        header[148:156] = b" " * 8
        header[148:155] = f"{sum(header):06o}\0".encode()
        data = tar_bytes(reg("ok.c", b"int ok;\n"))[:1024] + bytes(header) + bytes(2048)
    target = tmp_path / "neg.tar"
    target.write_bytes(data)
    with prepare(target, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and note.path == PurePosixPath("huge.bin")
        assert "negative size" in note.message and str(target) in note.message


def test_damaged_header_mid_archive_is_not_taken_for_the_end(tmp_path: Path, scratch: Path) -> None:
    data = bytearray(tar_bytes(reg("a.c", b"a"), reg("b.c", b"b"), reg("c.c", b"c")))
    data[1024 + 148] ^= 0x01  # b.c's header checksum no longer adds up
    target = tmp_path / "mid.tar"
    target.write_bytes(bytes(data))
    with prepare(target, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "damaged" in note.message and "checksum" in note.message
        assert (prepared.root / "a.c").exists() and not (prepared.root / "c.c").exists()


def test_archive_cut_between_members_and_data_after_the_end_are_noted(
    tmp_path: Path, scratch: Path
) -> None:
    whole = tar_bytes(reg("a.c", b"a"), reg("b.c", b"b"))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[:1024])  # a.c, then nothing: no end blocks
    with prepare(cut, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "end-of-archive" in note.message
    appended = tmp_path / "appended.tar"
    appended.write_bytes(whole + tar_bytes(reg("hidden.c", b"h")))
    with prepare(appended, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "after its end-of-archive blocks" in note.message
        assert not (prepared.root / "hidden.c").exists()


def test_member_names_with_nul_are_refused(tmp_path: Path, scratch: Path) -> None:
    info, data = reg("x.c", b"x")
    info.pax_headers = {"path": "a\0b.c"}
    target = tmp_path / "nul.tar"
    target.write_bytes(tar_bytes((info, data), reg("ok.c", b"y"), fmt=tarfile.PAX_FORMAT))
    with prepare(target, scratch=scratch) as prepared:
        (note,) = prepared.notes
        assert note.skipped and "NUL" in note.message
        assert (prepared.root / "ok.c").exists()


# --- 1. a .deb whose ar header declares more than the file holds --------------------------


def _deb(tmp_path: Path) -> Path:
    """A .deb as dpkg-deb lays it out (ar: debian-binary, control.tar.xz, data.tar)."""

    def ar_member(name: str, data: bytes) -> bytes:
        head = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        return head + data + (b"\n" if len(data) & 1 else b"")

    data_tar = tar_bytes(reg("./usr/src/foo-1.0/foo.c", b"int foo;\n"))
    deb = tmp_path / "foo_1.0_all.deb"
    deb.write_bytes(
        b"!<arch>\n"
        + ar_member("debian-binary", b"2.0\n")
        + ar_member("control.tar", tar_bytes(reg("./control", b"Package: foo\n")))
        + ar_member("data.tar", data_tar)
    )
    return deb


def _declare(deb: Path, member: str, size: int) -> None:
    data = bytearray(deb.read_bytes())
    at = data.index(member.encode().ljust(16))
    data[at + 48 : at + 58] = str(size).encode().ljust(10)
    deb.write_bytes(bytes(data))


def test_deb_member_declaring_10_gb_is_noted(tmp_path: Path, scratch: Path) -> None:
    deb = _deb(tmp_path)
    _declare(deb, "data.tar", 9_999_999_999)
    with prepare(deb, scratch=scratch) as prepared:
        notes = [n for n in prepared.notes if n.path == PurePosixPath("data.tar")]
        assert len(notes) == 1 and notes[0].skipped
        assert str(deb) in notes[0].message and "9,999,999,999 bytes" in notes[0].message
        assert (prepared.root / "usr/src/foo-1.0/foo.c").exists()


def test_deb_with_10_gb_member_fails_the_audit_unless_partial_is_allowed(
    tmp_path: Path,
) -> None:
    deb = _deb(tmp_path)
    _declare(deb, "data.tar", 9_999_999_999)
    proc = run_cli("audit", str(deb), "--format", "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    assert proc.returncode == 2 and report["complete"] is False
    assert any("9,999,999,999" in i["message"] for i in report["issues"])
    assert run_cli("audit", str(deb), "--format", "json", "--allow-partial").returncode == 0


def test_deb_whose_control_member_swallows_the_rest_is_refused(tmp_path: Path) -> None:
    from gplscan.errors import UnpackError

    deb = _deb(tmp_path)
    _declare(deb, "control.tar", 9_999_999_999)
    with pytest.raises(UnpackError, match=r"control\.tar: its ar header declares"), prepare(deb):
        pass


# --- 3. static libraries with damaged headers ---------------------------------------------


def _ar(name: bytes, data: bytes, size: bytes | None = None) -> bytes:
    header = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) * 2 + b"644".ljust(8)
    header += (size if size is not None else str(len(data)).encode()).ljust(10) + b"`\n"
    return header + data + (b"\n" if len(data) % 2 else b"")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"!<arch>\n" + _ar(b"a.o/", b"xx", size=b"1_0"), "not a number"),
        (b"!<arch>\n" + _ar(b"a.o/", b"xx", size=b"+2"), "not a number"),
        (b"!<arch>\n" + _ar(b"a.o/", b"xx", size=b" "), "not a number"),
        (b"!<arch>\n" + _ar(b"/99", b"xx"), "not in the name table"),
        (b"!<arch>\n" + _ar(b"//", b"a.o/\n") + _ar(b"/40", b"xx"), "not in the name table"),
        (b"!<arch>\n" + _ar(b"#1/50", b"name"), "BSD name length"),
        (b"!<arch>\n" + _ar(b"#1/x", b"name"), "BSD name length"),
        (b"!<arch>\n" + _ar(b"/", b"") + _ar(b"   ", b"xx"), "without a name"),
    ],
)
def test_damaged_static_library_headers_are_errors(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with pytest.raises(ArchiveError, match=reason):
        list(members(tmp_path / "x.a", data, tmp_path))
    found = damage(data)
    assert found is not None and reason.split()[0] in found


def test_thin_member_name_with_a_nul_is_an_archive_error(tmp_path: Path) -> None:
    data = b"!<thin>\n" + _ar(b"//", b"a\0b.o/\n") + _ar(b"/0", b"", b"10")
    assert damage(data) is None  # the headers are sound: the member file is what is wrong
    with pytest.raises(ArchiveError, match="not in the target"):
        list(members(tmp_path / "x.a", data, tmp_path))


def test_a_real_static_library_is_sound(tmp_path: Path) -> None:
    need_tools("ar")
    for i in range(3):
        (tmp_path / f"m{i}.o").write_bytes(b"\x7fELF" + bytes(i + 1))
    (tmp_path / "a_long_member_name_over_16.o").write_bytes(b"\x7fELFxyz")
    objs = sorted(str(p) for p in tmp_path.glob("*.o"))
    subprocess.run(["ar", "rcs", str(tmp_path / "lib.a"), *objs], check=True)
    subprocess.run(["ar", "rcsT", str(tmp_path / "thin.a"), *objs], check=True)
    for lib in ("lib.a", "thin.a"):
        data = (tmp_path / lib).read_bytes()
        assert damage(data) is None
        got = dict(members(tmp_path / lib, data, tmp_path))
        assert len(got) == 4 and b"\x7fELFxyz" in got.values()


# --- 5. a compressed module is held once in memory ----------------------------------------

_RSS_PROBE = """
import os, resource, sys, zstandard
from gplscan.unpack import decompress_module
size = int(sys.argv[1])
comp = zstandard.ZstdCompressor(level=3).compressobj()  # never holding the module itself
parts = [comp.compress(b"\\x7fELF")]
step = 40 * 4096
for _ in range(size // step):  # about 40:1, like the module in issue 13
    parts.append(comp.compress(os.urandom(4096) + bytes(step - 4096)))
parts.append(comp.flush())
packed = b"".join(parts)
del parts
def hwm():  # this process's own peak (ru_maxrss is inherited from the parent across exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
base = hwm()
out = decompress_module(packed, "m.ko.zst")
peak = hwm()
print(len(packed), len(out), (peak - base) * 1024 / len(out))
"""


def test_decompressed_module_is_held_once_in_memory() -> None:
    """Peak memory above the baseline, per byte of module: ~1.0 held once, ~2.0 twice."""
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(96 * MiB)],
        capture_output=True,
        text=True,
        check=True,
    )
    packed, size, ratio = proc.stdout.split()
    assert int(size) > 90 * MiB and int(packed) < int(size) // 20
    assert float(ratio) < 1.5, proc.stdout


# --- 6. deep trees: cleaned up, never a traceback -----------------------------------------


def test_deep_directories_are_refused_past_the_limit(tmp_path: Path, scratch: Path) -> None:
    path, members_ = "", []
    for _ in range(300):
        path += "d/"
        info = tarfile.TarInfo(path)
        info.type = tarfile.DIRTYPE
        members_.append((info, b""))
    members_ += [reg(path + "deep.c", b"x"), reg("top.c", b"y")]
    target = tmp_path / "deep.tar"
    target.write_bytes(tar_bytes(*members_))
    with prepare(target, scratch=scratch) as prepared:
        assert all("limit max_depth" in n.message for n in prepared.notes)
        assert len(prepared.notes) == 300 - 256 + 1
        assert [n.path.name for n in prepared.notes if n.skipped] == ["deep.c"]
        assert (prepared.root / "top.c").exists()
    assert list(scratch.iterdir()) == []


def test_scratch_area_thousands_of_levels_deep_is_removed(tmp_path: Path, scratch: Path) -> None:
    """Deeper than Python's recursion limit (shutil.rmtree recursed and failed)."""
    target = tmp_path / "one.tar"
    target.write_bytes(tar_bytes(reg("top.c", b"y")))
    try:
        with prepare(target, scratch=scratch) as prepared:
            fd = os.open(prepared.root, os.O_RDONLY)
            try:
                for _ in range(1200):
                    os.mkdir("d", dir_fd=fd)
                    nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
                    os.close(fd)
                    fd = nxt
                with open(os.open("f.c", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as fh:
                    fh.write("int f;\n")
                os.chmod(prepared.root, 0o500)  # and a read-only directory on the way
            finally:
                os.close(fd)
    finally:
        left = list(scratch.iterdir())
        if left:  # never leave this for pytest's own (recursive) clean-up to trip over
            subprocess.run(["rm", "-rf", *map(str, left)], check=False)
    assert left == []


def test_damaged_static_library_nothing_links_is_reported(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "foo.c").write_text('// SPDX-License-Identifier: GPL-2.0\nMODULE_LICENSE("GPL");\n')
    (tree / "Makefile").write_text("obj-m += foo.o\n")
    (tree / "libblob.a").write_bytes(b"!<arch>\n" + _ar(b"blob.o/", b"\x7fELF..", size=b"6_0"))
    proc = run_cli("audit", str(tree), "--format", "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    (issue,) = [i for i in report["issues"] if i["path"] == "libblob.a"]
    assert "damaged archive" in issue["message"] and "not a number" in issue["message"]
    assert proc.returncode == 2 and report["complete"] is False


def test_bytes_after_a_compressed_module_are_not_dropped_silently() -> None:
    import lzma

    from gplscan.errors import UnpackError
    from gplscan.unpack import decompress_module

    packed = lzma.compress(b"\x7fELF" + bytes(64))
    assert decompress_module(packed + bytes(8), "m.ko.xz") == b"\x7fELF" + bytes(64)
    with pytest.raises(UnpackError, match="bytes after the end of the xz data"):
        decompress_module(packed + b"more code", "m.ko.xz")
