"""Which binary, or the kernel, provides each symbol a module imports.

Every undefined symbol of every built module is resolved to another binary of the target
that exports it (from its ``__ksymtab*`` records, or its sources' EXPORT_SYMBOL
declarations when it is only planned), else to the kernel's exports (Module.symvers),
else ``unresolved``. A module that is not built imports what its built objects leave
undefined, or, where asked, what its sources call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.source import called_functions
from gplscan.facts.symvers import KernelSymbols
from gplscan.graph.sources import JudgeSources, ReadSource
from gplscan.model import (
    MODULE_KINDS,
    Binary,
    BinaryKind,
    Edge,
    EdgeKind,
    Evidence,
    EvidenceKind,
    Import,
    import_counts,
)

Exports = tuple[tuple[str, bool], ...]  # (symbol, EXPORT_SYMBOL_GPL), sorted


def resolve_imports(
    binaries: tuple[Binary, ...],
    facts: TreeFacts,
    kernel: KernelSymbols,
    read_source: ReadSource | None = None,
    judge_sources: JudgeSources | None = None,
) -> tuple[Binary, ...]:
    """Resolve every undefined symbol of every built module.

    To another binary of the target that exports it, else to the kernel's exports, else
    ``unresolved``. Also fills each binary's exports, and counts its imports by provider
    (:func:`import_edges` gives them as graph edges).
    """
    exports = {b.path: _exports(b, facts) for b in binaries}
    providers = _Providers(exports, kernel)
    out: list[Binary] = []
    # one Import per symbol, shared by every module that needs it (4,000 modules import
    # ≈184,000 symbols, ≈18,000 of them distinct). Per module, the work is one map over its
    # sorted symbols (a dict whose misses resolve the symbol) and one Counter: C loops, not
    # Python ones.
    resolved = _Resolutions(providers.provided)
    for b in binaries:
        if b.kind not in MODULE_KINDS:
            out.append(b)  # a program's or an object's imports are not the kernel's to give
            continue
        late = _runtime_imports(b, facts, providers.provided) if facts.sources else []
        if facts.objects.get(b.path) is None:
            unbuilt = _unbuilt_imports(b, facts, providers.provided, read_source, judge_sources)
            out.append(replace(b, exports=exports[b.path], imports=tuple(late) + unbuilt))
        else:
            out.append(_built_imports(b, facts, exports[b.path], late, resolved, providers))
    return tuple(out)


def _exports(b: Binary, facts: TreeFacts) -> Exports:
    """What a binary exports: its ``__ksymtab*`` records when built, else its sources'
    EXPORT_SYMBOL declarations."""
    obj = facts.objects.get(b.path)
    if obj is not None and obj.exports:
        return obj.exports
    found = {
        (e.symbol, e.gpl_only)
        for c in b.components
        for src in c.sources
        for e in (facts.sources[src].exports if src in facts.sources else ())
    }
    return tuple(sorted(found))


class _Providers:
    """Who provides a symbol: the first binary of the target that exports it, else the
    kernel."""

    def __init__(self, exports: dict[PurePosixPath, Exports], kernel: KernelSymbols) -> None:
        self._kernel = kernel
        self._local: dict[str, tuple[PurePosixPath, str, bool]] = {}
        for path, exported in exports.items():
            shown = str(path)
            for symbol, gpl in exported:
                self._local.setdefault(symbol, (path, shown, gpl))

    def from_kernel(self, symbol: str) -> Import:
        """The kernel's export of ``symbol`` (Module.symvers), else ``unresolved``."""
        k = self._kernel.exports.get(symbol)
        if k is None:
            return Import(symbol, "unresolved", None, None, None)
        return Import(symbol, k.module, k.gpl_only, k.namespace, k.evidence)

    def provided(self, symbol: str) -> Import:
        """The first binary of the target that exports ``symbol``, else the kernel."""
        local = self._local.get(symbol)
        if local is None:
            return self.from_kernel(symbol)
        path, shown, gpl = local
        kind = "EXPORT_SYMBOL_GPL" if gpl else "EXPORT_SYMBOL"
        ev = Evidence(EvidenceKind.SYMBOL, f"{symbol} is exported by {shown} with {kind}", path)
        return Import(symbol, shown, gpl, None, ev)


def _built_imports(
    b: Binary,
    facts: TreeFacts,
    own: Exports,
    late: list[Import],
    resolved: _Resolutions,
    providers: _Providers,
) -> Binary:
    """A built module with its imports: the undefined symbols of its ``.ko``, then what its
    sources bind at run time."""
    undefined = facts.objects[b.path].undefined
    imports = tuple(map(resolved.__getitem__, undefined))
    if late:
        return replace(b, imports=imports + tuple(late), exports=own)
    if own and not frozenset(undefined).isdisjoint(symbol for symbol, _ in own):
        # it imports what it exports itself: only the kernel can provide that
        me = str(b.path)
        imports = tuple(providers.from_kernel(i.symbol) if i.provider == me else i for i in imports)
        counts = import_counts(imports)
    else:
        counts = resolved.counts(undefined)
    return replace(b, imports=imports, exports=own, import_counts=counts)


