"""Building the link graph: which objects make which binary, and where each comes from.

Nodes are binaries, objects and sources; edges are ``links`` (binary -> object, with the
build line), ``compiled-from`` (object -> source) and ``imports-symbol`` (object -> object,
with the symbols and the source lines that use them). Binaries that no build file
describes (a directory of built modules, programs found built) are judged on what they
carry themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.symbol_index import SourceDefinitions
from gplscan.graph.declared import declared_license
from gplscan.graph.programs import programs
from gplscan.graph.sources import ReadSource
from gplscan.graph.ties import symbol_ties
from gplscan.graph.unlinked import account_for_every_object
from gplscan.model import (
    Binary,
    BinaryKind,
    Component,
    Edge,
    EdgeKind,
    Evidence,
    EvidenceKind,
    ModuleSpec,
    ObjectFacts,
    Origin,
)
from gplscan.policy import CLOSED
from gplscan.provenance import SOURCE_EXTENSIONS, Accountant


@dataclass(frozen=True, slots=True)
class LinkGraph:
    """The binaries of the target, each with its components, and the edges between them."""

    binaries: tuple[Binary, ...]
    edges: tuple[Edge, ...]


def build_graph(
    facts: TreeFacts, read_source: ReadSource, definitions: SourceDefinitions
) -> LinkGraph:
    """Assemble binaries from the build facts and the objects the target holds;
    ``definitions`` says which sources define what, when provenance asks."""
    accountant = Accountant(facts, definitions)
    binaries: list[Binary] = []
    edges: list[Edge] = []
    described: set[PurePosixPath] = set()
    # built modules by file name: a package's make may move them (xtables-addons' MAKE
    # ends with `find -name '*.ko' -exec mv {} ${BDIR}`)
    moved: dict[str, list[PurePosixPath]] = {}
    planned_at = {spec.directory / f"{spec.name}.ko" for spec in facts.modules}
    for path, obj in facts.objects.items() if facts.modules else ():
        if path.name.endswith(".ko") and path not in planned_at and obj.is_module:
            moved.setdefault(path.name, []).append(path)
    for spec in facts.modules:
        binary = _module_binary(spec, facts, moved, accountant)
        described.add(binary.path)
        binaries.append(binary)
        edges.extend(_structure_edges(binary))
        if any(c.origin is Origin.CLOSED for c in binary.components):
            edges.extend(symbol_ties(binary, facts, read_source))
    for path, obj in facts.objects.items():  # in any order: binaries are sorted below
        if path in described or not obj.is_module or path.name.endswith(".o"):
            continue
        binaries.append(_standalone_module(path, obj))
    # every object is accounted for, with sources or without: a stray object in a
    # directory of built modules is listed too, never dropped
    binaries.extend(programs(facts, described, accountant))
    binaries, found_edges = account_for_every_object(binaries, facts, read_source, accountant)
    edges.extend(found_edges)
    binaries.sort(key=lambda b: str(b.path))
    return LinkGraph(tuple(binaries), tuple(edges))


def _program_binary(spec: ModuleSpec, facts: TreeFacts, accountant: Accountant) -> Binary:
    """A program or library a make rule links from the objects and archives it names."""
    path = spec.directory / spec.name
    built = facts.objects.get(path)
    components = tuple(accountant.account_for(m) for m in spec.members)
    kind = BinaryKind.PROGRAM
    if built is not None and built.elf_type in ("EXEC", "DYN"):
        kind = (
            BinaryKind.SHARED_OBJECT
            if built.elf_type == "DYN" and ".so" in path.name
            else BinaryKind.EXECUTABLE
        )
    return Binary(
        path=path,
        name=spec.name,
        kind=kind,
        declared=None,
        components=components,
        defined_at=spec.declared_at,
        needed=built.needed if built is not None else (),
    )


def _module_binary(
    spec: ModuleSpec,
    facts: TreeFacts,
    moved: dict[str, list[PurePosixPath]],
    accountant: Accountant,
) -> Binary:
    """A module a Kbuild makefile plans (or a program a make rule links), with what it is made of
    and its declared license; its ``.ko`` found where the package's make moved it."""
    if spec.program:
        return _program_binary(spec, facts, accountant)
    path = spec.directory / f"{spec.name}.ko"
    built = facts.objects.get(path)
    elsewhere = moved.get(path.name, [])
    if built is None and len(elsewhere) == 1:  # built here, moved by the package's make
        path = elsewhere[0]
        built = facts.objects[path]
    components = tuple(accountant.account_for(m) for m in spec.members)
    if built is not None:
        components += unaccounted_code(path, built, components, facts)
    declared, note = declared_license(path, built, components, facts)
    return Binary(
        path=path,
        name=spec.name,
        kind=BinaryKind.KERNEL_MODULE
        if built is not None and built.is_module
        else BinaryKind.PLANNED,
        declared=declared,
        components=components,
        defined_at=spec.declared_at,
        license_note=note,
        conditional=spec.conditional,
    )


