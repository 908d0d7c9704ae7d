"""A layered layout of one binary's composition, for the HTML report's inline SVG.

Four columns, left to right: the sources (and shipped blobs) the objects come from, the
objects linked into the binary, the binary itself, and what it imports from (the kernel,
other modules, unresolved symbols). Nodes are boxes of one size placed row by row; edges
are curves from the right side of one box to the left side of the next, each labelled
with its evidence (``Kbuild:3 · ld -r``, ``12 symbols, 3 GPL-only``).

A column shows at most ``max_per_column`` nodes, so a module of 500 objects stays usable:
the rest are summed up in one "+N more" node (the report lists them all in a table).
Closed and flagged objects are never folded into that node. Stdlib only: the report needs
no layout engine, no browser library and no network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from gplscan.model import Binary, Component, Evidence, Import, Origin

MAX_PER_COLUMN = 40
NODE_W = 185
NODE_H = 38
ROW_GAP = 10
COL_GAP = 150
MARGIN = 12
TITLE_H = 22
LABEL_CHARS = 24  # what fits in NODE_W at the 12px monospace node font
NOTE_CHARS = 28  # the same at the 10.5px note font
EDGE_CHAR_W = 6.2  # width of one character of an edge label (10px monospace)

COLUMN_TITLES = ("sources", "objects", "module", "imports from")


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A box: ``label`` (shortened to fit) and ``note`` are drawn, ``full`` is its tooltip.

    ``kind``: source, blob (a shipped file with no source), object, closed, incompatible,
    unknown, module, kernel, provider, unresolved, more.
    """

    id: str
    column: int
    x: float
    y: float
    label: str
    note: str
    full: str
    kind: str


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """A curve ``d`` from ``src`` to ``dst``; ``label`` drawn at (lx, ly), ``title`` on hover."""

    src: str
    dst: str
    kind: str  # compiled, copied, links, imports
    label: str
    title: str
    d: str
    lx: float
    ly: float
    anchor: str  # text-anchor of the label: start (near src) or end (near dst)


@dataclass(frozen=True, slots=True)
class Layout:
    """A positioned graph, plus what each column had to leave out (named in full)."""

    width: int
    height: int
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    columns: tuple[tuple[str, float], ...]  # (title, x) of each drawn column
    hidden: tuple[tuple[str, tuple[str, ...]], ...]  # (column title, names not drawn)

    @property
    def node_w(self) -> int:
        return NODE_W

    @property
    def node_h(self) -> int:
        return NODE_H


@dataclass(frozen=True, slots=True)
class _Box:
    """A node before placement."""

    key: str
    label: str
    note: str
    full: str
    kind: str


@dataclass(frozen=True, slots=True)
class _Link:
    """An edge before placement, between two box keys."""

    src: str
    dst: str
    kind: str
    label: str
    title: str


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """The end of ``text`` (file names matter more than directories), with a leading …."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def clip(text: str, limit: int = LABEL_CHARS) -> str:
    """The start of ``text`` (a note reads from its beginning), with a trailing …."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def where(evidence: Evidence | None) -> str:
    """``path:line`` of a piece of evidence, or its path, or an empty string."""
    if evidence is None or evidence.path is None:
        return ""
    return f"{evidence.path}:{evidence.line}" if evidence.line else str(evidence.path)


_LDFLAGS = re.compile(r"\b([A-Za-z_]*ldflags[A-Za-z_.-]*|[A-Z_]*LDFLAGS[A-Za-z_.-]*)")


def link_label(evidence: Evidence) -> str:
    """How an object enters the link: the build line and ``ld -r`` or the linker flag."""
    flag = _LDFLAGS.search(evidence.text)
    how = flag.group(1) if flag else "ld -r"
    at = where(evidence)
    return f"{at} · {how}" if at else how


def _object_box(c: Component, flagged: frozenset[str]) -> _Box:
    license = c.license or "license unknown"
    if c.origin is Origin.CLOSED:
        kind, note = "closed", "CLOSED · no source"
    elif str(c.path) in flagged:
        kind, note = "incompatible", f"INCOMPATIBLE · {license}"
    elif c.origin is Origin.UNKNOWN:
        kind, note = "unknown", f"UNKNOWN origin · {license}"
    else:
        kind, note = "object", license
    full = f"{c.path}: {note}" + "".join(f"\n{r}" for r in c.reasons)
    return _Box(f"o:{c.path}", shorten(str(c.path)), clip(note, NOTE_CHARS), full, kind)


