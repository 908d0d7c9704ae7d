"""Fingerprints survive renames and moves of unchanged content (issue 15, item 4): a
baseline stays silent after ``git mv`` of a directory, and a different blob at the same
path is a new finding."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from gplscan.findings import build_findings
from gplscan.model import Binary, Location, Rule
from gplscan.rules.predicates import Match
from tests.helpers import FIXTURES, compile_object, need_tools, run_cli_here

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "PATH": "/usr/bin:/bin",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=GIT_ENV)


@pytest.fixture()
def repo(tmp_path: Path, built_examples: dict[str, Any]) -> Path:
    """A repository whose drivers sit in ``hv/``: the closed example, committed."""
    need_tools("git", "gcc")
    repo = tmp_path / "repo"
    shutil.copytree(built_examples["hyperv-2009"]["source"], repo / "hv")
    (repo / "Kbuild").write_text("obj-m += hv/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "drivers")
    return repo


def _audit(repo: Path) -> tuple[int, dict[str, Any]]:
    baseline = repo / "gplscan-baseline.json"
    proc = run_cli_here("audit", str(repo), "--format", "json", "--baseline", str(baseline))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_directory_rename_keeps_the_baseline_silent_and_a_new_blob_is_new(repo: Path) -> None:
    proc = run_cli_here("baseline", "write", str(repo), "-o", str(repo / "gplscan-baseline.json"))
    assert proc.returncode == 0, proc.stderr
    held = json.loads((repo / "gplscan-baseline.json").read_text())["findings"]
    assert {f["rule"] for f in held} >= {"gpl-links-closed-object"}
    assert all(f["binary"].startswith("hv/") for f in held if f["binary"])
    _git(repo, "add", "gplscan-baseline.json")
    _git(repo, "commit", "-qm", "baseline")

    _git(repo, "mv", "hv", "hyperv")
    (repo / "Kbuild").write_text("obj-m += hyperv/\n")
    code, report = _audit(repo)
    assert code == 0 and report["findings"] == [], report["findings"]
    assert {f["binary"] for f in report["baseline"]} == {
        "hyperv/" + f["binary"].removeprefix("hv/") for f in held
    }

    # the same path, another blob: a new finding
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", repo / "hyperv" / "hv_core.o_shipped")
    code, report = _audit(repo)
    assert code == 1
    assert {(f["rule"], f["object"]) for f in report["findings"]} >= {
        ("gpl-links-closed-object", "hyperv/hv_core.o")
    }


def test_two_modules_of_one_name_in_two_directories_stay_two_findings() -> None:
    from gplscan.rules import load_rules

    rule = next(r for r in load_rules() if r.name == "gpl-links-closed-object")

    def case(directory: str) -> tuple[Rule, Binary, Match]:
        binary = Binary(PurePosixPath(directory, "m.ko"), "m", "planned", None, (), None)
        match = Match(
            location=Location(PurePosixPath(directory, "Kbuild")),
            object=f"{directory}/blob.o",
            symbol=None,
            evidence=(),
            fields={},
            content="one digest",
        )
        return rule, binary, match

    findings = build_findings([case("a"), case("b")])
    assert len(findings) == 2 and len({f.fingerprint for f in findings}) == 2
