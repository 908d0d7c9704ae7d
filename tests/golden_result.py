"""A ``ScanResult`` built by hand from the model's dataclasses, for the golden files of
``tests/test_golden.py``: small, but holding every kind of thing a report shows (a failing
and a passing module, a planned module, a program, an archive with members, imports of
each kind, a baseline, waivers applied, expired and unused, skipped files and notes, each
inventory status, provenance, a repository path and ``--changed-since``), with text that
reporters must escape (markup, quotes, a tab, a control character, non-ASCII)."""

from __future__ import annotations

import datetime
from pathlib import PurePosixPath as P

from gplscan.model import (
    Binary,
    Component,
    DeclaredLicense,
    Edge,
    Evidence,
    FileEntry,
    FileKind,
    FileLicense,
    Finding,
    Import,
    Location,
    Origin,
    Provenance,
    ScanIssue,
    ScanResult,
    ScanStats,
    Severity,
    Waiver,
)
from gplscan.rules import load_rules

_KBUILD = P("drivers/Kbuild")


def _make(text: str, line: int) -> Evidence:
    return Evidence("makefile", text, _KBUILD, line)


def _source_part(name: str, license: str = "GPL-2.0-only") -> Component:
    return Component(
        path=P(f"drivers/{name}.o"),
        origin=Origin.SOURCE,
        license=license,
        sources=(P(f"drivers/{name}.c"),),
        file=P(f"drivers/{name}.o"),
        linked_by=_make(f"vendor-y := {name}.o blob.o libhelp.a", 2),
        reasons=(f"compiled from drivers/{name}.c",),
        license_evidence=(Evidence("spdx", license, P(f"drivers/{name}.c"), 1),),
        provenance=(Evidence("source", f"{name}.c compiles to {name}.o", P(f"drivers/{name}.c")),),
        sha256="1" * 64,
        defined=frozenset({f"{name}_init"}),
        undefined=frozenset({"blob_call", "printk"}),
    )


def _blob() -> Component:
    return Component(
        path=P("drivers/blob.o"),
        origin=Origin.CLOSED,
        license="LicenseRef-closed",
        sources=(),
        file=P("drivers/blob.o_shipped"),
        linked_by=_make("vendor-y := main.o blob.o libhelp.a", 2),
        reasons=(
            "no drivers/blob.c or drivers/blob.S in the tree compiles to drivers/blob.o",
            "its symbol table (STT_FILE) names source file(s) blob.c, which the tree does not hold",
        ),
        provenance=(
            Evidence("symbol", "STT_FILE blob.c", P("drivers/blob.o_shipped")),
            Evidence("makefile", "$(obj)/%: $(src)/%_shipped", P("scripts/Makefile.lib"), 9),
        ),
        expected=frozenset(),
        named_source=P("drivers/blob.c"),
        sha256="b" * 64,
        defined=frozenset({"blob_call", "blob_init"}),
        undefined=frozenset({"main_init"}),
    )


def _archive() -> Component:
    lib = P("drivers/libhelp.a")
    members = (
        Component(
            path=P("drivers/libhelp.a(fast.o)"),
            origin=Origin.CLOSED,
            license="LicenseRef-closed",
            sources=(),
            file=lib,
            linked_by=_make("vendor-y := main.o blob.o libhelp.a", 2),
            reasons=("no fast.c in the tree",),
            sha256="f" * 64,
        ),
        Component(
            path=P("drivers/libhelp.a(util.o)"),
            origin=Origin.SOURCE,
            license="MIT",
            sources=(P("drivers/util.c"),),
            file=lib,
            linked_by=_make("vendor-y := main.o blob.o libhelp.a", 2),
            reasons=("compiled from drivers/util.c",),
            tag_error=None,
        ),
    )
    return Component(
        path=lib,
        origin=Origin.CLOSED,
        license="LicenseRef-closed",
        sources=(),
        file=lib,
        linked_by=_make("vendor-y := main.o blob.o libhelp.a", 2),
        reasons=("an archive of 2 member(s), 1 closed",),
        sha256="a" * 64,
        members=members,
    )


def _vendor() -> Binary:
    imports = (
        Import(
            "printk", "vmlinux", False, None, Evidence("symvers", "printk vmlinux EXPORT_SYMBOL")
        ),
        Import(
            "dma_buf_get",
            "vmlinux",
            True,
            "DMA_BUF",
            Evidence("symvers", "dma_buf_get vmlinux EXPORT_SYMBOL_GPL DMA_BUF"),
        ),
        Import("helper_run", "drivers/helper.ko", True, None, None),
        Import("mystery", "unresolved", None, None, None),
        Import("late_bind", "vmlinux", False, None, None, runtime=True),
    )
    return Binary(
        path=P("drivers/vendor.ko"),
        name="vendor",
        kind="kernel-module",
        declared=DeclaredLicense(
            b"GPL\0and <b>not</b> really",
            (Evidence("modinfo", 'license="GPL\\0and <b>not</b> really"', P("drivers/vendor.ko")),),
            Location(P("drivers/main.c"), 40),
        ),
        components=(_source_part("main"), _blob(), _archive()),
        defined_at=_make("obj-m += vendor.o", 1),
        imports=imports,
        exports=(("vendor_api", False), ("vendor_gpl_api", True)),
    )


