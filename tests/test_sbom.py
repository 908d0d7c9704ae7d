"""SBOM export: SPDX 2.3 and CycloneDX 1.6 JSON of the link graph, findings tied to it.

Each document is checked twice: by its library's own validator (spdx-tools,
cyclonedx-python-lib) and by the format's published JSON schema, vendored in tests/data
(see tests/data/README.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from gplscan.model import (
    Binary,
    Component,
    DeclaredLicense,
    Evidence,
    FileEntry,
    FileKind,
    FileLicense,
    Finding,
    Import,
    Origin,
    Provenance,
    ScanResult,
    Severity,
)
from gplscan.report import cyclonedx, spdx
from tests.helpers import REPO, run_cli_here

DATA = REPO / "tests" / "data"
EPOCH = "1700000000"  # 2023-11-14T22:13:20Z


def _spdx_errors(text: str, tmp_path: Path) -> list[str]:
    """What spdx-tools' validator says of the document as written (parsed back first)."""
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    path = tmp_path / "sbom.spdx.json"
    path.write_text(text, encoding="utf-8")
    return [m.validation_message for m in validate_full_spdx_document(parse_file(str(path)))]


def _spdx_schema_errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads((DATA / "spdx-schema-2.3.json").read_text())
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]


def _cyclonedx_errors(text: str) -> list[str]:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(e) for e in errors] if errors else []


