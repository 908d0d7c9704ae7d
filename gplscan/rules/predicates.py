"""The vocabulary rules are written in: small predicates over one binary of the link graph.

Each predicate yields :class:`Match` values: the primary location, the object or symbol,
the evidence chain and the fields the rule's message template may use. Adding a rule means
writing YAML; adding a predicate means adding a function here and its unit test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from gplscan.model import (
    Binary,
    Component,
    Edge,
    Evidence,
    Gap,
    Import,
    Location,
    Origin,
    Severity,
    few,
)
from gplscan.policy import LicenseData


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
                    if (b.kind == "kernel-module" and not self.accepted(b))
                    or (b.kind == "planned" and b.declared is not None and not self.accepted(b))
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
                if edge.kind == "imports-symbol":
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
    evidence: tuple[Evidence, ...]
    fields: Mapping[str, str]
    severity: Severity | None = None  # when the rule's severity depends on the case
    content: str | None = None  # the offending object's content digest, for the fingerprint


Predicate = Callable[[Context, Binary, Mapping[str, object]], Iterable[Match]]
# a predicate over the whole target, once: yields (the binary concerned or None, match)
TargetPredicate = Callable[[Context, Mapping[str, object]], Iterable[tuple[Binary | None, Match]]]


# --- shared questions ---------------------------------------------------------------------


def gpl_code(ctx: Context, binary: Binary) -> tuple[str, tuple[Evidence, ...]]:
    """Describe the GPL code a binary holds ("" when none), with the evidence for it."""
    by_license: dict[str, list[Component]] = {}
    for c in binary.components:
        if c.origin is Origin.SOURCE and ctx.licenses.requires_gpl(c.license):
            by_license.setdefault(c.license or "", []).append(c)
    evidence: list[Evidence] = []
    parts: list[str] = []
    for license, comps in sorted(by_license.items()):
        names = [str(c.sources[0] if c.sources else c.path) for c in comps]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        parts.append(f"{license} in {shown}")
        evidence.extend(e for c in comps[:3] for e in _license_evidence(c))
    declared = binary.declared
    if declared is not None and ctx.licenses.kernel_accepts(declared.value):
        meaning = ctx.licenses.module_string_spdx(declared.text)
        if not parts and ctx.licenses.requires_gpl(meaning):
            parts.append(f'declared MODULE_LICENSE("{declared.text}")')
        evidence.extend(declared.evidence[:1])
    return "; ".join(parts), tuple(evidence)


def _license_evidence(c: Component) -> Iterable[Evidence]:
    return c.license_evidence


def _closed_evidence(c: Component) -> list[Evidence]:
    return [c.linked_by, *c.provenance]


def _declared_location(binary: Binary) -> Location:
    if binary.declared is not None and binary.declared.at is not None:
        return binary.declared.at
    if binary.defined_at is not None and binary.defined_at.path is not None:
        return Location(binary.defined_at.path, binary.defined_at.line)
    return Location(binary.path)


def _ties_text(ctx: Context, binary: Binary, c: Component) -> tuple[str, list[Evidence]]:
    edges = ctx.ties(binary, c)
    if not edges:
        return "", []
    into = sorted({s for e in edges if e.dst == str(c.path) for s in _symbols(e)})
    back = sorted({s for e in edges if e.src == str(c.path) for s in _symbols(e)})
    parts = []
    if into:
        parts.append(f"GPL code calls {_few(into)} in it")
    if back:
        parts.append(f"it calls back {_few(back)}")
    evidence = [ev for e in edges for ev in e.evidence]
    return ": " + " and ".join(parts), evidence


def _symbols(edge: Edge) -> list[str]:
    return [ev.text.split()[0] for ev in edge.evidence if ev.kind == "symbol" and ev.text]


def _few(names: list[str]) -> str:
    return few(names, 4)


# --- predicates ---------------------------------------------------------------------------


def links_closed_object(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A closed component in a binary that holds GPL code."""
    closed = [c for c in binary.components if c.origin is Origin.CLOSED]
    if not closed:
        return
    gpl, gpl_evidence = gpl_code(ctx, binary)
    if not gpl:
        return
    for c in closed:
        ties, tie_evidence = _ties_text(ctx, binary, c)
        yield Match(
            location=_where(c.linked_by),
            object=str(c.path),
            symbol=None,
            evidence=(*_closed_evidence(c), *tie_evidence, *gpl_evidence),
            fields={"object": str(c.path), "gpl_code": gpl, "ties": ties},
            content=c.sha256,
        )


