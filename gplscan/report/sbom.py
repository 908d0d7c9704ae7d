"""What an SBOM says of a scan: its elements, how they are linked, and the findings on them.

Shared by the SPDX and CycloneDX reporters (``spdx.py``, ``cyclonedx.py``), which only
write it down in their format. Read from the model alone:

- elements: the target itself; every binary; every object linked into one; every member
  of a linked archive; every source an object is compiled from; a file that provides an
  object under another name (``hv_core.o_shipped``, copied to ``hv_core.o``); and what a
  module imports symbols from when that is not in the target (``vmlinux``, a module that
  Module.symvers names). Each is keyed by its path in the target (``external:<name>`` for
  what is not in it), which is what makes identifiers stable from run to run;
- links: ``static-link`` (binary -> object linked into it), ``generated-from`` (object ->
  source, or -> the file a build rule makes it from), ``copy-of`` (object -> the object
  file a rule copies into place), ``contains`` (archive -> member), ``dynamic-link``
  (module -> a module or the kernel it imports symbols from, resolved by the module loader);
- notes: each finding and the elements it is about, the binary first.

Every list is sorted, so that the same result gives the same document.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from gplscan.model import (
    Binary,
    BinaryKind,
    Component,
    FileKind,
    Finding,
    LicenseStatus,
    Origin,
    ScanResult,
)

CLOSED = "LicenseRef-closed"
CLOSED_TEXT = (
    "Code that no source in the scanned target accounts for: an object or archive member "
    "shipped without the source it was built from (gplscan's origin 'closed'). Its license "
    "is not stated anywhere in the target; it is not known to be open."
)
ROOT = ""  # the key of the target itself

# the link kinds, in the order documents list them
LINK_KINDS = ("static-link", "dynamic-link", "contains", "generated-from", "copy-of")


@dataclass(slots=True)
class Element:
    """One element of the SBOM: a file of the target, or something outside it."""

    key: str  # its path in the target; ``external:<name>``; ROOT for the target
    name: str
    role: str  # a binary's kind, or object | member | source | file | kernel | module | target
    in_target: bool
    sha256: str | None = None
    origin: str | None = None  # source | closed | unknown (linked objects and members)
    declared: bytes | None = None  # a module's MODULE_LICENSE, byte-exact
    # the declared license as an SPDX expression: a module's MODULE_LICENSE (see
    # declared_expression), a source's SPDX-License-Identifier tag
    declared_spdx: str | None = None
    concluded: str | None = None  # an SPDX expression, as gplscan judges it; None: unknown
    evidence: str = ""  # a one-line summary of why gplscan judges its origin so
    notes: list[str] = field(default_factory=list)  # further facts, for a comment


@dataclass(frozen=True, slots=True)
class Link:
    kind: str  # one of LINK_KINDS
    src: str
    dst: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    """A finding and the keys of the elements it is about (most specific role first:
    the binary, then the object, then the file it points at)."""

    finding: Finding
    subjects: tuple[str, ...]
    status: str = "new"  # new | baseline | waived

    def text(self, refs: dict[str, str]) -> str:
        """One line: severity, rule id and name, message; then where and the fingerprint.
        ``refs`` gives each subject's identifier in the document."""
        f = self.finding
        parts = [f"gplscan {f.severity} {f.rule_id} {f.rule}: {f.message}"]
        named = [f"{refs[s]}" for s in self.subjects if s in refs]
        if named:
            parts.append("about " + ", ".join(named))
        where = f"{f.path}:{f.line}" if f.line else f.path
        if where:
            parts.append(f"at {where}")
        if self.status != "new":
            parts.append("accepted by the baseline" if self.status == "baseline" else "waived")
        parts.append(f"fingerprint {f.fingerprint}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Sbom:
    name: str  # the target's name, without directories
    created: datetime
    uid: uuid.UUID  # the document's namespace/serial number: from its content and time
    tool_version: str
    rules_digest: str | None
    input_sha256: str | None
    elements: tuple[Element, ...]  # the target first, then by key
    links: tuple[Link, ...]
    notes: tuple[Note, ...]

    def element(self, key: str) -> Element | None:
        return next((e for e in self.elements if e.key == key), None)


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def evidence_summary(c: Component) -> str:
    return one_line("; ".join(c.reasons))


def target_name(target: str) -> str:
    """The target's last path part (never a directory above it): what names the document."""
    name = PurePosixPath(target.replace("\\", "/")).name
    return name or "target"


def created_at(result: ScanResult) -> datetime:
    """The report's provenance time (SOURCE_DATE_EPOCH when set); else the time now."""
    if result.provenance is not None:
        stamp = result.provenance.scanned_at
    else:
        from gplscan.run_record import scanned_at

        stamp = scanned_at()
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.astimezone(UTC).replace(microsecond=0)


@cache
def _module_strings() -> dict[str, str]:
    from gplscan.policy import load_license_data

    data = load_license_data()
    return {**data.other_strings, **data.gpl_compatible_strings}


def module_license_ref(value: bytes) -> str:
    """The LicenseRef naming a MODULE_LICENSE string that has no SPDX meaning."""
    return f"LicenseRef-module-license-{hashlib.sha256(value).hexdigest()[:12]}"


def declared_expression(value: bytes) -> str:
    """A module's declared license as an SPDX expression: the meaning licenses.yml gives
    its string ("GPL" -> GPL-2.0-only); else a LicenseRef for the string as written (a
    string the data does not know, or one that hides text after a NUL)."""
    seen, _, hidden = value.partition(b"\0")
    if not hidden.strip(b"\0"):
        meaning = _module_strings().get(seen.decode("utf-8", "replace"))
        if meaning is not None:
            return meaning
    return module_license_ref(value)


def module_string(value: bytes) -> str:
    """A MODULE_LICENSE string for reading: NULs and other control bytes as C escapes."""
    return "".join(chr(b) if 32 <= b < 127 and b != 0x5C else f"\\x{b:02x}" for b in value)


@cache
def spdx_licensing() -> Any:
    """license-expression's SPDX licensing (its list of ids), made once."""
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@cache
def valid_expression(expression: str) -> bool:
    """Whether ``expression`` parses as an SPDX expression whose every id is on the SPDX
    license list or a ``LicenseRef-`` (which the document then defines)."""
    from license_expression import ExpressionError, ExpressionParseError

    info = spdx_licensing().validate(expression)
    if any(not e.startswith("Unknown license key") for e in info.errors):
        return False
    if not all(_REF.fullmatch(s) for s in info.invalid_symbols):
        return False
    try:  # what spdx-tools' validator also asks: no exception used as a license
        spdx_licensing().parse(expression, validate=True, strict=True)
    except ExpressionParseError:
        return False
    except ExpressionError:  # unknown keys: the LicenseRefs, which the document defines
        pass
    return True


_REF = re.compile(r"LicenseRef-[A-Za-z0-9.\-]+")


def license_refs(expressions: Iterable[str]) -> list[str]:
    """The LicenseRefs the expressions use, sorted."""
    return sorted({m for e in expressions for m in _REF.findall(e)})


def concluded_for(b: Binary) -> str | None:
    """A binary's concluded license: every component's license ANDed; None (no
    assertion) when its composition or a component's license is not known."""
    if not b.composition_known or not b.components:
        return None
    licenses = {c.license for c in b.components}
    if None in licenses:
        return None
    known = sorted(x for x in licenses if x is not None)
    if len(known) == 1:
        return known[0]
    return " AND ".join(f"({x})" if " " in x else x for x in known)


class _Builder:
    def __init__(self, result: ScanResult) -> None:
        self.result = result
        self.files = {str(f.path): f for f in result.files}
        self.inventory = {str(f.path): f for f in result.inventory}
        self.elements: dict[str, Element] = {}
        self.links: set[Link] = set()

    def element(self, key: str, role: str, *, sha256: str | None = None) -> Element:
        e = self.elements.get(key)
        entry = self.files.get(key)
        if e is None:
            in_target = entry is not None
            e = Element(key, key, role, in_target, entry.sha256 if entry is not None else None)
            self.elements[key] = e
        if e.sha256 is None and sha256:
            e.sha256 = sha256
        return e

    def link(self, kind: str, src: str, dst: str, note: str = "") -> None:
        if src != dst:
            self.links.add(Link(kind, src, dst, note))

    def binary(self, b: Binary) -> None:
        key = str(b.path)
        e = self.element(key, b.kind)
        e.role = b.kind
        if b.declared is not None:
            e.declared = b.declared.value
            e.declared_spdx = declared_expression(b.declared.value)
        e.concluded = concluded_for(b)
        if not b.composition_known:
            e.notes.append("what it is linked from is not known (only the binary is in the target)")
        if b.license_note:
            e.notes.append(b.license_note)
        if b.kind == BinaryKind.PLANNED:
            e.notes.append("planned: the build files describe it, it is not built in the target")
        for c in b.components:
            self.component(c, "object")
            self.link("static-link", key, str(c.path), one_line(c.linked_by.text))
        self.imports(b)

    def component(self, c: Component, role: str) -> None:
        key = str(c.path)
        e = self.element(key, role, sha256=c.sha256)
        if e.origin is None:  # the first binary that links it judges it
            e.origin = str(c.origin)
            e.concluded = e.concluded or c.license
            e.evidence = evidence_summary(c)
        for src in c.sources:
            self.source(src)
            self.link("generated-from", key, str(src))
        if c.file is not None and c.file != c.path and c.file not in c.sources:
            entry = self.files.get(str(c.file))
            self.element(str(c.file), "file")
            copied = entry is not None and entry.kind in (FileKind.OBJECT, FileKind.ARCHIVE)
            self.link("copy-of" if copied else "generated-from", key, str(c.file))
        for m in c.members:
            self.component(m, "member")
            self.link("contains", key, str(m.path))

    def source(self, path: PurePosixPath) -> None:
        e = self.element(str(path), "source")
        if e.role not in ("source", "file"):
            return
        e.role = "source"
        inv = self.inventory.get(str(path))
        if inv is not None and e.concluded is None:
            if inv.status in (LicenseStatus.TAGGED, LicenseStatus.DETECTED):
                e.concluded = inv.license
            if inv.status == LicenseStatus.TAGGED:
                e.declared_spdx = inv.license
            e.notes.append(f"license {inv.status}" + (f": {inv.license}" if inv.license else ""))

    def imports(self, b: Binary) -> None:
        counts: dict[str, list[int]] = {}
        for imp in b.imports:
            if imp.provider == "unresolved":
                continue
            n = counts.setdefault(imp.provider, [0, 0, 0])
            n[0] += 1
            n[1] += bool(imp.gpl_only)
            n[2] += imp.runtime
        for provider, (total, gpl, runtime) in counts.items():
            if provider in self.files or provider in self.elements:
                key = provider
            else:
                key = f"external:{provider}"
                e = self.element(key, "kernel" if provider == "vmlinux" else "module")
                e.name = provider
                if not e.notes:
                    e.notes.append(
                        "not in the target: named as the provider of imported symbols"
                        + (" (the kernel)" if provider == "vmlinux" else " by Module.symvers")
                    )
            note = f"{total} symbol(s) resolved by the kernel's module loader, {gpl} GPL-only"
            if runtime:
                note += f", {runtime} bound at run time (symbol_get)"
            self.link("dynamic-link", str(b.path), key, note)

    def notes(self) -> list[Note]:
        r = self.result
        out = []
        for status, findings in (
            ("new", r.findings),
            ("baseline", r.baseline),
            ("waived", tuple(f for f, _ in r.waived)),
        ):
            for f in findings:
                subjects = [
                    s for s in (f.binary, f.object, f.path) if s is not None and s in self.elements
                ]
                out.append(Note(f, tuple(dict.fromkeys(subjects)) or (ROOT,), status))
        out.sort(key=lambda n: (n.subjects, n.finding.rule_id, n.finding.fingerprint, n.status))
        return out


def _uid(result: ScanResult, name: str, created: datetime) -> uuid.UUID:
    """A UUID from what the document is about and when: the input's digest (a file target)
    or every file's path and digest (a directory), the time, the tool and its rules."""
    digest = hashlib.sha256()
    p = result.provenance
    if p is not None and p.input_sha256:
        digest.update(p.input_sha256.encode())
    else:
        for f in result.files:
            digest.update(f"{f.path}\0{f.sha256 or f.size}\n".encode("utf-8", "surrogateescape"))
    rules = p.rules_digest if p is not None else ""
    seed = (
        f"gplscan {result.tool_version} {rules} {name} {created.isoformat()} {digest.hexdigest()}"
    )
    return uuid.uuid5(uuid.NAMESPACE_URL, seed)


def build(result: ScanResult) -> Sbom:
    """The SBOM of a scan's result."""
    b = _Builder(result)
    for binary in result.binaries:
        b.binary(binary)
    name = target_name(result.target)
    root = Element(ROOT, name, "target", True)
    if result.provenance is not None and result.provenance.input_sha256:
        root.sha256 = result.provenance.input_sha256
    notes = b.notes()
    created = created_at(result)
    for e in b.elements.values():
        if e.in_target and not e.key.startswith("external:") and e.role != "member":
            b.link("contains", ROOT, e.key)
    elements = (root, *sorted(b.elements.values(), key=lambda e: e.key))
    order = {k: i for i, k in enumerate(LINK_KINDS)}
    links = tuple(sorted(b.links, key=lambda x: (order[x.kind], x.src, x.dst)))
    p = result.provenance
    return Sbom(
        name=name,
        created=created,
        uid=_uid(result, name, created),
        tool_version=result.tool_version,
        rules_digest=p.rules_digest if p is not None else None,
        input_sha256=p.input_sha256 if p is not None else None,
        elements=elements,
        links=links,
        notes=tuple(notes),
    )


ORIGIN_WORDS = {
    str(Origin.SOURCE): "built from source in the target",
    str(Origin.CLOSED): "closed: no source in the target accounts for it",
    str(Origin.UNKNOWN): "unknown: what code it holds cannot be told from the target",
}
