"""DWARF compile units of an ELF object: the source files it was built from, where and
with what compiler (``DW_AT_name``, ``DW_AT_comp_dir``, ``DW_AT_producer``).

Read with pyelftools from section bytes bounds-checked by :mod:`gplscan.facts.elf_format`, and
that this module decompresses (bounded: ``SHF_COMPRESSED`` zlib/zstd, ``.zdebug``) and, in
relocatable objects, relocates itself; a read that would cost more than its budget, or
that fails, is a ``dwarf_error`` and the object keeps its other facts.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import TYPE_CHECKING, Literal

from gplscan.errors import ObjectParseError
from gplscan.facts.elf_format import (
    SHF_COMPRESSED,
    SHT_REL,
    SHT_RELA,
    SHT_SYMTAB,
    ElfHeader,
    SectionHeader,
    machine_name,
    section_contents,
)

if TYPE_CHECKING:
    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo

MAX_DWARF_UNITS = 100_000
# pyelftools' DWARF work is bounded by what it reads from the section streams (at most
# DWARF_READ_FACTOR times their size plus a MiB, each read call counting one byte more),
# by the abbreviation tables it parses (they do not overlap in a real file), and by the
# attribute specifications of the top entries it decodes (some forms read nothing).
DWARF_READ_FACTOR = 4
MAX_DWARF_ATTRIBUTES = 1_000_000
MAX_TOP_ENTRY_ATTRIBUTES = 256  # a compile unit's top entry has a dozen or two
MAX_DWARF_SECTION = 1 << 30  # the most a compressed debug section may claim to expand to
ZLIB_MAX_RATIO = 1100  # deflate cannot expand more than about 1032:1

# Absolute data relocations (type: width in bytes) by e_machine: the kind every field read
# here uses (unit headers' abbreviation offsets, string offsets). Others are left as they
# are; machines not listed are relocated by pyelftools' own recipes.
ABSOLUTE_RELOCATIONS: dict[int, dict[int, int]] = {
    62: {1: 8, 10: 4, 11: 4},  # x86-64: R_X86_64_64, R_X86_64_32, R_X86_64_32S
    3: {1: 4},  # i386: R_386_32
    183: {257: 8, 258: 4},  # AArch64: R_AARCH64_ABS64, R_AARCH64_ABS32
    40: {2: 4},  # ARM: R_ARM_ABS32
    243: {1: 4, 2: 8},  # RISC-V: R_RISCV_32, R_RISCV_64
    21: {38: 8, 1: 4},  # PowerPC64: R_PPC64_ADDR64, R_PPC64_ADDR32
    20: {1: 4},  # PowerPC: R_PPC_ADDR32
    22: {4: 4, 22: 8},  # s390: R_390_32, R_390_64
    258: {1: 4, 2: 8},  # LoongArch: R_LARCH_32, R_LARCH_64
}
_DWARF_SECTIONS = (
    ".debug_info",
    ".debug_abbrev",
    ".debug_str",
    ".debug_line_str",
    ".debug_str_offsets",
    ".debug_addr",
)
_UNIT_TAGS = frozenset(("DW_TAG_compile_unit", "DW_TAG_partial_unit", "DW_TAG_skeleton_unit"))

Unit = tuple[str | None, str | None, str | None]  # DW_AT_name, DW_AT_comp_dir, DW_AT_producer


def dwarf_units(
    data: bytes, where: str, header: ElfHeader, sections: list[SectionHeader]
) -> tuple[tuple[Unit, ...], str | None]:
    """``(DW_AT_name, DW_AT_comp_dir, DW_AT_producer)`` of every compile unit, and why
    reading stopped early (None when it did not).

    The sections pyelftools parses are built here: bounds-checked, decompressed within a
    limit, and relocated (the absolute data relocations the fields read here use) so that
    a ``-g`` object costs milliseconds, not the seconds that relocating every debug
    section through pyelftools takes. pyelftools' work is bounded: by the bytes it may
    read (:class:`_BudgetedStream`), by the abbreviation tables it parses, by the
    attributes of the top entries it decodes, and by the number of units.
    """
    units: list[Unit] = []
    if not any(s.name == ".debug_info" for s in sections):
        return (), "DWARF in GNU .zdebug sections is not read"
    try:
        by_name = {s.name: i for i, s in reversed(list(enumerate(sections)))}
        contents: dict[str, bytes] = {}
        for name in _DWARF_SECTIONS:
            if name in by_name:
                contents[name] = _relocated(data, where, header, sections, by_name[name])
        stopped = _read_units(_dwarf_info(header, contents), contents, units)
        return tuple(units), stopped
    except ObjectParseError as exc:
        return tuple(units), exc.reason
    except _TooCostly:
        return tuple(units), (
            f"reading DWARF took more than {DWARF_READ_FACTOR} times its size; the rest not read"
        )
    except Exception as exc:  # pyelftools: DWARFError, ELFParseError, struct errors, ...
        return tuple(units), f"malformed DWARF: {type(exc).__name__}: {exc}"


def _dwarf_info(header: ElfHeader, contents: dict[str, bytes]) -> DWARFInfo:
    """pyelftools' reader over the sections' bytes, every read charged to one budget."""
    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DwarfConfig, DWARFInfo

    budget = _ReadBudget(DWARF_READ_FACTOR * sum(map(len, contents.values())) + (1 << 20))
    streams: dict[str, DebugSectionDescriptor | None] = dict.fromkeys(_DWARF_SECTIONS)
    for name, content in contents.items():
        streams[name] = DebugSectionDescriptor(
            _BudgetedStream(content, budget), name, None, len(content), 0
        )
    return DWARFInfo(
        config=DwarfConfig(
            little_endian=header.endian == "<",
            machine_arch=machine_name(header.e_machine),
            default_address_size=header.elfclass // 8,
        ),
        debug_info_sec=streams[".debug_info"],
        debug_aranges_sec=None,
        debug_abbrev_sec=streams[".debug_abbrev"],
        debug_frame_sec=None,
        eh_frame_sec=None,
        debug_str_sec=streams[".debug_str"],
        debug_loc_sec=None,
        debug_ranges_sec=None,
        debug_line_sec=None,
        debug_pubtypes_sec=None,
        debug_pubnames_sec=None,
        debug_addr_sec=streams[".debug_addr"],
        debug_str_offsets_sec=streams[".debug_str_offsets"],
        debug_line_str_sec=streams[".debug_line_str"],
        debug_loclists_sec=None,
        debug_rnglists_sec=None,
        debug_sup_sec=None,
        gnu_debugaltlink_sec=None,
        debug_types_sec=None,
    )


def _read_units(info: DWARFInfo, contents: dict[str, bytes], units: list[Unit]) -> str | None:
    """Append the compile units' top-entry texts to ``units``; why reading stopped early
    (None when it did not). Raises what pyelftools raises, and :class:`_TooCostly`."""
    abbrev = info.debug_abbrev_sec
    abbrev_limit = 2 * len(contents.get(".debug_abbrev", b"")) + (1 << 16)
    tables: set[int] = set()
    attributes = abbrev_read = 0
    for seen, unit in enumerate(info.iter_CUs()):
        if seen >= MAX_DWARF_UNITS:
            return f"more than {MAX_DWARF_UNITS} DWARF units; the rest not read"
        table = unit.get_abbrev_table()
        offset = unit["debug_abbrev_offset"]
        if abbrev is not None and offset not in tables:
            tables.add(offset)
            abbrev_read += max(abbrev.stream.tell() - offset, 0)
            if abbrev_read > abbrev_limit:
                return "DWARF abbreviation tables overlap; the rest not read"
        code = _uleb128(contents[".debug_info"], unit.cu_die_offset)
        declaration = table.get_abbrev(code)
        count = len(declaration["attr_spec"])
        if count > MAX_TOP_ENTRY_ATTRIBUTES:
            return f"a DWARF unit's top entry has {count} attributes"
        attributes += count
        if attributes > MAX_DWARF_ATTRIBUTES:
            return (
                f"DWARF units' top entries hold more than {MAX_DWARF_ATTRIBUTES} "
                "attributes; the rest not read"
            )
        top = unit.get_top_DIE()
        if top.tag in _UNIT_TAGS:
            units.append(
                (
                    _dwarf_text(top.attributes.get("DW_AT_name")),
                    _dwarf_text(top.attributes.get("DW_AT_comp_dir")),
                    _dwarf_text(top.attributes.get("DW_AT_producer")),
                )
            )
    return None


class _TooCostly(Exception):
    """pyelftools has read more than the budget allows (a hostile DWARF layout)."""


class _ReadBudget:
    """Bytes pyelftools may still read from the DWARF streams, shared by all of them."""

    def __init__(self, limit: int) -> None:
        self.left = limit


class _BudgetedStream(io.BytesIO):
    """A section's bytes whose every read is charged to a shared :class:`_ReadBudget`:
    overlapping abbreviation tables, strings without a terminator and blocks that claim
    the rest of the section cost pyelftools reads, so they cannot cost more than this."""

    def __init__(self, content: bytes, budget: _ReadBudget) -> None:
        super().__init__(content)
        self._budget = budget

    def read(self, size: int | None = -1, /) -> bytes:
        out = super().read(size)
        self._budget.left -= len(out) + 1
        if self._budget.left < 0:
            raise _TooCostly
        return out


def _uleb128(content: bytes, offset: int) -> int:
    """The unsigned LEB128 number at ``offset`` (an entry's abbreviation code)."""
    value = shift = 0
    for byte in content[offset : offset + 10]:
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value
        shift += 7
    raise ValueError(f"no LEB128 number at offset {offset} of .debug_info")


def _dwarf_text(attribute: object) -> str | None:
    value = getattr(attribute, "value", None)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _debug_contents(data: bytes, where: str, header: ElfHeader, section: SectionHeader) -> bytes:
    """A debug section's bytes, decompressed (SHF_COMPRESSED, zlib) within the limits."""
    raw = section_contents(data, where, section)
    if not section.flags & SHF_COMPRESSED:
        return raw
    e = header.endian
    if header.elfclass == 64:
        if len(raw) < 24:
            raise ObjectParseError(where, f"{section.name}: compression header is truncated")
        ch_type, _, ch_size, _ = struct.unpack_from(e + "IIQQ", raw)
        payload = raw[24:]
    else:
        if len(raw) < 12:
            raise ObjectParseError(where, f"{section.name}: compression header is truncated")
        ch_type, ch_size, _ = struct.unpack_from(e + "III", raw)
        payload = raw[12:]
    if ch_type != 1:
        raise ObjectParseError(
            where, f"{section.name}: compression type {ch_type} (zstd is 2) is not read"
        )
    if ch_size > MAX_DWARF_SECTION or ch_size > ZLIB_MAX_RATIO * max(len(payload), 1):
        raise ObjectParseError(
            where,
            f"{section.name}: claims {ch_size} bytes once decompressed from {len(payload)}",
        )
    out = zlib.decompressobj().decompress(payload, ch_size)
    if len(out) != ch_size:
        raise ObjectParseError(
            where, f"{section.name}: decompressed to {len(out)} bytes, header says {ch_size}"
        )
    return out


def _relocated(
    data: bytes, where: str, header: ElfHeader, sections: list[SectionHeader], index: int
) -> bytes:
    """A debug section's bytes with the relocations a relocatable object holds for it."""
    content = _debug_contents(data, where, header, sections[index])
    tables = [s for s in sections if s.type in (SHT_RELA, SHT_REL) and s.info == index and s.size]
    if header.e_type != 1 or not tables:
        return content
    widths = ABSOLUTE_RELOCATIONS.get(header.e_machine)
    if widths is None:
        return _relocated_by_pyelftools(data, index, content)
    e = header.endian
    order: Literal["little", "big"] = "little" if e == "<" else "big"
    wide = header.elfclass == 64
    symsize, value_at, value_fmt = (24, 8, e + "Q") if wide else (16, 4, e + "I")
    shift, mask = (32, 0xFFFFFFFF) if wide else (8, 0xFF)  # r_info: symbol, type
    buf = bytearray(content)
    for table in tables:
        rela = table.type == SHT_RELA
        fmt = e + ("QQ" if wide else "II") + (("q" if wide else "i") if rela else "")
        entsize = struct.calcsize(fmt)
        if table.entsize != entsize:
            raise ObjectParseError(
                where, f"{table.name}: entry size {table.entsize}, expected {entsize}"
            )
        if table.link >= len(sections) or sections[table.link].type != SHT_SYMTAB:
            raise ObjectParseError(where, f"{table.name} does not name a symbol table")
        symtab = section_contents(data, where, sections[table.link])
        entries = section_contents(data, where, table)
        for entry in struct.iter_unpack(fmt, entries[: len(entries) // entsize * entsize]):
            offset, rinfo = entry[0], entry[1]
            width = widths.get(rinfo & mask)
            if width is None:
                continue  # not an absolute data relocation: none of what is read here
            if offset + width > len(buf):
                raise ObjectParseError(where, f"{table.name}: relocation at {offset} is outside")
            sym = rinfo >> shift
            if (sym + 1) * symsize > len(symtab):
                raise ObjectParseError(where, f"{table.name}: relocation names symbol {sym}")
            (base,) = struct.unpack_from(value_fmt, symtab, sym * symsize + value_at)
            addend = entry[2] if rela else int.from_bytes(buf[offset : offset + width], order)
            result = (base + addend) & ((1 << (8 * width)) - 1)
            buf[offset : offset + width] = result.to_bytes(width, order)
    return bytes(buf)


def _relocated_by_pyelftools(data: bytes, index: int, content: bytes) -> bytes:
    """Relocations for machines not in ABSOLUTE_RELOCATIONS: pyelftools' own recipes."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationHandler

    elf = ELFFile(io.BytesIO(data))
    handler = RelocationHandler(elf)
    table = handler.find_relocations_for_section(elf.get_section(index))
    stream = io.BytesIO(content)
    if table is not None:
        handler.apply_section_relocations(stream, table)
    return stream.getvalue()