def links_incompatible_license(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A source component under a license that cannot meet the binary's GPL code."""
    others = [
        c
        for c in binary.components
        if c.origin is Origin.SOURCE and c.license and not ctx.licenses.requires_gpl(c.license)
    ]
    if not others:  # most modules: no source outside the GPL, so no need to describe the GPL's
        return
    gpl, gpl_evidence = gpl_code(ctx, binary)
    if not gpl:
        return
    versions = frozenset(v for c in binary.components for v in ctx.licenses.gpl_ids(c.license))
    for c in others:
        assert c.license is not None
        if ctx.licenses.conflicts_with_gpl(c.license, versions):
            yield Match(
                location=_where(c.linked_by),
                object=str(c.path),
                symbol=None,
                evidence=(c.linked_by, *_license_evidence(c), *gpl_evidence),
                fields={"object": str(c.path), "license": c.license, "gpl_code": gpl},
            )


def declared_compatible_but_holds_closed(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """MODULE_LICENSE is one the kernel accepts, but closed or incompatible code is inside."""
    declared = binary.declared
    if declared is None or not ctx.licenses.kernel_accepts(declared.value):
        return
    closed = [c for c in binary.components if c.origin is Origin.CLOSED]
    bad = [
        c
        for c in binary.components
        if c.origin is Origin.SOURCE
        and c.license
        and not ctx.licenses.requires_gpl(c.license)
        and ctx.licenses.conflicts_with_gpl(c.license, frozenset())
    ]
    if not closed and not bad:
        return
    what = []
    if closed:
        what.append(
            "closed object"
            + ("s " if len(closed) > 1 else " ")
            + ", ".join(str(c.path) for c in closed)
        )
    if bad:
        what.append("code under " + ", ".join(f"{c.license} ({c.path})" for c in bad))
    evidence = [*declared.evidence, *(c.linked_by for c in [*closed, *bad])]
    yield Match(
        location=_declared_location(binary),
        object=str(closed[0].path) if closed else str(bad[0].path),
        content=closed[0].sha256 if closed else None,
        symbol=None,
        evidence=tuple(evidence),
        fields={"declared": declared.text, "what": " and ".join(what)},
    )


def license_string_trick(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """Text hidden after a NUL, or appended to a GPL-compatible name."""
    declared = binary.declared
    if declared is None:
        return
    seen, nul, hidden = declared.value.partition(b"\0")
    text = seen.decode("utf-8", "replace")
    reason = None
    if nul and hidden.strip(b"\0 "):
        reason = f"text after a NUL: {hidden.decode('utf-8', 'replace')!r}"
    elif text not in ctx.licenses.gpl_compatible_strings:
        for name in sorted(ctx.licenses.gpl_compatible_strings, key=len, reverse=True):
            rest = text[len(name) :]
            if text.startswith(name) and rest and not rest[0].isalnum():
                reason = f"text after the GPL-compatible name {name!r}: {rest!r}"
                break
    if reason is None:
        return
    yield Match(
        location=_declared_location(binary),
        object=None,
        symbol=None,
        evidence=declared.evidence,
        fields={"declared": text, "hidden": reason},
    )


def declared_license_category(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """The declared module license falls in one of ``params['categories']``.

    Categories: ``proprietary`` (a string the kernel rejects that means closed code),
    ``incompatible`` (a free license the GPL cannot meet), ``unrecognized`` (a string the
    kernel rejects and the license data does not know), ``missing`` (no MODULE_LICENSE
    where the module's sources or .modinfo are in the target).
    """
    wanted = set(params.get("categories", ()))  # type: ignore[call-overload]
    declared = binary.declared
    if declared is None:
        # a planned obj-$(CONFIG_X) module may never be built as a module: only a built
        # one, or an unconditional obj-m, is known to be a module that needs a license
        # and only when every member's source was read: the declaration may sit in the
        # part gplscan could not see
        readable = binary.kind != "planned" or (
            not binary.conditional
            and bool(binary.components)
            and all(c.origin is Origin.SOURCE for c in binary.components)
        )
        if "missing" in wanted and readable and binary.license_note is None:
            yield Match(
                _declared_location(binary),
                None,
                None,
                tuple(e for e in [binary.defined_at] if e is not None),
                {
                    "declared_text": "declares no MODULE_LICENSE (since Linux 5.11 modpost "
                    "refuses to build such a module; an older kernel loads it as proprietary)",
                    "license": "none",
                },
            )
        return
    if ctx.licenses.kernel_accepts(declared.value):
        return
    meaning = ctx.licenses.module_string_spdx(declared.text)
    if meaning is None:
        category = "unrecognized"
    elif ctx.licenses.withholds_source(meaning):
        category = "proprietary"
    elif ctx.licenses.conflicts_with_gpl(meaning, frozenset()):
        category = "incompatible"
    else:
        category = "unrecognized"
    if category not in wanted:
        return
    yield Match(
        location=_declared_location(binary),
        object=None,
        symbol=None,
        evidence=declared.evidence,
        fields={
            "declared_text": f'declares MODULE_LICENSE("{declared.text}")',
            "license": meaning or "unknown",
        },
    )


def source_without_license(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A source-built component with no license, inside a binary holding GPL code."""
    unlicensed = [c for c in binary.components if c.origin is Origin.SOURCE and not c.license]
    if not unlicensed:
        return
    gpl, _ = gpl_code(ctx, binary)
    if not gpl:
        return
    for c in unlicensed:
        source = str(c.sources[0]) if c.sources else str(c.path)
        yield Match(
            location=Location(PurePosixPath(source)),
            object=str(c.path),
            symbol=None,
            evidence=(c.linked_by, *c.license_evidence),
            fields={"object": str(c.path), "source": source},
        )


def closed_component(ctx: Context, binary: Binary, params: Mapping[str, object]) -> Iterable[Match]:
    """Every closed component, GPL code or not."""
    for c in binary.components:
        if c.origin is Origin.CLOSED:
            yield Match(
                _where(c.linked_by),
                str(c.path),
                None,
                tuple(_closed_evidence(c)),
                {"object": str(c.path)},
                content=c.sha256,
            )


def gpl_only_imports_in_non_gpl(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A module the kernel takes as proprietary (or one whose license string hides text
    after a NUL) imports EXPORT_SYMBOL_GPL symbols: from its symbol table, its built
    objects, its sources' calls or its symbol_get bindings (each import's evidence says
    which)."""
    declared = binary.declared
    if declared is not None and ctx.licenses.honestly_gpl(declared.value):
        return
    if declared is None and binary.kind == "planned":
        return
    shown = _show_license(declared.value) if declared is not None else None
    for imp in binary.imports:
        if imp.gpl_only:
            yield Match(
                location=_declared_location(binary),
                object=None,
                symbol=imp.symbol,
                evidence=tuple(e for e in (imp.evidence, *_declared_evidence(binary)) if e),
                fields={
                    "symbol": imp.symbol,
                    "provider": imp.provider,
                    "declared": f"MODULE_LICENSE({shown})"
                    if shown is not None
                    else "no MODULE_LICENSE",
                },
            )


def _show_license(value: bytes) -> str:
    """A license string as C writes it, NULs shown: "GPL\\0for the kernel only"."""
    text = value.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\0", "\\0") + '"'


def gpl_module_imports_proprietary(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A GPL-compatible module uses symbols of a proprietary module of the target."""
    proprietary = ctx.proprietary_binaries()
    if not proprietary or not ctx.accepted(binary):
        return
    by_provider: dict[str, list[Import]] = {}
    for imp in binary.imports:
        if imp.provider in proprietary:
            by_provider.setdefault(imp.provider, []).append(imp)
    for provider_path, imports in sorted(by_provider.items()):
        provider = ctx.binaries[provider_path]
        symbols = [i.symbol for i in imports]
        yield Match(
            location=_declared_location(binary),
            object=provider_path,
            symbol=None,
            evidence=(
                *(
                    # how it is imported (symbol table, or symbol_get at a line) when known
                    i.evidence
                    if i.evidence is not None and i.evidence.kind == "source"
                    else Evidence(
                        "symbol",
                        f"{i.symbol} is exported by {provider_path}",
                        PurePosixPath(provider_path),
                    )
                    for i in imports
                ),
                *_declared_evidence(provider),
            ),
            fields={
                "provider": provider_path,
                "symbols": _few(symbols),
                "provider_license": provider.declared.text if provider.declared else "none",
            },
        )


def gpl_symbol_reexport(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A GPL-compatible module wraps GPL-only symbols and exports the wrappers plainly.

    Where the sources are in the tree, only plain exports whose bodies call a GPL-only
    symbol count; otherwise any plain export of a module that imports GPL-only symbols.
    An error when a module the kernel takes as proprietary uses such an export.
    """
    if not ctx.accepted(binary):
        return
    plain = [sym for sym, gpl in binary.exports if not gpl]
    if not plain:  # most modules export nothing: their imports need no look
        return
    gpl_imports = sorted({i.symbol for i in binary.imports if i.gpl_only})
    if not gpl_imports:
        return
    consumers = {
        user: [sym for sym in syms if sym in plain]
        for user, syms in ctx.consumers(str(binary.path)).items()
        if user != str(binary.path)
    }
    known = ctx.wrappers.get(str(binary.path))
    if known is not None:
        wrapped = {sym: calls for sym, calls in known.items() if calls}
    else:
        # no source to tell which export wraps what: only exports a module the kernel
        # takes as proprietary really uses are worth a word (GPL modules exporting plain
        # symbols while using GPL-only ones is what most of the kernel does)
        used = {s for syms in consumers.values() for s in syms}
        wrapped = {sym: tuple(gpl_imports) for sym in plain if sym in used}
    if not wrapped:
        return
    for export, calls in sorted(wrapped.items()):
        users = sorted(c for c, syms in consumers.items() if export in syms)
        others = [u for u in ctx.importers(str(binary.path), export) if u not in users]
        if users:
            used_by = ", ".join(users)
        elif others:
            used_by = (
                f"{len(others)} module(s) of the target, none of them proprietary "
                f"({_few(sorted(others))})"
            )
        else:
            used_by = "no module of the target"
        site = ctx.export_sites.get(str(binary.path), {}).get(export)
        how = "calls" if known is not None else "may call (no source to tell which)"
        evidence = [
            Evidence(
                "symbol",
                f"{export} is exported with EXPORT_SYMBOL by "
                f"{binary.path} and {how} GPL-only {_few(list(calls))}",
                binary.path,
            )
        ]
        evidence += [i.evidence for i in binary.imports if i.symbol in calls and i.evidence][:4]
        evidence += [
            Evidence("symbol", f"{u} (not GPL-compatible) imports {export}", PurePosixPath(u))
            for u in users
        ]
        yield Match(
            location=site or _declared_location(binary),
            object=None,
            symbol=export,
            evidence=tuple(evidence),
            fields={"export": export, "calls": _few(list(calls)), "consumers": used_by},
            severity=None
            if users and known is not None
            else Severity(str(params.get("without_consumer", "warning"))),
        )


def object_source_mismatch(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """An object that names a source of the tree but does not define what that source does."""
    for c in binary.components:
        if not c.defined or not c.expected or c.defined & c.expected or _renamed(c):
            continue
        source = str(c.named_source) if c.named_source else "?"
        yield Match(
            location=_where(c.linked_by),
            object=str(c.path),
            symbol=None,
            evidence=(
                c.linked_by,
                Evidence(
                    "symbol",
                    f"{source} defines {_few(sorted(c.expected))}",
                    c.sources[0] if c.sources else None,
                ),
                Evidence("symbol", f"{c.file or c.path} defines {_few(sorted(c.defined))}", c.file),
            ),
            fields={"object": str(c.path), "source": source},
        )


def _renamed(c: Component) -> bool:
    """A prefix a macro adds to every name (openafs' heimdal: MD5_Init is hc_MD5_Init)."""
    return any(d.endswith("_" + e) for d in c.defined for e in c.expected)


def malformed_license_tag(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A source compiled into the binary carries an SPDX tag that does not parse."""
    for c in binary.components:
        if c.tag_error and c.sources:
            line = _first_int(c.tag_error)
            yield Match(
                location=Location(c.sources[0], line),
                object=str(c.path),
                symbol=None,
                evidence=(Evidence("spdx", c.tag_error, c.sources[0], line), c.linked_by),
                fields={"source": str(c.sources[0]), "error": c.tag_error},
            )


def _first_int(text: str) -> int | None:
    m = re.search(r"line (\d+)", text)
    return int(m.group(1)) if m else None


def license_policy(ctx: Context, binary: Binary, params: Mapping[str, object]) -> Iterable[Match]:
    """A component under a license the project's policy denies (or does not allow)."""
    if ctx.allow is None and not ctx.deny:
        return
    for c in binary.components:
        if c.origin is not Origin.SOURCE or not c.license:
            continue
        denied = ctx.licenses.policy_violations(c.license, ctx.allow, ctx.deny)
        if denied:
            yield Match(
                _where(c.linked_by),
                str(c.path),
                None,
                (c.linked_by, *c.license_evidence),
                {"object": str(c.path), "license": c.license, "denied": ", ".join(denied)},
            )


def _declared_evidence(binary: Binary) -> tuple[Evidence, ...]:
    return binary.declared.evidence[:1] if binary.declared is not None else ()


def _where(evidence: Evidence) -> Location:
    return Location(evidence.path or PurePosixPath("."), evidence.line)


def not_judged(ctx: Context, params: Mapping[str, object]) -> Iterable[tuple[Binary | None, Match]]:
    """Every gap: something that decides the verdict and could not be established."""
    for gap in ctx.gaps:
        binary = ctx.binaries.get(str(gap.binary)) if gap.binary is not None else None
        yield (
            binary,
            Match(
                location=gap.at,
                object=str(gap.at.path),
                symbol=None,
                evidence=gap.evidence or (Evidence("scan", gap.reason, gap.at.path, gap.at.line),),
                fields={"subject": gap.subject, "reason": gap.reason},
                # identity by subject and file, not line or wording: an edit elsewhere in
                # the file or a reason worded differently is not a new finding
                content=gap.subject,
            ),
        )


TARGET_PREDICATES: dict[str, TargetPredicate] = {"not_judged": not_judged}

# predicates about what a kernel module declares and imports: other binaries (an object
# of the tree that is linked into nothing, a program) have no MODULE_LICENSE to judge
MODULE_PREDICATES = frozenset(
    {
        "declared_compatible_but_holds_closed",
        "license_string_trick",
        "declared_license_category",
        "gpl_only_imports_in_non_gpl",
        "gpl_module_imports_proprietary",
        "gpl_symbol_reexport",
    }
)


def is_module(binary: Binary) -> bool:
    """A kernel module, built or planned by the build files."""
    return binary.kind in ("kernel-module", "planned")


PREDICATES: dict[str, Predicate] = {
    "links_closed_object": links_closed_object,
    "links_incompatible_license": links_incompatible_license,
    "declared_compatible_but_holds_closed": declared_compatible_but_holds_closed,
    "license_string_trick": license_string_trick,
    "declared_license_category": declared_license_category,
    "source_without_license": source_without_license,
    "closed_component": closed_component,
    "gpl_only_imports_in_non_gpl": gpl_only_imports_in_non_gpl,
    "gpl_module_imports_proprietary": gpl_module_imports_proprietary,
    "gpl_symbol_reexport": gpl_symbol_reexport,
    "object_source_mismatch": object_source_mismatch,
    "malformed_license_tag": malformed_license_tag,
    "license_policy": license_policy,
}
