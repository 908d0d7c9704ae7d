"""Where a linked object's code comes from: source in the tree, closed, or unknown.

An object is *closed* when no source in the tree accounts for it: no source of its stem is
compiled into it, and no source defines the symbols it defines. It is *unknown* when the
tree holds neither a source nor the object itself (nothing can be said about its code), or
when the object cannot be read. Every decision carries its reasons, in words.

An :class:`Accountant` decides, holding the tree's facts and which functions its sources
define. That is the costly fact here: the scan's symbol index
(:class:`~gplscan.facts.symbol_index.SymbolIndex`) reads it when first asked, for an object
no source of its stem accounts for (:meth:`Accountant._defined_in_sources`) or one checked
against the source it names.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.symbol_index import SourceDefinitions
from gplscan.kernel_names import SHIPPED, object_stem
from gplscan.model import (
    Component,
    CopyRule,
    Evidence,
    EvidenceKind,
    FileKind,
    MemberRef,
    ObjectFacts,
    Origin,
    SourceFacts,
    few,
)
from gplscan.policy import CLOSED

# the suffixes of a source an object may be compiled from, in the order they are tried
# (kernel_names.SOURCE_SUFFIXES but for .cxx, which no Kbuild rule compiles)
SOURCE_EXTENSIONS = (".c", ".S", ".s", ".cc", ".cpp", ".rs")


def license_evidence(sf: SourceFacts | None) -> tuple[tuple[Evidence, ...], tuple[str, ...]]:
    """Evidence for a source's license, or the reason it has none."""
    if sf is None:
        return (), ("its source was not read",)
    if sf.spdx is not None:
        tag = f"SPDX-License-Identifier: {sf.spdx.raw}"
        return (Evidence(EvidenceKind.SPDX, tag, sf.path, sf.spdx.at.line),), ()
    if sf.detected_expression:
        return tuple(
            Evidence(
                EvidenceKind.SCANCODE,
                f"{d.expression} (scancode rule {d.rule}, lines {d.start_line}-{d.end_line})",
                sf.path,
                d.start_line,
            )
            for d in sf.detected
        ), ()
    why = sf.spdx_error or "no SPDX-License-Identifier tag and no license text detected"
    return (Evidence(EvidenceKind.SPDX, why, sf.path),), (f"{sf.path}: {why}",)


