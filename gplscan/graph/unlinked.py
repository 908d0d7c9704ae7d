"""Closed code found whatever the build says: relocatable objects of the tree no binary links.

Each is judged where it belongs: linked into the built module that defines every global
symbol it defines; else tied, by the symbols their sources use, to the binary whose
sources call it; else listed as a binary of its own (kind ``relocatable``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.source import symbol_lines
from gplscan.graph.sources import ReadSource
from gplscan.graph.ties import symbol_ties
from gplscan.kernel_names import object_stem
from gplscan.model import (
    Binary,
    BinaryKind,
    Component,
    Edge,
    EdgeKind,
    Evidence,
    EvidenceKind,
    MemberRef,
    Origin,
    few,
)
from gplscan.provenance import Accountant


def account_for_every_object(
    binaries: list[Binary], facts: TreeFacts, read_source: ReadSource, accountant: Accountant
) -> tuple[list[Binary], list[Edge]]:
    """Closed code found whatever the build says: every relocatable object of the tree
    that no binary links and no source accounts for is judged where it belongs.

    Linked into a built module when the module defines every global symbol the object
    defines; else tied, by the symbols its sources use, to the binaries whose sources call
    it (the link evidence when the build cannot be read); else a binary of its own, of
    kind ``relocatable``, so that it is listed (``closed-object``).
    """
    used: set[PurePosixPath] = set()
    for b in binaries:
        for c in b.components:
            used.add(c.path)
            if c.file is not None:
                used.add(c.file)
    found: list[Component] = []
    for path in sorted(facts.objects):
        obj = facts.objects[path]
        if path in used or obj.is_module or obj.elf_type != "REL" or _build_product(path, facts):
            continue
        evidence = Evidence(
            EvidenceKind.SYMBOL,
            f"{path} is in the target, and no build file gplscan read links it",
            path,
        )
        component = accountant.account_for(MemberRef(path, "found", evidence))
        if component.origin is Origin.CLOSED:
            found.append(component)
    if not found:
        return binaries, []
    by_path = {b.path: i for i, b in enumerate(binaries)}
    extra: dict[PurePosixPath, list[Component]] = {}
    alone: list[Binary] = []
    texts: dict[PurePosixPath, str | None] = {}
    for c in found:
        # an object for another machine (broadcom's wlc_hybrid.o_i386 beside the _amd64
        # one the build links) belongs to no binary built for this one
        machine = facts.objects[c.file or c.path].machine
        fits = [b for b in binaries if machine in _machines(b, facts) or not _machines(b, facts)]
        home = _linked_into(c, fits, facts) or _called_from(c, fits, texts, read_source)
        if home is None:
            alone.append(Binary(c.path, c.path.stem, BinaryKind.RELOCATABLE, None, (c,), None))
        else:
            binary, why = home
            extra.setdefault(binary.path, []).append(replace(c, linked_by=why))
    edges: list[Edge] = []
    out = list(binaries)
    for path, comps in extra.items():
        i = by_path[path]
        out[i] = replace(out[i], components=out[i].components + tuple(comps))
        edges.extend(Edge(EdgeKind.LINKS, str(path), str(c.path), (c.linked_by,)) for c in comps)
        edges.extend(
            e
            for e in symbol_ties(out[i], facts, read_source)
            if e.src in {str(c.path) for c in comps} or e.dst in {str(c.path) for c in comps}
        )
    return [*out, *alone], edges


def _machines(binary: Binary, facts: TreeFacts) -> set[str]:
    """The machines of the objects a binary is made of (empty when none is built)."""
    out = set()
    for c in binary.components:
        obj = facts.objects.get(c.file) if c.file is not None else None
        obj = obj or facts.objects.get(c.path)
        if obj is not None:
            out.add(obj.machine)
    built = facts.objects.get(binary.path)
    if built is not None:
        out.add(built.machine)
    return out


def _build_product(path: PurePosixPath, facts: TreeFacts) -> bool:
    """Whether an object is Kbuild's own output rather than code: a module's composite
    (``<mod>.o``, linked from its members) or modpost's ``<mod>.mod.o``, or any object
    whose ``.cmd`` record says ``ld`` made it."""
    name = path.name
    if name.endswith(".mod.o") or name == ".module-common.o":  # Kbuild's own, every module
        return True
    if any(m.directory == path.parent and f"{m.name}.o" == name for m in facts.modules):
        return True
    if name.endswith(".o") and PurePosixPath(f"{object_stem(path)}.mod") in facts.files:
        return True  # Kbuild's <mod>.mod lists the members of <mod>.o
    record = path.parent / f".{name}.cmd"
    if record not in facts.files:
        return False
    try:
        head = (facts.root / record).read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    command = head.partition(":=")[2].split()
    return bool(command) and command[0].rsplit("/", 1)[-1].endswith(("ld", "ld.bfd", "ld.lld"))


def _linked_into(
    c: Component, binaries: list[Binary], facts: TreeFacts
) -> tuple[Binary, Evidence] | None:
    """The built module that defines every global symbol the object defines."""
    if not c.defined:
        return None
    for b in binaries:
        built = facts.objects.get(b.path)
        if built is None or not c.defined <= frozenset(built.defined):
            continue
        shown = few(sorted(c.defined))
        return b, Evidence(
            EvidenceKind.SYMBOL,
            f"{b.path} defines every global symbol {c.path} defines ({shown}): it was linked in",
            b.path,
        )
    return None


def _called_from(
    c: Component,
    binaries: list[Binary],
    texts: dict[PurePosixPath, str | None],
    read_source: ReadSource,
) -> tuple[Binary, Evidence] | None:
    """The binary whose sources use the most of the object's symbols (ties, not a link
    line: what shows the object belongs to it when the build cannot be read)."""
    if not c.defined:
        return None
    best: tuple[int, Binary, PurePosixPath, str, int] | None = None
    for b in binaries:
        for src in (s for comp in b.components for s in comp.sources):
            if src not in texts:
                texts[src] = read_source(src)
            text = texts[src]
            if text is None:
                continue
            uses = symbol_lines(text, c.defined)
            if uses and (best is None or len(uses) > best[0]):
                symbol = min(uses)
                best = (len(uses), b, src, symbol, uses[symbol])
    if best is None:
        return None
    n, b, src, symbol, line = best
    return b, Evidence(
        EvidenceKind.SYMBOL,
        f"{src} uses {n} symbol(s) {c.path} defines ({symbol} ...): no build file gplscan "
        f"read links it, the symbols tie it to {b.path}",
        src,
        line,
    )