def _source_links(c: Component, licenses: Mapping[str, str | None]) -> Iterable[tuple[_Box, _Link]]:
    """Boxes for what an object comes from (its sources, or the blob copied into it)."""
    target = f"o:{c.path}"
    for src in c.sources:
        license = licenses.get(str(src)) or "license unknown"
        reason = c.reasons[0] if c.reasons else f"{c.path} is compiled from {src}"
        box = _Box(f"s:{src}", shorten(str(src)), license, f"{src}: {license}", "source")
        yield box, _Link(box.key, target, "compiled", "compiled", reason)
    if not c.sources and c.file is not None and c.file != c.path:
        closed = c.origin is Origin.CLOSED
        note = "shipped binary, no source" if closed else "provides it"
        copies = [r for r in c.reasons if "cop" in r]
        title = copies[0] if copies else f"{c.path} is made from {c.file}"
        box = _Box(
            f"s:{c.file}",
            shorten(str(c.file)),
            note,
            f"{c.file}: {note}",
            "blob" if closed else "source",
        )
        yield box, _Link(box.key, target, "copied", "copied" if copies else "made from", title)


def _providers(imports: tuple[Import, ...]) -> list[tuple[str, list[Import]]]:
    """Imports by provider, the biggest provider first; unresolved symbols last."""
    groups: dict[str, list[Import]] = {}
    for imp in imports:
        groups.setdefault(imp.provider, []).append(imp)
    unresolved = groups.pop("unresolved", None)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    if unresolved:
        ordered.append(("unresolved", unresolved))
    return ordered


def _import_link(module_key: str, provider: str, imps: list[Import]) -> tuple[_Box, _Link]:
    gpl = sum(1 for i in imps if i.gpl_only)
    count = f"{len(imps)} symbol{'s' if len(imps) != 1 else ''}"
    names = ", ".join(sorted(i.symbol for i in imps)[:12]) + (", …" if len(imps) > 12 else "")
    if provider == "unresolved":
        box = _Box(
            "k:unresolved",
            "unresolved",
            "in no export list read",
            "unresolved: " + names,
            "unresolved",
        )
        return box, _Link(module_key, box.key, "imports", count, f"unresolved: {names}")
    origin = next((where(i.evidence) for i in imps if i.evidence is not None), "")
    label = f"{count}, {gpl} GPL-only" if gpl else count
    kind = "kernel" if provider == "vmlinux" else "provider"
    note = "the kernel" if kind == "kernel" else "another module"
    box = _Box(f"k:{provider}", shorten(provider), note, f"{provider}: {note}", kind)
    title = f"{label} from {provider}" + (f" (per {origin})" if origin else "") + f": {names}"
    return box, _Link(module_key, box.key, "imports", label, title)


def _cap(
    boxes: list[_Box], limit: int, keep: Callable[[_Box], bool]
) -> tuple[list[_Box], list[_Box]]:
    """At most ``limit`` boxes shown (more only when ``keep`` insists), in input order."""
    if len(boxes) <= limit:
        return boxes, []
    kept = sum(1 for b in boxes if keep(b))
    room = max(limit - 1 - kept, 0)  # one row goes to the "+N more" node
    shown: list[_Box] = []
    hidden: list[_Box] = []
    for b in boxes:
        if keep(b):
            shown.append(b)
        elif room > 0:
            shown.append(b)
            room -= 1
        else:
            hidden.append(b)
    return shown, hidden


def _unique(boxes: Iterable[_Box]) -> list[_Box]:
    seen: dict[str, _Box] = {}
    for b in boxes:
        seen.setdefault(b.key, b)
    return list(seen.values())


def _module_box(binary: Binary) -> _Box:
    if binary.declared is not None:
        declared = binary.declared.value.decode("utf-8", "surrogateescape")
        note = f'license "{declared}"'
    else:
        note = binary.license_note or "no MODULE_LICENSE"
    return _Box(
        "m",
        shorten(str(binary.path)),
        clip(note, NOTE_CHARS),
        f"{binary.path} ({binary.kind}): {note}",
        "module",
    )


def _columns(
    binary: Binary, licenses: Mapping[str, str | None], flagged: frozenset[str], limit: int
) -> tuple[list[list[_Box]], list[_Link], list[tuple[str, tuple[str, ...]]]]:
    """The four columns of boxes, the links between them, and what was left out."""
    important = {"closed", "incompatible", "blob", "unknown"}

    def keep(b: _Box) -> bool:
        return b.kind in important

    objects, hidden_objects = _cap(
        [_object_box(c, flagged) for c in binary.components], limit, keep
    )
    shown = {b.key for b in objects}
    pairs = [
        pair
        for c in binary.components
        if f"o:{c.path}" in shown
        for pair in _source_links(c, licenses)
    ]
    sources, hidden_sources = _cap(_unique(b for b, _ in pairs), limit, keep)
    module = _module_box(binary)
    links = [link for _, link in pairs] + _object_links(binary, shown)
    provider_pairs = [_import_link("m", p, imps) for p, imps in _providers(binary.imports)]
    kernel, hidden_kernel = _cap([b for b, _ in provider_pairs], limit, lambda b: False)
    links += [link for _, link in provider_pairs]
    columns = [sources, objects, [module], kernel]
    hidden: list[tuple[str, tuple[str, ...]]] = []
    for column, left_out in ((0, hidden_sources), (1, hidden_objects), (3, hidden_kernel)):
        if not left_out:
            continue
        title = COLUMN_TITLES[column]
        names = tuple(b.key.split(":", 1)[1] for b in left_out)
        more = _Box(
            f"more:{column}",
            f"+{len(left_out)} more",
            "listed in the table below",
            f"{title} not drawn:\n" + "\n".join(names),
            "more",
        )
        columns[column].append(more)
        if column == 1:
            links.append(
                _Link(
                    more.key,
                    "m",
                    "links",
                    f"{len(left_out)} objects",
                    f"{len(left_out)} more objects are linked; the table lists them",
                )
            )
        hidden.append((title, names))
    return columns, links, hidden