def _helper() -> Binary:
    return Binary(
        path=P("drivers/helper.ko"),
        name="helper",
        kind="kernel-module",
        declared=DeclaredLicense(b"Dual MIT/GPL", (), Location(P("drivers/helper.c"), 12)),
        components=(_source_part("helper", "MIT OR GPL-2.0-only"),),
        defined_at=_make("obj-m += helper.o", 3),
        exports=(("helper_run", True),),
        imports=(Import("printk", "vmlinux", False, None, None),),
    )


def _planned() -> Binary:
    return Binary(
        path=P("drivers/extra.ko"),
        name="extra",
        kind="planned",
        declared=None,
        components=(_source_part("extra"),),
        defined_at=_make("obj-$(CONFIG_EXTRA) += extra.o", 4),
        conditional=True,
        license_note="not built: the declared license is read from its source",
    )


def _program() -> Binary:
    return Binary(
        path=P("tools/fwtool"),
        name="fwtool",
        kind="program",
        declared=None,
        components=(
            Component(
                path=P("tools/fwtool.o"),
                origin=Origin.UNKNOWN,
                license=None,
                sources=(),
                file=None,
                linked_by=Evidence("makefile", "fwtool: fwtool.o", P("tools/Makefile"), 1),
                reasons=("the target holds only the built program",),
            ),
        ),
        defined_at=Evidence("makefile", "fwtool: fwtool.o", P("tools/Makefile"), 1),
        composition_known=False,
        needed=("libc.so.6", "libfirmware.so.2"),
    )


def _finding(
    rule: str, rule_id: str, severity: Severity, message: str, fp: str, **where: object
) -> Finding:
    fields: dict[str, object] = {
        "binary": "drivers/vendor.ko",
        "object": None,
        "symbol": None,
        "path": "drivers/Kbuild",
        "line": 2,
        "evidence": (),
    }
    fields.update(where)
    return Finding(
        rule=rule,
        rule_id=rule_id,
        severity=severity,
        message=message,
        fingerprint=fp,
        **fields,  # type: ignore[arg-type]
    )


_CLOSED = _finding(
    "gpl-links-closed-object",
    "GPL001",
    Severity.ERROR,
    "drivers/vendor.ko links drivers/blob.o, which no source in the tree accounts for, into "
    "one binary with GPL code (GPL-2.0-only in drivers/main.c): GPL code calls blob_call in it",
    "0123456789abcdef0123456789abcdef",
    object="drivers/blob.o",
    evidence=(
        _make("vendor-y := main.o blob.o libhelp.a", 2),
        Evidence("symbol", "main.o calls blob_call, defined in blob.o", P("drivers/main.o")),
    ),
)
_TRICK = _finding(
    "module-license-string-trick",
    "GPL005",
    Severity.ERROR,
    'drivers/vendor.ko declares MODULE_LICENSE("GPL\\0and <b>not</b> really"): the kernel '
    'reads "GPL" & stops at the NUL; the rest says\totherwise \x1b[31m',
    "fedcba9876543210fedcba9876543210",
    path="drivers/main.c",
    line=40,
    evidence=(
        Evidence("modinfo", 'license="GPL\\0and <b>not</b> really"', P("drivers/vendor.ko")),
    ),
)
_UNKNOWN = _finding(
    "unknown-license",
    "GPL011",
    Severity.WARNING,
    "tools/fwtool: what it is made of is unknown (only the built program is in the target)",
    "11111111111111111111111111111111",
    binary="tools/fwtool",
    path="tools/Makefile",
    line=1,
)
_INFO = _finding(
    "closed-object",
    "GPL013",
    Severity.INFO,
    "drivers/vendor.ko holds drivers/blob.o, which no source in the tree accounts for",
    "22222222222222222222222222222222",
    object="drivers/blob.o",
)
_HELD = _finding(
    "gpl-only-symbol-in-non-gpl-module",
    "GPL003",
    Severity.ERROR,
    "drivers/vendor.ko is not GPL-licensed but uses dma_buf_get, exported GPL-only",
    "33333333333333333333333333333333",
    symbol="dma_buf_get",
)
_WAIVED = _finding(
    "proprietary-module",
    "GPL007",
    Severity.WARNING,
    "drivers/helper.ko: Ünïcode — a waived warning",
    "44444444444444444444444444444444",
    binary="drivers/helper.ko",
    path="drivers/helper.c",
    line=12,
)
_WAIVER = Waiver(
    rule="proprietary-module",
    path="drivers/helper.ko",
    fingerprint=None,
    justification="legal reviewed <ticket #7> & agreed",
    approved_by="counsel@example.com",
    expires=datetime.date(2099, 1, 1),
    source=".gplscan.toml: waiver #1",
)
_EXPIRED = Waiver(
    rule="GPL013",
    path=None,
    fingerprint="22222222222222222222222222222222",
    justification="until the vendor sent the source",
    approved_by=None,
    expires=datetime.date(2020, 6, 30),
    source=".gplscan.toml: waiver #2",
)
_UNUSED = Waiver(
    rule="gpl-symbol-reexport",
    path="lib/*",
    fingerprint=None,
    justification="old",
    approved_by="someone",
    expires=None,
    source=".gplscan.toml: waiver #3",
)


