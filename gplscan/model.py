"""The data every stage passes on: facts, the link graph's parts, rules and findings.

Stdlib only. Every type is a frozen dataclass built once and never mutated; paths are
relative to the scan target (``PurePosixPath``) so that results do not depend on where
the tree was checked out.

One module of more than 500 lines on purpose: it is the vocabulary every stage shares
(the bottom layer of the import contract), declarations and small derived properties
with no stage's logic in them, read section by section (source facts, object facts,
build facts, link graph, rules and findings). How the cache stores them is not here but
in :mod:`gplscan.facts.rows`.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from operator import attrgetter
from pathlib import PurePosixPath
from typing import Any, NamedTuple


class FileKind(StrEnum):
    """What a file is, decided from its content first and its name second."""

    SOURCE = "source"  # C or assembler compiled into objects (also text *_shipped sources)
    HEADER = "header"
    BUILD = "build"  # Makefile, Kbuild, dkms.conf, Kbuild's .cmd/.mod records
    OBJECT = "object"  # any ELF file: .o, *_shipped, .ko, .so, executables
    ARCHIVE = "archive"  # ar archives (lib*.a, built-in.a)
    COMPRESSED = "compressed"  # .ko.xz and friends
    LICENSE_TEXT = "license-text"
    DATA = "data"  # binary that is not an object: firmware and other blobs (never linked)
    OTHER = "other"


class Origin(StrEnum):
    """Where a linked component's code comes from."""

    SOURCE = "source"  # built from source present in the tree
    CLOSED = "closed"  # no source in the tree accounts for it
    UNKNOWN = "unknown"  # cannot tell (e.g. the target holds only built binaries)


