"""Every rule fires on its `violates` fixture and stays quiet on its `clean` one."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from gplscan.model import ScanResult
from gplscan.rules import load_rules
from gplscan.scan import run
from tests.helpers import FIXTURES, compile_object

RULE_FIXTURES = FIXTURES / "rules"
RULES = {r.id: r for r in load_rules()}


def _build(rule_id: str, tree: str, tmp_path: Path) -> Path:
    spec = tomllib.loads((RULE_FIXTURES / rule_id / "fixture.toml").read_text())
    dest = tmp_path / tree
    shutil.copytree(RULE_FIXTURES / rule_id / tree, dest)
    for output, source in spec.get(tree, {}).get("blobs", {}).items():
        compile_object(RULE_FIXTURES / "_blobs" / source, dest / output)
    return dest


def _fired(result: ScanResult) -> set[str]:
    return {f.rule for f in result.findings}


def _params() -> list[object]:
    out = []
    for rule_id in sorted(RULES):
        spec = tomllib.loads((RULE_FIXTURES / rule_id / "fixture.toml").read_text())
        marks = [pytest.mark.scancode] if spec.get("scancode") else []
        out.append(pytest.param(rule_id, marks=marks, id=rule_id))
    return out


def test_every_rule_has_both_fixtures() -> None:
    for rule_id in RULES:
        for tree in ("violates", "clean"):
            assert (RULE_FIXTURES / rule_id / tree).is_dir(), f"{rule_id} lacks {tree}/"


@pytest.mark.parametrize("rule_id", _params())
def test_rule_fires_on_violates_only(rule_id: str, tmp_path: Path) -> None:
    rule = RULES[rule_id]
    spec = tomllib.loads((RULE_FIXTURES / rule_id / "fixture.toml").read_text())

    bad = run(_build(rule_id, "violates", tmp_path))
    assert bad.complete, bad.issues
    hits = [f for f in bad.findings if f.rule == rule.name]
    assert hits, f"{rule.name} did not fire on violates: {_fired(bad)}"
    for f in hits:
        assert f.rule_id == rule.id and f.severity == rule.severity
        assert f.path and f.evidence, "a finding needs a location and evidence"
    for other in spec["violates"].get("must_not_fire", []):
        assert other not in _fired(bad), f"{other} fired on {rule_id}/violates"

    good = run(_build(rule_id, "clean", tmp_path))
    assert good.complete, good.issues
    assert rule.name not in _fired(good), [f.message for f in good.findings]
