"""End to end: the 2009 Hyper-V reconstruction and its clean twin, source-only and built."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.helpers import REPO, modules_after, run_cli, run_cli_here

SCHEMA = json.loads((REPO / "gplscan" / "report" / "gplscan-1.schema.json").read_text())


def audit_json(tree: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli_here("audit", str(tree), "--format", "json", *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.validate(report, SCHEMA)
    return proc.returncode, report


def errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["severity"] == "error"]


@pytest.mark.parametrize("form", ["source", "built"])
def test_closed_reconstruction_is_caught(built_examples: dict[str, Any], form: str) -> None:
    code, report = audit_json(built_examples["hyperv-2009"][form])
    assert code == 1
    assert report["complete"] is True, report["issues"]
    by_rule = {f["rule"]: f for f in errors(report)}
    assert set(by_rule) == {"gpl-links-closed-object", "module-license-misdeclared"}

    closed = by_rule["gpl-links-closed-object"]
    assert closed["binary"] == "hv_vmbus.ko"
    assert closed["object"] == "hv_core.o"
    assert closed["path"] == "Kbuild"
    kbuild_lines = (built_examples["hyperv-2009"][form] / "Kbuild").read_text().splitlines()
    assert "hv_core.o" in kbuild_lines[closed["line"] - 1], "points at the line linking it"
    symbols = [e for e in closed["evidence"] if e["kind"] == "symbol"]
    called = {e["text"].split()[0] for e in symbols if "defined in closed" in e["text"]}
    assert {"hv_post_message", "hv_signal_event"} <= called
    assert any(
        "called by closed" in e["text"] and e["text"].startswith("vmbus_on_msg_dpc")
        for e in symbols
    ), "the blob calls back into GPL code"
    assert all(
        e["path"] and e["line"] for e in symbols if "hv_core.o_shipped" not in (e["path"] or "")
    ), "every symbol tie points at a source line"

    misdeclared = by_rule["module-license-misdeclared"]
    assert misdeclared["binary"] == "hv_vmbus.ko"
    assert misdeclared["path"] == "vmbus_drv.c"
    line = (
        (built_examples["hyperv-2009"][form] / "vmbus_drv.c")
        .read_text()
        .splitlines()[misdeclared["line"] - 1]
    )
    assert 'MODULE_LICENSE("GPL")' in line

    vmbus = next(b for b in report["binaries"] if b["path"] == "hv_vmbus.ko")
    assert vmbus["kind"] == ("kernel-module" if form == "built" else "planned")
    assert vmbus["declared_license"] == "GPL"
    origins = {c["path"]: c["origin"] for c in vmbus["components"]}
    assert origins == {
        "vmbus_drv.o": "source",
        "channel.o": "source",
        "ring_buffer.o": "source",
        "hv_core.o": "closed",
    }
    assert "LicenseRef-closed" in vmbus["licenses"] and "GPL-2.0-only" in vmbus["licenses"]
    for other in ("hv_netvsc.ko", "hv_storvsc.ko"):
        module = next(b for b in report["binaries"] if b["path"] == other)
        assert all(c["origin"] == "source" for c in module["components"])


def test_source_only_and_built_give_the_same_verdict(built_examples: dict[str, Any]) -> None:
    verdicts = []
    for form in ("source", "built"):
        _, report = audit_json(built_examples["hyperv-2009"][form])
        verdicts.append(
            sorted(
                (f["rule"], f["binary"], f["object"], f["fingerprint"]) for f in report["findings"]
            )
        )
    assert verdicts[0] == verdicts[1]


@pytest.mark.parametrize("form", ["source", "built"])
def test_clean_twin_is_clean(built_examples: dict[str, Any], form: str) -> None:
    code, report = audit_json(built_examples["hyperv-2009-open"][form])
    assert code == 0, report["findings"]
    assert report["findings"] == []
    assert report["complete"] is True
    assert len(report["binaries"]) == 3


def test_report_is_deterministic(built_examples: dict[str, Any]) -> None:
    tree = built_examples["hyperv-2009"]["built"]
    first = run_cli("audit", str(tree), "--format", "json").stdout
    second = run_cli("audit", str(tree), "--format", "json").stdout
    # the one field that records the run, not the target: when it ran (fixed only by
    # SOURCE_DATE_EPOCH, see tests/test_provenance_record.py)
    moment = re.compile(r'"scanned_at": "[^"]*"')
    assert moment.sub("", first) == moment.sub("", second)
    assert '"scanned_at": "' in first


def test_terminal_report_shows_tree_and_evidence(built_examples: dict[str, Any]) -> None:
    proc = run_cli_here("audit", str(built_examples["hyperv-2009"]["built"]))
    assert proc.returncode == 1
    out = proc.stdout
    assert "hv_vmbus.ko" in out and "CLOSED" in out and "hv_core.o_shipped" in out
    assert "gpl-links-closed-object" in out and "module-license-misdeclared" in out
    assert "2 errors" in out


def test_output_file_and_fail_on(built_examples: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    tree = built_examples["hyperv-2009"]["built"]
    proc = run_cli_here("audit", str(tree), "--format", "json", "--output", str(out))
    assert proc.returncode == 1 and proc.stdout == ""
    assert json.loads(out.read_text())["schema"] == "gplscan/1"
    assert run_cli_here("audit", str(tree), "--fail-on", "never").returncode == 0
    clean = built_examples["hyperv-2009-open"]["built"]
    assert run_cli_here("audit", str(clean), "--fail-on", "info").returncode == 0


def test_demo_prints_the_verdict() -> None:
    proc = run_cli_here("demo", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.validate(report, SCHEMA)
    assert {f["rule"] for f in errors(report)} == {
        "gpl-links-closed-object",
        "module-license-misdeclared",
    }
    assert report["target"].startswith("hyperv-2009")


def test_demo_clean_exits_zero() -> None:
    proc = run_cli_here("demo", "--clean", "--source-only", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 errors" in proc.stdout


def test_version_and_help_do_not_load_heavy_libraries() -> None:
    for args in (["--version"], ["--help"], ["audit", "--help"], ["rules", "list"]):
        heavy = ("scancode", "licensedcode", "lief", "elftools", "rich")
        assert modules_after(args, heavy) == [], args


def test_a_cached_audit_does_not_parse_rule_files_again(
    built_examples: dict[str, Any], tmp_path: Path
) -> None:
    """The rule files' documents come from the cache on the second run: PyYAML is not
    even imported (it and the parsing were ≈35 ms of every audit)."""
    target = str(built_examples["hyperv-2009"]["built"])

    def audit(cache: str) -> list[str]:
        args = ["audit", target, "--format", "json", "-q", "--fail-on", "never"]
        args += ["--output", str(tmp_path / "out.json"), "--cache-dir", str(tmp_path / cache)]
        return args

    assert modules_after(audit("c"), ("yaml",)) == ["yaml"]
    assert modules_after(audit("c"), ("yaml",)) == []
    assert modules_after(audit("other"), ("yaml",)) == ["yaml"]


def test_import_edges_name_each_providers_own_symbols(built_examples: dict[str, Any]) -> None:
    """Every module's imports, grouped by provider: each edge counts and names only the
    symbols that provider gives (here hv_vmbus.ko's exports; the rest are unresolved)."""
    from gplscan.graph import import_edges
    from gplscan.model import import_counts
    from gplscan.scan import Options, run

    result = run(built_examples["hyperv-2009"]["built"], Options(cache_dir=None, jobs=1))
    by_binary = {str(b.path): b for b in result.binaries}
    netvsc = by_binary["hv_netvsc.ko"]
    from_vmbus = sorted(i.symbol for i in netvsc.imports if i.provider == "hv_vmbus.ko")
    unresolved = sorted(i.symbol for i in netvsc.imports if i.provider == "unresolved")
    assert from_vmbus and unresolved
    edges = import_edges(netvsc)
    (edge,) = [e for e in edges if e.dst == "hv_vmbus.ko"]
    assert edge.kind == "imports-symbol" and edge.src == "hv_netvsc.ko"
    (evidence,) = edge.evidence
    assert evidence.text == f"{len(from_vmbus)} symbol(s): {', '.join(from_vmbus)}"
    assert not [e for e in edges if e.dst == "unresolved"]
    # counted by (provider, GPL-only) as they were resolved, as the JSON report shows them
    assert netvsc.import_counts == import_counts(netvsc.imports)
    assert sum(n for _, n in netvsc.import_counts) == len(netvsc.imports)