class Severity(StrEnum):
    """Finding severities, ordered by :data:`SEVERITY_RANK`."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_RANK: dict[Severity, int] = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}

#: The thresholds a verdict is judged by (``--fail-on``, a config's ``fail-on``): a severity,
#: or never.
FAIL_ON: tuple[str, ...] = ("error", "warning", "info", "never")

#: The exit codes of a finished scan: clean, findings at or above the threshold, and a usage
#: or input error or a scan that could not read everything (``gplscan.process`` says how
#: else a process can end).
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class EvidenceKind(StrEnum):
    """What a link of evidence was read from (the JSON schema's evidence kinds)."""

    MAKEFILE = "makefile"  # a build file's line, or Kbuild's record of a build
    SYMBOL = "symbol"  # symbol tables: who defines and who uses what
    MODINFO = "modinfo"  # a module's .modinfo record, or the MODULE_LICENSE line of its source
    DWARF = "dwarf"  # a DWARF compile unit naming the source an object was built from
    SPDX = "spdx"  # an SPDX-License-Identifier tag
    SCANCODE = "scancode"  # license text scancode detected
    SYMVERS = "symvers"  # a line of Module.symvers, or the kernel source's EXPORT_SYMBOL
    SOURCE = "source"  # a source's own text (symbol_get: a run-time binding)
    SCAN = "scan"  # what the scan itself could not establish (a gap)


class Stage(StrEnum):
    """The stage of the scan that met a :class:`ScanIssue`."""

    UNPACK = "unpack"  # unpacking a package or tarball target
    DISCOVER = "discover"  # walking the target
    READ = "read"  # opening a file
    OBJECT = "object"  # reading an ELF object or archive
    SOURCE = "source"  # reading a C source or header
    BUILD = "build"  # reading build files and relating them to the package's builds
    LICENSE = "license"  # license text detection
    CACHE = "cache"  # the fact cache


def few(names: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` names, then how many more: "a, b, c and 4 more"."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True, slots=True)
class Location:
    """A place in the target: a file and, where one exists, a 1-based line."""

    path: PurePosixPath
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


class Evidence(NamedTuple):
    """One link of an evidence chain: what was read, where, and the text that says so.

    A named tuple: an audit of 4,000 modules makes one for
    each of ≈18,000 imported symbols and each module's license, and a frozen dataclass
    takes three times as long to make.
    """

    kind: EvidenceKind
    text: str
    path: PurePosixPath | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ScanIssue:
    """Something the scan could not read or had to work around.

    ``skipped`` issues make the scan incomplete: a file (or part of one) was not used.
    Others are notes on input that was odd but fully accounted for.
    """

    path: PurePosixPath
    stage: Stage
    message: str
    skipped: bool = True


@dataclass(frozen=True, slots=True)
class Gap:
    """Something that decides a verdict and could not be established: a binary whose
    composition is unknown, a build construct that could not be evaluated, a check with
    nothing to check against. The rule ``not-judged`` reports each one, so that a report
    never passes what gplscan did not understand."""

    subject: str  # what was not judged, e.g. "the objects linked into nvidia.ko"
    reason: str  # why, in words
    at: Location  # the file (and line) it is about
    binary: PurePosixPath | None = None  # the binary it concerns; None: the whole target
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file of the target as discovery saw it."""

    path: PurePosixPath
    kind: FileKind
    size: int
    note: str | None = None  # e.g. "named .o but holds text"
    sha256: str | None = None  # the content's digest, in a scan's result (ScanResult.files)


# --- source facts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpdxTag:
    """An ``SPDX-License-Identifier`` tag, normalized, with the line it was read from."""

    expression: str
    raw: str
    at: Location


@dataclass(frozen=True, slots=True)
class ModuleInfoDecl:
    """A ``MODULE_LICENSE``/``MODULE_AUTHOR``/... declaration read from source.

    ``value`` is byte-exact: C escapes are decoded and embedded NULs kept, because the
    kernel compares the bytes up to the first NUL and a trick may hide text after it.
    ``value`` is None when the argument is a macro that could not be resolved.
    """

    tag: str  # "license", "author", "description", ...
    value: bytes | None
    argument: str  # the macro argument as written
    at: Location


@dataclass(frozen=True, slots=True)
class ExportDecl:
    """An ``EXPORT_SYMBOL*`` declaration in source."""

    symbol: str
    gpl_only: bool
    namespace: str | None
    at: Location


@dataclass(frozen=True, slots=True)
class LicenseFinding:
    """A license found by full text detection (scancode) in a file without a tag."""

    expression: str
    start_line: int
    end_line: int
    rule: str
    score: float | None = None  # scancode's match score, 0-100


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """What one source or header file says about itself."""

    path: PurePosixPath
    spdx: SpdxTag | None = None
    spdx_error: str | None = None  # a tag that is there but does not parse
    detected: tuple[LicenseFinding, ...] = ()
    detected_expression: str | None = None
    module_info: tuple[ModuleInfoDecl, ...] = ()
    exports: tuple[ExportDecl, ...] = ()
    defines: frozenset[str] = frozenset()  # non-static functions defined here (when asked)
    string_defines: tuple[tuple[str, bytes], ...] = ()  # #define NAME "string"
    includes: tuple[str, ...] = ()  # #include targets as written: "x.h" or <linux/x.h>
    # symbols bound at run time: symbol_get(x), symbol_request(x), __symbol_get("x"), with
    # the line of each (imports no symbol table shows)
    runtime_imports: tuple[tuple[str, int], ...] = ()

    @property
    def license(self) -> str | None:
        """The file's own license: its tag, else what detection found."""
        if self.spdx is not None:
            return self.spdx.expression
        return self.detected_expression

    def module_licenses(self) -> tuple[ModuleInfoDecl, ...]:
        return tuple(d for d in self.module_info if d.tag == "license")


# --- object facts -------------------------------------------------------------------------


# One ``key=value`` record of a ``.modinfo`` section: (key, value), the value byte-exact.
# Fragments without ``=`` that follow a record (the ``"GPL\0..."`` trick leaves them) are
# appended to its value after a NUL, so nothing the section holds is lost. A plain pair:
# 4,000 modules hold ≈73,000 of them, and a cached audit reads them back as marshal gives
# them (making a named tuple of each cost ≈30 ms of a one-second audit).
ModinfoEntry = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class ObjectFacts:
    """What one ELF file holds."""

    path: PurePosixPath
    elf_type: str  # REL, DYN, EXEC, CORE
    machine: str
    # global and weak symbols defined here / that it needs: sorted, each once. Tuples, not
    # sets: a cached audit of 4,000 modules reads ≈285,000 of them back, and resolving
    # imports wants them in order anyway (set operations make their own sets)
    defined: tuple[str, ...]
    undefined: tuple[str, ...]
    file_symbols: tuple[str, ...] = ()  # STT_FILE names, in table order
    modinfo: tuple[ModinfoEntry, ...] = ()
    exports: tuple[tuple[str, bool], ...] = ()  # (symbol, gpl_only) from __ksymtab* sections
    comment: tuple[str, ...] = ()  # .comment strings (compiler identification)
    sha256: str = ""
    # (symbol, namespace) of exports with a non-empty namespace; exports (above) also come
    # from .export_symbol records (objects of Linux >= 6.5), see gplscan/facts/kernel_exports.py
    export_namespaces: tuple[tuple[str, str], ...] = ()
    # (DW_AT_name, DW_AT_comp_dir, DW_AT_producer) of each DWARF compile unit, in file order
    dwarf_units: tuple[tuple[str | None, str | None, str | None], ...] = ()
    dwarf_error: str | None = None  # why DWARF could not be read (fully); other facts stand
    needed: tuple[str, ...] = ()  # DT_NEEDED: the shared libraries a program links dynamically

    def __reduce__(self) -> tuple[Any, ...]:
        return (ObjectFacts, tuple(getattr(self, f) for f in _OBJECT_FIELDS))

    def modinfo_values(self, key: str) -> tuple[bytes, ...]:
        return tuple(value for k, value in self.modinfo if k == key)

    @property
    def is_module(self) -> bool:
        """A kernel module: a relocatable object carrying a module name or license, or,
        when its ``.modinfo`` is missing or damaged, defining ``__this_module`` (the
        ``struct module`` modpost gives every module) or named ``.ko``: a module whose
        records cannot be read is still a module, and one with no license."""
        if self.elf_type != "REL":
            return False
        return (
            any(k in ("name", "license") for k, _ in self.modinfo)
            or ".ko" in self.path.suffixes[-2:]
            or "__this_module" in self.defined
        )


_OBJECT_FIELDS = tuple(f.name for f in fields(ObjectFacts))


# --- build facts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberRef:
    """An object a build file puts into a module, and the line that does it."""

    path: PurePosixPath  # the object as the build names it, relative to the target
    via: str  # "objs" (an object list), "ldflags" (a linker flag), "self" (single-object module)
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    """A module the build files describe: its name and its member objects."""

    name: str
    directory: PurePosixPath
    declared_at: Evidence  # the obj-m line
    members: tuple[MemberRef, ...]
    include_dirs: tuple[PurePosixPath, ...] = ()  # -I directories from ccflags-y and friends
    conditional: bool = False  # obj-$(CONFIG_...): a module only when the option is m
    program: bool = False  # a program or library a make rule links ("app: main.o libx.a")


@dataclass(frozen=True, slots=True)
class CopyRule:
    """An explicit rule that makes a file from another: a copy (``%_shipped``, cp, ln) or a
    compile (``$(obj)/x-%.o: $(src)/x.c``). ``target`` may hold one ``%`` (a pattern)."""

    target: PurePosixPath
    source: PurePosixPath
    evidence: Evidence
    action: str = "copy"  # "copy", "compile", or "generate" (a source written from source)

    def source_for(self, path: PurePosixPath) -> PurePosixPath:
        """The file this rule makes ``path`` from: a ``%`` in the source takes the stem."""
        pattern, source = str(self.target), str(self.source)
        if "%" not in pattern or "%" not in source:
            return self.source
        prefix, _, suffix = pattern.partition("%")
        text = str(path)
        return PurePosixPath(source.replace("%", text[len(prefix) : len(text) - len(suffix)]))

    def makes(self, path: PurePosixPath) -> bool:
        pattern = str(self.target)
        if "%" not in pattern:
            return self.target == path
        prefix, _, suffix = pattern.partition("%")
        text = str(path)
        return (
            len(text) > len(prefix) + len(suffix)
            and text.startswith(prefix)
            and text.endswith(suffix)
        )


# --- link graph ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Component:
    """An object linked into a binary, with where its code comes from and why we think so."""

    path: PurePosixPath  # the object as linked, e.g. hv_core.o
    origin: Origin
    license: str | None  # SPDX expression, LicenseRef-closed, or None when unknown
    sources: tuple[PurePosixPath, ...]
    file: PurePosixPath | None  # the file in the tree that provides it, if any
    linked_by: Evidence
    reasons: tuple[str, ...]
    license_evidence: tuple[Evidence, ...] = ()
    provenance: tuple[Evidence, ...] = ()  # the reasons, as evidence with kinds and places
    expected: frozenset[str] = frozenset()  # what its named source defines, when both are read
    named_source: PurePosixPath | None = None  # the source it names (stem or STT_FILE)
    tag_error: str | None = None  # its source's SPDX tag does not parse: why
    sha256: str | None = None  # content digest of the object, when it is in the target
    defined: frozenset[str] = frozenset()
    undefined: frozenset[str] = frozenset()
    # an archive's members, each judged like an object (paths ``lib/x.a(m.o)``), when read
    members: tuple[Component, ...] = ()


class EdgeKind(StrEnum):
    """What a link-graph edge says of its ends."""

    LINKS = "links"  # src (a binary) links dst (an object) in
    COMPILED_FROM = "compiled-from"  # src (an object) was compiled from dst (a source)
    IMPORTS_SYMBOL = "imports-symbol"  # src uses symbols dst defines


@dataclass(frozen=True, slots=True)
class Edge:
    """A link-graph edge ``src -> dst`` of one kind, with its evidence."""

    kind: EdgeKind
    src: str
    dst: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class DeclaredLicense:
    """A module's declared license (MODULE_LICENSE / .modinfo), byte-exact, with its origin."""

    value: bytes
    evidence: tuple[Evidence, ...]
    at: Location | None  # the MODULE_LICENSE line when the source is in the tree

    @property
    def text(self) -> str:
        """The string as the kernel sees it: up to the first NUL."""
        return self.value.split(b"\0", 1)[0].decode("utf-8", "replace")


class Import(NamedTuple):
    """A symbol a module needs, and what provides it.

    ``provider``: ``vmlinux`` (the kernel), the path of another binary of the target, an
    exporting module the kernel's Module.symvers names, or ``unresolved``. A named tuple
    rather than a dataclass: a target of 4,000 modules resolves ≈18,000 distinct symbols,
    and a frozen dataclass takes three times as long to make.
    """

    symbol: str
    provider: str
    gpl_only: bool | None  # None when unresolved
    namespace: str | None
    evidence: Evidence | None
    runtime: bool = False  # bound when the code runs (symbol_get), not by the module loader


def import_counts(
    imports: Iterable[Import],
) -> tuple[tuple[tuple[str, bool | None], int], ...]:
    """How many imports each (provider, gpl_only) accounts for, in order of first use."""
    return tuple(Counter(map(_PROVIDER_KIND, imports)).items())


_PROVIDER_KIND = attrgetter("provider", "gpl_only")


class BinaryKind(StrEnum):
    """What a linked binary is."""

    KERNEL_MODULE = "kernel-module"  # a built module (.ko)
    RELOCATABLE = "relocatable"  # an object no binary of the target is known to link
    ARCHIVE = "archive"  # in the JSON schema; no scan makes one today
    SHARED_OBJECT = "shared-object"  # a library linked dynamically (.so)
    EXECUTABLE = "executable"  # a program
    PLANNED = "planned"  # a module the build files describe, not built in the target
    PROGRAM = "program"  # a program or library a make rule links, not found built as one


# what is judged as a kernel module: a built one, or one the build files plan
MODULE_KINDS = frozenset({BinaryKind.KERNEL_MODULE, BinaryKind.PLANNED})


@dataclass(frozen=True, slots=True)
class Binary:
    """A linked binary: a built module, or one the build files plan (``planned``)."""

    path: PurePosixPath
    name: str
    kind: BinaryKind
    declared: DeclaredLicense | None
    components: tuple[Component, ...]
    defined_at: Evidence | None  # the build line that declares it
    composition_known: bool = True  # False when only the binary itself is in the target
    license_note: str | None = None  # why the declared license is unknown, when it is
    conditional: bool = False  # a planned module that exists only when a CONFIG option is m
    imports: tuple[Import, ...] = ()  # resolved undefined symbols (built modules), sorted
    exports: tuple[tuple[str, bool], ...] = ()  # (symbol, gpl_only) it exports
    # how many of the imports each (provider, gpl_only) accounts for, in order of first use;
    # made with the imports (graph.resolve_imports), see import_counts()
    import_counts: tuple[tuple[tuple[str, bool | None], int], ...] = ()
    needed: tuple[str, ...] = ()  # a program's or library's DT_NEEDED: what it links dynamically

    def counted_imports(self) -> tuple[tuple[tuple[str, bool | None], int], ...]:
        """``import_counts``, or counted from ``imports`` when the binary was made without."""
        if self.import_counts or not self.imports:
            return self.import_counts
        return import_counts(self.imports)

    def component(self, path: PurePosixPath) -> Component | None:
        return next((c for c in self.components if c.path == path), None)


# --- rules and findings -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule as loaded from ``rules/``: data, plus the predicate it applies."""

    id: str
    name: str
    title: str
    severity: Severity
    predicate: str
    params: tuple[tuple[str, object], ...]
    message: str
    why: str
    references: tuple[str, ...]
    source: PurePosixPath
    plain: str = ""  # what it means, for a reader who is not an engineer
    remedy: str = ""  # what to do about it
    # the words of the message that depend on the case: fragment -> ((case, template), ...)
    fragments: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    bespoke: str = ""  # why the rule names a predicate instead of the when: vocabulary
    fixtures: str = ""  # the directory of its violates/ and clean/ trees (fixtures/rules/ID)


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation: which rule, where, about what, and the evidence that shows it."""

    rule: str
    rule_id: str
    severity: Severity
    binary: str | None
    object: str | None
    symbol: str | None
    path: str
    line: int | None
    message: str
    evidence: tuple[Evidence, ...]
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Waiver:
    """A decision that a finding is accepted, with who, why and until when."""

    rule: str  # a rule's name or id
    path: str | None  # a glob on the binary, the object or the finding's path
    fingerprint: str | None
    justification: str
    approved_by: str | None
    expires: datetime.date | None
    source: str  # "<file>: waiver #n", for messages

    def expired(self, today: datetime.date) -> bool:
        return self.expires is not None and self.expires < today


class LicenseStatus(StrEnum):
    """How the license of a file of the inventory is known (in the order the inventory's
    counts line lists them)."""

    TAGGED = "tagged"  # an SPDX tag
    DETECTED = "detected"  # license text found by scancode
    NONE = "none"  # text without any license
    BINARY = "binary"  # objects and data: no license text to read
    MALFORMED = "malformed"  # a tag that does not parse
    UNREAD = "unread"  # could not be read


@dataclass(frozen=True, slots=True)
class FileLicense:
    """One file of the license inventory and how its license is known."""

    path: PurePosixPath
    status: LicenseStatus
    license: str | None
    line: int | None = None
    # ``detected``: the license text's last line, scancode's rule and score for the match
    end_line: int | None = None
    rule: str | None = None
    score: float | None = None
    # the binaries whose code it can reach (a header: those whose sources include it);
    # empty when not worked out (headers of targets with very many binaries)
    binaries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Provenance:
    """What ties a report to one run and one input: what a lawyer needs to match it
    against a vendor's delivery, and a reader to run it again."""

    scanned_at: str  # UTC, ISO 8601; from SOURCE_DATE_EPOCH when it is set
    command: tuple[str, ...]  # the command line as given, "gplscan" first
    rules_digest: str  # sha256 of the rule and license data files the run used
    input_sha256: str | None = None  # a file target's (.deb, tarball, object) content
    input_size: int | None = None


class Scope(StrEnum):
    """Which binaries a ``--changed-since`` run judges (gplscan/changes.py decides)."""

    ALL = "all"  # judge the whole target: the change can affect every binary
    NARROW = "narrow"  # read only the touched directories' build files
    WIDE = "wide"  # read every build file, judge the binaries whose inputs changed


@dataclass(frozen=True, slots=True)
class ChangeStats:
    """What a ``--changed-since`` run was asked to judge."""

    since: str | None  # the revision; None: the changed files were given
    files: int  # how many files changed
    scope: Scope


@dataclass(frozen=True, slots=True)
class ScanStats:
    """The scan's own facts: how it ran, not what it found (the reporters format them)."""

    jobs: int
    files: int  # files in the target
    files_read: int  # files opened in this run (the rest came from the cache)
    detected: int  # untagged files in scope whose license was detected
    scancode_loaded: bool  # whether scancode's index was loaded (a warm cache needs none)
    # whether every source's function definitions were read (an object no source of its
    # stem accounts for asked which sources define its symbols); a few read to check
    # objects against their sources do not count
    symbol_index_read: bool
    kernel_exports: int  # the kernel exports imports were resolved against
    kernel_source: str  # where those came from, or why there are none
    seconds: float
    changed: ChangeStats | None = None  # a --changed-since run


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything a reporter needs; reporters see this and nothing else."""

    target: str
    tool_version: str
    files: tuple[FileEntry, ...]
    binaries: tuple[Binary, ...]
    findings: tuple[Finding, ...]
    issues: tuple[ScanIssue, ...]
    # links, compiled-from, and the symbols that tie a binary's own objects together; what
    # a binary imports from other binaries and the kernel is on Binary.imports (as edges:
    # graph.import_edges)
    edges: tuple[Edge, ...] = ()
    rules: tuple[Rule, ...] = ()
    source_count: int = 0
    object_count: int = 0
    inventory: tuple[FileLicense, ...] = ()
    inventory_scope: str = "binaries"  # "binaries": what can reach a binary; "all": every file
    stats: ScanStats | None = None  # the scan's own facts: jobs, cache, timings
    baseline: tuple[Finding, ...] = ()  # findings a baseline already holds (do not fail)
    waived: tuple[tuple[Finding, Waiver], ...] = ()  # findings a waiver accepts
    expired_waivers: tuple[Waiver, ...] = ()  # no longer applied: their findings count again
    unused_waivers: tuple[Waiver, ...] = ()  # matched nothing
    fail_on: str = "error"  # the threshold the verdict is judged by (--fail-on)
    allow_partial: bool = False  # whether files not read still let the verdict pass
    provenance: Provenance | None = None  # when, how and on what input (the command line's)
    # the scanned directory's path from its repository's root (the git top level), POSIX;
    # "" at the root or outside a repository: SARIF and Code Quality paths start with it
    repo_path: str = ""
    # --changed-since REV: the revision; only the binaries the changes since it can
    # affect were judged (a partial run). None: the whole target was judged
    changed_since: str | None = None

    @property
    def complete(self) -> bool:
        return not any(i.skipped for i in self.issues)
