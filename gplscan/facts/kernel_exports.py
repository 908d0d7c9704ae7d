"""Kernel symbol exports as an ELF object encodes them: which symbols it exports, whether
GPL-only, and in which namespace.

Every encoding the kernel has used is read from the labels an ELF reader of
:mod:`gplscan.facts.elf_format` kept (symbols whose names start with ``LABEL_PREFIXES``)
and the bytes of the sections they sit in:

- ``__ksymtab_<sym>`` labels in ``__ksymtab``, ``__ksymtab_gpl``, ``__ksymtab_unused``,
  ``__ksymtab_unused_gpl`` and ``__ksymtab_gpl_future`` (linked modules and vmlinux of every
  version; objects of old kernels), or in per-symbol ``___ksymtab<kind>+<sym>`` sections
  (objects of Linux 4.x to 6.4). ``_gpl_future`` exports are not GPL-only: the kernel let
  non-GPL modules use them, with a warning.
- ``__kstrtabns_<sym>`` labels in ``__ksymtab_strings`` (Linux 5.4 to 6.4 objects, and
  linked modules since 5.4): the symbol's namespace, a NUL-terminated string.
- ``__export_symbol_<sym>`` labels in ``.export_symbol`` (objects since Linux 6.5, where
  modpost makes the ksymtab): at the label, the license as a NUL-terminated string
  (``"GPL"`` or ``""``), then the namespace, NUL-terminated; then padding to the pointer
  size and one pointer relocated against ``<sym>``. modpost rejects any other license
  string; such records are not read as exports here either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gplscan.errors import ObjectParseError
from gplscan.facts.elf_format import SectionHeader, Symbol

LABEL_PREFIXES = ("__ksymtab_", "__kstrtabns_", "__export_symbol_")

# The section a __ksymtab_<sym> label sits in says how the symbol was exported (value:
# GPL-only or not). Objects of 4.x to 6.4 use "___ksymtab<kind>+<sym>" sections instead.
KSYMTAB_KINDS = {
    "__ksymtab": False,
    "__ksymtab_gpl": True,
    "__ksymtab_unused": False,
    "__ksymtab_unused_gpl": True,
    "__ksymtab_gpl_future": False,
}

Exports = tuple[tuple[str, bool], ...]  # (symbol, GPL-only), sorted
Namespaces = tuple[tuple[str, str], ...]  # (symbol, namespace), sorted


def kernel_exports(
    labels: Iterable[Symbol],
    sections: list[SectionHeader],
    contents: Callable[[int], bytes],
    where: str,
) -> tuple[Exports, Namespaces]:
    """The exports and their namespaces that ``labels`` (symbols named with one of
    ``LABEL_PREFIXES``, each in a real section) encode. ``contents`` gives a section's
    bytes by index. A ``__kstrtabns_`` namespace counts only for a symbol exported here."""
    exports: set[tuple[str, bool]] = set()
    namespaces: set[tuple[str, str]] = set()
    label_namespaces: set[tuple[str, str]] = set()
    for name, _, _, shndx, value in labels:
        home = sections[shndx]
        if name.startswith("__ksymtab_"):
            kind = home.name
            if kind.startswith("___ksymtab"):
                kind = kind[1:].partition("+")[0]
            gpl_only = KSYMTAB_KINDS.get(kind)
            if gpl_only is not None:
                exports.add((name.removeprefix("__ksymtab_"), gpl_only))
        elif name.startswith("__kstrtabns_"):
            if home.name == "__ksymtab_strings":
                namespace = _label_string(contents(shndx), value - home.addr, where, name)
                if namespace:
                    label_namespaces.add(
                        (name.removeprefix("__kstrtabns_"), namespace.decode("utf-8", "replace"))
                    )
        elif home.name == ".export_symbol":
            blob = contents(shndx)
            start = value - home.addr
            license = _label_string(blob, start, where, name)
            namespace = _label_string(blob, start + len(license) + 1, where, name)
            if license in (b"GPL", b""):
                symbol = name.removeprefix("__export_symbol_")
                exports.add((symbol, license == b"GPL"))
                if namespace:
                    namespaces.add((symbol, namespace.decode("utf-8", "replace")))
    exported = {symbol for symbol, _ in exports}
    namespaces.update(pair for pair in label_namespaces if pair[0] in exported)
    return tuple(sorted(exports)), tuple(sorted(namespaces))


def _label_string(blob: bytes, offset: int, where: str, label: str) -> bytes:
    """The NUL-terminated string an export label points at, inside its section."""
    if not 0 <= offset < len(blob):
        raise ObjectParseError(where, f"{label} points outside its section ({offset})")
    end = blob.find(b"\0", offset)
    return blob[offset : end if end >= 0 else len(blob)]
