"""Every rule fires on its `violates` fixtures and stays quiet on its `clean` ones.

Each rule file names its fixture directory (`fixtures:`); the directory holds `violates*/`
and `clean*/` trees and a `fixture.toml`: which closed objects to compile into a tree
(`blobs`, from `_blobs/` or, with `./`, from the tree itself), whether to build the tree's
modules with minikbuild (`build`, headers from the Hyper-V example), whether to pass the
stand-in kernel's Module.symvers (`kernel`), and what a tree must (not) yield.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gplscan.model import ScanResult
from gplscan.rules import load_rules
from gplscan.scan import Options, run
from tests.helpers import FIXTURES, compile_object, need_tools

RULE_FIXTURES = FIXTURES / "rules"  # and the blobs and stand-in kernel the rules share
RULES = {r.id: r for r in load_rules()}


def _fixtures(rule_id: str) -> Path:
    """The directory the rule file names (`fixtures:`, relative to the repository)."""
    return FIXTURES.parent / RULES[rule_id].fixtures


def _spec(rule_id: str) -> dict[str, Any]:
    return tomllib.loads((_fixtures(rule_id) / "fixture.toml").read_text())


def _trees(rule_id: str, kind: str) -> list[str]:
    return sorted(
        p.name for p in _fixtures(rule_id).iterdir() if p.is_dir() and p.name.startswith(kind)
    )


def _build(rule_id: str, tree: str, tmp_path: Path) -> Path:
    spec = _spec(rule_id)
    dest = tmp_path / tree
    shutil.copytree(_fixtures(rule_id) / tree, dest)
    for output, source in spec.get(tree, {}).get("blobs", {}).items():
        origin = dest / source[2:] if source.startswith("./") else RULE_FIXTURES / "_blobs" / source
        compile_object(origin, dest / output)
    for name, size in spec.get(tree, {}).get("data", {}).items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(os.urandom(size))
    if spec.get("build"):
        need_tools("gcc", "ld", "make", "nm", "objdump")
        shutil.copytree(FIXTURES / "hyperv-2009" / "include", dest / "include")
        proc = subprocess.run(
            ["make", "-f", str(FIXTURES / "minikbuild.mk"), "-C", str(dest), f"src={dest}"],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        shutil.rmtree(dest / "include")  # the stand-in headers are not part of the driver
    return dest


def _scan(rule_id: str, tree: Path) -> ScanResult:
    spec = _spec(rule_id)
    kernel = RULE_FIXTURES / "_kernel" / "Module.symvers" if spec.get("kernel") else None
    deny = tuple(spec.get("deny", ()))
    return run(tree, Options(kernel=kernel, license_deny=deny))


def _fired(result: ScanResult) -> set[str]:
    return {f.rule for f in result.findings}


def _params() -> list[Any]:
    out = []
    for rule_id in sorted(RULES):
        marks = [pytest.mark.scancode] if _spec(rule_id).get("scancode") else []
        out.append(pytest.param(rule_id, marks=marks, id=rule_id))
    return out


def test_every_rule_has_both_fixtures() -> None:
    for rule_id, rule in RULES.items():
        assert rule.fixtures and _fixtures(rule_id).is_dir(), (
            f"{rule_id}: fixtures: {rule.fixtures}"
        )
        assert _trees(rule_id, "violates"), f"{rule_id} lacks violates/"
        assert _trees(rule_id, "clean"), f"{rule_id} lacks clean/"


@pytest.mark.parametrize("rule_id", _params())
def test_rule_fires_on_violates_only(rule_id: str, tmp_path: Path) -> None:
    rule = RULES[rule_id]
    spec = _spec(rule_id)
    for tree in _trees(rule_id, "violates"):
        bad = _scan(rule_id, _build(rule_id, tree, tmp_path))
        assert bad.complete, bad.issues
        hits = [f for f in bad.findings if f.rule == rule.name]
        assert hits, f"{rule.name} did not fire on {tree}: {_fired(bad)}"
        want = spec[tree].get("severity", rule.severity.value)
        for f in hits:
            assert f.rule_id == rule.id and f.severity.value == want
            assert f.path and f.evidence, "a finding needs a location and evidence"
        for other in spec[tree].get("must_not_fire", []):
            assert other not in _fired(bad), f"{other} fired on {rule_id}/{tree}"
    for tree in _trees(rule_id, "clean"):
        good = _scan(rule_id, _build(rule_id, tree, tmp_path))
        assert good.complete, good.issues
        assert rule.name not in _fired(good), [f.message for f in good.findings]
        if spec.get(tree, {}).get("must_be_silent"):
            assert not good.findings, [f.message for f in good.findings]


def test_own_rules_match_the_schema() -> None:
    """gplscan's own rules skip the schema check at run time: this is where it is made."""
    assert {r.id for r in load_rules(validate=True)} == set(RULES)


