"""A module's declared license: its ``.modinfo`` when built, ``MODULE_LICENSE`` in its sources.

Each declaration is kept as evidence, written as C writes the string; where a source's
declaration cannot be read as a string (a macro not defined as one, a preprocessor
condition), the note says why no license is declared.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.model import (
    Component,
    DeclaredLicense,
    Evidence,
    EvidenceKind,
    ModuleInfoDecl,
    ObjectFacts,
)


def declared_license(
    path: PurePosixPath,
    built: ObjectFacts | None,
    components: Iterable[Component],
    facts: TreeFacts | None,
) -> tuple[DeclaredLicense | None, str | None]:
    """The module's declared license: .modinfo when built, MODULE_LICENSE in its sources."""
    source_decls: list[ModuleInfoDecl] = []
    if facts is not None:
        seen: set[PurePosixPath] = set()
        for c in components:
            # the module's sources, then what they include (a .c may #include another .c)
            for src in [*c.sources, *(i for s in c.sources for i in facts.includes.get(s, ()))]:
                sf = facts.sources.get(src)
                if sf is not None and src not in seen:
                    seen.add(src)
                    source_decls.extend(sf.module_licenses())
    at = source_decls[0].at if source_decls else None
    evidence: list[Evidence] = []
    value: bytes | None = None
    if built is not None:
        values = built.modinfo_values("license")
        if values:
            value = values[0]
            evidence.extend(
                Evidence(EvidenceKind.MODINFO, "license=" + c_string(v), path) for v in values
            )
    note = None
    for decl in source_decls:
        decl_value = decl.value
        text = f"MODULE_LICENSE({' '.join(decl.argument.split())})"
        if decl_value is None and facts is not None:
            resolved = facts.string_defines.get(decl.argument.strip())
            if resolved is not None:
                decl_value = resolved[0]
                shown = c_string(decl_value)
                text += f" with {decl.argument.strip()} defined as {shown} at {resolved[1]}"
        evidence.append(Evidence(EvidenceKind.MODINFO, text, decl.at.path, decl.at.line))
        if value is None:
            if decl_value is None and "#" in decl.argument:
                first = next(ln for ln in decl.argument.splitlines() if "#" in ln).strip()
                note = (
                    f"MODULE_LICENSE at {decl.at}: a preprocessor condition ({first}) chooses "
                    "its string, and gplscan does not know which branch is compiled"
                )
            elif decl_value is None:
                note = (
                    f"MODULE_LICENSE({decl.argument}) at {decl.at}: "
                    f"{decl.argument} is not defined as a string in the tree"
                )
            else:
                value = decl_value
                note = None
    if value is None:
        return None, note
    return DeclaredLicense(value, tuple(evidence), at), None


def c_string(value: bytes) -> str:
    """A byte string as C would write it: NULs and non-printables escaped."""
    return '"' + "".join(map(_C_ESCAPES.__getitem__, value)) + '"'


# how C writes each byte value in a string literal
_C_ESCAPES = tuple(
    "\\0" if b == 0 else '\\"' if b == 0x22 else chr(b) if 32 <= b < 127 else f"\\x{b:02x}"
    for b in range(256)
)
