"""The rules stage: every rule evaluated on the judged binaries, with what could not be
judged (gaps), the export lines and the wrappers of GPL-only symbols the rules ask about."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.collect import FileRecord
from gplscan.facts.dkms import DkmsConf
from gplscan.facts.source import function_bodies, identifiers
from gplscan.facts.symvers import KernelSymbols
from gplscan.findings import build_findings
from gplscan.model import Binary, Edge, Finding, Gap, Location, Rule
from gplscan.policy import LicenseData
from gplscan.rules.engine import evaluate
from gplscan.rules.predicates import Context
from gplscan.scan.gaps import dkms_gaps, judgement_gaps, nothing_found
from gplscan.scan.options import Options


def gaps_of(
    build_gaps: tuple[Gap, ...],
    dkms: tuple[DkmsConf, ...],
    binaries: tuple[Binary, ...],
    records: Mapping[PurePosixPath, FileRecord],
    kernel: KernelSymbols,
    licenses: LicenseData,
    *,
    whole_target: bool,
) -> tuple[Gap, ...]:
    """What could not be judged: build files not read, then each binary's gaps; when the
    whole target is judged, the modules dkms.conf names that were not found, or the
    absence of any binary."""
    gaps = [*build_gaps, *judgement_gaps(binaries, records, kernel, licenses)]
    if whole_target:
        gaps.extend(dkms_gaps(dkms, binaries))
        if not binaries:
            gaps.extend(nothing_found(records))
    return tuple(gaps)


def judge(
    rules: tuple[Rule, ...],
    binaries: tuple[Binary, ...],
    edges: tuple[Edge, ...],
    gaps: tuple[Gap, ...],
    facts: TreeFacts,
    read: Callable[[PurePosixPath], str | None],
    licenses: LicenseData,
    options: Options,
) -> tuple[Finding, ...]:
    """The findings every rule yields on ``binaries``."""
    ctx = Context(
        gaps=gaps,
        licenses=licenses,
        edges=edges,
        binaries={str(b.path): b for b in binaries},
        wrappers=_wrappers(binaries, facts, read),
        export_sites=_export_sites(binaries, facts),
        allow=options.license_allow,
        deny=options.license_deny,
    )
    return tuple(build_findings(evaluate(rules, binaries, ctx)))


_WRAPPER_STATEMENTS = 3


def _export_sites(binaries: tuple[Binary, ...], facts: TreeFacts) -> dict[str, dict[str, Location]]:
    """Per binary, the EXPORT_SYMBOL line of each symbol its sources export."""
    out: dict[str, dict[str, Location]] = {}
    for b in binaries:
        if not b.exports:
            continue
        sites: dict[str, Location] = {}
        for src in (s for c in b.components for s in c.sources):
            sf = facts.sources.get(src)
            for e in sf.exports if sf is not None else ():
                sites.setdefault(e.symbol, e.at)
        if sites:
            out[str(b.path)] = sites
    return out


def _wrappers(
    binaries: tuple[Binary, ...], facts: TreeFacts, read: Callable[[PurePosixPath], str | None]
) -> dict[str, dict[str, tuple[str, ...]]]:
    """For modules with sources, which GPL-only imports each plain export's body calls."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for b in binaries:
        gpl_only = {i.symbol for i in b.imports if i.gpl_only}
        plain = {sym for sym, gpl in b.exports if not gpl}
        sources = [src for c in b.components for src in c.sources]
        if not gpl_only or not plain or not sources:
            continue
        calls: dict[str, tuple[str, ...]] = {}
        for src in sources:
            text = read(src)
            if text is None:
                continue
            for name, body in function_bodies(text, plain).items():
                # a wrapper: a body that is essentially the GPL-only call (a few statements),
                # not an ordinary function that calls one GPL-only helper among many
                wrapper = body.count(";") <= _WRAPPER_STATEMENTS
                calls[name] = tuple(sorted(identifiers(body) & gpl_only)) if wrapper else ()
        out[str(b.path)] = calls
    return out