def _unit_names(obj: ObjectFacts) -> set[str]:
    """Base names of the source files an object says it was built from (STT_FILE, DWARF)."""
    names = {n.rsplit("/", 1)[-1] for n in obj.file_symbols}
    names |= {u[0].rsplit("/", 1)[-1] for u in obj.dwarf_units if u[0]}
    return {n for n in names if n.endswith(SOURCE_EXTENSIONS) and not _kbuild_source(n)}


def _kbuild_source(name: str) -> bool:
    """Sources Kbuild compiles into every module itself: modpost's <mod>.mod.c and, since
    Linux 6.10, the kernel's scripts/module-common.c."""
    return name.endswith(".mod.c") or name == "module-common.c"


def unaccounted_code(
    path: PurePosixPath, built: ObjectFacts, components: tuple[Component, ...], facts: TreeFacts
) -> tuple[Component, ...]:
    """Closed code in a built module that no member accounts for, found by name, not by
    file: source files its symbol table or DWARF names that no source of the tree is and
    no closed member already brought in (e.g. a blob merged into a "source" object)."""
    accounted: set[str] = set()
    holders: dict[str, Component] = {}
    for c in components:
        accounted.update(s.name for s in c.sources)
        obj = facts.objects.get(c.file) if c.file is not None else None
        obj = obj or facts.objects.get(c.path)
        if obj is None:
            continue
        names = _unit_names(obj)
        if c.origin is not Origin.SOURCE:
            accounted |= names
        for n in names:
            holders.setdefault(n, c)
    extra = sorted(n for n in _unit_names(built) - accounted if n not in facts.source_names)
    out = []
    for name in extra:
        holder = holders.get(name)
        where = f", inside {holder.path}" if holder is not None else ""
        ev = Evidence(
            EvidenceKind.DWARF
            if any(u[0] and u[0].endswith(name) for u in built.dwarf_units)
            else EvidenceKind.SYMBOL,
            f"{path.name} names {name} as a source it was built from{where}; the tree "
            "holds no such source",
            path,
        )
        linked = holder.linked_by if holder is not None else ev
        out.append(
            Component(
                PurePosixPath(name),
                Origin.CLOSED,
                CLOSED,
                (),
                path,
                linked,
                (ev.text,),
                provenance=(ev,),
            )
        )
    return tuple(out)


def _standalone_module(path: PurePosixPath, obj: ObjectFacts) -> Binary:
    """A built module no build file describes: judged on its own ``.modinfo``."""
    declared, note = declared_license(path, obj, (), None)
    name = next((v.decode("utf-8", "replace") for v in obj.modinfo_values("name")), path.stem)
    return Binary(
        path,
        name,
        BinaryKind.KERNEL_MODULE,
        declared,
        (),
        None,
        composition_known=False,
        license_note=note,
    )


def _structure_edges(binary: Binary) -> Iterable[Edge]:
    """The ``links`` edge to each component and the ``compiled-from`` edges to its sources."""
    for c in binary.components:
        yield Edge(EdgeKind.LINKS, str(binary.path), str(c.path), (c.linked_by,))
        for src in c.sources:
            yield Edge(
                EdgeKind.COMPILED_FROM,
                str(c.path),
                str(src),
                (Evidence(EvidenceKind.MAKEFILE, c.reasons[0] if c.reasons else "", src),),
            )