@dataclass(frozen=True, slots=True)
class Accountant:
    """Decides where each member object of a binary comes from, by the tree's facts and by
    which of its sources define what (``definitions``, read when first asked)."""

    facts: TreeFacts
    definitions: SourceDefinitions

    def account_for(self, member: MemberRef, depth: int = 0) -> Component:
        """Decide the origin of one member object of a binary.

        An explicit rule for this very file wins, as in make; then the stem's source; then
        pattern rules; then Kbuild's implicit copy of ``<name>_shipped``; then the file itself.
        """
        path = member.path
        stem = object_stem(path) if path.name.endswith(".o") else None  # what its sources share
        built = self.facts.objects.get(path)
        exact = self.facts.copies.get(path)
        copy = exact
        if exact is None or exact.action == "compile":
            # an explicit rule that only adds a prerequisite the build writes
            # ($(obj)/oid_registry.o: $(obj)/oid_registry_data.c) leaves the stem's source
            # compiled by the pattern rule, as in make
            added = exact is not None and exact.source not in self.facts.files
            if (exact is None or added) and stem is not None:
                compiled = self._from_stem(member, stem, built)
                if compiled is not None:
                    return compiled
            copy = exact or next((r for r in self.facts.patterns if r.makes(path)), None)
            if copy is not None and copy.action == "compile":
                src_entry = self.facts.files.get(copy.source)
                if src_entry is not None and src_entry.kind is FileKind.SOURCE:
                    where = f"{copy.evidence.path}:{copy.evidence.line}"
                    how = f"the rule at {where} compiles {path.name} from {copy.source.name}"
                    return self._from_source(member, copy.source, built, how)
                copy = None
        return self._copied(member, copy, stem, built, depth)

    def _from_stem(
        self, member: MemberRef, stem: str, built: ObjectFacts | None
    ) -> Component | None:
        """An object compiled by Kbuild's pattern rule from the source of its stem, or from a
        source the build writes first; None when neither is known."""
        for ext in SOURCE_EXTENSIONS:
            src = PurePosixPath(stem + ext)
            entry = self.facts.files.get(src)
            if entry is not None and entry.kind is FileKind.SOURCE:
                how = f"Kbuild compiles {member.path.name} from {src.name} (rule %.o: %{ext})"
                return self._from_source(member, src, built, how)
        return self._generated(member, stem, built)

    def _copied(
        self,
        member: MemberRef,
        copy: CopyRule | None,
        stem: str | None,
        built: ObjectFacts | None,
        depth: int,
    ) -> Component:
        """An object no rule compiles: copied into place by a rule (or Kbuild's ``_shipped``
        rule), or shipped as it is, and judged by what the copied file is."""
        path = member.path
        provider, how = _provider(path, copy, self.facts)
        if (
            provider is not None
            and provider not in self.facts.files
            and provider != path
            and provider.name.endswith(".o")
            and depth < 4
        ):
            # objcopy of an object the build compiles (lkdtm's rodata_objcopy.o: rodata.o)
            inner = self.account_for(MemberRef(provider, member.via, member.evidence), depth + 1)
            if inner.origin is Origin.SOURCE:
                return dataclasses.replace(
                    inner, path=path, reasons=(f"{how}; {provider.name}:", *inner.reasons)
                )
        if provider is None or provider not in self.facts.files:
            sources = f"{PurePosixPath(stem).name}.c" if stem else "no source"
            missing = (
                f"{provider} (named by a copy rule) is not in the target"
                if provider
                else (f"neither {sources} nor {path.name}_shipped nor {path.name} is in the target")
            )
            why = f"{missing}: nothing here shows what code it holds"
            return Component(path, Origin.UNKNOWN, None, (), None, member.evidence, (why,))
        return self._from_file(member, provider, built, how)

    def _from_file(
        self,
        member: MemberRef,
        provider: PurePosixPath,
        built: ObjectFacts | None,
        how: str,
    ) -> Component:
        """A member judged by the file of the target it is copied from, by that file's kind."""
        path = member.path
        entry = self.facts.files[provider]
        if entry.kind is FileKind.SOURCE:
            # a text *_shipped file: a generated source copied into place
            return self._from_source(
                member, provider, built, f"{how}; it is text, a generated source"
            )
        if entry.kind is FileKind.ARCHIVE:
            return self._from_archive(member, provider, how)
        if entry.kind is not FileKind.OBJECT:
            what = entry.note or f"a {entry.kind} file"
            why = f"{how}, but it is {what}"
            return Component(path, Origin.UNKNOWN, None, (), provider, member.evidence, (why,))
        obj = self.facts.objects.get(provider) or built
        if obj is None:
            error = self.facts.object_errors.get(provider, "it could not be read")
            return Component(
                path, Origin.UNKNOWN, None, (), provider, member.evidence, (f"{how}, but {error}",)
            )
        return self._from_object(member, provider, obj, how)

    def _generated(
        self, member: MemberRef, stem: str, built: ObjectFacts | None
    ) -> Component | None:
        """An object compiled from a source the build writes first, accounted for by what the
        source is written from: a rule of the tree's build files (a perl script, a template,
        a host program, data), Kbuild's own ``$(obj)/%: $(src)/%_shipped`` copy of a shipped
        source, or scripts/Makefile.build's ASN.1 compiler rule (``%.asn1.c`` from ``%.asn1``).
        None when no generator is known; UNKNOWN when its input is not in the target."""
        name = member.path.name
        for ext in SOURCE_EXTENSIONS:
            src = PurePosixPath(stem + ext)
            shipped = PurePosixPath(f"{src}{SHIPPED}")
            if shipped in self.facts.files:
                how = (
                    f"Kbuild compiles {name} from {src.name}, which its rule $(obj)/%: "
                    f"$(src)/%_shipped copies from {shipped.name}"
                )
                return self._from_source(member, shipped, built, how)
            rule = self.facts.copies.get(src)
            if rule is None or rule.action != "generate":
                rule = next(
                    (r for r in self.facts.patterns if r.action == "generate" and r.makes(src)),
                    None,
                )
            if rule is not None:
                made_from = rule.source_for(src)
                where = f"{rule.evidence.path}:{rule.evidence.line}"
                if made_from in self.facts.files:
                    how = (
                        f"Kbuild compiles {name} from {src.name}, which the rule at {where} "
                        f"writes from {made_from.name}"
                    )
                    return self._from_source(member, made_from, built, how)
                program = PurePosixPath(f"{made_from}.c")  # a host program built from its .c
                if program in self.facts.files:
                    how = (
                        f"Kbuild compiles {name} from {src.name}, which the rule at {where} has "
                        f"the host program {made_from.name} write; that program is built from "
                        f"{program.name}"
                    )
                    return self._from_source(member, program, built, how)
                return Component(
                    member.path,
                    Origin.UNKNOWN,
                    None,
                    (),
                    None,
                    member.evidence,
                    (
                        f"{src.name} is written by the rule at {where} from {made_from}, which is "
                        "not in the target: nothing here shows what code it holds",
                    ),
                )
        if stem.endswith(".asn1") and PurePosixPath(stem) in self.facts.files:
            how = (
                f"Kbuild compiles {name} from {PurePosixPath(stem).name}.c, which scripts/"
                "Makefile.build's rule $(obj)/%.asn1.c: $(src)/%.asn1 has the kernel's ASN.1 "
                f"compiler write from {PurePosixPath(stem).name}"
            )
            return self._from_source(member, PurePosixPath(stem), built, how)
        return None

    def _from_source(
        self, member: MemberRef, src: PurePosixPath, built: ObjectFacts | None, how: str
    ) -> Component:
        """A member compiled from ``src``: its license, and what its object defines and needs."""
        sf = self.facts.sources.get(src)
        evidence, reasons = license_evidence(sf)
        defined = frozenset(built.defined) if built else (sf.defines if sf else frozenset())
        # a built object is checked against what its source defines (object-source-mismatch),
        # unless its own symbol table says it was compiled from a file of that name
        expected = (
            self.definitions.defined_in(src)
            if built is not None and not _compiled_from(built, src)
            else frozenset()
        )
        return Component(
            path=member.path,
            origin=Origin.SOURCE,
            license=sf.license if sf else None,
            sources=(src,),
            file=src,
            linked_by=member.evidence,
            reasons=(how, *reasons),
            license_evidence=evidence,
            defined=defined,
            undefined=frozenset(built.undefined) if built else frozenset(),
            expected=expected,
            named_source=src,
            tag_error=sf.spdx_error if sf else None,
        )

    def _from_archive(self, member: MemberRef, provider: PurePosixPath, how: str) -> Component:
        """A static library: each member object judged like any object; closed when any is."""
        from gplscan.errors import ArchiveError, ObjectParseError
        from gplscan.facts.archive import members
        from gplscan.facts.elf import object_facts

        path = self.facts.root / provider
        parts: list[Component] = []
        unread: list[str] = []
        digest = None
        try:
            whole = path.read_bytes()
            digest = hashlib.sha256(whole).hexdigest()
            for name, data in members(path, whole, self.facts.root):
                rel = PurePosixPath(f"{provider}({name})")
                try:
                    obj = object_facts(path, rel, data, sha256=hashlib.sha256(data).hexdigest())
                except ObjectParseError as exc:
                    unread.append(f"{name}: {exc.reason}")
                    continue
                parts.append(
                    self._from_object(MemberRef(rel, member.via, member.evidence), rel, obj, how)
                )
        except (ArchiveError, OSError) as exc:
            why = f"{how}, but its members cannot be read: {exc}"
            return Component(
                member.path, Origin.UNKNOWN, None, (), provider, member.evidence, (why,)
            )
        closed = [c for c in parts if c.origin is Origin.CLOSED]
        if unread and not closed:
            why = f"{how}; member(s) not read: {few(unread)}"
            return Component(
                member.path, Origin.UNKNOWN, None, (), provider, member.evidence, (why,)
            )
        if not closed:
            sources = tuple(sorted({s for c in parts for s in c.sources}))
            license_of = {c.license for c in parts if c.license}
            return Component(
                path=member.path,
                origin=Origin.SOURCE,
                license=license_of.pop() if len(license_of) == 1 else None,
                sources=sources,
                file=provider,
                linked_by=member.evidence,
                reasons=(f"{how}; every member ({len(parts)}) is accounted for by a source",),
                sha256=digest,
                members=tuple(parts),
            )
        evidence = [
            Evidence(
                EvidenceKind.SYMBOL,
                f"{how}: an archive of {len(parts)} member(s), {len(closed)} closed",
                provider,
            )
        ]
        for c in closed[:5]:
            evidence.extend(c.provenance[1:3])
        return Component(
            path=member.path,
            origin=Origin.CLOSED,
            license=CLOSED,
            sources=(),
            file=provider,
            linked_by=member.evidence,
            reasons=tuple(e.text for e in evidence),
            provenance=tuple(evidence),
            defined=frozenset().union(*(c.defined for c in closed)),
            undefined=frozenset().union(*(c.undefined for c in closed)),
            sha256=digest,
            members=tuple(parts),
        )

    def _from_object(
        self, member: MemberRef, provider: PurePosixPath, obj: ObjectFacts, how: str
    ) -> Component:
        """An object judged by its symbols: source when sources of the tree define every
        symbol it defines, else closed, with what shows it."""
        return self._defined_in_sources(member, provider, obj, how) or self._closed_object(
            member, provider, obj, how
        )

    def _defined_in_sources(
        self, member: MemberRef, provider: PurePosixPath, obj: ObjectFacts, how: str
    ) -> Component | None:
        """The object as source when some sources of the tree define every global symbol it
        defines (the first such global definition asks the symbol index for every source's
        definitions: read once, in parallel, through the cache)."""
        defined = obj.defined  # sorted
        if not defined:
            return None
        owners = set(self.definitions.definers(defined[0]))
        for symbol in defined[1:]:
            owners &= set(self.definitions.definers(symbol))
            if not owners:
                return None
        if not owners:
            return None
        src = sorted(owners)[0]
        sf = self.facts.sources.get(src)
        lic_evidence, lic_reasons = license_evidence(sf)
        return Component(
            path=member.path,
            origin=Origin.SOURCE,
            license=sf.license if sf else None,
            sources=tuple(sorted(owners)),
            file=provider,
            linked_by=member.evidence,
            reasons=(
                f"{how}; every symbol it defines ({few(defined)}) is defined in {src}",
                *lic_reasons,
            ),
            license_evidence=lic_evidence,
            defined=frozenset(obj.defined),
            undefined=frozenset(obj.undefined),
        )

    def _closed_object(
        self, member: MemberRef, provider: PurePosixPath, obj: ObjectFacts, how: str
    ) -> Component:
        """An object no source of the tree accounts for: closed, with the evidence that says so
        (no source of its stem, what it defines, what its DWARF and STT_FILE name)."""
        evidence = _not_compiled_here(member, provider, obj, how)
        names = [n for n in obj.file_symbols if n.endswith(SOURCE_EXTENSIONS)]
        missing = [n for n in names if n not in self.facts.source_names]
        named = [provider.parent / n for n in names if provider.parent / n in self.facts.sources]
        if member.path.name.endswith(".o"):  # the sources of its stem, by name
            by_stem = [PurePosixPath(object_stem(member.path) + ext) for ext in (".c", ".S")]
            named += [p for p in by_stem if p in self.facts.files and p not in named]
        expected = self.definitions.defined_in(named[0]) if named else frozenset()
        if named:
            evidence.append(
                Evidence(
                    EvidenceKind.SYMBOL,
                    f"it stands for {named[0]} (by name), which the "
                    "tree holds, but that source does not define what "
                    "the object defines",
                    provider,
                )
            )
        if missing:
            evidence.append(
                Evidence(
                    EvidenceKind.SYMBOL,
                    f"its symbol table (STT_FILE) names source file(s) "
                    f"{few(missing)}, which the tree does not hold",
                    provider,
                )
            )
        return Component(
            path=member.path,
            origin=Origin.CLOSED,
            license=CLOSED,
            sources=(),
            file=provider,
            linked_by=member.evidence,
            reasons=tuple(e.text for e in evidence),
            provenance=tuple(evidence),
            defined=frozenset(obj.defined),
            undefined=frozenset(obj.undefined),
            expected=expected,
            named_source=named[0] if named else None,
            sha256=obj.sha256 or None,
        )


