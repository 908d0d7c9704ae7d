"""Object facts against the reference tool (readelf), and broken ELF as errors with reasons.

Every export encoding the kernel has used is compiled here from small C files that emit it
with section attributes or inline assembler, and read back both by gplscan and by
``readelf``; so are DWARF compile units (``-g`` in its variants). The broken-ELF cases run
through the hot path (the direct reader), the default path and the pyelftools fallback.
"""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest

from gplscan.errors import ObjectParseError
from gplscan.facts import dwarf, elf, elf_format, elf_pyelftools, kernel_exports
from gplscan.facts.elf import object_facts, parse_modinfo
from gplscan.model import ObjectFacts
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


def readelf_symbols(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
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
    return tuple(sorted(defined)), tuple(sorted(undefined))  # as the facts hold them


def test_symbols_match_readelf(sample: Path) -> None:
    facts = object_facts(sample, PurePosixPath("sample.o"))
    defined, undefined = readelf_symbols(sample)
    assert facts.defined == defined
    assert facts.undefined == undefined
    assert {"exported_fn", "weak_fn", "global_var"} <= set(facts.defined)
    assert "local_fn" not in facts.defined
    assert facts.undefined == ("imported_fn", "imported_var")
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
    assert list(entries) == [("license", b"GPL\0trick"), ("name", b"m")]


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
@pytest.mark.parametrize("reader", [None, "direct", "pyelftools"])
def test_broken_elf_is_an_error_with_a_reason(
    sample: Path,
    tmp_path: Path,
    name: str,
    patch,
    reason: str,
    reader: elf.Reader | None,  # type: ignore[no-untyped-def]
) -> None:
    path = _broken(sample, tmp_path, name, patch)
    with pytest.raises(ObjectParseError) as exc:
        object_facts(path, PurePosixPath(name), reader=reader)
    assert reason in str(exc.value) and name in str(exc.value)


@pytest.mark.parametrize(
    ("name", "patch", "reason"),
    [
        ("no-name-table.o", lambda d: struct.pack_into("<H", d, 0x3E, 500), "does not exist"),
        (
            "symtab-entsize-zero.o",
            lambda d: struct.pack_into("<Q", d, _section_header(d, _symtab_index(d)) + 0x38, 0),
            "entry size 0",
        ),
        (
            "symbol-name-outside.o",
            lambda d: struct.pack_into("<I", d, _global_symbol_entry(d), 1 << 30),
            "outside its string table",
        ),
        (
            "xindex-without-table.o",
            lambda d: struct.pack_into("<H", d, _global_symbol_entry(d) + 6, 0xFFFF),
            "SHN_XINDEX",
        ),
        (
            "extended-count.o",  # e_shnum 0: the count is in section 0's sh_size
            lambda d: (
                struct.pack_into("<H", d, 0x3C, 0),
                struct.pack_into("<Q", d, _section_header(d, 0) + 0x20, 1 << 40),
            ),
            "absurd section count",
        ),
        (
            "section-name-outside.o",
            lambda d: struct.pack_into("<I", d, _section_header(d, 1), 1 << 30),
            "outside its string table",
        ),
    ],
)
@pytest.mark.parametrize("reader", [None, "direct"])
def test_broken_elf_on_the_hot_path(
    sample: Path,
    tmp_path: Path,
    name: str,
    patch,
    reason: str,
    reader: elf.Reader | None,  # type: ignore[no-untyped-def]
) -> None:
    path = _broken(sample, tmp_path, name, patch)
    with pytest.raises(ObjectParseError) as exc:
        object_facts(path, PurePosixPath(name), reader=reader)
    assert reason in str(exc.value) and name in str(exc.value)


def _global_symbol_entry(data: bytearray) -> int:
    """File offset of the first GLOBAL symbol's entry in the sample's symbol table."""
    header = _section_header(data, _symtab_index(data))
    offset, size = struct.unpack_from("<QQ", data, header + 0x18)
    for entry in range(offset, offset + size, 24):
        if data[entry + 4] >> 4 == 1:  # STB_GLOBAL
            return entry
    raise AssertionError("no global symbol")


def test_mutated_objects_never_escape_as_anything_but_a_reason(
    sample: Path, debug_objects: dict[str, Path]
) -> None:
    """Seeded byte mutations of real objects: the direct reader returns facts or raises
    ObjectParseError, quickly; nothing else (a bug there would silently fall back)."""
    rng = random.Random(20261125)
    originals = [sample.read_bytes(), debug_objects["dwarf5"].read_bytes()]
    # the ELF header, the section headers and the symbol table draw half of the mutations
    hot = [[*range(64), *range(_section_header(bytearray(o), 0), len(o))] for o in originals]
    slowest = 0.0
    for round_ in range(3000):
        data = bytearray(originals[round_ % 2])
        for _ in range(rng.randint(1, 8)):
            at = rng.choice(hot[round_ % 2]) if rng.random() < 0.5 else rng.randrange(len(data))
            data[at] = rng.randrange(256)
        if rng.random() < 0.1:
            del data[rng.randrange(len(data)) :]
        start = time.perf_counter()
        try:
            facts = object_facts(Path("m.o"), PurePosixPath("m.o"), bytes(data), reader="direct")
        except ObjectParseError:
            pass
        else:
            assert isinstance(facts, ObjectFacts)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 2.0


# --- every export encoding ------------------------------------------------------------------

KSYMTAB_SECTIONS = r"""
/* Before Linux 4.x: one __ksymtab<kind> section per kind, struct {value, name} entries. */
struct kernel_symbol { unsigned long value; const char *name; };
#define KSYM(sym, sec)                                                                   \
    extern typeof(sym) sym;                                                              \
    static const char __kstrtab_##sym[]                                                  \
        __attribute__((section("__ksymtab_strings"), aligned(1))) = #sym;                 \
    static const struct kernel_symbol __ksymtab_##sym                                    \
        __attribute__((used, section(SECTION(sec, sym)))) = {(unsigned long)&sym, __kstrtab_##sym}
#ifdef PER_SYMBOL
#define SECTION(sec, sym) "___ksymtab" sec "+" #sym  /* Linux 4.x to 6.4 objects */
#else
#define SECTION(sec, sym) "__ksymtab" sec
#endif
int plain_fn(void) { return 1; }
int gpl_fn(void) { return 2; }
int unused_fn(void) { return 3; }
int unused_gpl_fn(void) { return 4; }
int future_fn(void) { return 5; }
KSYM(plain_fn, "");
KSYM(gpl_fn, "_gpl");
KSYM(unused_fn, "_unused");
KSYM(unused_gpl_fn, "_unused_gpl");
KSYM(future_fn, "_gpl_future");
"""
KSYMTAB_EXPORTS = (
    ("future_fn", False),  # EXPORT_SYMBOL_GPL_FUTURE: non-GPL modules could still use it
    ("gpl_fn", True),
    ("plain_fn", False),
    ("unused_fn", False),
    ("unused_gpl_fn", True),
)

NAMESPACED = r"""
/* Linux 5.4 to 6.4: the name and the namespace in __ksymtab_strings, PREL32 entries. */
#define KSYM_NS(sym, sec, ns)                                                            \
    asm("  .section \"__ksymtab_strings\",\"aMS\",%progbits,1\n"                          \
        "__kstrtab_" #sym ":\n"                                                         \
        "  .asciz \"" #sym "\"\n"                                                       \
        "__kstrtabns_" #sym ":\n"                                                       \
        "  .asciz \"" ns "\"\n"                                                         \
        "  .previous\n"                                                                 \
        "  .section \"___ksymtab" sec "+" #sym "\", \"a\"\n"                            \
        "  .balign 4\n"                                                                 \
        "__ksymtab_" #sym ":\n"                                                         \
        "  .long " #sym " - .\n"                                                        \
        "  .long __kstrtab_" #sym " - .\n"                                              \
        "  .long __kstrtabns_" #sym " - .\n"                                            \
        "  .previous\n")
int usb_fn(void) { return 1; }
int plain_ns(void) { return 2; }
int no_ns(void) { return 3; }
KSYM_NS(usb_fn, "_gpl", "USB_STORAGE");
KSYM_NS(plain_ns, "", "MY_NS");
KSYM_NS(no_ns, "_gpl", "");
"""

EXPORT_SYMBOL_SECTION = r"""
/* Linux >= 6.5 (ddb5cdbafaaa): EXPORT_SYMBOL* leaves an .export_symbol record that modpost
 * reads; the directives are those of ___EXPORT_SYMBOL in include/linux/export.h. */
#define STR_(x) #x
#define STR(x) STR_(x)
#ifdef __LP64__
#define REF(sym) "  .balign 8\n  .quad " #sym "\n"
#else
#define REF(sym) "  .balign 4\n  .long " #sym "\n"
#endif
#define RECORD(sym, license, ns_directive)                                               \
    extern typeof(sym) sym;                                                              \
    static void *__addressable_##sym                                                     \
        __attribute__((used, section(".discard.addressable"))) = (void *)&sym;           \
    asm("  .section \".export_symbol\",\"a\"\n"                                         \
        "__export_symbol_" #sym ":\n"                                                   \
        "  .asciz " STR(license) "\n"                                                   \
        ns_directive "\n"                                                               \
        REF(sym)                                                                        \
        "  .previous\n")
#define ASCIZ(ns) "  .asciz " STR(ns)                    /* Linux 6.5 to 6.15 */
#define ASCII(ns) "  .ascii " ns " \"\\0\""              /* since 6.16 */
int plain_fn(int x) { return x + 1; }
int gpl_fn(int x) { return x * 2; }
int ns_fn(int x) { return x - 3; }
int gpl_var = 7;
int kvm_fn(int x) { return x; }
int odd_fn(int x) { return -x; }
RECORD(plain_fn, "", ASCIZ(""));
RECORD(gpl_fn, "GPL", ASCIZ(""));
RECORD(ns_fn, "", ASCIZ("USB_STORAGE"));
RECORD(gpl_var, "GPL", ASCIZ("MY_NS"));
RECORD(kvm_fn, "GPL", ASCII("\"module:\" \"kvm,kvm-*\""));
RECORD(odd_fn, "Proprietary", ASCIZ(""));  /* modpost rejects it: not an export */
"""
EXPORT_SYMBOL_SECOND = r"""
int second_fn(int x) { return x; }
asm("  .section \".export_symbol\",\"a\"\n__export_symbol_second_fn:\n  .asciz \"GPL\"\n"
    "  .asciz \"SECOND\"\n  .balign 8\n  .quad second_fn\n  .previous\n");
"""


@pytest.fixture(scope="module")
def encodings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One object per export encoding (and linked or 32-bit variants)."""
    need_tools("gcc", "ld", "readelf")
    tmp = tmp_path_factory.mktemp("exports")
    sources = {
        "ksymtab": (KSYMTAB_SECTIONS, ()),
        "per-symbol": (KSYMTAB_SECTIONS, ("-DPER_SYMBOL",)),
        "namespaced": (NAMESPACED, ()),
        "namespaced-32": (NAMESPACED, ("-m32",)),
        "export-symbol": (EXPORT_SYMBOL_SECTION, ()),
        "export-symbol-32": (EXPORT_SYMBOL_SECTION, ("-m32",)),
        "export-symbol-second": (EXPORT_SYMBOL_SECOND, ()),
    }
    out: dict[str, Path] = {}
    for name, (text, flags) in sources.items():
        (tmp / f"{name}.c").write_text(text)
        out[name] = compile_object(tmp / f"{name}.c", tmp / f"{name}.o", *flags)
    out["export-symbol-linked"] = tmp / "linked.o"
    subprocess.run(
        [
            "ld",
            "-r",
            "-o",
            str(out["export-symbol-linked"]),
            str(out["export-symbol-second"]),
            str(out["export-symbol"]),
        ],
        check=True,
    )
    return out


EXPECTED_EXPORTS = {
    "ksymtab": (KSYMTAB_EXPORTS, ()),
    "per-symbol": (KSYMTAB_EXPORTS, ()),
    "namespaced": (
        (("no_ns", True), ("plain_ns", False), ("usb_fn", True)),
        (("plain_ns", "MY_NS"), ("usb_fn", "USB_STORAGE")),
    ),
    "export-symbol": (
        (
            ("gpl_fn", True),
            ("gpl_var", True),
            ("kvm_fn", True),
            ("ns_fn", False),
            ("plain_fn", False),
        ),
        (("gpl_var", "MY_NS"), ("kvm_fn", "module:kvm,kvm-*"), ("ns_fn", "USB_STORAGE")),
    ),
}
EXPECTED_EXPORTS["namespaced-32"] = EXPECTED_EXPORTS["namespaced"]
EXPECTED_EXPORTS["export-symbol-32"] = EXPECTED_EXPORTS["export-symbol"]
EXPECTED_EXPORTS["export-symbol-linked"] = (
    tuple(sorted((*EXPECTED_EXPORTS["export-symbol"][0], ("second_fn", True)))),
    tuple(sorted((*EXPECTED_EXPORTS["export-symbol"][1], ("second_fn", "SECOND")))),
)


@pytest.mark.parametrize("name", sorted(EXPECTED_EXPORTS))
@pytest.mark.parametrize("reader", ["direct", "pyelftools"])
def test_every_export_encoding(encodings: dict[str, Path], name: str, reader: elf.Reader) -> None:
    facts = object_facts(encodings[name], PurePosixPath(f"{name}.o"), reader=reader)
    exports, namespaces = EXPECTED_EXPORTS[name]
    assert facts.exports == exports
    assert facts.export_namespaces == namespaces
    assert not any(s.startswith(kernel_exports.LABEL_PREFIXES) for s in facts.defined)


@pytest.mark.parametrize("read", [elf_format.read_direct, elf_pyelftools.read_pyelftools])
def test_a_reader_is_always_told_which_labels_to_keep(read: Callable[..., object]) -> None:
    """Before the split every reader kept the export labels; a reader called as before
    (without ``labels``) must fail, not read an object silently without its exports."""
    header = elf_format.ElfHeader(64, "<", 1, 62)
    with pytest.raises(TypeError, match="labels"):
        read(b"\x7fELF", "x.o", header)


def readelf_section_names(path: Path) -> dict[int, str]:
    out = subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True).stdout
    return {int(m[1]): m[2] for m in re.finditer(r"^\s*\[\s*(\d+)\] (\S+)", out, re.MULTILINE)}


def readelf_symbol_rows(path: Path) -> list[tuple[int, str, str, str, str]]:
    """(value, type, binding, ndx, name) of the named rows ``readelf -sW`` prints."""
    out = subprocess.run(["readelf", "-sW", str(path)], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        cols = line.split()
        # readelf names STT_SECTION symbols after their section; they have no name
        if len(cols) == 8 and cols[0].rstrip(":").isdigit() and cols[3] != "SECTION":
            rows.append((int(cols[1], 16), cols[3], cols[4], cols[6], cols[7]))
    return rows


def readelf_bytes(path: Path, section: str) -> bytes:
    """A section's bytes from ``readelf -x`` (the hex columns; relocations not applied)."""
    out = subprocess.run(
        ["readelf", "-x", section, str(path)], capture_output=True, text=True, check=True
    ).stdout
    hexdigits = "".join(
        line[13:48].replace(" ", "") for line in out.splitlines() if line.startswith("  0x")
    )
    return bytes.fromhex(hexdigits)


@pytest.mark.parametrize("name", ["export-symbol", "export-symbol-32", "export-symbol-linked"])
def test_export_symbol_records_match_readelf(encodings: dict[str, Path], name: str) -> None:
    """The .export_symbol layout, from readelf alone: at each __export_symbol_<sym> label the
    license and the namespace, NUL-terminated, then a pointer-aligned slot relocated
    against <sym>."""
    path = encodings[name]
    blob = readelf_bytes(path, ".export_symbol")
    sections = readelf_section_names(path)
    pointer = 4 if name.endswith("-32") else 8
    records = {}
    for value, _, bind, ndx, label in readelf_symbol_rows(path):
        if not label.startswith("__export_symbol_"):
            continue
        assert bind == "LOCAL" and sections[int(ndx)] == ".export_symbol"
        license, namespace, _ = blob[value:].split(b"\0", 2)
        slot = -(-(value + len(license) + len(namespace) + 2) // pointer) * pointer
        assert blob[slot : slot + pointer] == bytes(pointer)  # filled in by the relocation
        records[label.removeprefix("__export_symbol_")] = (license, namespace)
    relocations = subprocess.run(
        ["readelf", "-rW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    for symbol in records:
        assert re.search(rf"R_(X86_64_64|386_32)\s+\S+\s+{symbol}\b", relocations)
    facts = object_facts(path, PurePosixPath(name))
    assert set(facts.exports) == {
        (s, lic == b"GPL") for s, (lic, _) in records.items() if lic in (b"", b"GPL")
    }
    assert set(facts.export_namespaces) == {
        (s, ns.decode()) for s, (_, ns) in records.items() if ns and s != "odd_fn"
    }


@pytest.mark.parametrize("name", ["ksymtab", "per-symbol", "namespaced"])
def test_ksymtab_labels_match_readelf(encodings: dict[str, Path], name: str) -> None:
    path = encodings[name]
    sections = readelf_section_names(path)
    rows = readelf_symbol_rows(path)
    by_section = {
        label.removeprefix("__ksymtab_"): sections[int(ndx)]
        for _, _, _, ndx, label in rows
        if label.startswith("__ksymtab_")
    }
    facts = object_facts(path, PurePosixPath(name))
    assert {s for s, _ in facts.exports} == set(by_section)
    for symbol, gpl_only in facts.exports:
        kind = by_section[symbol].lstrip("_").partition("+")[0]
        assert gpl_only == (kind in ("ksymtab_gpl", "ksymtab_unused_gpl"))
    strings = readelf_bytes(path, "__ksymtab_strings")
    namespaces = {
        (label.removeprefix("__kstrtabns_"), strings[value:].split(b"\0", 1)[0].decode())
        for value, _, _, _, label in rows
        if label.startswith("__kstrtabns_")
    }
    assert set(facts.export_namespaces) == {(s, ns) for s, ns in namespaces if ns}


# --- DWARF compile units --------------------------------------------------------------------

DWARF_SOURCE = r"""
struct point { int x, y; };
int dwarf_fn(struct point *p) { return p->x + p->y; }
int dwarf_var = 1;
"""
DWARF_OTHER = r"""
static const char banner[] = "other";
const char *other_fn(void) { return banner; }
"""


@pytest.fixture(scope="module")
def debug_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Objects with DWARF: the default (DWARF 5), DWARF 4, 32-bit (REL relocations),
    zlib-compressed sections, split DWARF, and two units linked with ``ld -r``."""
    need_tools("gcc", "ld", "readelf")
    tmp = tmp_path_factory.mktemp("dwarf")
    (tmp / "dw.c").write_text(DWARF_SOURCE)
    (tmp / "other.c").write_text(DWARF_OTHER)
    variants = {
        "dwarf5": ("dw.c", ("-g",)),
        "dwarf4": ("dw.c", ("-gdwarf-4",)),
        "dwarf5-32": ("dw.c", ("-g", "-m32")),
        "compressed": ("dw.c", ("-g", "-gz=zlib")),
        "split": ("dw.c", ("-g", "-gsplit-dwarf")),
        "other": ("other.c", ("-g",)),
    }
    out: dict[str, Path] = {}
    for name, (source, flags) in variants.items():
        out[name] = tmp / f"{name}.o"
        # run in tmp with a relative source: DW_AT_name as Kbuild leaves it, relative to
        # DW_AT_comp_dir
        subprocess.run(
            ["gcc", "-c", "-O2", *flags, "-o", out[name].name, source],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
    out["linked"] = tmp / "linked.o"
    subprocess.run(
        ["ld", "-r", "-o", str(out["linked"]), str(out["other"]), str(out["dwarf5"])], check=True
    )
    return out


def readelf_units(path: Path) -> tuple[tuple[str | None, str | None, str | None], ...]:
    """(name, comp_dir, producer) of each unit's top entry, from ``readelf --debug-dump=info``."""
    out = subprocess.run(
        ["readelf", "--debug-dump=info", str(path)], capture_output=True, text=True, check=True
    ).stdout
    units = []
    for block in re.split(r"^\s*<0><", out, flags=re.MULTILINE)[1:]:
        top = re.split(r"^\s*<1><", block, maxsplit=1, flags=re.MULTILINE)[0]
        values: dict[str, str] = {}
        for m in re.finditer(
            r"DW_AT_(name|comp_dir|producer)\s*: (?:\([^)]*\): )?(.*)$", top, re.MULTILINE
        ):
            values[m[1]] = m[2].rstrip()
        units.append((values.get("name"), values.get("comp_dir"), values.get("producer")))
    return tuple(units)


@pytest.mark.parametrize("name", ["dwarf5", "dwarf4", "dwarf5-32", "compressed", "linked"])
@pytest.mark.parametrize("reader", ["direct", "pyelftools"])
def test_dwarf_units_match_readelf(
    debug_objects: dict[str, Path], name: str, reader: elf.Reader
) -> None:
    path = debug_objects[name]
    facts = object_facts(path, PurePosixPath(f"{name}.o"), reader=reader)
    assert facts.dwarf_error is None
    assert facts.dwarf_units == readelf_units(path)
    tmp = str(path.parent)
    expected_names = ("other.c", "dw.c") if name == "linked" else ("dw.c",)
    assert tuple(u[0] for u in facts.dwarf_units) == expected_names
    assert all(u[1] == tmp for u in facts.dwarf_units)
    assert all((u[2] or "").startswith("GNU C") for u in facts.dwarf_units)
    assert "dwarf_fn" in facts.defined  # DWARF never replaces the other facts


def test_split_dwarf_skeleton_unit(debug_objects: dict[str, Path]) -> None:
    facts = object_facts(debug_objects["split"], PurePosixPath("split.o"))
    assert facts.dwarf_error is None
    assert facts.dwarf_units == ((None, str(debug_objects["split"].parent), None),)


def test_objects_without_dwarf_have_no_units(sample: Path) -> None:
    facts = object_facts(sample, PurePosixPath("sample.o"))
    assert facts.dwarf_units == () and facts.dwarf_error is None


def test_relocations_through_pyelftools_give_the_same_units(
    debug_objects: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Machines without an entry in ABSOLUTE_RELOCATIONS are relocated by pyelftools."""
    expected = object_facts(debug_objects["linked"], PurePosixPath("linked.o")).dwarf_units
    monkeypatch.setattr(dwarf, "ABSOLUTE_RELOCATIONS", {})
    facts = object_facts(debug_objects["linked"], PurePosixPath("linked.o"))
    assert facts.dwarf_error is None and facts.dwarf_units == expected


def _section_by_name(data: bytes | bytearray, wanted: str) -> tuple[int, int, int]:
    """(header offset, content offset, size) of a section of a 64-bit little-endian object."""
    shstrndx = struct.unpack_from("<H", data, 0x3E)[0]
    names_at = struct.unpack_from("<Q", data, _section_header(bytearray(data), shstrndx) + 0x18)[0]
    for i in range(struct.unpack_from("<H", data, 0x3C)[0]):
        header = _section_header(bytearray(data), i)
        name_offset = struct.unpack_from("<I", data, header)[0]
        name = bytes(data[names_at + name_offset :]).split(b"\0", 1)[0].decode()
        if name == wanted:
            offset, size = struct.unpack_from("<QQ", data, header + 0x18)
            return header, offset, size
    raise AssertionError(f"no {wanted}")


@pytest.mark.parametrize(
    ("name", "section", "reason"),
    [
        ("dwarf5", ".debug_abbrev", "malformed DWARF"),
        ("dwarf5", ".debug_info", "malformed DWARF"),
        ("compressed", ".debug_info", "claims"),
    ],
)
def test_malformed_dwarf_is_a_reason_not_a_lost_object(
    debug_objects: dict[str, Path], tmp_path: Path, name: str, section: str, reason: str
) -> None:
    data = bytearray(debug_objects[name].read_bytes())
    _, offset, size = _section_by_name(data, section)
    if name == "compressed":  # a zlib bomb's claim: ch_size far beyond what deflate can give
        struct.pack_into("<Q", data, offset + 8, 1 << 40)
    else:
        data[offset : offset + size] = b"\xff" * size
    path = tmp_path / f"bad-{name}.o"
    path.write_bytes(bytes(data))
    facts = object_facts(path, PurePosixPath(path.name))
    assert facts.dwarf_error is not None and reason in facts.dwarf_error
    assert "dwarf_fn" in facts.defined and facts.file_symbols == ("dw.c",)


def test_compressed_dwarf_is_decompressed_within_limits() -> None:
    header = elf_format.ElfHeader(64, "<", 1, 62)
    payload = zlib.compress(b"\0" * 4096)
    raw = struct.pack("<IIQQ", 1, 0, 4096, 1) + payload
    section = elf_format.SectionHeader(
        ".debug_info", 1, elf_format.SHF_COMPRESSED, 0, 0, len(raw), 0, 0, 0
    )
    assert dwarf._debug_contents(raw, "x.o", header, section) == b"\0" * 4096
    zstd = struct.pack("<IIQQ", 2, 0, 4096, 1) + payload
    with pytest.raises(ObjectParseError, match="compression type 2"):
        dwarf._debug_contents(zstd, "x.o", header, section._replace(size=len(zstd)))


def test_absolute_relocation_table_agrees_with_pyelftools() -> None:
    from elftools.elf import enums

    named = {
        62: (enums.ENUM_RELOC_TYPE_x64, {"R_X86_64_64": 8, "R_X86_64_32": 4, "R_X86_64_32S": 4}),
        3: (enums.ENUM_RELOC_TYPE_i386, {"R_386_32": 4}),
        183: (enums.ENUM_RELOC_TYPE_AARCH64, {"R_AARCH64_ABS64": 8, "R_AARCH64_ABS32": 4}),
        40: (enums.ENUM_RELOC_TYPE_ARM, {"R_ARM_ABS32": 4}),
        21: (enums.ENUM_RELOC_TYPE_PPC64, {"R_PPC64_ADDR64": 8, "R_PPC64_ADDR32": 4}),
        20: (enums.ENUM_RELOC_TYPE_PPC, {"R_PPC_ADDR32": 4}),
        22: (enums.ENUM_RELOC_TYPE_S390X, {"R_390_32": 4, "R_390_64": 8}),
        258: (enums.ENUM_RELOC_TYPE_LOONGARCH, {"R_LARCH_32": 4, "R_LARCH_64": 8}),
    }
    machines = {
        "EM_X86_64": 62,
        "EM_386": 3,
        "EM_AARCH64": 183,
        "EM_ARM": 40,
        "EM_PPC64": 21,
        "EM_PPC": 20,
        "EM_S390": 22,
        "EM_LOONGARCH": 258,
        "EM_RISCV": 243,
    }
    for machine_name, number in machines.items():
        assert enums.ENUM_E_MACHINE[machine_name] == number
    for machine, (enum, widths) in named.items():
        assert dwarf.ABSOLUTE_RELOCATIONS[machine] == {enum[n]: w for n, w in widths.items()}
    assert dwarf.ABSOLUTE_RELOCATIONS[243] == {1: 4, 2: 8}  # RISC-V psABI: R_RISCV_32, R_RISCV_64


# --- both readers, and real modules ---------------------------------------------------------


def test_readers_agree_on_every_fixture(
    sample: Path, encodings: dict[str, Path], debug_objects: dict[str, Path]
) -> None:
    for path in [sample, *encodings.values(), *debug_objects.values()]:
        rel = PurePosixPath(path.name)
        assert object_facts(path, rel, reader="direct") == object_facts(
            path, rel, reader="pyelftools"
        ), path.name


def _debian_modules() -> Path:
    """The kernel modules of Debian's linux-image package, if bench.debian_archive (or
    bench/elf_speed.py) has unpacked them; never downloads."""
    base = os.environ.get("GPLSCAN_BENCH_CACHE") or str(Path.home() / ".cache" / "gplscan-bench")
    found = sorted(Path(base).glob("unpacked/linux-image-*/lib/modules/*/kernel"))
    if not found:
        pytest.skip(
            "Debian's linux-image modules are not unpacked; "
            "`python -m bench.elf_speed` fetches them once"
        )
    return found[-1]


def test_real_debian_modules_match_readelf() -> None:
    need_tools("readelf")
    kernel = _debian_modules()
    wanted = [
        "drivers/usb/storage/usb-storage.ko",  # exports with a namespace
        "drivers/net/ethernet/intel/e1000e/e1000e.ko",
        "drivers/hv/hv_vmbus.ko",  # EXPORT_SYMBOL_GPL
        "fs/btrfs/btrfs.ko",
    ]
    everything = sorted(kernel.rglob("*.ko"))
    sample = [kernel / w for w in wanted if (kernel / w).exists()]
    sample += random.Random(4).sample(everything, 6)
    for path in sample:
        facts = object_facts(path, PurePosixPath(path.name))
        defined, undefined = readelf_symbols(path)
        assert facts.defined == defined, path
        assert facts.undefined == undefined, path
        sections = readelf_section_names(path)
        rows = readelf_symbol_rows(path)
        ksymtab = {
            (label.removeprefix("__ksymtab_"), sections[int(ndx)] == "__ksymtab_gpl")
            for _, _, _, ndx, label in rows
            if label.startswith("__ksymtab_")
        }
        assert set(facts.exports) == ksymtab, path
        if any(label.startswith("__kstrtabns_") for *_, label in rows):
            strings = readelf_bytes(path, "__ksymtab_strings")
            namespaces = {
                (label.removeprefix("__kstrtabns_"), strings[value:].split(b"\0", 1)[0].decode())
                for value, *_, label in rows
                if label.startswith("__kstrtabns_")
            }
            assert set(facts.export_namespaces) == {p for p in namespaces if p[1]}, path
        assert facts == object_facts(path, PurePosixPath(path.name), reader="pyelftools")
    usb = object_facts(kernel / wanted[0], PurePosixPath("usb-storage.ko"))
    assert ("usb_stor_control_msg", "USB_STORAGE") in usb.export_namespaces


def test_every_debian_module_export_matches_module_symvers() -> None:
    """All exports of Debian's modules (symbol, GPL-only, namespace) against the
    Module.symvers its linux-headers package ships (what modpost wrote at build time)."""
    kernel = _debian_modules()
    cache = kernel.parents[3].parent
    symvers = sorted(cache.glob("linux-headers-*/usr/src/linux-headers-*-amd64/Module.symvers"))
    if not symvers:
        pytest.skip("Debian's linux-headers package is not unpacked (bench.debian_archive)")
    expected = {}
    for line in symvers[-1].read_text().splitlines():
        _, symbol, module, macro, *namespace = line.split("\t")
        if module != "vmlinux":
            expected[module, symbol] = (macro == "EXPORT_SYMBOL_GPL", "".join(namespace))
    found = {}
    for path in kernel.rglob("*.ko"):
        facts = object_facts(path, PurePosixPath(path.name))
        namespaces = dict(facts.export_namespaces)
        module = str(path.relative_to(kernel).with_suffix(""))
        for symbol, gpl_only in facts.exports:
            found[module, symbol] = (gpl_only, namespaces.get(symbol, ""))
    assert len(expected) > 10_000
    assert found == expected


def test_extended_section_numbering(tmp_path: Path) -> None:
    """More than 65,279 sections (vmlinux.o-sized objects): the count and the name table's
    index move to section 0, and symbols reach their sections through SHT_SYMTAB_SHNDX."""
    need_tools("as", "readelf")
    count = 65_300
    lines = [f'.section .data.s{i},"aw"\n.globl s{i}\ns{i}: .byte 0' for i in range(count)]
    lines.append(f'.section __ksymtab_gpl,"a"\n__ksymtab_s{count - 1}: .quad s{count - 1}')
    (tmp_path / "many.s").write_text("\n".join(lines) + "\n")
    path = tmp_path / "many.o"
    subprocess.run(["as", "-o", str(path), str(tmp_path / "many.s")], check=True)
    assert struct.unpack_from("<H", path.read_bytes(), 0x3C)[0] == 0  # e_shnum
    facts = object_facts(path, PurePosixPath("many.o"), reader="direct")
    defined, undefined = readelf_symbols(path)
    assert facts.defined == defined and len(defined) == count and not undefined
    assert facts.exports == ((f"s{count - 1}", True),)


HOSTILE_DWARF = {
    # one abbreviation whose entry lists 300 attributes of a form that reads nothing
    "many-attributes": (
        ".section .debug_abbrev\n.uleb128 1, 0x11\n.byte 0\n"
        ".rept 300\n.uleb128 0x3c, 0x19\n.endr\n.byte 0, 0, 0\n"
        ".section .debug_info\n.rept 5000\n.long 8\n.short 4\n.long 0\n.byte 8\n.uleb128 1\n"
        ".endr\n",
        "top entry has 300 attributes",
    ),
    # every unit's name points at a 300 KB string with no terminator
    "endless-string": (
        ".section .debug_abbrev\n.uleb128 1, 0x11\n.byte 0\n.uleb128 0x03, 0x0e\n"
        ".byte 0, 0, 0\n.section .debug_str\n.fill 300000, 1, 0x41\n"
        ".section .debug_info\n.rept 2000\n.long 12\n.short 4\n.long 0\n.byte 8\n"
        ".uleb128 1\n.long 0\n.endr\n",
        "more than 4 times its size",
    ),
    # each unit's abbreviation table starts one entry later in the same 5,000-entry run
    "overlapping-abbreviations": (
        ".section .debug_abbrev\n.rept 5000\n.uleb128 1, 0x11\n.byte 0\n.uleb128 0x3c, 0x19\n"
        ".byte 0, 0\n.endr\n.byte 0\n.section .debug_info\n.set i, 0\n.rept 2000\n"
        ".long 8\n.short 4\n.long i*7\n.byte 8\n.uleb128 1\n.set i, i+1\n.endr\n",
        "abbreviation tables overlap",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_DWARF))
def test_hostile_dwarf_costs_little_and_keeps_the_other_facts(tmp_path: Path, name: str) -> None:
    """DWARF laid out to make pyelftools work quadratically stops early, with a reason."""
    need_tools("as")
    text, reason = HOSTILE_DWARF[name]
    (tmp_path / "h.s").write_text(text + ".text\n.globl entry\nentry: ret\n")
    path = tmp_path / "h.o"
    subprocess.run(["as", "-o", str(path), str(tmp_path / "h.s")], check=True)
    start = time.perf_counter()
    facts = object_facts(path, PurePosixPath("h.o"))
    assert time.perf_counter() - start < 3.0
    assert facts.dwarf_error is not None and reason in facts.dwarf_error
    assert facts.defined == ("entry",)


@pytest.mark.parametrize("bits", [64, 32])
def test_symbol_columns_in_the_other_byte_order(tmp_path: Path, bits: int) -> None:
    """The symbol table is read by columns: strided views in the machine's byte order, and
    unpacked entries in the other one. The same table written in both orders gives the
    same columns (this machine has no big-endian compiler; the table is swapped here)."""
    src = tmp_path / "sample.c"
    src.write_text(SOURCE)
    obj = compile_object(src, tmp_path / "sample.o", *(("-m32",) if bits == 32 else ()))
    data = obj.read_bytes()
    header = elf_format.read_header(data, "sample.o")
    sections = elf_format.read_section_table(data, "sample.o", header)
    (symtab,) = (s for s in sections if s.type == elf_format.SHT_SYMTAB)
    table = elf_format.section_contents(data, "sample.o", symtab)
    assert header.endian == elf_format.NATIVE_ORDER == "<"  # gcc here builds for this x86 machine
    fields = "IBBHQQ" if bits == 64 else "IIIBBH"
    count = len(table) // struct.calcsize("<" + fields)
    swapped = b"".join(
        struct.pack(">" + fields, *row) for row in struct.iter_unpack("<" + fields, table)
    )
    native = elf_format.symbol_columns(table, count, header)
    unpacked = elf_format.symbol_columns(swapped, count, header._replace(endian=">"))
    as_lists = [list(column) for column in native], [list(column) for column in unpacked]
    assert as_lists[0] == as_lists[1]
    assert len(as_lists[0][0]) == count > 10


def test_section_names_that_are_not_ascii_are_read_as_readelf_reads_them(
    tmp_path: Path,
) -> None:
    """Section names are decoded once for the whole table when it is ASCII; a table with
    other bytes (UTF-8 here, and one byte that is not UTF-8) is decoded name by name."""
    need_tools("as", "readelf")
    source = tmp_path / "names.s"
    source.write_bytes(
        b'.section ".data.caf\xc3\xa9","aw"\n.byte 1\n'
        b'.section ".data.raw\xff","aw"\n.byte 2\n'
        b".globl entry\n.text\nentry: ret\n"
    )
    path = tmp_path / "names.o"
    subprocess.run(["as", "-o", str(path), str(source)], check=True)
    data = path.read_bytes()
    header = elf_format.read_header(data, "names.o")
    names = [s.name for s in elf_format.read_section_table(data, "names.o", header)]
    assert ".data.café" in names and ".data.raw\ufffd" in names
    shown = subprocess.run(
        ["readelf", "-SW", str(path)], capture_output=True, check=True
    ).stdout.decode("utf-8", "replace")
    assert all(n in shown for n in names if n and n.isascii())
    ascii_only = [n for n in names if n.isascii()]
    assert ".text" in ascii_only and ".symtab" in ascii_only
    assert object_facts(path, PurePosixPath("names.o")).defined == ("entry",)
