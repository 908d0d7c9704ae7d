"""SARIF and GitLab Code Quality output of the Hyper-V reconstruction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from tests.helpers import REPO, run_cli_here

SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


def test_sarif_validates_and_points_at_repository_lines(built_examples: dict[str, Any]) -> None:
    tree: Path = built_examples["hyperv-2009"]["source"]
    proc = run_cli_here("audit", str(tree), "--format", "sarif")
    assert proc.returncode == 1, proc.stderr
    sarif = json.loads(proc.stdout)
    jsonschema.validate(sarif, SARIF_SCHEMA)
    (run,) = sarif["runs"]
    assert run["automationDetails"]["id"] == "gplscan/"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(rule_ids) and "GPL001" in rule_ids
    by_rule = {r["ruleId"]: r for r in run["results"]}
    closed = by_rule["GPL001"]
    loc = closed["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "Kbuild" and loc["region"]["startLine"] == 3
    assert rule_ids[closed["ruleIndex"]] == "GPL001"
    assert "primaryLocationLineHash" not in closed["partialFingerprints"]
    assert closed["partialFingerprints"]["gplscan/v1"]
    assert any(
        r["physicalLocation"]["artifactLocation"]["uri"] == "hv_core.o_shipped"
        for r in closed["relatedLocations"]
    )
    for result in run["results"]:
        assert result["locations"], "a result without a location fails the whole upload"
        assert not result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
            "/"
        )


def test_gitlab_code_quality(built_examples: dict[str, Any]) -> None:
    proc = run_cli_here("audit", str(built_examples["hyperv-2009"]["source"]), "--format", "gitlab")
    report = json.loads(proc.stdout)
    closed = next(r for r in report if r["check_name"] == "gpl-links-closed-object")
    assert closed["severity"] == "critical"
    assert closed["location"] == {"path": "Kbuild", "lines": {"begin": 3}}
    assert len({r["fingerprint"] for r in report}) == len(report)
