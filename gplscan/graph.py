"""The link graph: which objects make which binary, where each comes from, and how they tie.

Nodes are binaries, objects and sources; edges are ``links`` (binary -> object, with the
build line), ``compiled-from`` (object -> source) and ``imports-symbol`` (object -> object,
with the symbols and the source lines that use them). Binaries that no build file
describes (a directory of built modules) are judged on what they carry themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.source import called_functions, defined_functions, symbol_lines
from gplscan.facts.symvers import KernelSymbols
from gplscan.model import (
    Binary,
    Component,
    DeclaredLicense,
    Edge,
    Evidence,
    Import,
    MemberRef,
    ModuleInfoDecl,
    ModuleSpec,
    ObjectFacts,
    Origin,
    few,
    import_counts,
)
from gplscan.policy import CLOSED
from gplscan.provenance import account_for

ReadSource = Callable[[PurePosixPath], str | None]


@dataclass(frozen=True, slots=True)
class LinkGraph:
    binaries: tuple[Binary, ...]
    edges: tuple[Edge, ...]


def build_graph(facts: TreeFacts, read_source: ReadSource) -> LinkGraph:
    """Assemble binaries from the build facts and the objects the target holds."""
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
        binary = _module_binary(spec, facts, moved)
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
    binaries.extend(_programs(facts, described))
    binaries, found_edges = account_for_every_object(binaries, facts, read_source)
    edges.extend(found_edges)
    binaries.sort(key=lambda b: str(b.path))
    return LinkGraph(tuple(binaries), tuple(edges))


def _programs(facts: TreeFacts, described: set[PurePosixPath]) -> list[Binary]:
    """Executables and shared objects found built in the target that no make rule
    describes: binaries too. What they link statically comes from their symbols: each
    relocatable object, and each static library member, of the tree whose every global
    definition the program also defines is linked into it (the toolchain's own crt
    objects are never counted). The composition
    is known when those objects define everything the program defines but the toolchain's
    start-up symbols; else it is not, and the report says so. DT_NEEDED names the shared
    libraries it links dynamically."""
    out = []
    programs = [
        (path, obj)
        for path, obj in sorted(facts.objects.items())
        if path not in described and not obj.is_module and obj.elf_type in ("EXEC", "DYN")
    ]
    if not programs:
        return []
    candidates = [
        (p, frozenset(o.defined))
        for p, o in sorted(facts.objects.items())
        if o.elf_type == "REL" and not o.is_module and o.defined and not _toolchain(p)
    ]
    candidates += _archive_members(facts)
    for path, obj in programs:
        kind = "shared-object" if obj.elf_type == "DYN" and ".so" in path.name else "executable"
        mine = frozenset(obj.defined)
        matched = [(p, d) for p, d in candidates if d <= mine]
        covered = frozenset().union(*(d for _, d in matched)) if matched else frozenset()
        linked: list[tuple[PurePosixPath, frozenset[str]]] = []
        for p, d in matched:  # an archive once, with what its linked members define
            if linked and linked[-1][0] == p:
                linked[-1] = (p, linked[-1][1] | d)
            else:
                linked.append((p, d))
        components = tuple(
            account_for(
                MemberRef(
                    p,
                    "symbols",
                    Evidence(
                        "symbol",
                        f"{path.name} defines every global symbol {p.name} defines "
                        f"({few(sorted(d))}): the linker put it there",
                        p,
                    ),
                ),
                facts,
            )
            for p, d in linked
        )
        rest = sorted(s for s in mine - covered if not _startup_symbol(s))
        out.append(
            Binary(
                path,
                path.name,
                kind,
                None,
                components,
                None,
                composition_known=bool(mine) and not rest,
                needed=obj.needed,
            )
        )
    return out


def _archive_members(facts: TreeFacts) -> list[tuple[PurePosixPath, frozenset[str]]]:
    """Each static library of the tree with what each of its members defines: a program
    that defines everything one member defines linked that member, so the archive (judged
    member by member, like one a link rule names)."""
    from gplscan.errors import ObjectParseError
    from gplscan.facts.archive import ArchiveError, members
    from gplscan.facts.elf import object_facts
    from gplscan.model import FileKind

    out = []
    for rel, entry in sorted(facts.files.items()):
        if entry.kind is not FileKind.ARCHIVE or _toolchain(rel):
            continue
        path = facts.root / rel
        try:
            data = path.read_bytes()
            for name, body in members(path, data, facts.root):
                obj = object_facts(path, PurePosixPath(f"{rel}({name})"), body)
                if obj.elf_type == "REL" and obj.defined:
                    out.append((rel, frozenset(obj.defined)))
        except (OSError, ArchiveError, ObjectParseError):
            continue  # a damaged archive is reported where it is read for accounting
    return out


def _toolchain(path: PurePosixPath) -> bool:
    """The C toolchain's own start-up objects: never a part to judge."""
    return path.name.startswith(("crt", "Scrt", "gcrt", "rcrt")) and path.name.endswith(".o")


