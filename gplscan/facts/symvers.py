"""The kernel side: which symbols the kernel exports, and which of them are GPL-only.

Read from ``Module.symvers`` (a file, or the directory of a kernel build or headers tree
that holds one), or from a kernel source tree's ``EXPORT_SYMBOL*`` declarations. When the
user names nothing, the target's own ``Module.symvers`` (a built tree) or the running
system's (``/lib/modules/$(uname -r)/build``) is used, and the report says which.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple, TypeVar, overload

from gplscan.errors import KernelSymbolsError
from gplscan.model import Evidence, EvidenceKind

_T = TypeVar("_T")


class KernelExport(NamedTuple):
    """One exported symbol: who exports it, GPL-only or not, in which namespace (a named
    tuple, as :class:`~gplscan.model.Import` is: thousands are made per audit)."""

    symbol: str
    module: str  # "vmlinux" or the exporting module's path as Module.symvers names it
    gpl_only: bool
    namespace: str | None
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class KernelSymbols:
    """The kernel's exports, with where they were read from."""

    exports: Mapping[str, KernelExport]
    source: str  # what was read, for the report: "Module.symvers at …", "none found", …

    @classmethod
    def none(cls, why: str) -> KernelSymbols:
        return cls({}, why)


_EXPORT_TYPES = {
    "EXPORT_SYMBOL": False,
    "EXPORT_SYMBOL_GPL": True,
    "EXPORT_SYMBOL_GPL_FUTURE": False,
    "EXPORT_UNUSED_SYMBOL": False,
    "EXPORT_UNUSED_SYMBOL_GPL": True,
}


def parse_symvers(text: str, shown: str) -> Mapping[str, KernelExport]:
    """Parse ``Module.symvers``: ``<crc> <symbol> <module> <export type> [<namespace>]``.

    Tab-separated (the namespace column is empty or absent). Lines that do not fit are
    ignored: the file is generated, and a partial one still says what it says.
    """
    return SymversExports(text, PurePosixPath(shown))


class SymversExports(Mapping[str, KernelExport]):
    """The exports of one ``Module.symvers``, each made into a :class:`KernelExport` (with
    its line as evidence) when first asked for: a kernel exports ≈30,000 symbols and the
    modules of a target need a fraction of them."""

    def __init__(self, text: str, path: PurePosixPath) -> None:
        self._path = path
        self._rows: dict[str, tuple[int, list[str]]] = {}
        self._made: dict[str, KernelExport] = {}
        self._columns: list[str] = []
        # a well-formed file (every line five columns, a known export type in each) is
        # indexed by slicing its columns, not line by line: 30,000 rows in a few ms
        lines = text.count("\n") + (not text.endswith("\n"))
        columns = text.replace("\n", "\t").split("\t")
        if columns[-1] == "":
            columns.pop()
        if text and len(columns) == 5 * lines and set(columns[3::5]) <= _EXPORT_TYPES.keys():
            self._columns = columns
            self._index = dict(zip(columns[1::5], range(lines), strict=True))
            return
        self._index = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            cols = line.split("\t")
            if len(cols) < 4:
                cols = line.split()
            if len(cols) >= 4 and cols[3] in _EXPORT_TYPES:
                self._rows[cols[1]] = (lineno, cols)

    def _row(self, symbol: str) -> tuple[int, list[str]]:
        number = self._index.get(symbol)
        if number is None:
            return self._rows[symbol]
        return number + 1, self._columns[5 * number : 5 * number + 5]

    def __getitem__(self, symbol: str) -> KernelExport:
        made = self._made.get(symbol)
        if made is None:
            lineno, cols = self._row(symbol)
            namespace = cols[4].strip() if len(cols) > 4 else ""
            made = self._made[symbol] = KernelExport(
                cols[1],
                cols[2],
                _EXPORT_TYPES[cols[3]],
                namespace or None,
                Evidence(EvidenceKind.SYMVERS, " ".join(filter(None, cols)), self._path, lineno),
            )
        return made

    @overload
    def get(self, symbol: str, /) -> KernelExport | None: ...
    @overload
    def get(self, symbol: str, default: KernelExport, /) -> KernelExport: ...
    @overload
    def get(self, symbol: str, default: _T, /) -> KernelExport | _T: ...

    def get(self, symbol: str, default: object = None, /) -> object:
        """As Mapping.get, without raising and catching KeyError for every miss."""
        if symbol in self._made or symbol in self._index or symbol in self._rows:
            return self[symbol]
        return default

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index or symbol in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._index or self._rows)

    def __len__(self) -> int:
        return len(self._index or self._rows)


_EXPORT_DECL = re.compile(
    rb"\bEXPORT_(?:SYMBOL|GPL_SYMBOL|UNUSED_SYMBOL)(_NS)?(_GPL)?(?:_FUTURE)?\s*\(\s*"
    rb"([A-Za-z_]\w*)\s*(?:,\s*\"?([A-Za-z_][\w:]*)\"?)?\s*\)"
)


