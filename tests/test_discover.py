"""Discovery classifies by content first: magic numbers, then text, then names."""

from __future__ import annotations

from pathlib import Path

import pytest

from gplscan.discover import Candidate, classify, walk
from gplscan.model import FileKind, ScanIssue

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57


@pytest.mark.parametrize(
    ("name", "head", "kind", "noted"),
    [
        ("a.c", b"int x;\n", FileKind.SOURCE, False),
        ("a.h", b"int x;\n", FileKind.HEADER, False),
        ("a.o", ELF, FileKind.OBJECT, False),
        ("blob.o_shipped", ELF, FileKind.OBJECT, False),
        ("nv-kernel.o_binary", ELF, FileKind.OBJECT, False),
        ("gen.o_shipped", b"int gen;\n", FileKind.SOURCE, False),
        ("table.h_shipped", b"#define X 1\n", FileKind.HEADER, False),
        ("a.o", b"not an object\n", FileKind.OTHER, True),
        ("a.c", ELF, FileKind.OBJECT, True),
        ("a.c", bytes(range(256)), FileKind.SOURCE, True),  # read, as the compiler would
        ("a.c", b"/* \0 */\nint x;\n", FileKind.SOURCE, True),
        ("fw.bin", bytes(range(256)), FileKind.DATA, False),
        ("libx.a", b"!<arch>\n", FileKind.ARCHIVE, False),
        ("m.ko.xz", b"\xfd7zXZ\x00", FileKind.COMPRESSED, False),
        ("Kbuild", b"obj-m += a.o\n", FileKind.BUILD, False),
        (".a.o.cmd", b"savedcmd_a.o := gcc\n", FileKind.BUILD, False),
        ("COPYING", b"GNU GENERAL PUBLIC LICENSE\n", FileKind.LICENSE_TEXT, False),
        ("a.c", b"", FileKind.SOURCE, False),
        ("m.ko", b"", FileKind.DATA, True),  # found by the fuzz suite: dropped silently
        ("latin1.c", "/* \xe9t\xe9 */\n".encode("latin-1"), FileKind.SOURCE, False),
    ],
)
def test_classify(name: str, head: bytes, kind: FileKind, noted: bool) -> None:
    got, note = classify(name, head)
    assert got is kind
    assert (note is not None) == noted


def test_walk_skips_vcs_and_refuses_links_out(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.c").write_text("int a;\n")
    (tmp_path / "out").symlink_to("/etc/passwd")
    (tmp_path / "in").symlink_to(tmp_path / "sub" / "a.c")
    items = list(walk(tmp_path))
    paths = {str(i.path) for i in items if isinstance(i, Candidate)}
    assert paths == {"sub/a.c", "in"}
    issues = [i for i in items if isinstance(i, ScanIssue)]
    assert [str(i.path) for i in issues] == ["out"]
    assert "outside the target" in issues[0].message
