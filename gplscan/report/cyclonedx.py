"""CycloneDX 1.6 JSON, written with cyclonedx-python-lib: the link graph as an SBOM.

The target is the BOM's ``metadata.component``; every other element of
:mod:`gplscan.report.sbom` is a component (bom-ref ``file:<path>`` for what is in the
target, ``external:<name>`` for what a module imports from outside it), an archive's
members nested in it as an assembly. ``dependencies`` hold the link graph: a binary
depends on what is linked into it and on what the module loader binds it to, an object on
its source, an archive on its members. CycloneDX dependencies have no kind, so each link
is also a property of the component it starts from, named for its SPDX relationship
(``gplscan:static-link``, ``gplscan:dynamic-link``, ``gplscan:generated-from``,
``gplscan:copy-of``, ``gplscan:contains``) with the bom-ref it leads to.

Licenses: CycloneDX 1.6 allows one expression per component, with an ``acknowledgement``:
the concluded license when gplscan has one (``LicenseRef-closed`` for closed code), else a
module's declared MODULE_LICENSE; a module that has both carries the declared one in
``evidence.licenses``. ``gplscan:origin`` and ``gplscan:evidence`` properties say where
each part's code comes from and why.

Findings are CycloneDX 1.6 ``annotations`` (a tool's comment on objects named by bom-ref:
the binary, the object, the file) rather than ``vulnerabilities``, which would claim a
security flaw. cyclonedx-python-lib has no model for annotations yet, so they are added to
the JSON it writes.
"""

from __future__ import annotations

import json
from typing import Any

from gplscan.model import ScanResult
from gplscan.report.sbom import (
    ORIGIN_WORDS,
    ROOT,
    Element,
    Sbom,
    build,
    module_string,
    valid_expression,
)

_PROPERTY = {
    "static-link": "gplscan:static-link",
    "dynamic-link": "gplscan:dynamic-link",
    "contains": "gplscan:contains",
    "generated-from": "gplscan:generated-from",
    "copy-of": "gplscan:copy-of",
}
_TYPE = {
    "kernel-module": "LIBRARY",
    "shared-object": "LIBRARY",
    "relocatable": "FILE",
    "archive": "LIBRARY",
    "executable": "APPLICATION",
    "planned": "LIBRARY",
    "kernel": "OPERATING_SYSTEM",
    "module": "LIBRARY",
}


def bom_ref(key: str) -> str:
    """A stable bom-ref from an element's key: ``file:<path>``; ``external:<name>`` as it
    is; ``target`` for the target itself."""
    if key == ROOT:
        return "target"
    return key if key.startswith("external:") else f"file:{key}"


def build_bom(result: ScanResult) -> tuple[Any, Sbom]:
    """The cyclonedx-python-lib Bom of a scan's result, and the SBOM it was made from."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository

    sbom = build(result)
    parts = _Components(sbom)
    root = sbom.elements[0]
    tool = Component(name="gplscan", version=sbom.tool_version, type=ComponentType.APPLICATION)
    meta_properties = []
    if sbom.rules_digest:
        meta_properties.append(Property(name="gplscan:rules-sha256", value=sbom.rules_digest))
    root_component = Component(
        name=root.name,
        type=ComponentType.FILE if sbom.input_sha256 else ComponentType.APPLICATION,
        bom_ref=bom_ref(ROOT),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=root.sha256)] if root.sha256 else [],
    )
    parts.made[ROOT] = root_component
    components = [parts.component(e) for e in sbom.elements[1:] if e.key not in parts.nested]
    bom = Bom(
        serial_number=sbom.uid,
        version=1,
        metadata=BomMetaData(
            tools=ToolRepository(components=[tool]),
            component=root_component,
            timestamp=sbom.created,
            properties=meta_properties,
        ),
        components=components,
    )
    bom.dependencies = _dependencies(sbom, parts.made)
    return bom, sbom


class _Components:
    """The BOM's components, made from an SBOM's elements: an archive's members nested in
    it, each link a property of the component it starts from. ``made`` holds every
    component by key, in the order made (each one's members before it)."""

    def __init__(self, sbom: Sbom) -> None:
        self.outgoing: dict[str, list[tuple[str, str]]] = {}
        for link in sbom.links:
            if link.src != ROOT:
                self.outgoing.setdefault(link.src, []).append((link.kind, link.dst))
        self.members: dict[str, list[str]] = {}
        for link in sbom.links:
            if link.kind == "contains" and link.src != ROOT:
                self.members.setdefault(link.src, []).append(link.dst)
        self.nested = {m for ms in self.members.values() for m in ms}
        self.by_key = {e.key: e for e in sbom.elements}
        self.made: dict[str, Any] = {}

    def component(self, e: Element) -> Any:
        """``e`` as a component, with its members nested in it."""
        from cyclonedx.model import HashAlgorithm, HashType
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.component_evidence import ComponentEvidence

        chosen, evidence = _licenses(e)
        kind = _TYPE.get(e.role, "FILE")
        c = Component(
            name=e.name,
            type=ComponentType[kind],
            bom_ref=bom_ref(e.key),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=e.sha256)] if e.sha256 else [],
            licenses=chosen,
            evidence=ComponentEvidence(licenses=evidence) if evidence else None,
            properties=self.properties(e),
            components=[self.component(self.by_key[m]) for m in self.members.get(e.key, [])],
            description=ORIGIN_WORDS.get(e.origin or "", None),
        )
        self.made[e.key] = c
        return c

    def properties(self, e: Element) -> list[Any]:
        """``e``'s gplscan properties: origin and evidence, MODULE_LICENSE, a concluded
        license that is no SPDX expression, path, notes, and the links it starts."""
        from cyclonedx.model import Property

        out = []
        if e.origin is not None:
            out.append(Property(name="gplscan:origin", value=e.origin))
            out.append(
                Property(name="gplscan:evidence", value=e.evidence or ORIGIN_WORDS[e.origin])
            )
        if e.declared is not None:
            out.append(Property(name="gplscan:module-license", value=module_string(e.declared)))
        if e.concluded and not valid_expression(e.concluded):
            out.append(Property(name="gplscan:license", value=e.concluded))
        if e.in_target and e.key != ROOT:
            out.append(Property(name="gplscan:path", value=e.key))
        out.extend(Property(name="gplscan:note", value=n) for n in e.notes)
        out.extend(
            Property(name=_PROPERTY[kind], value=bom_ref(dst))
            for kind, dst in self.outgoing.get(e.key, [])
        )
        return out


