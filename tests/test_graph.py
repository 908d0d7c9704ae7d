"""The link graph stage on its own: resolving modules' imports (graph.resolve_imports)
over facts as the ELF reader gives them (its own tests check those against readelf), and
how license strings are shown."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.symbol_index import SymbolIndex
from gplscan.facts.symvers import KernelSymbols, parse_symvers
from gplscan.graph import build_graph, import_edges, resolve_imports
from gplscan.model import Binary, ObjectFacts, import_counts

SYMVERS = (
    "0x1\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n"
    "0x2\tkgpl\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"
    "0x3\tself_export\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"
    "0x4\tnsfn\tdrivers/x/x\tEXPORT_SYMBOL_GPL\tX_NS\n"
)


def _module(
    path: str,
    undefined: tuple[str, ...],
    exports: tuple[tuple[str, bool], ...] = (),
) -> ObjectFacts:
    return ObjectFacts(
        PurePosixPath(path),
        "REL",
        "X86_64",
        defined=tuple(sorted(s for s, _ in exports)),
        undefined=tuple(sorted(undefined)),
        modinfo=(("license", b"GPL"), ("name", path.encode())),
        exports=exports,
    )


def _resolve(*objects: ObjectFacts) -> dict[str, Binary]:
    facts = TreeFacts(
        root=Path("/nonexistent"),
        files={},
        sources={},
        string_defines={},
        objects={o.path: o for o in objects},
        object_errors={},
        modules=(),
        copies={},
    )
    graph = build_graph(facts, lambda path: None, SymbolIndex(lambda paths: {}, list))
    kernel = KernelSymbols(parse_symvers(SYMVERS, "Module.symvers"), "test")
    return {str(b.path): b for b in resolve_imports(graph.binaries, facts, kernel)}


def test_each_import_resolves_to_the_target_the_kernel_or_unresolved() -> None:
    provider = _module("a.ko", ("printk",), (("a_gpl", True), ("a_plain", False)))
    user = _module("b.ko", ("a_plain", "a_gpl", "kgpl", "printk", "missing", "nsfn"))
    binaries = _resolve(provider, user)
    b = binaries["b.ko"]
    got = [(i.symbol, i.provider, i.gpl_only, i.namespace) for i in b.imports]
    assert got == [
        ("a_gpl", "a.ko", True, None),
        ("a_plain", "a.ko", False, None),
        ("kgpl", "vmlinux", True, None),
        ("missing", "unresolved", None, None),
        ("nsfn", "drivers/x/x", True, "X_NS"),
        ("printk", "vmlinux", False, None),
    ]
    a_gpl = b.imports[0]
    assert a_gpl.evidence is not None
    assert a_gpl.evidence.text == "a_gpl is exported by a.ko with EXPORT_SYMBOL_GPL"
    kgpl = b.imports[2].evidence
    assert kgpl is not None and kgpl.line == 2 and str(kgpl.path) == "Module.symvers"
    # counted by (provider, GPL-only) in order of first use, as they were resolved
    assert b.import_counts == (
        (("a.ko", True), 1),
        (("a.ko", False), 1),
        (("vmlinux", True), 1),
        (("unresolved", None), 1),
        (("drivers/x/x", True), 1),
        (("vmlinux", False), 1),
    )
    assert b.import_counts == import_counts(b.imports) == b.counted_imports()
    assert binaries["a.ko"].exports == (("a_gpl", True), ("a_plain", False))
    # the same Import for a symbol, whoever imports it
    assert binaries["a.ko"].imports[0] is b.imports[-1]


def test_a_module_importing_its_own_export_gets_it_from_the_kernel() -> None:
    """What a module exports cannot satisfy its own undefined symbol: the kernel's export
    does, and without one the symbol is unresolved. Other modules still get it from it."""
    own = _module(
        "own.ko", ("self_export", "self_only"), (("self_export", True), ("self_only", False))
    )
    other = _module("other.ko", ("self_export", "self_only"))
    binaries = _resolve(own, other)
    mine = {i.symbol: i.provider for i in binaries["own.ko"].imports}
    assert mine == {"self_export": "vmlinux", "self_only": "unresolved"}
    theirs = {i.symbol: i.provider for i in binaries["other.ko"].imports}
    assert theirs == {"self_export": "own.ko", "self_only": "own.ko"}
    for b in binaries.values():
        assert b.import_counts == import_counts(b.imports)


def test_import_edges_count_and_name_each_providers_symbols() -> None:
    many = tuple(f"s{n:02}" for n in range(25))
    provider = _module("p.ko", (), tuple((s, False) for s in many))
    user = _module("u.ko", (*many, "printk", "missing"))
    edges = import_edges(_resolve(provider, user)["u.ko"])
    assert [(e.kind, e.src, e.dst) for e in edges] == [
        ("imports-symbol", "u.ko", "p.ko"),
        ("imports-symbol", "u.ko", "vmlinux"),
    ]
    assert edges[0].evidence[0].text == f"25 symbol(s): {', '.join(many[:20])} ..."
    assert edges[1].evidence[0].text == "1 symbol(s): printk"


def test_binaries_without_facts_keep_no_imports() -> None:
    """A planned module (no built object) gets its exports but no imports or counts."""
    binaries = _resolve(_module("a.ko", ("printk",)))
    assert binaries["a.ko"].import_counts == ((("vmlinux", False), 1),)
    planned = Binary(PurePosixPath("p.ko"), "p", "planned", None, (), None)
    facts = TreeFacts(Path("/"), {}, {}, {}, {}, {}, (), {})
    kernel = KernelSymbols(parse_symvers(SYMVERS, "Module.symvers"), "test")
    (out,) = resolve_imports((planned,), facts, kernel)
    assert out.imports == () and out.import_counts == () and out.counted_imports() == ()


def test_license_strings_are_shown_as_c_writes_them() -> None:
    from gplscan.graph.declared import c_string

    assert c_string(b"GPL") == '"GPL"'
    assert c_string(b"Dual BSD/GPL") == '"Dual BSD/GPL"'
    assert c_string(b"GPL\0for the kernel") == '"GPL\\0for the kernel"'
    assert c_string(b'say "GPL"') == '"say \\"GPL\\""'
    assert c_string(b"caf\xc3\xa9 \x7f\x01~") == '"caf\\xc3\\xa9 \\x7f\\x01~"'
    assert c_string(b"") == '""'