def _link_title(c: Component) -> str:
    return f"{where(c.linked_by) or 'the build'} links {c.path}: {c.linked_by.text}"


def _object_links(binary: Binary, shown: set[str]) -> list[_Link]:
    return [
        _Link(f"o:{c.path}", "m", "links", link_label(c.linked_by), _link_title(c))
        for c in binary.components
        if f"o:{c.path}" in shown
    ]


def layout_binary(
    binary: Binary,
    *,
    licenses: Mapping[str, str | None] | None = None,
    flagged: frozenset[str] = frozenset(),
    max_per_column: int = MAX_PER_COLUMN,
) -> Layout:
    """Place ``binary``'s composition graph.

    ``licenses`` maps source paths to their license (from the inventory); ``flagged`` names
    objects a finding calls incompatible, drawn as such and never folded away.
    """
    columns, links, hidden = _columns(binary, licenses or {}, flagged, max(max_per_column, 2))
    drawn = [i for i, boxes in enumerate(columns) if boxes]
    rows = max(len(columns[i]) for i in drawn)
    pitch = NODE_H + ROW_GAP
    top = MARGIN + TITLE_H
    ys: dict[str, float] = {}
    for index in (1, 2, 3):  # centred on the tallest column
        offset = (rows - len(columns[index])) * pitch / 2
        for row, box in enumerate(columns[index]):
            ys[box.key] = top + offset + row * pitch
    ys.update(_beside_targets(columns[0], links, ys, top - pitch, pitch))
    nodes: list[GraphNode] = []
    by_key: dict[str, GraphNode] = {}
    titles: list[tuple[str, float]] = []
    for slot, index in enumerate(drawn):
        x = MARGIN + slot * (NODE_W + COL_GAP)
        titles.append((COLUMN_TITLES[index], x))
        for box in columns[index]:
            node = GraphNode(
                f"n{len(nodes)}", index, x, ys[box.key], box.label, box.note, box.full, box.kind
            )
            nodes.append(node)
            by_key[box.key] = node
    edges = tuple(
        _edge(link, by_key) for link in links if link.src in by_key and link.dst in by_key
    )
    width = int(MARGIN * 2 + len(drawn) * NODE_W + (len(drawn) - 1) * COL_GAP)
    height = int(max(n.y for n in nodes) + NODE_H + MARGIN)
    return Layout(width, height, tuple(nodes), edges, tuple(titles), tuple(hidden))


def _beside_targets(
    boxes: list[_Box], links: list[_Link], ys: Mapping[str, float], above: float, pitch: float
) -> dict[str, float]:
    """Rows for the sources column: each source level with the object it becomes (so that
    the usual one-source-one-object edge is straight), pushed down where two would meet."""
    target: dict[str, str] = {}
    for link in links:
        target.setdefault(link.src, link.dst)
    placed: dict[str, float] = {}
    previous = above
    for box in boxes:
        wanted = ys.get(target.get(box.key, ""), previous + pitch)
        previous = max(wanted, previous + pitch)
        placed[box.key] = previous
    return placed


def _edge(link: _Link, nodes: Mapping[str, GraphNode]) -> GraphEdge:
    """A curve between two boxes. Many objects share one module and one module imports from
    many providers, so a label sits at the end of its edge that is not shared: it stays on
    its own row instead of piling up where the edges meet."""
    a, b = nodes[link.src], nodes[link.dst]
    x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
    x2, y2 = b.x, b.y + NODE_H / 2
    # the curve runs straight under its label, then bends: it never strikes the text
    run = min(len(link.label) * EDGE_CHAR_W + 12, (x2 - x1) * 0.6)
    if link.kind == "imports":
        bend = x2 - run
        mid = (x1 + bend) / 2
        d = (
            f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {bend:.0f},{y2:.0f}"
            f" H{x2:.0f}"
        )
        # on the side the curve does not come from
        ly = y2 + 12 if y1 < y2 else y2 - 4
        return GraphEdge(a.id, b.id, link.kind, link.label, link.title, d, x2 - 8, ly, "end")
    bend = x1 + run
    mid = (bend + x2) / 2
    d = f"M{x1:.0f},{y1:.0f} H{bend:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    ly = y1 + 12 if y2 < y1 else y1 - 4  # on the side the curve does not go to
    return GraphEdge(a.id, b.id, link.kind, link.label, link.title, d, x1 + 6, ly, "start")