def _licenses(e: Element) -> tuple[list[Any], list[Any]]:
    """``e``'s one license expression (concluded, else declared), and the declared one as
    evidence when it has both."""
    from cyclonedx.model.license import LicenseAcknowledgement, LicenseExpression

    concluded = e.concluded if e.concluded and valid_expression(e.concluded) else None
    declared = e.declared_spdx if e.declared_spdx and valid_expression(e.declared_spdx) else None
    chosen = []
    if concluded:
        chosen = [LicenseExpression(concluded, acknowledgement=LicenseAcknowledgement.CONCLUDED)]
    elif declared:
        chosen = [LicenseExpression(declared, acknowledgement=LicenseAcknowledgement.DECLARED)]
    evidence = []
    if concluded and declared:
        evidence = [LicenseExpression(declared, acknowledgement=LicenseAcknowledgement.DECLARED)]
    return chosen, evidence


def _dependencies(sbom: Sbom, made: dict[str, Any]) -> list[Any]:
    """Every component's dependencies, an empty entry when it depends on nothing (what
    the specification asks); made here rather than with Bom.register_dependency, which
    looks each one up in a list (minutes for 4,000 modules)."""
    from cyclonedx.model.dependency import Dependency

    depends: dict[str, list[str]] = {key: [] for key in made}
    for link in sbom.links:
        depends[link.src].append(link.dst)
    return [
        Dependency(
            ref=made[src].bom_ref, dependencies=[Dependency(ref=made[d].bom_ref) for d in dsts]
        )
        for src, dsts in depends.items()
    ]


def _serialize(bom: Any) -> dict[str, Any]:
    """The BOM as CycloneDX 1.6 JSON data: what the library's JSON outputter writes, less
    its deprecated ``Bom.validate()`` (which looks every component up in a list: 40 s of
    the 4,022 modules' BOM). What it checked holds by construction (every dependency is
    a component of the BOM); the tests validate the documents against the schema."""
    from cyclonedx.contrib.bom.utils import BomRefDiscriminator
    from cyclonedx.schema.schema import SchemaVersion1Dot6

    # the dependency graph is flat already: one entry per component (no merging needed)
    with BomRefDiscriminator.from_bom(bom):
        data: dict[str, Any] = json.loads(bom.as_json(view_=SchemaVersion1Dot6))
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        **data,
    }


def as_dict(result: ScanResult) -> dict[str, Any]:
    bom, sbom = build_bom(result)
    data = _serialize(bom)
    if sbom.notes:
        tool = {"type": "application", "name": "gplscan", "version": sbom.tool_version}
        stamp = sbom.created.isoformat().replace("+00:00", "Z")
        refs = {e.key: bom_ref(e.key) for e in sbom.elements}
        data["annotations"] = [
            {
                "bom-ref": f"finding:{note.status}:{note.finding.fingerprint}:{i}",
                "subjects": [refs[s] for s in note.subjects],
                "annotator": {"component": tool},
                "timestamp": stamp,
                "text": note.text(refs),
            }
            for i, note in enumerate(sbom.notes)
        ]
    return data


def render(result: ScanResult) -> str:
    """The CycloneDX 1.6 JSON document (validated by the tests, not here)."""
    return json.dumps(as_dict(result), indent=2) + "\n"