# what the toolchain (crt files, libgcc, the C library's static part) defines in every program
_STARTUP = frozenset(
    {
        "_start",
        "_init",
        "_fini",
        "_edata",
        "_end",
        "__bss_start",
        "_IO_stdin_used",
        "__data_start",
        "data_start",
        "__dso_handle",
        "__libc_csu_init",
        "__libc_csu_fini",
        "_fp_hw",
        "__TMC_END__",
    }
)


def _startup_symbol(name: str) -> bool:
    return name in _STARTUP or name.startswith(("__gmon", "_ITM_", "__cxa_", "__gxx_"))


def account_for_every_object(
    binaries: list[Binary], facts: TreeFacts, read_source: ReadSource
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
            "symbol", f"{path} is in the target, and no build file gplscan read links it", path
        )
        component = account_for(MemberRef(path, "found", evidence), facts)
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
            alone.append(Binary(c.path, c.path.stem, "relocatable", None, (c,), None))
        else:
            binary, why = home
            extra.setdefault(binary.path, []).append(replace(c, linked_by=why))
    edges: list[Edge] = []
    out = list(binaries)
    for path, comps in extra.items():
        i = by_path[path]
        out[i] = replace(out[i], components=out[i].components + tuple(comps))
        edges.extend(Edge("links", str(path), str(c.path), (c.linked_by,)) for c in comps)
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
    if (
        any(m.directory == path.parent and f"{m.name}.o" == name for m in facts.modules)
        or (path.parent / (name[:-2] + ".mod")) in facts.files
    ):
        return True
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
            "symbol",
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
        "symbol",
        f"{src} uses {n} symbol(s) {c.path} defines ({symbol} ...): no build file gplscan "
        f"read links it, the symbols tie it to {b.path}",
        src,
        line,
    )


def _program_binary(spec: ModuleSpec, facts: TreeFacts) -> Binary:
    """A program or library a make rule links from the objects and archives it names."""
    path = spec.directory / spec.name
    built = facts.objects.get(path)
    components = tuple(account_for(m, facts) for m in spec.members)
    kind = "program"
    if built is not None and built.elf_type in ("EXEC", "DYN"):
        kind = "shared-object" if built.elf_type == "DYN" and ".so" in path.name else "executable"
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
    spec: ModuleSpec, facts: TreeFacts, moved: dict[str, list[PurePosixPath]]
) -> Binary:
    if spec.program:
        return _program_binary(spec, facts)
    path = spec.directory / f"{spec.name}.ko"
    built = facts.objects.get(path)
    elsewhere = moved.get(path.name, [])
    if built is None and len(elsewhere) == 1:  # built here, moved by the package's make
        path = elsewhere[0]
        built = facts.objects[path]
    components = tuple(account_for(m, facts) for m in spec.members)
    if built is not None:
        components += unaccounted_code(path, built, components, facts)
    declared, note = _declared(path, built, components, facts)
    return Binary(
        path=path,
        name=spec.name,
        kind="kernel-module" if built is not None and built.is_module else "planned",
        declared=declared,
        components=components,
        defined_at=spec.declared_at,
        license_note=note,
        conditional=spec.conditional,
    )


_UNIT_SUFFIXES = (".c", ".S", ".s", ".cc", ".cpp", ".rs")


def _unit_names(obj: ObjectFacts) -> set[str]:
    """Base names of the source files an object says it was built from (STT_FILE, DWARF)."""
    names = {n.rsplit("/", 1)[-1] for n in obj.file_symbols}
    names |= {u[0].rsplit("/", 1)[-1] for u in obj.dwarf_units if u[0]}
    return {n for n in names if n.endswith(_UNIT_SUFFIXES) and not _kbuild_source(n)}


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
            "dwarf" if any(u[0] and u[0].endswith(name) for u in built.dwarf_units) else "symbol",
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
    declared, note = _declared(path, obj, (), None)
    name = next((v.decode("utf-8", "replace") for v in obj.modinfo_values("name")), path.stem)
    return Binary(
        path, name, "kernel-module", declared, (), None, composition_known=False, license_note=note
    )


