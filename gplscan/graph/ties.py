"""The symbols that tie a binary's closed components to the ones built from its sources.

An ``imports-symbol`` edge goes each way a symbol crosses: from a source-built object to
the closed object whose symbols it uses, and back for the callbacks the closed object calls.
"""

from __future__ import annotations

from gplscan.facts import TreeFacts
from gplscan.facts.source import defined_functions, symbol_lines
from gplscan.graph.sources import ReadSource
from gplscan.model import Binary, Edge, EdgeKind, Evidence, EvidenceKind, Origin


def symbol_ties(binary: Binary, facts: TreeFacts, read_source: ReadSource) -> list[Edge]:
    """Symbols that tie each closed component to the source-built ones of its binary.

    From the objects' symbol tables where the tree is built; from the sources' text (uses
    of the closed object's symbols) where it is not.
    """
    edges: list[Edge] = []
    closed = [c for c in binary.components if c.origin is Origin.CLOSED]
    open_ = [c for c in binary.components if c.origin is Origin.SOURCE and c.sources]
    for cc in closed:
        for oc in open_:
            src = oc.sources[0]
            text = read_source(src)
            if oc.undefined:
                calls = oc.undefined & cc.defined
            elif text is not None:
                calls = frozenset(symbol_lines(text, cc.defined))
            else:
                calls = frozenset()
            own = oc.defined or (defined_functions(text) if text is not None else frozenset())
            callbacks = cc.undefined & own
            if not calls and not callbacks:
                continue
            uses = symbol_lines(text, calls) if text is not None else {}
            defs = symbol_lines(text, callbacks, want="definition") if text is not None else {}
            into = tuple(
                Evidence(
                    EvidenceKind.SYMBOL,
                    f"{s} is used by {src}, defined in closed {cc.path}",
                    src,
                    uses.get(s),
                )
                for s in sorted(calls)
            )
            back = tuple(
                Evidence(
                    EvidenceKind.SYMBOL,
                    f"{s} is defined in {src}, called by closed {cc.path}",
                    src,
                    defs.get(s),
                )
                for s in sorted(callbacks)
            )
            if into:
                edges.append(Edge(EdgeKind.IMPORTS_SYMBOL, str(oc.path), str(cc.path), into))
            if back:
                edges.append(Edge(EdgeKind.IMPORTS_SYMBOL, str(cc.path), str(oc.path), back))
    return edges