def exports_from_source_tree(tree: Path) -> dict[str, KernelExport]:
    """Every ``EXPORT_SYMBOL*`` of a kernel source tree (C and assembler files)."""
    exports: dict[str, KernelExport] = {}
    for path in _sources(tree):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"EXPORT_" not in data:
            continue
        rel = PurePosixPath(path.relative_to(tree).as_posix())
        for m in _EXPORT_DECL.finditer(data):
            symbol = m.group(3).decode()
            line = data.count(b"\n", 0, m.start()) + 1
            exports.setdefault(
                symbol,
                KernelExport(
                    symbol,
                    "vmlinux",
                    m.group(2) is not None,
                    m.group(4).decode() if m.group(1) and m.group(4) else None,
                    Evidence(
                        EvidenceKind.SYMVERS, m.group(0).decode("utf-8", "replace"), rel, line
                    ),
                ),
            )
    return exports


def _sources(tree: Path) -> Iterator[Path]:
    for directory, dirs, files in os.walk(tree):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in ("Documentation", "tools", "samples")
        ]
        for name in files:
            if name.endswith((".c", ".S", ".h")):
                yield Path(directory, name)


def load_kernel_symbols(
    kernel: Path | None, target_root: Path, files: Iterable[PurePosixPath] = ()
) -> KernelSymbols:
    """The kernel's exports from ``kernel`` (a Module.symvers, a build/headers tree or a
    source tree), else from the target's build records, else from the running system."""
    if kernel is not None:
        if kernel.is_file():
            return _from_symvers(kernel, f"{kernel} (given with --kernel)")
        if (kernel / "Module.symvers").is_file():
            return _from_symvers(
                kernel / "Module.symvers", f"{kernel / 'Module.symvers'} (given with --kernel)"
            )
        if (kernel / "Makefile").is_file() and (kernel / "kernel").is_dir():
            exports = exports_from_source_tree(kernel)
            return KernelSymbols(
                exports,
                f"EXPORT_SYMBOL declarations of the kernel source "
                f"tree {kernel} (given with --kernel)",
            )
        raise KernelSymbolsError(
            f"--kernel {kernel}: not a Module.symvers file, nor a directory holding one, nor "
            "a kernel source tree"
        )
    own = target_root / "Module.symvers"
    if own.is_file():
        symbols = _from_symvers(own, "Module.symvers of the target (its build records)")
        if any(e.module == "vmlinux" for e in symbols.exports.values()):
            return symbols
    recorded = kernel_from_records(target_root, files)
    if recorded is not None:
        symvers, why = recorded
        return _from_symvers(symvers, f"{symvers} ({why})")
    running = Path("/lib/modules") / os.uname().release / "build" / "Module.symvers"
    if running.is_file():
        return _from_symvers(running, f"{running} (the running system's; none given)")
    return KernelSymbols.none(
        "no kernel exports: none given with --kernel, none in the target, none for the "
        "running kernel; imports of kernel symbols are left unresolved"
    )


# the kernel source tree a compile command of Kbuild used: every one force-includes kconfig.h
_KCONFIG_INCLUDE = re.compile(rb"-include\s+(/\S+?)/include/linux/kconfig\.h")
_RECORDS_READ = 50  # .cmd files looked at, at most: one tells, the others agree


def kernel_from_records(root: Path, files: Iterable[PurePosixPath]) -> tuple[Path, str] | None:
    """The Module.symvers of the kernel a built tree was compiled against, from its records.

    ``files`` are the target's files (relative to ``root``); its ``.<obj>.o.cmd`` records of
    Kbuild hold compile commands, which force-include the kernel source tree's
    ``include/linux/kconfig.h``. Module.symvers lies in that tree when the kernel was built
    in place, else in a build directory that names the source tree: a
    ``/lib/modules/*/build`` whose ``source`` is that tree, or (Debian's headers packages) a
    sibling directory whose Makefile includes the tree's Makefile. Returns the file and how
    it was found, or None.
    """
    records = sorted(p for p in files if p.name.startswith(".") and p.name.endswith(".o.cmd"))
    for rel in records[:_RECORDS_READ]:
        try:
            with (root / rel).open("rb") as handle:
                head = handle.read(16384)
        except OSError:
            continue
        m = _KCONFIG_INCLUDE.search(head)
        if m is None:
            continue
        source = Path(os.fsdecode(m.group(1)))
        for build in _build_dirs(source):
            symvers = build / "Module.symvers"
            if symvers.is_file():
                return symvers, (
                    f"found from the build records: {rel} was compiled against the kernel "
                    f"tree {source}, built in {build}"
                )
    return None


def _build_dirs(source: Path) -> Iterator[Path]:
    yield source
    modules = Path("/lib/modules")
    with contextlib.suppress(OSError):
        for release in sorted(modules.iterdir()):
            build = release / "build"
            with contextlib.suppress(OSError):
                if (release / "source").resolve() == source.resolve():
                    yield build
    with contextlib.suppress(OSError):
        for sibling in sorted(source.parent.iterdir()):
            if sibling == source:
                continue
            with contextlib.suppress(OSError):
                makefile = (sibling / "Makefile").read_bytes()[:4096]
                if f"include {source}/Makefile".encode() in makefile:
                    yield sibling


def _from_symvers(path: Path, shown: str) -> KernelSymbols:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise KernelSymbolsError(f"{path}: not readable: {exc.strerror or exc}") from exc
    return KernelSymbols(parse_symvers(text, str(path)), shown)