def _declared(
    path: PurePosixPath,
    built: ObjectFacts | None,
    components: Iterable[Component],
    facts: TreeFacts | None,
) -> tuple[DeclaredLicense | None, str | None]:
    """The module's declared license: .modinfo when built, MODULE_LICENSE in its sources."""
    source_decls: list[ModuleInfoDecl] = []
    if facts is not None:
        seen: set[PurePosixPath] = set()
        for c in components:
            # the module's sources, then what they include (a .c may #include another .c)
            for src in [*c.sources, *(i for s in c.sources for i in facts.includes.get(s, ()))]:
                sf = facts.sources.get(src)
                if sf is not None and src not in seen:
                    seen.add(src)
                    source_decls.extend(sf.module_licenses())
    at = source_decls[0].at if source_decls else None
    evidence: list[Evidence] = []
    value: bytes | None = None
    if built is not None:
        values = built.modinfo_values("license")
        if values:
            value = values[0]
            evidence.extend(Evidence("modinfo", "license=" + _show(v), path) for v in values)
    note = None
    for decl in source_decls:
        decl_value = decl.value
        text = f"MODULE_LICENSE({' '.join(decl.argument.split())})"
        if decl_value is None and facts is not None:
            resolved = facts.string_defines.get(decl.argument.strip())
            if resolved is not None:
                decl_value = resolved[0]
                text += (
                    f" with {decl.argument.strip()} defined as {_show(decl_value)} at {resolved[1]}"
                )
        evidence.append(Evidence("modinfo", text, decl.at.path, decl.at.line))
        if value is None:
            if decl_value is None and "#" in decl.argument:
                first = next(ln for ln in decl.argument.splitlines() if "#" in ln).strip()
                note = (
                    f"MODULE_LICENSE at {decl.at}: a preprocessor condition ({first}) chooses "
                    "its string, and gplscan does not know which branch is compiled"
                )
            elif decl_value is None:
                note = (
                    f"MODULE_LICENSE({decl.argument}) at {decl.at}: "
                    f"{decl.argument} is not defined as a string in the tree"
                )
            else:
                value = decl_value
                note = None
    if value is None:
        return None, note
    return DeclaredLicense(value, tuple(evidence), at), None


def _show(value: bytes) -> str:
    """A byte string as C would write it: NULs and non-printables escaped."""
    return '"' + "".join(map(_C_ESCAPES.__getitem__, value)) + '"'


# how C writes each byte value in a string literal
_C_ESCAPES = tuple(
    "\\0" if b == 0 else '\\"' if b == 0x22 else chr(b) if 32 <= b < 127 else f"\\x{b:02x}"
    for b in range(256)
)


def _structure_edges(binary: Binary) -> Iterable[Edge]:
    for c in binary.components:
        yield Edge("links", str(binary.path), str(c.path), (c.linked_by,))
        for src in c.sources:
            yield Edge(
                "compiled-from",
                str(c.path),
                str(src),
                (Evidence("makefile", c.reasons[0] if c.reasons else "", src),),
            )


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
                    "symbol", f"{s} is used by {src}, defined in closed {cc.path}", src, uses.get(s)
                )
                for s in sorted(calls)
            )
            back = tuple(
                Evidence(
                    "symbol",
                    f"{s} is defined in {src}, called by closed {cc.path}",
                    src,
                    defs.get(s),
                )
                for s in sorted(callbacks)
            )
            if into:
                edges.append(Edge("imports-symbol", str(oc.path), str(cc.path), into))
            if back:
                edges.append(Edge("imports-symbol", str(cc.path), str(oc.path), back))
    return edges


