"""The fallback ELF reader: pyelftools makes the same :class:`ElfReading` as the direct
reader of :mod:`gplscan.facts.elf_format`, after the same bounds checks.

:mod:`gplscan.facts.elf` turns to it when the direct reader fails in a way that is not a
property of the file (a bug); the tests use it as the independent reference.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

from gplscan.errors import ObjectParseError
from gplscan.facts.elf_format import (
    GLOBAL_BINDINGS,
    MAX_SECTIONS,
    MAX_SYMBOLS,
    SHN_LORESERVE,
    SHN_XINDEX,
    STT_FILE,
    ElfHeader,
    ElfReading,
    SectionHeader,
    Symbol,
    linked_strings,
    section_contents,
)


def read_pyelftools(
    data: bytes, where: str, header: ElfHeader, labels: tuple[str, ...]
) -> ElfReading:
    """Section table and symbols read by pyelftools, after the same bounds checks; local
    symbols are kept when their names start with one of ``labels``."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.enums import ENUM_SH_TYPE_BASE
    from elftools.elf.sections import SymbolTableSection

    size = len(data)
    elf = ELFFile(io.BytesIO(data))
    h = elf.header
    shnum = elf.num_sections()
    if shnum > MAX_SECTIONS:
        raise ObjectParseError(where, f"absurd section count {shnum}")
    if shnum and (h.e_shentsize < (40 if elf.elfclass == 32 else 64)):
        raise ObjectParseError(where, f"section header size {h.e_shentsize} is too small")
    if h.e_shoff + shnum * h.e_shentsize > size:
        raise ObjectParseError(
            where,
            f"truncated: section headers end at byte {h.e_shoff + shnum * h.e_shentsize}, "
            f"file has {size}",
        )

    elf_sections = list(elf.iter_sections())
    sections = [
        SectionHeader(
            s.name,
            _number(s["sh_type"], ENUM_SH_TYPE_BASE),
            s["sh_flags"],
            s["sh_addr"],
            s["sh_offset"],
            s["sh_size"],
            s["sh_link"],
            s["sh_info"],
            s["sh_entsize"],
        )
        for s in elf_sections
    ]
    symbols: list[Symbol] = []
    for index, section in enumerate(elf_sections):
        if isinstance(section, SymbolTableSection) and section["sh_type"] == "SHT_SYMTAB":
            symbols.extend(_symbols(data, where, sections, elf_sections, index, labels))
    return ElfReading(sections, symbols)


def _symbols(
    data: bytes,
    where: str,
    sections: list[SectionHeader],
    elf_sections: list[Any],
    index: int,
    labels: tuple[str, ...],
) -> Iterator[Symbol]:
    """The symbols of one SHT_SYMTAB section that gplscan uses (see :class:`ElfReading`)."""
    from elftools.elf.enums import ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE
    from elftools.elf.sections import SymbolTableIndexSection

    section = elf_sections[index]
    section_contents(data, where, sections[index])  # bounds check before pyelftools walks it
    entsize = section["sh_entsize"] or 1
    count = section["sh_size"] // entsize
    if count > MAX_SYMBOLS:
        raise ObjectParseError(where, f"absurd symbol count {count}")
    linked_strings(data, where, sections, sections[index])
    extended = next(
        (
            s
            for s in elf_sections
            if isinstance(s, SymbolTableIndexSection) and s["sh_link"] == index
        ),
        None,
    )
    for n, sym in enumerate(section.iter_symbols()):
        name = sym.name
        stype = _number(sym["st_info"]["type"], ENUM_ST_INFO_TYPE)
        bind = _number(sym["st_info"]["bind"], ENUM_ST_INFO_BIND)
        if bind not in GLOBAL_BINDINGS and stype != STT_FILE and not name.startswith(labels):
            continue
        raw = sym["st_shndx"]
        if raw == "SHN_UNDEF":
            shndx = 0
        elif raw == SHN_XINDEX:
            if extended is None:
                raise ObjectParseError(
                    where, "a symbol uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX"
                )
            shndx = extended.get_section_index(n)
        elif isinstance(raw, int) and raw < SHN_LORESERVE:
            shndx = raw
        else:
            shndx = -1
        yield (name, stype, bind, shndx, sym["st_value"])


def _number(value: object, names: Mapping[str, int]) -> int:
    """The number behind a value pyelftools decoded to a name (-1 for a name not known)."""
    return value if isinstance(value, int) else names.get(str(value), -1)
