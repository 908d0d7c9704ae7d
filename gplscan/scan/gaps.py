"""What could not be judged, as :class:`Gap` values the rules turn into findings.

A binary whose composition is unknown, a member whose code nothing in the tree shows, a
symbol_get binding nothing provides, a module the kernel takes as proprietary whose
GPL-only use cannot be settled, a module dkms.conf names that no build file describes, and
a target in which no binary was found at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from gplscan.facts.collect import FileRecord
from gplscan.facts.dkms import DkmsConf
from gplscan.facts.symvers import KernelSymbols
from gplscan.model import (
    MODULE_KINDS,
    Binary,
    BinaryKind,
    Evidence,
    EvidenceKind,
    FileKind,
    Gap,
    Location,
    Origin,
    few,
)
from gplscan.policy import LicenseData


def judgement_gaps(
    binaries: tuple[Binary, ...],
    records: Mapping[PurePosixPath, FileRecord],
    kernel: KernelSymbols,
    licenses: LicenseData,
) -> list[Gap]:
    """What could not be judged about each binary: a built module whose composition is
    unknown in a target that holds sources (a directory of built modules alone is judged on
    what the modules carry), and a module the kernel takes as proprietary whose imports
    could not all be resolved (its GPL-only use cannot be judged)."""
    gaps: list[Gap] = []
    has_sources = any(r.entry.kind is FileKind.SOURCE for r in records.values())
    kernel_tree = PurePosixPath("scripts/Makefile.build") in records
    for b in binaries:
        gaps.extend(_unknown_members(b))
        if not b.composition_known and has_sources:
            gaps.append(_composition_unknown(b))
        if has_sources:  # symbol_get bindings come from sources: built modules have none
            gaps.extend(_unbound(b))
        declared = b.declared.value if b.declared is not None else None
        if b.kind not in MODULE_KINDS or (
            declared is not None and licenses.kernel_accepts(declared)
        ):
            continue
        gaps.extend(_proprietary(b, kernel, kernel_tree))
    return gaps


def _unknown_members(b: Binary) -> list[Gap]:
    """A member whose code nothing in the tree shows: not judged."""
    unknown = [c for c in b.components if c.origin is Origin.UNKNOWN]
    if not unknown:
        return []
    line = unknown[0].linked_by
    return [
        Gap(
            f"what {len(unknown)} object(s) linked into {b.path} hold",
            "; ".join(f"{c.path}: {c.reasons[0]}" for c in unknown[:3])
            + (f"; and {len(unknown) - 3} more" if len(unknown) > 3 else ""),
            Location(line.path, line.line) if line.path is not None else Location(b.path),
            b.path,
        )
    ]


def _composition_unknown(b: Binary) -> Gap:
    what = (
        "no build file gplscan could read and no Kbuild record (<module>.mod, "
        ".<module>.o.cmd) describes this module"
        if b.kind == BinaryKind.KERNEL_MODULE
        else f"no make rule gplscan could read links this {b.kind}, and its symbol "
        "table does not show where all of its code comes from (stripped, or code "
        "from objects the target does not hold)"
    )
    return Gap(
        f"the objects linked into {b.path}",
        f"the target holds sources, but {what}, so whether it links closed code is not known",
        Location(b.path),
        b.path,
    )


def _unbound(b: Binary) -> list[Gap]:
    """symbol_get bindings nothing in the target and no known kernel export provides."""
    unbound = [i for i in b.imports if i.runtime and i.provider == "unresolved"]
    if not unbound:
        return []
    first = unbound[0].evidence
    return [
        Gap(
            f"what {b.path} binds at run time",
            f"it binds {few([i.symbol for i in unbound])} with symbol_get, and no "
            "module of the target and no kernel export known provides "
            f"{'them' if len(unbound) > 1 else 'it'}: whether it uses a proprietary "
            "module's interface is not known (since Linux 6.6, symbol_get binds "
            "EXPORT_SYMBOL_GPL symbols only)",
            Location(first.path, first.line)
            if first is not None and first.path is not None
            else Location(b.path),
            b.path,
        )
    ]


def _proprietary(b: Binary, kernel: KernelSymbols, kernel_tree: bool) -> list[Gap]:
    """A module (built or planned) the kernel does not take as GPL-compatible, or whose
    license is not known: what about its GPL-only symbol use could not be judged."""
    if (
        b.declared is None
        and b.kind == BinaryKind.PLANNED
        and not b.license_note
        and b.conditional
        and not kernel_tree  # in a kernel tree most obj-$(CONFIG_X) are bool: built in
    ):
        # proprietary-module reports a missing MODULE_LICENSE of a module that is surely
        # built; an obj-$(CONFIG_X) one is judged here
        return [
            Gap(
                f"the license {b.path} declares",
                "no MODULE_LICENSE was found in the sources of this module "
                "(obj-$(CONFIG_...): built only when the option is m), so whether the "
                "kernel takes it as GPL-compatible is not known",
                _build_line(b),
                b.path,
            )
        ]
    if b.declared is None and b.license_note:
        return [
            Gap(
                f"the license {b.path} declares",
                f"{b.license_note}, so whether the kernel takes it as GPL-compatible (and "
                "lets it use GPL-only symbols) is not known",
                _build_line(b),
                b.path,
            )
        ]
    at = b.declared.at if b.declared is not None and b.declared.at else Location(b.path)
    if b.kind == BinaryKind.PLANNED:
        return _planned(b, kernel, at)
    unresolved = [i.symbol for i in b.imports if i.provider == "unresolved"]
    if not unresolved:
        return []
    return [
        Gap(
            f"GPL-only symbol use by {b.path}",
            f"the kernel takes its license as proprietary, and {len(unresolved)} of "
            f"its {len(b.imports)} imported symbols ({few(unresolved)}) resolve to no export "
            f"known (kernel exports: {kernel.source}); give the kernel it was built "
            "for with --kernel",
            at,
            b.path,
        )
    ]


def _planned(b: Binary, kernel: KernelSymbols, at: Location) -> list[Gap]:
    """A planned module is judged from its built objects or its sources' calls where the
    kernel's exports are known (resolve_imports); with no kernel, only the tree's own
    exports are."""
    if b.declared is None:
        return []
    gaps = []
    if kernel.exports and not any(
        i.evidence is not None and i.evidence.kind == EvidenceKind.SYMBOL for i in b.imports
    ):
        # judged from its sources' calls: those under #if are not evaluated
        gaps.append(
            Gap(
                f"GPL-only symbol use by {b.path}",
                f"the kernel takes its license ({b.declared.text!r}) as proprietary "
                "and it is not built: its sources' calls were resolved against "
                f"{kernel.source}, except calls under #if/#ifdef, which gplscan does "
                "not evaluate; audit the built tree to judge them all",
                at,
                b.path,
            )
        )
    if not kernel.exports:
        gaps.append(
            Gap(
                f"GPL-only symbol use by {b.path}",
                f"the kernel takes its license ({b.declared.text!r}) as proprietary, "
                "it is not built, and no kernel exports are known to resolve the "
                f"kernel functions it calls ({kernel.source}); audit the built tree, "
                "or give --kernel",
                at,
                b.path,
            )
        )
    return gaps


def _build_line(b: Binary) -> Location:
    """Where a binary is declared (its obj-m line), else the binary itself."""
    if b.defined_at is not None and b.defined_at.path is not None:
        return Location(b.defined_at.path, b.defined_at.line)
    return Location(b.path)


def nothing_found(records: Mapping[PurePosixPath, FileRecord]) -> list[Gap]:
    """A target with sources or objects in which no binary was found was not judged."""
    sources = sorted(p for p, r in records.items() if r.entry.kind is FileKind.SOURCE)
    objects = sorted(
        p for p, r in records.items() if r.entry.kind in (FileKind.OBJECT, FileKind.ARCHIVE)
    )
    if not sources and not objects:
        return []
    builds = sorted(p for p, r in records.items() if r.entry.kind is FileKind.BUILD)
    at = builds[0] if builds else (sources or objects)[0]
    return [
        Gap(
            "which binaries the target builds",
            f"it holds {len(sources)} source file(s) and {len(objects)} object(s), but no "
            "build file gplscan could read describes a module or program, and no built "
            "module is in it"
            + (f" (build files: {', '.join(map(str, builds[:5]))})" if builds else ""),
            Location(at),
        )
    ]


def dkms_gaps(dkms: tuple[DkmsConf, ...], binaries: tuple[Binary, ...]) -> list[Gap]:
    """Every module a dkms.conf names is in the report: judged, or not judged, here."""
    gaps = []
    for conf in dkms:
        home = conf.path.parent
        for module in conf.modules:
            where = home / module.location if module.location else home
            found = [
                b
                for b in binaries
                if b.path.name == f"{module.name}.ko"
                or (b.name == module.name and b.kind != BinaryKind.RELOCATABLE)
            ]
            if found:
                continue
            gaps.append(
                Gap(
                    f"{module.name}.ko, which dkms.conf builds",
                    f"dkms.conf names it (BUILT_MODULE_NAME[{module.index}], built in "
                    f"{where}), but no build file gplscan could read describes it and it is "
                    "not built in the target, so what it links is not known",
                    Location(conf.path, module.line),
                    evidence=(
                        Evidence(
                            EvidenceKind.MAKEFILE,
                            f'BUILT_MODULE_NAME[{module.index}]="{module.name}"',
                            conf.path,
                            module.line,
                        ),
                    ),
                )
            )
    return gaps