def resolve_imports(
    binaries: tuple[Binary, ...],
    facts: TreeFacts,
    kernel: KernelSymbols,
    read_source: ReadSource | None = None,
    judge_sources: Callable[[Binary], bool] | None = None,
) -> tuple[Binary, ...]:
    """Resolve every undefined symbol of every built module.

    To another binary of the target that exports it (from its ``__ksymtab*`` records, or
    its sources' EXPORT_SYMBOL declarations when it is only planned), else to the kernel's
    exports (Module.symvers), else ``unresolved``. Also fills each binary's exports, and
    counts its imports by provider (:func:`import_edges` gives them as graph edges).
    """
    exports: dict[PurePosixPath, tuple[tuple[str, bool], ...]] = {}
    for b in binaries:
        obj = facts.objects.get(b.path)
        if obj is not None and obj.exports:
            exports[b.path] = obj.exports
        else:
            found = {
                (e.symbol, e.gpl_only)
                for c in b.components
                for src in c.sources
                for e in (facts.sources[src].exports if src in facts.sources else ())
            }
            exports[b.path] = tuple(sorted(found))
    providers: dict[str, tuple[PurePosixPath, str, bool]] = {}
    for path, exported in exports.items():
        shown = str(path)
        for symbol, gpl in exported:
            providers.setdefault(symbol, (path, shown, gpl))

    def from_kernel(symbol: str) -> Import:
        k = kernel.exports.get(symbol)
        if k is None:
            return Import(symbol, "unresolved", None, None, None)
        return Import(symbol, k.module, k.gpl_only, k.namespace, k.evidence)

    def provided(symbol: str) -> Import:
        local = providers.get(symbol)
        if local is None:
            return from_kernel(symbol)
        path, shown, gpl = local
        kind = "EXPORT_SYMBOL_GPL" if gpl else "EXPORT_SYMBOL"
        ev = Evidence("symbol", f"{symbol} is exported by {shown} with {kind}", path)
        return Import(symbol, shown, gpl, None, ev)

    def runtime(b: Binary) -> list[Import]:
        """symbol_get bindings in the binary's sources: imports no symbol table shows."""
        out = []
        for src in dict.fromkeys(s for c in b.components for s in c.sources):
            sf = facts.sources.get(src)
            for symbol, line in sf.runtime_imports if sf is not None else ():
                imp = provided(symbol)
                how = Evidence(
                    "source",
                    f"{src} binds {symbol} at run time (symbol_get); "
                    + (imp.evidence.text if imp.evidence is not None else "no export known"),
                    src,
                    line,
                )
                out.append(imp._replace(evidence=how, runtime=True))
        return out

    out: list[Binary] = []
    # one Import per symbol, shared by every module that needs it (4,000 modules import
    # ≈184,000 symbols, ≈18,000 of them distinct). Per module, the work is one map over its
    # sorted symbols (a dict whose misses resolve the symbol) and one Counter: C loops, not
    # Python ones.
    resolved = _Resolutions(provided)
    for b in binaries:
        if b.kind not in ("kernel-module", "planned"):
            out.append(b)  # a program's or an object's imports are not the kernel's to give
            continue
        obj = facts.objects.get(b.path)
        late = runtime(b) if facts.sources else []
        if obj is None:
            imports = tuple(late) + _unbuilt_imports(b, facts, provided, read_source, judge_sources)
            out.append(replace(b, exports=exports[b.path], imports=imports))
            continue
        imports = tuple(map(resolved.__getitem__, obj.undefined))
        if late:
            imports += tuple(late)
            out.append(replace(b, imports=imports, exports=exports[b.path]))
            continue
        own = exports[b.path]
        if own and not frozenset(obj.undefined).isdisjoint(symbol for symbol, _ in own):
            # it imports what it exports itself: only the kernel can provide that
            me = str(b.path)
            imports = tuple(from_kernel(i.symbol) if i.provider == me else i for i in imports)
            counts = import_counts(imports)
        else:
            counts = resolved.counts(obj.undefined)
        out.append(replace(b, imports=imports, exports=exports[b.path], import_counts=counts))
    return tuple(out)


def _unbuilt_imports(
    b: Binary,
    facts: TreeFacts,
    provided: Callable[[str], Import],
    read_source: ReadSource | None,
    judge_sources: Callable[[Binary], bool] | None,
) -> tuple[Import, ...]:
    """What a module that is not built imports, from the best evidence there is: the
    undefined symbols of its built objects (a .ko whose final link failed), else, where
    ``judge_sources`` asks for it, the exported functions its sources call."""
    if b.kind != "planned":
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
                out.append(imp._replace(evidence=Evidence("symbol", how, c.path)))
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
            calls[symbol] = imp._replace(evidence=Evidence("source", how, src, line))
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
        evidence = Evidence("symbol", f"{len(symbols)} symbol(s): {shown}", binary.path)
        edges.append(Edge("imports-symbol", str(binary.path), provider, (evidence,)))
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
