"""Object facts: what an ELF file holds, read behind bounds checks.

Symbols (defined and undefined, with binding), ``.modinfo`` byte-exact, exported symbols
in every encoding the kernel has used (with their namespaces), STT_FILE names,
``.comment``, the shared libraries a program needs and the DWARF compile units. A
truncated or hostile object becomes an :class:`ObjectParseError` with a reason, never a
traceback or a runaway allocation; a malformed DWARF section becomes ``dwarf_error`` and
the object keeps its other facts.

The stages, one module each:

- :mod:`gplscan.facts.elf_format` reads the container (header, section table, symbol
  tables) into an :class:`ElfReading`: ``direct``, the hot path, with :mod:`struct`.
- :mod:`gplscan.facts.elf_pyelftools` makes the same reading with pyelftools: the fallback
  when the direct reader fails in a way that is not a property of the file (a bug), and
  the independent reference the tests compare against.
- :mod:`gplscan.facts.kernel_exports` decodes the kernel's export encodings from the
  labels a reading kept.
- :mod:`gplscan.facts.dwarf` reads the compile units from section bytes checked here.

This module picks the reader and turns its reading into :class:`ObjectFacts`
(:func:`facts_from_reading`, shared by every reader), and splits ``.modinfo``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Literal

from gplscan.errors import ObjectParseError
from gplscan.facts.dwarf import dwarf_units
from gplscan.facts.elf_format import (
    ELF_TYPES,
    ET_REL,
    GLOBAL_BINDINGS,
    JUDGED_TYPES,
    STT_FILE,
    ElfHeader,
    ElfReading,
    SectionHeader,
    Symbol,
    machine_name,
    needed_libraries,
    read_direct,
    read_header,
    section_contents,
)
from gplscan.facts.elf_pyelftools import read_pyelftools
from gplscan.facts.kernel_exports import LABEL_PREFIXES, kernel_exports
from gplscan.model import ModinfoEntry, ObjectFacts

Reader = Literal["direct", "pyelftools"]

_MODINFO_KEY = re.compile(rb"[!-~]+")  # printable ASCII, no space


def parse_modinfo(data: bytes) -> tuple[ModinfoEntry, ...]:
    """Split a ``.modinfo`` section into records, keeping every byte.

    Records are NUL-terminated ``key=value`` strings (alignment may add empty ones). A
    fragment with no ``=`` cannot start a record: it is what a NUL inside a value left
    behind (``MODULE_LICENSE("GPL\\0...")``), so it is appended to the previous value.
    """
    entries: list[ModinfoEntry] = []
    for fragment in data.split(b"\0"):
        if not fragment:
            continue
        key, sep, value = fragment.partition(b"=")
        if sep and _MODINFO_KEY.fullmatch(key):
            entries.append((key.decode("ascii"), value))
        elif entries:
            last_key, last_value = entries[-1]
            entries[-1] = (last_key, last_value + b"\0" + fragment)
        else:
            entries.append(("", fragment))
    return tuple(entries)


def object_facts(
    path: Path,
    rel: PurePosixPath,
    data: bytes | None = None,
    *,
    reader: Reader | None = None,
    sha256: str | None = None,
) -> ObjectFacts:
    """Read one ELF file. Raises :class:`ObjectParseError` with a reason when it cannot.

    ``reader`` picks one reader and nothing else (tests and benchmarks); by default the
    direct reader runs, and pyelftools gets a second try if the direct one fails with
    anything but a reason about the file. ``sha256`` is the content's digest when the caller
    already has it.
    """
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ObjectParseError(str(rel), f"not readable: {exc.strerror or exc}") from exc
    where = str(rel)
    readers: tuple[Callable[[bytes, str, ElfHeader, tuple[str, ...]], ElfReading], ...]
    if reader is None:
        readers = (read_direct, read_pyelftools)
    else:
        readers = (read_direct,) if reader == "direct" else (read_pyelftools,)
    failure: Exception | None = None
    for read in readers:
        try:
            header = read_header(data, where)
            reading = read(data, where, header, LABEL_PREFIXES)
            if header.e_type not in JUDGED_TYPES:
                kind = ELF_TYPES.get(header.e_type, f"type {header.e_type:#x}")
                raise ObjectParseError(
                    where,
                    f"ELF {kind}: not an object, a program or a library, which is what "
                    "gplscan judges",
                )
            if header.e_type == ET_REL and not reading.sections:
                # a linker's input is sections and nothing else: without a section table
                # (e_shoff 0) there is no symbol, .modinfo or code to read
                raise ObjectParseError(
                    where, "a relocatable object without a section table: nothing in it to read"
                )
            return facts_from_reading(data, where, rel, header, reading, sha256)
        except ObjectParseError:
            raise
        except Exception as exc:  # pyelftools raises ELFError, struct errors, ValueError, ...
            failure = exc
    raise ObjectParseError(where, f"malformed ELF: {failure}") from failure


def facts_from_reading(
    data: bytes,
    where: str,
    rel: PurePosixPath,
    header: ElfHeader,
    reading: ElfReading,
    sha256: str | None = None,
) -> ObjectFacts:
    """Turn what a reader found into :class:`ObjectFacts` (shared by every reader)."""
    sections = reading.sections
    contents = _section_bytes(data, where, sections)
    modinfo, comment, has_dwarf = _named_sections(sections, contents)
    needed = needed_libraries(header, sections, contents, where)
    defined, undefined, file_symbols, labels = _symbol_kinds(reading.symbols, len(sections))
    exports, namespaces = kernel_exports(labels, sections, contents, where)
    units: tuple[tuple[str | None, str | None, str | None], ...] = ()
    dwarf_error: str | None = None
    if has_dwarf:
        units, dwarf_error = dwarf_units(data, where, header, sections)
    return ObjectFacts(
        path=rel,
        elf_type=ELF_TYPES.get(header.e_type, str(header.e_type)),
        machine=machine_name(header.e_machine),
        defined=tuple(sorted(defined)),
        undefined=tuple(sorted(undefined)),
        file_symbols=tuple(file_symbols),
        modinfo=modinfo,
        exports=exports,
        export_namespaces=namespaces,
        comment=comment,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        dwarf_units=units,
        dwarf_error=dwarf_error,
        needed=needed,
    )


def _section_bytes(
    data: bytes, where: str, sections: list[SectionHeader]
) -> Callable[[int], bytes]:
    """A section's bytes by index, each section checked and sliced once."""
    cache: dict[int, bytes] = {}

    def contents(index: int) -> bytes:
        if index not in cache:
            cache[index] = section_contents(data, where, sections[index])
        return cache[index]

    return contents


