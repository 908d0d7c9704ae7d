"""The link graph: which objects make which binary, where each comes from, and how they tie.

One module per job:

- :mod:`~gplscan.graph.build`: the graph itself, binaries from the build facts and the
  objects the target holds (:func:`build_graph`);
- :mod:`~gplscan.graph.programs`: programs found built that no make rule describes;
- :mod:`~gplscan.graph.unlinked`: closed objects no binary links, placed where they belong;
- :mod:`~gplscan.graph.declared`: a module's declared license;
- :mod:`~gplscan.graph.ties`: the symbols that tie closed code to source-built code;
- :mod:`~gplscan.graph.imports`: which binary or the kernel provides each imported symbol
  (:func:`resolve_imports`);
- :mod:`~gplscan.graph.sources`: how the stage reads a source's text, given by the caller.

Where a component's code comes from is :mod:`gplscan.provenance`, the layer below.
"""

from gplscan.graph.build import LinkGraph, build_graph
from gplscan.graph.imports import import_edges, resolve_imports
from gplscan.graph.sources import JudgeSources, ReadSource
from gplscan.graph.ties import symbol_ties

__all__ = [
    "JudgeSources",
    "LinkGraph",
    "ReadSource",
    "build_graph",
    "import_edges",
    "resolve_imports",
    "symbol_ties",
]
