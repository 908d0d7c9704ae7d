"""Fuzz targets for the ELF reader (objects and modules, 32/64-bit, both byte orders),
``.modinfo`` records, and a whole audit of a damaged module."""

from __future__ import annotations

import marshal
import shutil
import struct
import subprocess
from pathlib import Path, PurePosixPath

from gplscan.errors import ObjectParseError
from gplscan.facts.elf import object_facts, parse_modinfo
from gplscan.facts.rows import OBJECT_ROW
from tests.fuzz_targets import Target

MODULE_C = """\
static const char info[] __attribute__((section(".modinfo"), used)) =
    "license=GPL\\0name=m\\0author=A\\0vermagic=6.1.0 SMP";
struct module { int state; };
struct module __this_module = { 1 };
int helper(int x) { return x * 3; }
static const char ksym[] __attribute__((section("__ksymtab_strings"), used)) = "helper";
extern int debugfs_create_dir(const char *, void *);
int init_module(void) { return debugfs_create_dir("m", 0) + helper(2); }
"""


def _compile(scratch: Path, name: str, *flags: str) -> bytes | None:
    if shutil.which("gcc") is None:
        return None
    src = scratch / "m.c"
    src.write_text(MODULE_C)
    out = scratch / name
    proc = subprocess.run(
        ["gcc", "-c", "-O1", "-fno-pic", "-ffreestanding", *flags, "-o", str(out), str(src)],
        capture_output=True,
    )
    return out.read_bytes() if proc.returncode == 0 else None


def to_big_endian(data: bytes) -> bytes:
    """The same relocatable object with its header, section table and symbol table
    written big-endian (no big-endian toolchain is at hand; the contents stay as they
    are, which is all the reader looks at besides those tables)."""
    is64 = data[4] == 2
    out = bytearray(data)
    out[5] = 2
    head = "HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"
    fields = struct.unpack_from("<" + head, data, 16)
    struct.pack_into(">" + head, out, 16, *fields)
    shoff, shentsize, shnum = (fields[5], fields[10], fields[11])
    sh = "IIQQQQIIQQ" if is64 else "IIIIIIIIII"
    for i in range(shnum):
        base = shoff + i * shentsize
        entry = struct.unpack_from("<" + sh, data, base)
        struct.pack_into(">" + sh, out, base, *entry)
        if entry[1] == 2:  # SHT_SYMTAB: swap every symbol
            sym = "IBBHQQ" if is64 else "IIIBBH"
            step = struct.calcsize("<" + sym)
            for at in range(entry[4], entry[4] + entry[5], step):
                struct.pack_into(">" + sym, out, at, *struct.unpack_from("<" + sym, data, at))
    return bytes(out)


def elf_seeds(scratch: Path) -> list[bytes]:
    built = [
        _compile(scratch, "m64.ko"),
        _compile(scratch, "m64g.ko", "-g"),
        _compile(scratch, "m32.ko", "-m32"),
    ]
    seeds = [b for b in built if b is not None]
    return seeds + [to_big_endian(s) for s in seeds if b".debug" not in s]


def read_elf(data: bytes, scratch: Path) -> None:
    """Facts, or a reason; facts are what the cache can store and read back."""
    try:
        facts = object_facts(scratch / "m.ko", PurePosixPath("m.ko"), data)
    except ObjectParseError as exc:
        assert exc.reason
        return
    row = OBJECT_ROW.encode(facts)
    assert marshal.loads(marshal.dumps(row)) == row
    if facts.elf_type == "REL":
        assert facts.is_module, "a relocatable object named .ko is a module, read or not"


def modinfo_seeds(scratch: Path) -> list[bytes]:
    return [
        b"license=GPL\0name=m\0author=A <a@b>\0\0\0vermagic=6.1.0 SMP\0",
        b"license=GPL\0 for the loader, really Proprietary\0name=x\0",
        b"\0\0\0",
    ]


def split_modinfo(data: bytes, scratch: Path) -> None:
    """Every byte of the section is kept in some record (nothing read is dropped)."""
    entries = parse_modinfo(data)
    kept = sum(len(k) + (1 if k else 0) + len(v) - v.count(0) for k, v in entries)
    assert kept == len(data) - data.count(0), (data, entries)


def audit_seeds(scratch: Path) -> list[bytes]:
    return elf_seeds(scratch)[:1]


def audit_module(data: bytes, scratch: Path) -> None:
    """A damaged module in a directory of modules is listed, or named as not read."""
    from gplscan.scan import Options, run

    tree = scratch / "tree"
    tree.mkdir()
    (tree / "m.ko").write_bytes(data)
    result = run(tree, Options(cache_dir=None, jobs=1), detector=lambda p: (None, ()))
    listed = {str(b.path) for b in result.binaries}
    named = {str(i.path) for i in result.issues}
    assert "m.ko" in listed | named, (listed, named)


TARGETS = [
    Target("elf", elf_seeds, read_elf),
    Target("modinfo", modinfo_seeds, split_modinfo),
    Target("elf-audit", audit_seeds, audit_module),
]