def _named_sections(
    sections: list[SectionHeader], contents: Callable[[int], bytes]
) -> tuple[tuple[ModinfoEntry, ...], tuple[str, ...], bool]:
    """``.modinfo`` records, ``.comment`` strings, and whether DWARF is there."""
    modinfo: tuple[ModinfoEntry, ...] = ()
    comment: tuple[str, ...] = ()
    has_dwarf = False
    for index, section in enumerate(sections):
        if section.name == ".modinfo":
            modinfo = parse_modinfo(contents(index))
        elif section.name == ".comment":
            comment = tuple(c.decode("utf-8", "replace") for c in contents(index).split(b"\0") if c)
        elif section.name in (".debug_info", ".zdebug_info"):
            has_dwarf = True
    return modinfo, comment, has_dwarf


def _symbol_kinds(
    symbols: list[Symbol], section_count: int
) -> tuple[set[str], set[str], list[str], list[Symbol]]:
    """Names defined and undefined (global, weak, unique), STT_FILE names in order, and the
    export labels that sit in a real section (for :func:`kernel_exports`)."""
    defined: set[str] = set()
    undefined: set[str] = set()
    file_symbols: list[str] = []
    labels: list[Symbol] = []
    for symbol in symbols:
        name, stype, bind, shndx, _ = symbol
        if stype == STT_FILE:
            if name:
                file_symbols.append(name)
            continue
        if name and bind in GLOBAL_BINDINGS:
            (undefined if shndx == 0 else defined).add(name)
        if 0 < shndx < section_count and name.startswith(LABEL_PREFIXES):
            labels.append(symbol)
    return defined, undefined, file_symbols, labels
