"""The symbol index is read on demand, each source once; provenance asks it through the
SourceDefinitions protocol only for an object no source of its stem accounts for."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.symbol_index import SymbolIndex
from gplscan.model import (
    Evidence,
    EvidenceKind,
    FileEntry,
    FileKind,
    MemberRef,
    ObjectFacts,
    Origin,
)
from gplscan.provenance import Accountant

P = PurePosixPath
DEFINES = {P("a.c"): frozenset({"f"}), P("b.c"): frozenset({"f", "g"}), P("c.c"): frozenset()}


def test_each_source_is_read_once_and_every_source_only_when_definers_are_asked() -> None:
    batches: list[list[PurePosixPath]] = []

    def load(paths: list[PurePosixPath]) -> dict[PurePosixPath, frozenset[str]]:
        batches.append(paths)
        return {p: DEFINES[p] for p in paths}

    index = SymbolIndex(load, lambda: sorted(DEFINES))
    assert index.defined_in(P("a.c")) == {"f"} and index.defined_in(P("a.c")) == {"f"}
    assert batches == [[P("a.c")]] and not index.loaded
    assert index.definers("f") == (P("a.c"), P("b.c"))
    assert index.definers("g") == (P("b.c"),) and index.definers("h") == ()
    assert batches == [[P("a.c")], [P("b.c"), P("c.c")]] and index.loaded


class _Definitions:
    """A SourceDefinitions over a dict, recording what it is asked."""

    def __init__(self, defines: dict[PurePosixPath, frozenset[str]]) -> None:
        self.defines = defines
        self.asked: list[str] = []

    def defined_in(self, path: PurePosixPath, /) -> frozenset[str]:
        self.asked.append(str(path))
        return self.defines.get(path, frozenset())

    def definers(self, symbol: str, /) -> tuple[PurePosixPath, ...]:
        self.asked.append(symbol)
        return tuple(sorted(p for p, names in self.defines.items() if symbol in names))


def _facts() -> TreeFacts:
    files = {P("a.c"): FileKind.SOURCE, P("blob.o"): FileKind.OBJECT}
    return TreeFacts(
        root=Path("/nonexistent"),
        files={p: FileEntry(p, kind, 1) for p, kind in files.items()},
        sources={},
        string_defines={},
        objects={
            P("blob.o"): ObjectFacts(P("blob.o"), "REL", "X86_64", defined=("f", "g"), undefined=())
        },
        object_errors={},
        modules=(),
        copies={},
    )


def _member(path: str) -> MemberRef:
    return MemberRef(P(path), "objs", Evidence(EvidenceKind.MAKEFILE, "obj-m", P("Kbuild"), 1))


def test_provenance_asks_which_sources_define_what_only_for_objects_without_a_source() -> None:
    definitions = _Definitions(DEFINES)
    accountant = Accountant(_facts(), definitions)
    assert accountant.account_for(_member("a.o")).origin is Origin.SOURCE  # a.c, not built
    assert definitions.asked == []
    blob = accountant.account_for(_member("blob.o"))
    assert blob.origin is Origin.SOURCE and blob.sources == (P("b.c"),)
    assert definitions.asked == ["f", "g"]
    closed = Accountant(_facts(), _Definitions({})).account_for(_member("blob.o"))
    assert closed.origin is Origin.CLOSED
