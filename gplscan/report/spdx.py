"""SPDX 2.3 JSON, written with spdx-tools: the link graph as an SBOM.

Every element of :mod:`gplscan.report.sbom` is an SPDX *package* with ``filesAnalyzed:
false`` and a purpose (LIBRARY for a module, FILE for an object, SOURCE for a source,
ARCHIVE for a static library or an archive target): SPDX 2.3 requires a SHA1 of every
*file* element, and gplscan records (and a reporter reads) only each file's SHA256, which
a package may carry. Relationships: the document DESCRIBES the target, which CONTAINS what
is in it; ``STATIC_LINK`` (binary -> object linked into it), ``GENERATED_FROM`` (object ->
source, or -> the file a build rule writes it from), ``COPY_OF`` (object -> the object file
a rule copies into place, e.g. ``hv_core.o_shipped``), ``CONTAINS`` (archive -> member),
``DYNAMIC_LINK`` (module -> the module or kernel whose exports the module loader binds it
to). Licenses: a module's MODULE_LICENSE is its declared license, each part's license as
gplscan judges it is concluded, ``LicenseRef-closed`` marks code without source and is
defined in the document. Each finding is a REVIEW annotation on the element it is about
(a document-level one, on SPDXRef-DOCUMENT, when it is about no element).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from gplscan.model import ScanResult
from gplscan.report.sbom import (
    CLOSED,
    CLOSED_TEXT,
    ORIGIN_WORDS,
    ROOT,
    Element,
    Sbom,
    build,
    license_refs,
    module_license_ref,
    module_string,
    spdx_licensing,
    valid_expression,
)

_RELATIONSHIP = {
    "static-link": "STATIC_LINK",
    "dynamic-link": "DYNAMIC_LINK",
    "contains": "CONTAINS",
    "generated-from": "GENERATED_FROM",
    "copy-of": "COPY_OF",
}
_PURPOSE = {
    "kernel-module": "LIBRARY",
    "shared-object": "LIBRARY",
    "relocatable": "FILE",
    "archive": "ARCHIVE",
    "executable": "APPLICATION",
    "planned": "LIBRARY",
    "object": "FILE",
    "member": "FILE",
    "source": "SOURCE",
    "file": "FILE",
    "kernel": "OPERATING_SYSTEM",
    "module": "LIBRARY",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")


def spdx_id(key: str) -> str:
    """A stable SPDXID from an element's key: its path made safe (the last 60 characters)
    and 12 hex digits of the path's sha256, so that two paths never share one."""
    if key == ROOT:
        return "SPDXRef-target"
    readable = _UNSAFE.sub("-", key)[-60:].strip("-.") or "x"
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return f"SPDXRef-{readable}-{digest[:12]}"


def _ref_text(ref: str, declared: dict[str, bytes]) -> tuple[str, str]:
    """(name, extracted text) for a LicenseRef the document uses."""
    if ref == CLOSED:
        return "closed (no source in the target)", CLOSED_TEXT
    if ref in declared:
        text = module_string(declared[ref])
        return f'MODULE_LICENSE("{text}")', (
            f'A kernel module declares MODULE_LICENSE("{text}"): a string with no SPDX '
            "meaning in gplscan's license data (rules/licenses.yml), or one that hides text "
            "after a NUL, which the kernel does not read."
        )
    if ref == "LicenseRef-proprietary":
        return "proprietary", "A license that withholds the source: the module says so."
    return ref.removeprefix("LicenseRef-"), (
        f"A license that gplscan's license data or scancode-toolkit names {ref}; "
        "its text is in the scanned file it was found in."
    )


def build_document(result: ScanResult) -> Any:
    """The spdx-tools Document of a scan's result (validate it with
    ``spdx_tools.spdx.validation.document_validator.validate_full_spdx_document``)."""
    from spdx_tools.spdx.model.actor import Actor, ActorType
    from spdx_tools.spdx.model.annotation import Annotation, AnnotationType
    from spdx_tools.spdx.model.document import CreationInfo, Document
    from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo

    sbom = build(result)
    expressions = _Expressions()
    refs = {e.key: spdx_id(e.key) for e in sbom.elements}
    tool = Actor(ActorType.TOOL, f"gplscan-{sbom.tool_version}")
    packages, declared_refs = _packages(sbom, refs, expressions)
    relationships = _relationships(sbom, refs)
    annotations = [
        Annotation(
            refs[note.subjects[0]] if note.subjects[0] != ROOT else "SPDXRef-DOCUMENT",
            AnnotationType.REVIEW,
            tool,
            sbom.created,
            note.text(refs),
        )
        for note in sbom.notes
    ]
    extracted = []
    for ref in license_refs(expressions.used):
        name, text = _ref_text(ref, declared_refs)
        extracted.append(ExtractedLicensingInfo(ref, text, name, [], None))
    creation = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=f"gplscan audit of {sbom.name}",
        document_namespace=namespace(sbom),
        creators=[tool],
        created=sbom.created,
        creator_comment=_creator_comment(sbom),
        data_license="CC0-1.0",
    )
    return Document(
        creation,
        packages=packages,
        annotations=annotations,
        relationships=relationships,
        extracted_licensing_info=extracted,
    )


