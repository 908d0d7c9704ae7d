"""What a rule's predicate consults and what it yields.

:class:`Context` is what a predicate may consult besides the binary itself (the license
data, the link graph's edges, every binary of the target, the project's policy, the gaps);
:class:`Match` is one place a rule fires. The helpers at the end answer the questions
several predicates share: where a component is linked, where a module declares its
license, which GPL code a binary holds and which symbols tie a component to the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from gplscan.model import (
    Binary,
    BinaryKind,
    Component,
    Edge,
    EdgeKind,
    Evidence,
    EvidenceKind,
    Gap,
    Location,
    Origin,
    Severity,
)
from gplscan.policy import LicenseData
from gplscan.rules.fragments import Few, Said, Text, Value


@dataclass(frozen=True, slots=True)
class Context:
    """What predicates may consult besides the binary itself.

    ``binaries`` indexes every binary of the target by path (imports name their provider
    by path); ``wrappers`` says, per binary, which GPL-only symbols each of its plain
    exports calls, where its sources show it.
    """

    licenses: LicenseData
    edges: tuple[Edge, ...] = ()
    binaries: Mapping[str, Binary] = field(default_factory=dict)
    wrappers: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    allow: tuple[str, ...] | None = None  # the project's license policy (config [licenses])
    deny: tuple[str, ...] = ()
    gaps: tuple[Gap, ...] = ()  # what could not be established (rule not-judged)
    # per binary, the EXPORT_SYMBOL line of each symbol its sources export
    export_sites: Mapping[str, Mapping[str, Location]] = field(default_factory=dict)
    _importers: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _ties: dict[str, list[Edge]] = field(default_factory=dict)
    _consumers: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _accepts: dict[bytes | None, bool] = field(default_factory=dict)
    _proprietary: list[frozenset[str]] = field(default_factory=list)

    def accepted(self, binary: Binary) -> bool:
        """Whether the kernel takes the binary's declared license as GPL-compatible."""
        value = binary.declared.value if binary.declared is not None else None
        known = self._accepts.get(value)
        if known is None:
            known = self._accepts[value] = value is not None and self.licenses.kernel_accepts(value)
        return known

    def proprietary_binaries(self) -> frozenset[str]:
        """Built binaries of the target the kernel takes as proprietary (found once)."""
        if not self._proprietary:
            self._proprietary.append(
                frozenset(
                    path
                    for path, b in self.binaries.items()
                    if (b.kind == BinaryKind.KERNEL_MODULE and not self.accepted(b))
                    or (
                        b.kind == BinaryKind.PLANNED
                        and b.declared is not None
                        and not self.accepted(b)
                    )
                )
            )
        return self._proprietary[0]

    def consumers(self, provider: str) -> Mapping[str, list[str]]:
        """Binaries the kernel takes as proprietary that import from ``provider``, with the
        symbols they import (indexed once: no pass over all binaries per binary)."""
        if not self._consumers and self.binaries:
            for other in self.binaries.values():
                if self.accepted(other):
                    continue
                for imp in other.imports:
                    users = self._consumers.setdefault(imp.provider, {})
                    users.setdefault(str(other.path), []).append(imp.symbol)
            self._consumers.setdefault("", {})  # mark the index as built
        return self._consumers.get(provider, {})

    def importers(self, provider: str, symbol: str) -> list[str]:
        """Every binary of the target that imports ``symbol`` from ``provider``."""
        if not self._importers and self.binaries:
            for other in self.binaries.values():
                for imp in other.imports:
                    users = self._importers.setdefault(imp.provider, {})
                    users.setdefault(imp.symbol, []).append(str(other.path))
            self._importers.setdefault("", {})  # mark the index as built
        return self._importers.get(provider, {}).get(symbol, [])

    def ties(self, binary: Binary, component: Component) -> list[Edge]:
        """Symbol edges between ``component`` and the other components of ``binary``."""
        if not self._ties and self.edges:  # indexed on first use
            for edge in self.edges:
                if edge.kind == EdgeKind.IMPORTS_SYMBOL:
                    self._ties.setdefault(edge.src, []).append(edge)
                    self._ties.setdefault(edge.dst, []).append(edge)
            self._ties.setdefault("", [])  # mark the index as built
        members = {str(c.path) for c in binary.components}
        key = str(component.path)
        return [
            e
            for e in self._ties.get(key, [])
            if (e.src == key and e.dst in members) or (e.dst == key and e.src in members)
        ]


