"""Programs no make rule describes: executables and shared objects found built in the target.

What they link statically is read off their symbols (each relocatable object, and each
static library member, of the tree whose every global definition the program also
defines); what they link dynamically, off DT_NEEDED.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.model import Binary, BinaryKind, Evidence, EvidenceKind, MemberRef, ObjectFacts, few
from gplscan.provenance import Accountant


def programs(
    facts: TreeFacts, described: set[PurePosixPath], accountant: Accountant
) -> list[Binary]:
    """Executables and shared objects found built in the target that no make rule
    describes: binaries too, each with what its symbols show it links (the toolchain's own
    crt objects are never counted)."""
    found = [
        (path, obj)
        for path, obj in sorted(facts.objects.items())
        if path not in described and not obj.is_module and obj.elf_type in ("EXEC", "DYN")
    ]
    if not found:
        return []
    candidates = [
        (p, frozenset(o.defined))
        for p, o in sorted(facts.objects.items())
        if o.elf_type == "REL" and not o.is_module and o.defined and not _toolchain(p)
    ]
    candidates += _archive_members(facts)
    return [_program(path, obj, candidates, accountant) for path, obj in found]


def _program(
    path: PurePosixPath,
    obj: ObjectFacts,
    candidates: list[tuple[PurePosixPath, frozenset[str]]],
    accountant: Accountant,
) -> Binary:
    """One program, linking each candidate object (or archive member) whose every global
    definition it also defines. Its composition is known when those define everything it
    defines but the toolchain's start-up symbols; else it is not, and the report says so.
    DT_NEEDED names the shared libraries it links dynamically."""
    kind = (
        BinaryKind.SHARED_OBJECT
        if obj.elf_type == "DYN" and ".so" in path.name
        else BinaryKind.EXECUTABLE
    )
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
        accountant.account_for(
            MemberRef(
                p,
                "symbols",
                Evidence(
                    EvidenceKind.SYMBOL,
                    f"{path.name} defines every global symbol {p.name} defines "
                    f"({few(sorted(d))}): the linker put it there",
                    p,
                ),
            ),
        )
        for p, d in linked
    )
    rest = sorted(s for s in mine - covered if not _startup_symbol(s))
    return Binary(
        path,
        path.name,
        kind,
        None,
        components,
        None,
        composition_known=bool(mine) and not rest,
        needed=obj.needed,
    )


def _archive_members(facts: TreeFacts) -> list[tuple[PurePosixPath, frozenset[str]]]:
    """Each static library of the tree with what each of its members defines: a program
    that defines everything one member defines linked that member, so the archive (judged
    member by member, like one a link rule names)."""
    from gplscan.errors import ArchiveError, ObjectParseError
    from gplscan.facts.archive import members
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