def _provider(
    path: PurePosixPath, copy: CopyRule | None, facts: TreeFacts
) -> tuple[PurePosixPath | None, str]:
    """The file an object is copied from, and how: the copy rule's source, Kbuild's
    ``<name>_shipped``, or the object itself when the target holds it."""
    shipped = PurePosixPath(str(path) + SHIPPED)
    if copy is not None:
        how = (
            f"the rule at {copy.evidence.path}:{copy.evidence.line} copies {copy.source} to "
            f"{path.name}"
            if copy.evidence.line is not None
            else copy.evidence.text  # e.g. "nv-kernel.o is a symbolic link to ..."
        )
        return copy.source, how
    if shipped in facts.files:
        how = f"Kbuild's rule $(obj)/%: $(src)/%_shipped copies {shipped.name} to {path.name}"
        return shipped, how
    if path in facts.files:
        return path, f"{path} is in the target"
    return None, ""


def _compiled_from(obj: ObjectFacts, src: PurePosixPath) -> bool:
    """Whether the object's STT_FILE or DWARF names ``src`` as what it was compiled from."""
    name = src.name
    if any(f.rsplit("/", 1)[-1] == name for f in obj.file_symbols):
        return True
    return any(u[0] is not None and u[0].rsplit("/", 1)[-1] == name for u in obj.dwarf_units)


