"""The ecosystem files work: the pre-commit hook (run by pre-commit itself), the GitHub
Action's audit step and the GitLab snippet's script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers import REPO, run_cli

SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def _repo_of(tree: Path, dest: Path) -> Path:
    shutil.copytree(tree, dest)
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "drivers"]):
        subprocess.run(["git", "-C", str(dest), *args], check=True, capture_output=True, env=env)
    return dest


def test_pre_commit_hook_runs_under_pre_commit(
    built_examples: dict[str, Any], tmp_path: Path
) -> None:
    pre_commit = shutil.which("pre-commit") or str(Path(os.sys.executable).with_name("pre-commit"))
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed (it comes with the test extra)")
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "gplscan" and hooks[0]["pass_filenames"] is False
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", ".pre-commit-hooks.yaml"],
        capture_output=True,
        text=True,
    ).stdout
    if not tracked.strip():
        pytest.skip("the hook file is not committed yet (pre-commit reads the repository)")
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    results = {}
    for name in ("hyperv-2009", "hyperv-2009-open"):
        repo = _repo_of(built_examples[name]["source"], tmp_path / name)
        proc = subprocess.run(
            [pre_commit, "try-repo", str(REPO), "gplscan", "--all-files"],
            cwd=repo,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        results[name] = proc
    closed, clean = results["hyperv-2009"], results["hyperv-2009-open"]
    assert closed.returncode == 1, closed.stdout[-2000:] + closed.stderr[-2000:]
    assert "gpl-links-closed-object" in closed.stdout
    assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]


def _audit_args(command: str, substitutions: dict[str, str]) -> list[str]:
    for key, value in substitutions.items():
        command = re.sub(r"\$\{\{\s*" + re.escape(key) + r".*?\}\}", value, command)
    words = command.replace('"', "").split()
    assert words[:2] == ["gplscan", "audit"], command
    return words[2:]


def test_github_action_audit_step_writes_valid_sarif(
    built_examples: dict[str, Any], tmp_path: Path
) -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert upload["if"] == "always()" and upload["with"]["sarif_file"] == "gplscan.sarif"
    audit = next(s for s in steps if s.get("name") == "Audit")
    tree = built_examples["hyperv-2009"]["source"]
    args = _audit_args(
        audit["run"], {"inputs.path": str(tree), "inputs.baseline": "", "inputs.args": ""}
    )
    proc = run_cli("audit", *args, cwd=tmp_path)
    assert proc.returncode == 1
    jsonschema.validate(json.loads((tmp_path / "gplscan.sarif").read_text()), SARIF_SCHEMA)


def test_gitlab_snippet_writes_code_quality(built_examples: dict[str, Any], tmp_path: Path) -> None:
    job = yaml.safe_load((REPO / "ci" / "gitlab-ci.yml").read_text())["gplscan"]
    assert job["artifacts"]["reports"]["codequality"] == "gl-code-quality.json"
    line = next(s for s in job["script"] if s.startswith("gplscan "))
    tree = tmp_path / "tree"
    shutil.copytree(built_examples["hyperv-2009-open"]["source"], tree)
    assert (
        run_cli(
            "baseline", "write", str(tree), "-o", str(tree / "gplscan-baseline.json")
        ).returncode
        == 0
    )
    proc = run_cli(*line.split()[1:], cwd=tree)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tree / "gl-code-quality.json").read_text()) == []