class _Expressions:
    """License expressions as spdx-tools values, each parsed once; ``used`` lists them in
    the order the document first names them."""

    def __init__(self) -> None:
        self.licensing = spdx_licensing()
        self.parsed: dict[str, Any] = {}
        self.used: list[str] = []

    def __call__(self, text: str | None) -> Any:
        """``text`` parsed; NOASSERTION for none or one that is no SPDX expression."""
        from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion

        if text is None or not valid_expression(text):
            return SpdxNoAssertion()
        if text not in self.parsed:
            self.parsed[text] = self.licensing.parse(text)
            self.used.append(text)
        return self.parsed[text]


def _packages(
    sbom: Sbom, refs: dict[str, str], expression: _Expressions
) -> tuple[list[Any], dict[str, bytes]]:
    """A package for every element, and the MODULE_LICENSE strings named by a LicenseRef
    of their own (by that LicenseRef)."""
    from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
    from spdx_tools.spdx.model.package import Package, PackagePurpose
    from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion

    packages = []
    declared_refs: dict[str, bytes] = {}
    for e in sbom.elements:
        if e.declared is not None and e.declared_spdx == module_license_ref(e.declared):
            declared_refs[e.declared_spdx] = e.declared
        declared = expression(e.declared_spdx)
        packages.append(
            Package(
                spdx_id=refs[e.key],
                name=e.name,
                download_location=SpdxNoAssertion(),
                file_name=e.key if e.in_target and e.key != ROOT else None,
                files_analyzed=False,
                checksums=[Checksum(ChecksumAlgorithm.SHA256, e.sha256)] if e.sha256 else [],
                license_concluded=expression(e.concluded),
                license_declared=declared,
                license_comment=_license_comment(e),
                copyright_text=SpdxNoAssertion(),
                source_info=_source_info(e),
                comment=_comment(e),
                primary_package_purpose=PackagePurpose[_purpose(e, sbom)],
            )
        )
    return packages, declared_refs


def _relationships(sbom: Sbom, refs: dict[str, str]) -> list[Any]:
    """The document DESCRIBES the target; each link of the graph is a relationship."""
    from spdx_tools.spdx.model.relationship import Relationship, RelationshipType

    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, refs[ROOT])]
    relationships.extend(
        Relationship(
            refs[link.src],
            RelationshipType[_RELATIONSHIP[link.kind]],
            refs[link.dst],
            comment=link.note or None,
        )
        for link in sbom.links
    )
    return relationships


def namespace(sbom: Sbom) -> str:
    """A unique URI for the document: the target's name and a UUID from its content and
    time (no local path)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", sbom.name).strip("-") or "target"
    return f"https://spdx.org/spdxdocs/gplscan-{safe}-{sbom.uid}"


def _purpose(e: Element, sbom: Sbom) -> str:
    if e.key == ROOT:
        return "ARCHIVE" if sbom.input_sha256 else "SOURCE"
    return _PURPOSE.get(e.role, "OTHER")


def _source_info(e: Element) -> str | None:
    if e.origin is None:
        return None
    words = ORIGIN_WORDS.get(e.origin, e.origin)
    return f"gplscan origin: {words}" + (f" ({e.evidence})" if e.evidence else "")


def _license_comment(e: Element) -> str | None:
    out = []
    if e.declared is not None:
        out.append(f'declared by MODULE_LICENSE("{module_string(e.declared)}")')
    if e.concluded is not None and not valid_expression(e.concluded):
        out.append(f"gplscan's license for it is not an SPDX expression: {e.concluded}")
    if e.concluded == CLOSED:
        out.append("closed: no source in the target accounts for it")
    return "; ".join(out) or None


def _comment(e: Element) -> str | None:
    return "; ".join(e.notes) or None


def _creator_comment(sbom: Sbom) -> str:
    out = ["Made by gplscan from its link graph of the target."]
    if sbom.rules_digest:
        out.append(f"Rules and license data sha256: {sbom.rules_digest}.")
    if sbom.input_sha256:
        out.append(f"Input sha256: {sbom.input_sha256}.")
    return " ".join(out)


def as_dict(result: ScanResult) -> dict[str, Any]:
    from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter

    converter = DocumentConverter()  # type: ignore[no-untyped-call]
    data: dict[str, Any] = converter.convert(build_document(result))
    return data


def render(result: ScanResult) -> str:
    """The SPDX 2.3 JSON document (not validated here: the tests validate it, and
    spdx-tools' validator takes quadratic time on large documents)."""
    return json.dumps(as_dict(result), indent=2) + "\n"