def test_other_rule_directories_are_checked_against_the_schema(tmp_path: Path) -> None:
    from gplscan.errors import RuleError
    from gplscan.resources import rules_dir

    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    assert {r.id for r in load_rules(copy)} == set(RULES)
    rule = copy / "GPL013-closed-object.yaml"
    rule.write_text(rule.read_text().replace("severity: info", "severity: dreadful"))
    with pytest.raises(RuleError, match=r"GPL013-closed-object.yaml:4: severity: 'dreadful'"):
        load_rules(copy)
    # without the schema check, the checks beyond it still run
    rule.write_text(rule.read_text().replace("severity: dreadful", "severity: info"))
    rule = copy / "GPL014-malformed-license-tag.yaml"
    rule.write_text(rule.read_text().replace("predicate: ", "predicate: no_such_", 1))
    with pytest.raises(RuleError, match="unknown predicate 'no_such_"):
        load_rules(copy, validate=False)


def test_rule_files_are_parsed_once_per_content_through_the_cache(tmp_path: Path) -> None:
    """A scan keeps each rule file's parsed document in its cache, by content: the next
    scan does not parse (nor import PyYAML), and an edited file is parsed again."""
    from gplscan.errors import LicenseDataError, RuleError
    from gplscan.facts.cache import FactCache
    from gplscan.policy import load_license_data
    from gplscan.resources import rules_dir
    from gplscan.yamltext import parse_yaml

    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    cache = FactCache(tmp_path / "cache")
    parsed: list[str] = []

    def parse(text: str) -> Any:
        return cache.remembered("yaml", text, compute=lambda t: parsed.append(t) or parse_yaml(t))

    first = load_rules(copy, parse=parse)
    assert len(parsed) == len(list(copy.glob("GPL*.yaml")))
    load_license_data(copy / "licenses.yml", parse=parse)
    parsed.clear()
    assert load_rules(copy, parse=parse) == first
    load_license_data(copy / "licenses.yml", parse=parse)
    assert parsed == []  # all read back
    rule = copy / "GPL013-closed-object.yaml"
    rule.write_text(rule.read_text().replace("severity: info", "severity: warning"))
    again = {r.id: r for r in load_rules(copy, parse=parse)}
    assert len(parsed) == 1 and again["GPL013"].severity.value == "warning"
    # text that is not YAML: the error names the file, and nothing is kept for it
    rule.write_text("id: [unclosed\n")
    for _ in range(2):
        with pytest.raises(RuleError, match=r"GPL013-closed-object\.yaml: not readable YAML"):
            load_rules(copy, parse=parse)
    (copy / "licenses.yml").write_text("schema: {\n")
    with pytest.raises(LicenseDataError, match=r"licenses\.yml"):
        load_license_data(copy / "licenses.yml", parse=parse)
    # values marshal cannot keep (a YAML date) are returned, not stored
    assert cache.remembered("yaml", "day: 2026-12-02\n", compute=parse_yaml)["day"].year == 2026
    cache.close()
