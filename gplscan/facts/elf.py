"""Object facts: what an ELF file holds, read with pyelftools behind bounds checks.

Symbols (defined and undefined, with binding), ``.modinfo`` byte-exact, export records
from ``__ksymtab*`` sections, STT_FILE names and ``.comment``. Every offset the file
claims is checked against the file's size before pyelftools follows it, so a truncated or
hostile object becomes an :class:`ObjectParseError` with a reason, never a traceback or a
runaway allocation.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path, PurePosixPath

from gplscan.errors import ObjectParseError
from gplscan.model import ModinfoEntry, ObjectFacts

MAX_SECTIONS = 1 << 16
MAX_SYMBOLS = 4_000_000
_ELF_TYPES = {"ET_REL": "REL", "ET_DYN": "DYN", "ET_EXEC": "EXEC", "ET_CORE": "CORE"}


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
        if sep and key and all(33 <= b < 127 for b in key):
            entries.append(ModinfoEntry(key.decode("ascii"), value))
        elif entries:
            last = entries[-1]
            entries[-1] = ModinfoEntry(last.key, last.value + b"\0" + fragment)
        else:
            entries.append(ModinfoEntry("", fragment))
    return tuple(entries)


def object_facts(path: Path, rel: PurePosixPath, data: bytes | None = None) -> ObjectFacts:
    """Read one ELF file. Raises :class:`ObjectParseError` with a reason when it cannot."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ObjectParseError(str(rel), f"not readable: {exc.strerror or exc}") from exc
    try:
        return _parse(data, rel)
    except ObjectParseError:
        raise
    except Exception as exc:  # pyelftools raises ELFError, struct errors, ValueError, ...
        raise ObjectParseError(str(rel), f"malformed ELF: {exc}") from exc


def _parse(data: bytes, rel: PurePosixPath) -> ObjectFacts:
    from elftools.elf.elffile import ELFFile

    size = len(data)
    if size < 16 or not data.startswith(b"\x7fELF"):
        raise ObjectParseError(str(rel), "not an ELF file")
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ObjectParseError(str(rel), f"unknown ELF class {data[4]} or data encoding {data[5]}")
    header_size = 52 if data[4] == 1 else 64
    if size < header_size:
        raise ObjectParseError(str(rel), f"truncated: {size} bytes, ELF header needs {header_size}")
    elf = ELFFile(io.BytesIO(data))
    h = elf.header
    shnum = elf.num_sections()
    if shnum > MAX_SECTIONS:
        raise ObjectParseError(str(rel), f"absurd section count {shnum}")
    if shnum and (h.e_shentsize < (40 if elf.elfclass == 32 else 64)):
        raise ObjectParseError(str(rel), f"section header size {h.e_shentsize} is too small")
    if h.e_shoff + shnum * h.e_shentsize > size:
        raise ObjectParseError(
            str(rel),
            f"truncated: section headers end at byte {h.e_shoff + shnum * h.e_shentsize}, "
            f"file has {size}",
        )

    def contents(section) -> bytes:  # type: ignore[no-untyped-def]
        if section["sh_type"] == "SHT_NOBITS":
            return b""
        off, length = section["sh_offset"], section["sh_size"]
        if off + length > size:
            raise ObjectParseError(
                str(rel),
                f"section {section.name or '?'} runs past the end of the file "
                f"({off}+{length} > {size})",
            )
        return data[off : off + length]

    sections = list(elf.iter_sections())
    names = [s.name for s in sections]
    modinfo: tuple[ModinfoEntry, ...] = ()
    comment: tuple[str, ...] = ()
    defined: set[str] = set()
    undefined: set[str] = set()
    file_symbols: list[str] = []
    exports: list[tuple[str, bool]] = []
    for section in sections:
        if section.name == ".modinfo":
            modinfo = parse_modinfo(contents(section))
        elif section.name == ".comment":
            comment = tuple(
                c.decode("utf-8", "replace") for c in contents(section).split(b"\0") if c
            )
        elif section["sh_type"] == "SHT_SYMTAB":
            contents(section)  # bounds check before pyelftools walks it
            entsize = section["sh_entsize"] or 1
            count = section["sh_size"] // entsize
            if count > MAX_SYMBOLS:
                raise ObjectParseError(str(rel), f"absurd symbol count {count}")
            link = section["sh_link"]
            if link >= len(sections):
                raise ObjectParseError(
                    str(rel), f"symbol table names string table {link}, which does not exist"
                )
            contents(sections[link])
            for sym in section.iter_symbols():  # type: ignore[attr-defined]
                name = sym.name
                st_type = sym["st_info"]["type"]
                bind = sym["st_info"]["bind"]
                shndx = sym["st_shndx"]
                if st_type == "STT_FILE":
                    if name:
                        file_symbols.append(name)
                    continue
                if not name or bind not in ("STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"):
                    if name.startswith("__ksymtab_") and isinstance(shndx, int):
                        _export(name, shndx, names, exports)
                    continue
                if shndx == "SHN_UNDEF":
                    undefined.add(name)
                    continue
                defined.add(name)
                if name.startswith("__ksymtab_") and isinstance(shndx, int):
                    _export(name, shndx, names, exports)
    return ObjectFacts(
        path=rel,
        elf_type=_ELF_TYPES.get(h.e_type, str(h.e_type)),
        machine=str(h.e_machine).removeprefix("EM_"),
        defined=frozenset(defined),
        undefined=frozenset(undefined),
        file_symbols=tuple(file_symbols),
        modinfo=modinfo,
        exports=tuple(sorted(set(exports))),
        comment=comment,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _export(name: str, shndx: int, names: list[str], exports: list[tuple[str, bool]]) -> None:
    """A ``__ksymtab_<sym>`` entry: which section it sits in says whether it is GPL-only."""
    if shndx >= len(names):
        return
    section = names[shndx]
    if section.startswith("__ksymtab") and not section.startswith("__ksymtab_strings"):
        exports.append((name.removeprefix("__ksymtab_"), section.startswith("__ksymtab_gpl")))
