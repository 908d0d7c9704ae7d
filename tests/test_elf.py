"""Object facts against the reference tool (readelf), and broken ELF as errors with reasons."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from gplscan.errors import ObjectParseError
from gplscan.facts.elf import object_facts, parse_modinfo
from tests.helpers import compile_object, need_tools

SOURCE = r"""
struct kernel_symbol { unsigned long value; const char *name; };
int imported_fn(int);
extern int imported_var;
static int local_fn(int x) { return x + imported_var; }
int exported_fn(int x) { return imported_fn(local_fn(x)); }
int weak_fn(void) __attribute__((weak));
int weak_fn(void) { return 1; }
int global_var = 3;
static const char __UNIQUE_ID_license1[] __attribute__((used, section(".modinfo"), aligned(1)))
    = "license=" "GPL\0for files in the \"GPL\" directory";
static const char __UNIQUE_ID_author2[] __attribute__((used, section(".modinfo"), aligned(1)))
    = "author=" "A. Hacker";
static const char __kstrtab_exported_fn[] __attribute__((section("__ksymtab_strings")))
    = "exported_fn";
static const struct kernel_symbol __ksymtab_exported_fn
    __attribute__((used, section("__ksymtab_gpl")))
    = { (unsigned long)&exported_fn, __kstrtab_exported_fn };
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("elf")
    (tmp / "sample.c").write_text(SOURCE)
    return compile_object(tmp / "sample.c", tmp / "sample.o")


def readelf_symbols(path: Path) -> tuple[set[str], set[str]]:
    need_tools("readelf")
    out = subprocess.run(
        ["readelf", "-sW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 8 or not cols[0].rstrip(":").isdigit():
            continue
        _, _, _, typ, bind, _, ndx, name = cols[:8]
        if bind not in ("GLOBAL", "WEAK") or typ in ("FILE", "SECTION"):
            continue
        (undefined if ndx == "UND" else defined).add(name)
    return defined, undefined


def test_symbols_match_readelf(sample: Path) -> None:
    facts = object_facts(sample, PurePosixPath("sample.o"))
    defined, undefined = readelf_symbols(sample)
    assert facts.defined == defined
    assert facts.undefined == undefined
    assert {"exported_fn", "weak_fn", "global_var"} <= facts.defined
    assert "local_fn" not in facts.defined
    assert facts.undefined == {"imported_fn", "imported_var"}
    assert facts.elf_type == "REL" and facts.machine == "X86_64"
    assert facts.file_symbols == ("sample.c",)


def test_modinfo_keeps_text_after_nul_like_readelf_shows(sample: Path) -> None:
    facts = object_facts(sample, PurePosixPath("sample.o"))
    assert facts.modinfo_values("license") == (b'GPL\x00for files in the "GPL" directory',)
    assert facts.modinfo_values("author") == (b"A. Hacker",)
    out = subprocess.run(
        ["readelf", "-p", ".modinfo", str(sample)], capture_output=True, text=True, check=True
    ).stdout
    strings = re.findall(r"\]\s+(.*)$", out, re.MULTILINE)
    assert "license=GPL" in strings and 'for files in the "GPL" directory' in strings


def test_exports_from_ksymtab_sections(sample: Path) -> None:
    facts = object_facts(sample, PurePosixPath("sample.o"))
    assert facts.exports == (("exported_fn", True),)


def test_parse_modinfo_edge_cases() -> None:
    entries = parse_modinfo(b"\0\0license=GPL\0trick\0name=m\0\0")
    assert [(e.key, e.value) for e in entries] == [("license", b"GPL\0trick"), ("name", b"m")]


def _broken(sample: Path, tmp_path: Path, name: str, patch) -> Path:  # type: ignore[no-untyped-def]
    data = bytearray(sample.read_bytes())
    patch(data)
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def _section_header(data: bytearray, index: int) -> int:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize = struct.unpack_from("<H", data, 0x3A)[0]
    return shoff + index * shentsize


def _symtab_index(data: bytearray) -> int:
    shnum = struct.unpack_from("<H", data, 0x3C)[0]
    for i in range(shnum):
        if struct.unpack_from("<I", data, _section_header(data, i) + 4)[0] == 2:  # SHT_SYMTAB
            return i
    raise AssertionError("no symtab")


@pytest.mark.parametrize(
    ("name", "patch", "reason"),
    [
        ("truncated.o", lambda d: d.__delitem__(slice(300, None)), "truncated"),
        ("header-only.o", lambda d: d.__delitem__(slice(40, None)), "truncated"),
        ("wrong-class.o", lambda d: d.__setitem__(4, 7), "unknown ELF class"),
        ("many-sections.o", lambda d: struct.pack_into("<H", d, 0x3C, 0xFFFF), "truncated"),
        (
            "symtab-outside.o",
            lambda d: struct.pack_into(
                "<Q", d, _section_header(d, _symtab_index(d)) + 0x18, 1 << 40
            ),
            "runs past the end",
        ),
        (
            "bad-strtab-link.o",
            lambda d: struct.pack_into("<I", d, _section_header(d, _symtab_index(d)) + 0x28, 999),
            "section 999",
        ),
    ],
)
def test_broken_elf_is_an_error_with_a_reason(
    sample: Path,
    tmp_path: Path,
    name: str,
    patch,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    path = _broken(sample, tmp_path, name, patch)
    with pytest.raises(ObjectParseError) as exc:
        object_facts(path, PurePosixPath(name))
    assert reason in str(exc.value) and name in str(exc.value)