@dataclass(frozen=True, slots=True)
class Match:
    """One place a rule fires."""

    location: Location
    object: str | None
    symbol: str | None
    evidence: tuple[Evidence | Said, ...]
    fields: Mapping[str, Value]  # see gplscan.rules.fragments
    severity: Severity | None = None  # when the rule's severity depends on the case
    content: str | None = None  # the offending object's content digest, for the fingerprint


Predicate = Callable[[Context, Binary, Mapping[str, object]], Iterable[Match]]
# a predicate over the whole target, once: yields (the binary concerned or None, match)
TargetPredicate = Callable[[Context, Mapping[str, object]], Iterable[tuple[Binary | None, Match]]]


# --- questions several predicates share ---------------------------------------------------


def gpl_code(ctx: Context, binary: Binary) -> tuple[tuple[Text, ...], tuple[Evidence, ...]]:
    """The GPL code a binary holds (no parts when none), as parts of the rule's fragment
    ``gpl_code`` (per license: ``license`` or ``license_more``; else ``declared``), with
    the evidence for it."""
    by_license: dict[str, list[Component]] = {}
    for c in binary.components:
        if c.origin is Origin.SOURCE and ctx.licenses.requires_gpl(c.license):
            by_license.setdefault(c.license or "", []).append(c)
    evidence: list[Evidence] = []
    parts: list[Text] = []
    for license, comps in sorted(by_license.items()):
        names = [str(c.sources[0] if c.sources else c.path) for c in comps]
        values: dict[str, Value] = {"license": license, "files": ", ".join(names[:3])}
        if len(names) > 3:
            parts.append(Text("gpl_code", "license_more", {**values, "more": str(len(names) - 3)}))
        else:
            parts.append(Text("gpl_code", "license", values))
        evidence.extend(e for c in comps[:3] for e in c.license_evidence)
    declared = binary.declared
    if declared is not None and ctx.licenses.kernel_accepts(declared.value):
        meaning = ctx.licenses.module_string_spdx(declared.text)
        if not parts and ctx.licenses.requires_gpl(meaning):
            parts.append(Text("gpl_code", "declared", {"declared": declared.text}))
        evidence.extend(declared.evidence[:1])
    return tuple(parts), tuple(evidence)


def ties(ctx: Context, binary: Binary, c: Component) -> tuple[Text, tuple[Evidence, ...]]:
    """The symbols that tie ``c`` to the rest of ``binary``, as the rule's fragment
    ``ties`` (``none`` or ``some``, whose ``calls`` are parts ``into`` and ``back``)."""
    edges = ctx.ties(binary, c)
    if not edges:
        return Text("ties", "none"), ()
    into = sorted({s for e in edges if e.dst == str(c.path) for s in _symbols(e)})
    back = sorted({s for e in edges if e.src == str(c.path) for s in _symbols(e)})
    calls = []
    if into:
        calls.append(Text("calls", "into", {"symbols": few4(into)}))
    if back:
        calls.append(Text("calls", "back", {"symbols": few4(back)}))
    evidence = tuple(ev for e in edges for ev in e.evidence)
    return Text("ties", "some", {"calls": tuple(calls)}), evidence


def _symbols(edge: Edge) -> list[str]:
    return [
        ev.text.split()[0] for ev in edge.evidence if ev.kind == EvidenceKind.SYMBOL and ev.text
    ]


def few4(names: list[str]) -> Few:
    """The first four names, then how many more (as the rule's fragment ``more`` says)."""
    return Few(tuple(names), 4)


def closed_evidence(c: Component) -> list[Evidence]:
    """How a closed component is linked, and why gplscan takes it as closed."""
    return [c.linked_by, *c.provenance]


def declared_location(binary: Binary) -> Location:
    """Where a module declares its license, else where it is defined, else the module."""
    if binary.declared is not None and binary.declared.at is not None:
        return binary.declared.at
    if binary.defined_at is not None and binary.defined_at.path is not None:
        return Location(binary.defined_at.path, binary.defined_at.line)
    return Location(binary.path)


def declared_evidence(binary: Binary) -> tuple[Evidence, ...]:
    """The first evidence of a module's license declaration (none without one)."""
    return binary.declared.evidence[:1] if binary.declared is not None else ()


def where(evidence: Evidence) -> Location:
    """The place a piece of evidence points at."""
    return Location(evidence.path or PurePosixPath("."), evidence.line)
