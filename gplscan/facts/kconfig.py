"""Kconfig types: which options can be modules at all.

Static reading of Kbuild needs a value for every ``CONFIG_*``. gplscan reads each option
as ``m`` when Kconfig declares it ``tristate`` (it may be built as a module) and as ``y``
when it is ``bool`` (built in, never a module). Options Kconfig does not declare (an
out-of-tree driver's) are read as ``m``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

_ENTRY = re.compile(
    r"^[ \t]*(?:menu)?config[ \t]+(?P<name>[A-Za-z0-9_]+)[ \t]*\n"
    r"(?P<body>(?:[ \t]*(?:#.*)?\n|[ \t]+\S.*\n)*)",
    re.MULTILINE,
)
_TYPE = re.compile(r"^[ \t]+(?P<type>tristate|bool|def_tristate|def_bool|boolean)\b", re.MULTILINE)


def read_kconfig_types(paths: Iterable[Path]) -> dict[str, str]:
    """CONFIG name (without the prefix) -> ``m`` or ``y``, from Kconfig files.

    An option declared ``tristate`` in any of them may be a module, so ``m`` wins.
    """
    types: dict[str, str] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            continue
        for m in _ENTRY.finditer(text + "\n"):
            t = _TYPE.search(m.group("body"))
            if t is None:
                continue
            value = "m" if "tristate" in t.group("type") else "y"
            # an option declared tristate anywhere may be a module
            if types.get(m.group("name")) != "m":
                types[m.group("name")] = value
    return types


# what the architecture itself fixes, for trees without the kernel's Kconfig (out-of-tree
# drivers test CONFIG_X86_64 to pick their prebuilt object)
ARCH_OPTIONS: dict[str, dict[str, str]] = {
    "x86": {"X86": "y", "X86_64": "y", "X86_32": "", "64BIT": "y"},
    "arm64": {"ARM64": "y", "64BIT": "y", "ARM": ""},
    "arm": {"ARM": "y", "64BIT": "", "ARM64": ""},
    "riscv": {"RISCV": "y", "64BIT": "y"},
    "powerpc": {"PPC": "y", "PPC64": "y", "64BIT": "y"},
    "s390": {"S390": "y", "64BIT": "y"},
}


class KconfigTypes:
    """Kconfig types per architecture: an option may be bool on one and tristate on another
    (``KVM``), so Makefiles under ``arch/<a>/`` see ``arch/<a>``'s Kconfig, the rest of the
    tree the chosen architecture's."""

    def __init__(self, root: Path, kconfigs: Iterable[PurePosixPath], arch: str) -> None:
        common: list[Path] = []
        per_arch: dict[str, list[Path]] = {}
        for rel in kconfigs:
            parts = rel.parts
            if len(parts) > 2 and parts[0] == "arch":
                per_arch.setdefault(parts[1], []).append(root / rel)
            else:
                common.append(root / rel)
        self._common = read_kconfig_types(common)
        self._files = per_arch
        self._all_arch: dict[str, dict[str, str]] = {}
        self._arch = arch
        self._merged: dict[str, dict[str, str]] = {}

    def for_directory(self, directory: PurePosixPath) -> dict[str, str]:
        parts = directory.parts
        arch = parts[1] if len(parts) > 1 and parts[0] == "arch" else self._arch
        if arch not in self._merged:
            # an option only another architecture declares is off here ("n")
            merged = {name: "" for other in self._files for name in self._types_of(other)}
            merged.update(ARCH_OPTIONS.get(arch, {}))
            merged.update(self._common)
            merged.update(self._types_of(arch))
            self._merged[arch] = merged
        return self._merged[arch]

    def _types_of(self, arch: str) -> dict[str, str]:
        if arch not in self._all_arch:
            self._all_arch[arch] = read_kconfig_types(self._files.get(arch, []))
        return self._all_arch[arch]
