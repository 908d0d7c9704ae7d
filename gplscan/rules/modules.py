"""Bespoke predicates about kernel modules: what a module declares and what it imports.

Each judges a shape of its own (a license string, the kernel's categories of licenses, the
symbols a module imports or re-exports), so each is a function of its own rather than words
of the ``when:`` vocabulary (:mod:`gplscan.rules.vocabulary`); the rule files that use them
say so (``bespoke:``). The words of their messages are the rule files' ``fragments:``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from gplscan.model import Binary, BinaryKind, Evidence, EvidenceKind, Import, Origin, Severity
from gplscan.rules.context import (
    Context,
    Match,
    declared_evidence,
    declared_location,
    few4,
)
from gplscan.rules.fragments import Said, Text, Value


def license_string_trick(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """Text hidden after a NUL, or appended to a GPL-compatible name."""
    declared = binary.declared
    if declared is None:
        return
    seen, nul, hidden = declared.value.partition(b"\0")
    text = seen.decode("utf-8", "replace")
    reason: Text | None = None
    if nul and hidden.strip(b"\0 "):
        reason = Text("hidden", "after_nul", {"text": repr(hidden.decode("utf-8", "replace"))})
    elif text not in ctx.licenses.gpl_compatible_strings:
        for name in sorted(ctx.licenses.gpl_compatible_strings, key=len, reverse=True):
            rest = text[len(name) :]
            if text.startswith(name) and rest and not rest[0].isalnum():
                reason = Text("hidden", "after_name", {"name": repr(name), "text": repr(rest)})
                break
    if reason is None:
        return
    yield Match(
        location=declared_location(binary),
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
        readable = binary.kind != BinaryKind.PLANNED or (
            not binary.conditional
            and bool(binary.components)
            and all(c.origin is Origin.SOURCE for c in binary.components)
        )
        if "missing" in wanted and readable and binary.license_note is None:
            yield Match(
                declared_location(binary),
                None,
                None,
                tuple(e for e in [binary.defined_at] if e is not None),
                {
                    "declared_text": Text("declared_text", "missing"),
                    "license": Text("license", "none"),
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
        location=declared_location(binary),
        object=None,
        symbol=None,
        evidence=declared.evidence,
        fields={
            "declared_text": Text("declared_text", "declared", {"declared": declared.text}),
            "license": meaning or Text("license", "unknown"),
        },
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
    if declared is None and binary.kind == BinaryKind.PLANNED:
        return
    shown = _show_license(declared.value) if declared is not None else None
    for imp in binary.imports:
        if imp.gpl_only:
            yield Match(
                location=declared_location(binary),
                object=None,
                symbol=imp.symbol,
                evidence=tuple(e for e in (imp.evidence, *declared_evidence(binary)) if e),
                fields={
                    "symbol": imp.symbol,
                    "provider": imp.provider,
                    "declared": Text("declared", "license", {"string": shown})
                    if shown is not None
                    else Text("declared", "none"),
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
            location=declared_location(binary),
            object=provider_path,
            symbol=None,
            evidence=(
                *(
                    # how it is imported (symbol table, or symbol_get at a line) when known
                    i.evidence
                    if i.evidence is not None and i.evidence.kind == EvidenceKind.SOURCE
                    else Said(
                        EvidenceKind.SYMBOL,
                        Text(
                            "evidence", "exported", {"symbol": i.symbol, "provider": provider_path}
                        ),
                        PurePosixPath(provider_path),
                    )
                    for i in imports
                ),
                *declared_evidence(provider),
            ),
            fields={
                "provider": provider_path,
                "symbols": few4(symbols),
                "provider_license": provider.declared.text
                if provider.declared
                else Text("provider_license", "none"),
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
            used_by = Text("consumers", "proprietary", {"modules": ", ".join(users)})
        elif others:
            count, modules = str(len(others)), few4(sorted(others))
            used_by = Text("consumers", "others", {"count": count, "modules": modules})
        else:
            used_by = Text("consumers", "none")
        site = ctx.export_sites.get(str(binary.path), {}).get(export)
        how = "wraps" if known is not None else "may_wrap"  # no source to tell which
        values: dict[str, Value] = {"export": export, "module": str(binary.path)}
        values["calls"] = few4(list(calls))
        evidence: list[Evidence | Said] = [
            Said(EvidenceKind.SYMBOL, Text("evidence", how, values), binary.path)
        ]
        evidence += [i.evidence for i in binary.imports if i.symbol in calls and i.evidence][:4]
        evidence += [
            Said(
                EvidenceKind.SYMBOL,
                Text("evidence", "imported", {"module": u, "export": export}),
                PurePosixPath(u),
            )
            for u in users
        ]
        yield Match(
            location=site or declared_location(binary),
            object=None,
            symbol=export,
            evidence=tuple(evidence),
            fields={"export": export, "calls": few4(list(calls)), "consumers": used_by},
            severity=None
            if users and known is not None
            else Severity(str(params.get("without_consumer", "warning"))),
        )