def _runtime_imports(
    b: Binary, facts: TreeFacts, provided: Callable[[str], Import]
) -> list[Import]:
    """symbol_get bindings in the binary's sources: imports no symbol table shows."""
    out = []
    for src in dict.fromkeys(s for c in b.components for s in c.sources):
        sf = facts.sources.get(src)
        for symbol, line in sf.runtime_imports if sf is not None else ():
            imp = provided(symbol)
            how = Evidence(
                EvidenceKind.SOURCE,
                f"{src} binds {symbol} at run time (symbol_get); "
                + (imp.evidence.text if imp.evidence is not None else "no export known"),
                src,
                line,
            )
            out.append(imp._replace(evidence=how, runtime=True))
    return out


def _unbuilt_imports(
    b: Binary,
    facts: TreeFacts,
    provided: Callable[[str], Import],
    read_source: ReadSource | None,
    judge_sources: JudgeSources | None,
) -> tuple[Import, ...]:
    """What a module that is not built imports, from the best evidence there is: the
    undefined symbols of its built objects (a .ko whose final link failed), else, where
    ``judge_sources`` asks for it, the exported functions its sources call."""
    if b.kind != BinaryKind.PLANNED:
        return ()
    objects = [c for c in b.components if c.undefined]
    built = all(
        c.path in facts.objects or (c.file is not None and c.file in facts.objects)
        for c in b.components
    )
    if objects and built:
        defined = frozenset().union(*(c.defined for c in b.components))
        out = []
        for c in objects:
            for symbol in sorted(c.undefined - defined):
                imp = provided(symbol)
                how = f"{symbol} is undefined in {c.path} (built; {b.path} is not)"
                out.append(imp._replace(evidence=Evidence(EvidenceKind.SYMBOL, how, c.path)))
        return tuple({i.symbol: i for i in out}.values())
    if read_source is None or judge_sources is None or not judge_sources(b):
        return ()
    calls: dict[str, Import] = {}
    for src in dict.fromkeys(s for c in b.components for s in c.sources):
        text = read_source(src)
        if text is None:
            continue
        called, _ = called_functions(text)
        for symbol, line in called.items():
            if symbol in calls:
                continue
            imp = provided(symbol)
            if imp.provider in ("unresolved", str(b.path)):
                continue  # a function of its own, a macro, a static helper
            how = f"{src} calls {symbol} (read from the source: {b.path} is not built)"
            calls[symbol] = imp._replace(evidence=Evidence(EvidenceKind.SOURCE, how, src, line))
    return tuple(calls.values())


def import_edges(binary: Binary) -> list[Edge]:
    """The binary's ``imports-symbol`` edges to each provider of its imports (not to
    ``unresolved``), with how many symbols and the first 20 of them as evidence."""
    by_provider: dict[str, list[str]] = {}
    for imp in binary.imports:
        by_provider.setdefault(imp.provider, []).append(imp.symbol)
    edges = []
    for provider, symbols in sorted(by_provider.items()):
        if provider == "unresolved":
            continue
        shown = ", ".join(symbols[:20]) + (" ..." if len(symbols) > 20 else "")
        evidence = Evidence(EvidenceKind.SYMBOL, f"{len(symbols)} symbol(s): {shown}", binary.path)
        edges.append(Edge(EdgeKind.IMPORTS_SYMBOL, str(binary.path), provider, (evidence,)))
    return edges


class _Resolutions(dict[str, Import]):
    """symbol -> its :class:`Import`, resolved by ``provide`` when first looked up; and
    each symbol's (provider, gpl_only), numbered (counting small ints is ≈2x faster than
    counting the pairs, whose hashes Python does not keep)."""

    def __init__(self, provide: Callable[[str], Import]) -> None:
        super().__init__()
        self._provide = provide
        self._kind_of: dict[str, int] = {}  # symbol -> the number of its kind
        self._numbers: dict[tuple[str, bool | None], int] = {}
        self._kinds: list[tuple[str, bool | None]] = []

    def __missing__(self, symbol: str) -> Import:
        imp = self[symbol] = self._provide(symbol)
        kind = (imp.provider, imp.gpl_only)
        number = self._numbers.get(kind)
        if number is None:
            number = self._numbers[kind] = len(self._kinds)
            self._kinds.append(kind)
        self._kind_of[symbol] = number
        return imp

    def counts(self, symbols: Iterable[str]) -> tuple[tuple[tuple[str, bool | None], int], ...]:
        """As :func:`~gplscan.model.import_counts` of these symbols' Imports (each looked
        up here before)."""
        numbered = Counter(map(self._kind_of.__getitem__, symbols))
        return tuple((self._kinds[k], n) for k, n in numbered.items())