def _files() -> tuple[FileEntry, ...]:
    entries = [
        ("drivers/Kbuild", FileKind.BUILD, 120, None),
        ("drivers/blob.o_shipped", FileKind.OBJECT, 7208, None),
        ("drivers/extra.c", FileKind.SOURCE, 300, None),
        ("drivers/firmware.bin", FileKind.DATA, 4096, None),
        ("drivers/helper.c", FileKind.SOURCE, 900, None),
        ("drivers/helper.ko", FileKind.OBJECT, 20000, None),
        ("drivers/libhelp.a", FileKind.ARCHIVE, 5000, None),
        ("drivers/main.c", FileKind.SOURCE, 2500, None),
        ("drivers/main.h", FileKind.HEADER, 400, None),
        ("drivers/notes.o", FileKind.OTHER, 30, "named .o but holds text"),
        ("drivers/old.ko.xz", FileKind.COMPRESSED, 900, None),
        ("drivers/util.c", FileKind.SOURCE, 200, None),
        ("drivers/vendor.ko", FileKind.OBJECT, 40000, None),
        ("COPYING", FileKind.LICENSE_TEXT, 18000, None),
        ("tools/Makefile", FileKind.BUILD, 80, None),
        ("tools/fwtool", FileKind.OBJECT, 15000, None),
    ]
    return tuple(
        FileEntry(P(path), kind, size, note, f"{i:064x}")
        for i, (path, kind, size, note) in enumerate(sorted(entries))
    )


def _inventory() -> tuple[FileLicense, ...]:
    vendor = ("drivers/vendor.ko",)
    return (
        FileLicense(
            P("drivers/blob.o_shipped"), "binary", "LicenseRef-closed", None, binaries=vendor
        ),
        FileLicense(P("drivers/extra.c"), "malformed", None, 1, binaries=("drivers/extra.ko",)),
        FileLicense(
            P("drivers/helper.c"),
            "tagged",
            "MIT OR GPL-2.0-only",
            1,
            binaries=("drivers/helper.ko",),
        ),
        FileLicense(P("drivers/main.c"), "tagged", "GPL-2.0-only", 1, binaries=vendor),
        FileLicense(P("drivers/main.h"), "none", None, binaries=vendor),
        FileLicense(
            P("drivers/util.c"),
            "detected",
            "MIT",
            3,
            end_line=21,
            rule="mit_12.RULE",
            score=99.5,
            binaries=vendor,
        ),
        FileLicense(P("drivers/firmware.bin"), "unread", None),
    )


def hand_built() -> ScanResult:
    """The result (the same every call)."""
    vendor, helper = _vendor(), _helper()
    edges = (
        Edge(
            "links", "drivers/vendor.ko", "drivers/blob.o", (_make("vendor-y := main.o blob.o", 2),)
        ),
        Edge(
            "compiled-from",
            "drivers/main.o",
            "drivers/main.c",
            (Evidence("source", "main.c compiles to main.o", P("drivers/main.c")),),
        ),
        Edge(
            "imports-symbol",
            "drivers/main.o",
            "drivers/blob.o",
            (Evidence("symbol", "blob_call", P("drivers/main.o")),),
        ),
    )
    return ScanResult(
        target="vendor-drop <v2>",
        tool_version="0.1.0",
        files=_files(),
        binaries=(helper, vendor, _planned(), _program()),
        findings=(_CLOSED, _TRICK, _UNKNOWN, _INFO),
        issues=(
            ScanIssue(P("drivers/old.ko.xz"), "unpack", "not read: xz stream truncated at byte 12"),
            ScanIssue(P("drivers/notes.o"), "discover", "named .o but holds text", skipped=False),
        ),
        edges=edges,
        rules=load_rules(),
        source_count=4,
        object_count=4,
        inventory=_inventory(),
        inventory_scope="binaries",
        stats=ScanStats(
            jobs=2,
            files=16,
            files_read=16,
            detected=1,
            scancode_loaded=True,
            symbol_index_read=False,
            kernel_exports=0,
            kernel_source="Module.symvers of the target (its build records)",
            seconds=0.25,
        ),
        baseline=(_HELD,),
        waived=((_WAIVED, _WAIVER),),
        expired_waivers=(_EXPIRED,),
        unused_waivers=(_UNUSED,),
        fail_on="warning",
        allow_partial=False,
        provenance=Provenance(
            scanned_at="2024-01-02T03:04:05Z",
            command=("gplscan", "audit", "vendor-drop.tar.gz", "--fail-on", "warning"),
            rules_digest="0" * 64,
            input_sha256="9" * 64,
            input_size=123456,
        ),
        repo_path="vendors/acme",
        changed_since="v1.0",
    )