def _not_compiled_here(
    member: MemberRef, provider: PurePosixPath, obj: ObjectFacts, how: str
) -> list[Evidence]:
    """Why an object is taken as it is: no rule of the tree compiles it, what kind of ELF
    object it is, what it defines, and the compile units its DWARF names."""
    name = member.path.name
    if name.endswith(".o"):
        stem = name.removesuffix(".o")
        no_source = f"no {stem}.c or {stem}.S in the tree compiles to {name}"
    else:
        no_source = f"{name} is linked as it is: no rule of the tree builds it"
    comes_from = f"{how}: an ELF {obj.elf_type} object for {obj.machine}"
    evidence: list[Evidence] = [
        Evidence(EvidenceKind.MAKEFILE, no_source, member.evidence.path, member.evidence.line),
        Evidence(EvidenceKind.MAKEFILE, comes_from, provider),
    ]
    if obj.defined:
        text = f"no source in the tree defines the symbols it defines: {few(obj.defined)}"
    else:
        text = "it defines no global symbols"
    evidence.append(Evidence(EvidenceKind.SYMBOL, text, provider))
    units = [u for u in obj.dwarf_units if u[0]]
    if units:
        shown = ", ".join(f"{u[0]}" + (f" ({u[2]})" if u[2] else "") for u in units[:3])
        more = f" and {len(units) - 3} more" if len(units) > 3 else ""
        evidence.append(
            Evidence(
                EvidenceKind.DWARF, f"its DWARF names the compile unit(s) {shown}{more}", provider
            )
        )
    return evidence
