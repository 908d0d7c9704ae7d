"""Static library members: read one by one, a damaged archive an error with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gplscan.errors import ArchiveError
from gplscan.facts.archive import members


def _member(name: bytes, data: bytes, size: bytes | None = None) -> bytes:
    header = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) * 2 + b"644".ljust(8)
    header += (size if size is not None else str(len(data)).encode()).ljust(10) + b"`\n"
    return header + data + (b"\n" if len(data) % 2 else b"")


def test_gnu_long_names_and_the_symbol_index(tmp_path: Path) -> None:
    names = b"a_rather_long_member_name.o/\n"
    data = b"!<arch>\n" + _member(b"/", b"\0\0\0\0") + _member(b"//", names)
    data += _member(b"/0", b"ELFDATA") + _member(b"short.o/", b"XY")
    got = list(members(tmp_path / "x.a", data, tmp_path))
    assert got == [("a_rather_long_member_name.o", b"ELFDATA"), ("short.o", b"XY")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"!<arch>\n" + _member(b"a.o/", b"xx")[:50], "cut short"),
        (b"!<arch>\n" + _member(b"a.o/", b"xx").replace(b"`\n", b"!!"), "damaged"),
        (b"!<arch>\n" + _member(b"a.o/", b"xx", size=b"-5"), "negative"),
        (b"!<arch>\n" + _member(b"a.o/", b"xx", size=b"9999999999"), "the file ends"),
        (b"!<arch>\n" + _member(b"a.o/", b"xx", size=b"1e26"), "not a number"),
        (b"not an archive", "not an ar archive"),
    ],
)
def test_damaged_archives_are_errors_with_a_reason(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with pytest.raises(ArchiveError, match=reason):
        list(members(tmp_path / "x.a", data, tmp_path))


def test_a_thin_member_outside_the_target_is_refused(tmp_path: Path) -> None:
    data = b"!<thin>\n" + _member(b"//", b"../../etc/passwd/\n") + _member(b"/0", b"", b"10")
    with pytest.raises(ArchiveError, match="not in the target"):
        list(members(tmp_path / "x.a", data, tmp_path))


@given(st.binary(max_size=400))
def test_any_bytes_give_members_or_an_archive_error(tail: bytes) -> None:
    root = Path("/nonexistent-gplscan-root")
    try:
        for name, body in members(root / "x.a", b"!<arch>\n" + tail, root):
            assert isinstance(name, str) and isinstance(body, bytes)
    except ArchiveError:
        pass