def _cyclonedx_schema_errors(doc: dict[str, Any]) -> list[str]:
    registry: Registry[Any] = Registry()
    for name in ("bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"):
        contents = json.loads((DATA / name).read_text())
        resource = Resource.from_contents(contents)
        registry = registry.with_resource(contents["$id"], resource).with_resource(name, resource)
    schema = json.loads((DATA / "bom-1.6.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema, registry=registry)
    return [e.message for e in validator.iter_errors(doc)]


def _audit(tree: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    proc = run_cli_here("audit", str(tree), "--format", fmt, "-q")
    assert proc.returncode == 1, proc.stderr  # the demo fails: its findings are errors
    return proc.stdout


def _package(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (package,) = [p for p in doc["packages"] if p["name"] == name]
    return package


def test_demo_spdx(
    built_examples: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tree: Path = built_examples["hyperv-2009"]["built"]
    text = _audit(tree, "spdx", monkeypatch)
    doc = json.loads(text)
    assert _spdx_errors(text, tmp_path) == []
    assert _spdx_schema_errors(doc) == []
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert str(tree.parent) not in text and "/tmp" not in doc["documentNamespace"]
    assert "hyperv-2009" in doc["documentNamespace"]

    vmbus, core = _package(doc, "hv_vmbus.ko"), _package(doc, "hv_core.o")
    links = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in doc["relationships"]
    }
    assert (vmbus["SPDXID"], "STATIC_LINK", core["SPDXID"]) in links
    shipped = _package(doc, "hv_core.o_shipped")
    assert (core["SPDXID"], "COPY_OF", shipped["SPDXID"]) in links
    drv_o, drv_c = _package(doc, "vmbus_drv.o"), _package(doc, "vmbus_drv.c")
    assert (drv_o["SPDXID"], "GENERATED_FROM", drv_c["SPDXID"]) in links
    assert (_package(doc, "hv_netvsc.ko")["SPDXID"], "DYNAMIC_LINK", vmbus["SPDXID"]) in links
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-target") in links

    # closed, with its evidence, under a LicenseRef the document defines
    assert core["licenseConcluded"] == "LicenseRef-closed"
    assert "closed" in core["sourceInfo"] and "hv_core.c" in core["sourceInfo"]
    assert {"SHA256"} == {c["algorithm"] for c in core["checksums"]}
    refs = {x["licenseId"]: x for x in doc["hasExtractedLicensingInfos"]}
    assert "no source" in refs["LicenseRef-closed"]["extractedText"]
    assert vmbus["licenseDeclared"] == "GPL-2.0-only"  # MODULE_LICENSE("GPL")
    assert vmbus["licenseConcluded"] == "GPL-2.0-only AND LicenseRef-closed"
    assert drv_c["licenseConcluded"] == drv_c["licenseDeclared"] == "GPL-2.0-only"  # its tag

    # each finding is an annotation on the binary, naming the object's SPDXID
    notes = [a["comment"] for a in vmbus["annotations"]]
    (gpl001,) = [n for n in notes if " GPL001 " in n]
    assert gpl001.startswith("gplscan error GPL001 gpl-links-closed-object:")
    assert core["SPDXID"] in gpl001 and "fingerprint " in gpl001
    assert {a["annotationType"] for a in vmbus["annotations"]} == {"REVIEW"}


def test_demo_cyclonedx(built_examples: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    tree: Path = built_examples["hyperv-2009"]["built"]
    text = _audit(tree, "cyclonedx", monkeypatch)
    bom = json.loads(text)
    assert _cyclonedx_errors(text) == []
    assert _cyclonedx_schema_errors(bom) == []
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")
    assert str(tree.parent) not in text

    components = {c["bom-ref"]: c for c in bom["components"]}
    vmbus, core = components["file:hv_vmbus.ko"], components["file:hv_core.o"]
    depends = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    assert "file:hv_core.o" in depends["file:hv_vmbus.ko"]
    assert "file:vmbus_drv.c" in depends["file:vmbus_drv.o"]
    assert "file:hv_vmbus.ko" in depends["file:hv_netvsc.ko"]
    props = {(p["name"], p["value"]) for p in vmbus["properties"]}
    assert ("gplscan:static-link", "file:hv_core.o") in props
    assert ("gplscan:module-license", "GPL") in props

    core_props = {p["name"]: p["value"] for p in core["properties"]}
    assert core_props["gplscan:origin"] == "closed"
    assert "hv_core.c" in core_props["gplscan:evidence"]
    assert core["licenses"] == [{"expression": "LicenseRef-closed", "acknowledgement": "concluded"}]
    assert core["hashes"][0]["alg"] == "SHA-256"
    assert vmbus["evidence"]["licenses"] == [
        {"expression": "GPL-2.0-only", "acknowledgement": "declared"}
    ]

    (gpl001,) = [a for a in bom["annotations"] if " GPL001 " in a["text"]]
    assert gpl001["subjects"] == ["file:hv_vmbus.ko", "file:hv_core.o"]
    assert gpl001["annotator"]["component"]["name"] == "gplscan"


@pytest.mark.parametrize("fmt", ["spdx", "cyclonedx"])
def test_same_input_same_document(
    built_examples: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str
) -> None:
    """The shipped (unbuilt) tree: planned modules, hv_core.o only as hv_core.o_shipped."""
    tree: Path = built_examples["hyperv-2009"]["source"]
    first = _audit(tree, fmt, monkeypatch)
    assert _audit(tree, fmt, monkeypatch) == first
    doc = json.loads(first)
    if fmt == "spdx":
        assert _spdx_errors(first, tmp_path) == [] and _spdx_schema_errors(doc) == []
        core = _package(doc, "hv_core.o")
        assert core["licenseConcluded"] == "LicenseRef-closed" and "checksums" in core
    else:
        assert _cyclonedx_errors(first) == [] and _cyclonedx_schema_errors(doc) == []


# --- a few hundred synthetic binaries ------------------------------------------------------


def _ev(text: str, path: str) -> Evidence:
    return Evidence("makefile", text, PurePosixPath(path), 1)


def _synthetic(n: int) -> ScanResult:
    """``n`` modules: two source-built objects each; every fifth also links a closed blob,
    every seventh an archive with a closed and an open member; odd MODULE_LICENSE strings;
    imports from the kernel, a module outside the target and the previous module."""
    files: list[FileEntry] = []
    binaries: list[Binary] = []
    findings: list[Finding] = []
    inventory: list[FileLicense] = []
    declared = [b"GPL", b"Dual BSD/GPL", b"Proprietary", b"GPL\0but not really", b"Weird-1 \\ x"]
    licenses = ["GPL-2.0-only", "GPL-2.0-only OR BSD-3-Clause", "LicenseRef-scancode-foo", "(x"]
    for i in range(n):
        d = f"drivers/m{i}"
        comps = []
        for j in range(2):
            src = PurePosixPath(f"{d}/part_{j}.c")
            lic = licenses[(i + j) % len(licenses)]
            files.append(FileEntry(src, FileKind.SOURCE, 100, None, f"{i:032x}{j:032x}"))
            inventory.append(FileLicense(src, "tagged", lic, 1))
            comps.append(
                Component(
                    PurePosixPath(f"{d}/part_{j}.o"),
                    Origin.SOURCE,
                    lic,
                    (src,),
                    src,
                    _ev(f"m{i}-y := part_{j}.o", f"{d}/Kbuild"),
                    (f"compiled from part_{j}.c",),
                )
            )
        if i % 5 == 0:
            blob = PurePosixPath(f"{d}/blob.o_shipped")
            files.append(FileEntry(blob, FileKind.OBJECT, 10, None, "ab" * 32))
            comps.append(
                Component(
                    PurePosixPath(f"{d}/blob.o"),
                    Origin.CLOSED,
                    "LicenseRef-closed",
                    (),
                    blob,
                    _ev(f"m{i}-y += blob.o", f"{d}/Kbuild"),
                    ("no blob.c in the tree", "its symbols are defined by no source"),
                    sha256="ab" * 32,
                )
            )
        if i % 7 == 0:
            lib = PurePosixPath(f"{d}/lib.a")
            files.append(FileEntry(lib, FileKind.ARCHIVE, 10, None, "cd" * 32))
            members = (
                Component(
                    PurePosixPath(f"{lib}(a.o)"),
                    Origin.CLOSED,
                    "LicenseRef-closed",
                    (),
                    lib,
                    _ev("ldflags", f"{d}/Kbuild"),
                    ("no a.c",),
                    sha256="ef" * 32,
                ),
                Component(
                    PurePosixPath(f"{lib}(b.o)"),
                    Origin.SOURCE,
                    "GPL-2.0-only",
                    (PurePosixPath(f"{d}/part_0.c"),),
                    lib,
                    _ev("ldflags", f"{d}/Kbuild"),
                    ("compiled from part_0.c",),
                ),
            )
            comps.append(
                Component(
                    lib,
                    Origin.CLOSED,
                    "LicenseRef-closed",
                    (),
                    lib,
                    _ev("ldflags-y += lib.a", f"{d}/Kbuild"),
                    ("an archive of 2 member(s), 1 closed",),
                    sha256="cd" * 32,
                    members=members,
                )
            )
        path = PurePosixPath(f"{d}/m{i}.ko")
        files.append(FileEntry(path, FileKind.OBJECT, 1000, None, f"{i:064x}"))
        imports = [
            Import("printk", "vmlinux", False, None, None),
            Import("pci_foo", "vmlinux", True, None, None),
            Import("other_sym", "outside_mod", True, None, None),
            Import("nowhere", "unresolved", None, None, None),
        ]
        if i:
            imports.append(Import(f"sym{i - 1}", f"drivers/m{i - 1}/m{i - 1}.ko", True, None, None))
        value = declared[i % len(declared)]
        binaries.append(
            Binary(
                path,
                f"m{i}",
                "kernel-module",
                DeclaredLicense(value, (), None),
                tuple(comps),
                None,
                imports=tuple(imports),
            )
        )
        if i % 5 == 0:
            findings.append(
                Finding(
                    "gpl-links-closed-object",
                    "GPL001",
                    Severity.ERROR,
                    str(path),
                    f"{d}/blob.o",
                    None,
                    f"{d}/Kbuild",
                    1,
                    f"m{i}.ko links closed blob.o",
                    (),
                    f"fp{i:06d}",
                )
            )
    findings.append(
        Finding(
            "not-judged", "GPL014", Severity.WARNING, None, None, None, "", None, "x", (), "fp-x"
        )
    )
    files.sort(key=lambda f: str(f.path))
    return ScanResult(
        target="/home/someone/secret/vendor-drop",
        tool_version="0.1.0",
        files=tuple(files),
        binaries=tuple(binaries),
        findings=tuple(findings),
        issues=(),
        inventory=tuple(inventory),
        provenance=Provenance("2024-01-02T03:04:05Z", ("gplscan", "audit"), "0" * 64),
    )


@pytest.mark.slow
def test_few_hundred_synthetic_binaries(tmp_path: Path) -> None:
    """Both SBOMs of 200 modules are written in time, the same twice, and valid (the
    validators take a minute on documents this size; the default run checks 15 modules'
    documents in full: test_synthetic_binaries_make_valid_documents)."""
    result = _synthetic(200)
    started = time.perf_counter()
    spdx_text = spdx.render(result)
    cdx_text = cyclonedx.render(result)
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"writing both SBOMs of 200 modules took {elapsed:.1f} s"
    assert spdx.render(result) == spdx_text and cyclonedx.render(result) == cdx_text
    doc, bom = json.loads(spdx_text), json.loads(cdx_text)
    assert _spdx_schema_errors(doc) == []
    assert _spdx_errors(spdx_text, tmp_path) == []
    assert _cyclonedx_schema_errors(bom) == []
    assert _cyclonedx_errors(cdx_text) == []
    assert len(bom["annotations"]) == 41  # every fifth module, and one


def test_synthetic_binaries_make_valid_documents(tmp_path: Path) -> None:
    """15 modules hold every case _synthetic makes (closed blobs, archives, each declared
    string and license): both documents, checked by both validators each."""
    result = _synthetic(15)
    spdx_text = spdx.render(result)
    cdx_text = cyclonedx.render(result)
    assert spdx.render(result) == spdx_text and cyclonedx.render(result) == cdx_text
    for text in (spdx_text, cdx_text):
        assert "/home/someone" not in text and "secret" not in text

    doc, bom = json.loads(spdx_text), json.loads(cdx_text)
    assert _spdx_schema_errors(doc) == []
    assert _spdx_errors(spdx_text, tmp_path) == []
    assert _cyclonedx_schema_errors(bom) == []
    assert _cyclonedx_errors(cdx_text) == []
    assert doc["name"] == "gplscan audit of vendor-drop"

    packages = {p["name"]: p for p in doc["packages"]}
    # every binary, object, archive member and source is an element
    for name in ("drivers/m7/m7.ko", "drivers/m7/part_1.o", "drivers/m7/lib.a(a.o)"):
        assert name in packages, name
    assert "drivers/m7/part_1.c" in packages
    assert packages["drivers/m7/lib.a(a.o)"]["licenseConcluded"] == "LicenseRef-closed"
    # a string the kernel reads as "GPL" but that hides text: its own LicenseRef, as written
    tricked = packages["drivers/m3/m3.ko"]
    assert tricked["licenseDeclared"].startswith("LicenseRef-module-license-")
    assert "\\x00but not really" in tricked["licenseComments"]
    assert packages["drivers/m2/m2.ko"]["licenseDeclared"] == "LicenseRef-proprietary"
    # an expression that does not parse is no assertion, and said so
    bad = packages["drivers/m2/part_1.o"]
    assert bad["licenseConcluded"] == "NOASSERTION" and "(x" in bad["licenseComments"]
    kinds = {r["relationshipType"] for r in doc["relationships"]}
    assert {"STATIC_LINK", "DYNAMIC_LINK", "GENERATED_FROM", "CONTAINS", "COPY_OF"} <= kinds
    assert "vmlinux" in packages and "outside_mod" in packages
    # a finding about nothing in the document is a document-level annotation
    assert any("GPL014" in a["comment"] for a in doc["annotations"])

    components = {c["bom-ref"]: c for c in bom["components"]}
    archive = components["file:drivers/m7/lib.a"]
    assert {c["bom-ref"] for c in archive["components"]} == {
        "file:drivers/m7/lib.a(a.o)",
        "file:drivers/m7/lib.a(b.o)",
    }
    assert len(bom["annotations"]) == 4  # modules 0, 5 and 10, and the document's
