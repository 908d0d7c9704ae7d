"""The ecosystem files work: the pre-commit hook (run by pre-commit itself), the GitHub
Action's audit step and the GitLab snippet's script."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from tests.helpers import FIXTURES, REPO, compile_object, run_cli

SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def _hook_repo(tree: Path, dest: Path, commit: bool) -> Path:
    shutil.copytree(tree, dest)
    env = {**os.environ, **GIT_ENV}
    steps = [["init", "-q"], ["add", "-A"]] + ([["commit", "-qm", "drivers"]] if commit else [])
    for args in steps:
        subprocess.run(["git", "-C", str(dest), *args], check=True, capture_output=True, env=env)
    return dest


def _hook() -> dict[str, Any]:
    """The hook as the manifest declares it, checked as it is written: it runs on any
    change (always_run, no file filter: an included objs.mk, a header or a blob of any name
    can change a verdict), judges the whole repository, not the files passed to it, and
    compares with the committed baseline."""
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "gplscan" and hook["pass_filenames"] is False
    assert hook["always_run"] is True and "files" not in hook and "types" not in hook
    assert hook["language"] == "python" and hook["require_serial"] is True
    assert "--changed-since" in hook["entry"] and "--baseline" in hook["entry"]
    return dict(hook)


def _dodge_tree(clean_tree: Path, dest: Path) -> tuple[Path, str]:
    """The clean twin with the network driver's objects listed in an included objs.mk."""
    shutil.copytree(clean_tree, dest)
    line = "hv_netvsc-y := netvsc_drv.o netvsc.o\n"
    kbuild = dest / "Kbuild"
    kbuild.write_text(kbuild.read_text().replace(line, "include $(src)/objs.mk\n"))
    (dest / "objs.mk").write_text(line)
    return dest, line


def _stage_the_dodge(repo: Path, line: str) -> None:
    """A new blob and an edit to the included objs.mk, staged: no .c, no Kbuild changed."""
    (repo / "objs.mk").write_text(line + "hv_netvsc-y += fastpath.o\n")
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", repo / "fastpath.o_shipped")
    subprocess.run(["git", "-C", str(repo), "add", "objs.mk", "fastpath.o_shipped"], check=True)


def test_pre_commit_manifest_is_valid_and_its_entry_is_the_command() -> None:
    """pre-commit's own manifest schema accepts the file, and the entry is gplscan's
    console script with arguments its command line takes."""
    from pre_commit.clientlib import load_manifest

    hook = _hook()
    (loaded,) = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert loaded["id"] == hook["id"] and loaded["entry"] == hook["entry"]
    program, *args = shlex.split(hook["entry"])
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts, "the entry runs a console script the package installs"
    from gplscan.cli import cli

    usage = CliRunner().invoke(cli, [*args, "--help"])
    assert usage.exit_code == 0, usage.output


def test_pre_commit_hook_entry_cannot_be_dodged(
    built_examples: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the hook runs, run as pre-commit runs it (in the repository's root, on the
    staged tree), in-process: a new repository with a closed object fails (the clean twin
    passes), and in a committed clean tree, staging a new blob plus an edit to an included
    objs.mk fails the commit (issue 15: "(no files to check) Skipped" before). The same
    through pre-commit itself: test_pre_commit_hook_cannot_be_dodged (slow)."""
    from gplscan.cli import cli

    _, *args = shlex.split(_hook()["entry"])

    def hook_run(repo: Path) -> tuple[int, str]:
        monkeypatch.chdir(repo)
        ran = CliRunner().invoke(cli, args)
        return ran.exit_code, ran.output

    closed = hook_run(
        _hook_repo(built_examples["hyperv-2009"]["source"], tmp_path / "closed", False)
    )
    assert closed[0] == 1 and "gpl-links-closed-object" in closed[1], closed
    clean_tree = built_examples["hyperv-2009-open"]["source"]
    clean = hook_run(_hook_repo(clean_tree, tmp_path / "clean", False))
    assert clean[0] == 0, clean
    staging, line = _dodge_tree(clean_tree, tmp_path / "staging")
    repo = _hook_repo(staging, tmp_path / "dodge", True)
    assert hook_run(repo)[0] == 0, "nothing changed: passes"
    _stage_the_dodge(repo, line)
    dodge = hook_run(repo)
    assert dodge[0] == 1 and "gpl-links-closed-object" in dodge[1], dodge


@pytest.mark.slow
def test_pre_commit_hook_cannot_be_dodged(built_examples: dict[str, Any], tmp_path: Path) -> None:
    """The hook, run by pre-commit itself (try-repo installs gplscan and every dependency
    into a fresh store: minutes): a new repository with a closed object fails (the clean
    twin passes), and in a committed clean tree, staging a new blob plus an edit to an
    included objs.mk fails the commit (issue 15: "(no files to check) Skipped" before)."""
    pre_commit = shutil.which("pre-commit") or str(Path(os.sys.executable).with_name("pre-commit"))
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed (it comes with the test extra)")
    _hook()
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", ".pre-commit-hooks.yaml"],
        capture_output=True,
        text=True,
    ).stdout
    if not tracked.strip():
        pytest.skip("the hook file is not committed yet (pre-commit reads the repository)")
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def hook_run(repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pre_commit, "try-repo", str(REPO), "gplscan", *extra],
            cwd=repo,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )

    closed = hook_run(
        _hook_repo(built_examples["hyperv-2009"]["source"], tmp_path / "closed", False),
        "--all-files",
    )
    assert closed.returncode == 1, closed.stdout[-2000:] + closed.stderr[-2000:]
    assert "gpl-links-closed-object" in closed.stdout
    clean_tree = built_examples["hyperv-2009-open"]["source"]
    clean = hook_run(_hook_repo(clean_tree, tmp_path / "clean", False), "--all-files")
    assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]

    # the dodge: the network driver's objects listed in an included objs.mk
    staging, line = _dodge_tree(clean_tree, tmp_path / "staging")
    repo = _hook_repo(staging, tmp_path / "dodge", True)
    assert hook_run(repo).returncode == 0, "nothing changed: passes"
    _stage_the_dodge(repo, line)
    dodge = hook_run(repo)
    assert dodge.returncode == 1, dodge.stdout[-2000:] + dodge.stderr[-2000:]
    assert "Skipped" not in dodge.stdout and "gpl-links-closed-object" in dodge.stdout


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a CI script as the runner does: bash, the venv's gplscan first on PATH."""
    path = f"{Path(os.sys.executable).parent}:{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": path, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_github_action_audit_step_writes_valid_sarif(
    built_examples: dict[str, Any], tmp_path: Path
) -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    for step in steps:  # inputs reach scripts through env:, never pasted into them
        assert "inputs." not in step.get("run", ""), step
    assert "security-events: write" in (REPO / "action.yml").read_text()
    assert any(s.get("with", {}).get("cache") == "pip" for s in steps)
    assert any("gplscan" in str(s.get("with", {}).get("path", "")) for s in steps)
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert upload["with"]["sarif_file"] == "gplscan.sarif"
    assert "steps.audit.outputs.sarif == 'true'" in upload["if"]
    install = next(s for s in steps if s.get("name") == "Install gplscan")
    assert "example.invalid" not in str(install)
    audit = next(s for s in steps if s.get("name") == "Audit")
    assert set(audit["env"]) == {"GPLSCAN_PATH", "GPLSCAN_BASELINE", "GPLSCAN_ARGS"}
    tree = built_examples["hyperv-2009"]["source"]

    def run(work: Path, **inputs: str) -> tuple[int, str]:
        work.mkdir()
        output = work / "github-output"
        output.touch()
        env = {
            "GPLSCAN_PATH": str(tree),
            "GPLSCAN_BASELINE": "gplscan-baseline.json",  # the default: absent here
            "GPLSCAN_ARGS": "",
            "GITHUB_OUTPUT": str(output),
            **inputs,
        }
        proc = _bash(audit["run"], env, work)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode, output.read_text()

    code, outputs = run(tmp_path / "plain")
    assert code == 1 and "sarif=true" in outputs
    sarif = json.loads((tmp_path / "plain" / "gplscan.sarif").read_text())
    jsonschema.validate(sarif, SARIF_SCHEMA)
    code, outputs = run(tmp_path / "args", GPLSCAN_ARGS="--fail-on never")
    assert code == 0 and "sarif=true" in outputs
    # an input that tries to run a command is an argument gplscan refuses: exit 2 before
    # the SARIF file is written, so the upload step does not run (and fail a second time)
    code, outputs = run(tmp_path / "inject", GPLSCAN_ARGS='$(touch pwned) "; touch pwned2"')
    assert code == 2 and "sarif" not in outputs
    assert not list((tmp_path / "inject").glob("pwned*"))
    assert not (tmp_path / "inject" / "gplscan.sarif").exists()


def test_gitlab_snippet_writes_code_quality(built_examples: dict[str, Any], tmp_path: Path) -> None:
    text = (REPO / "ci" / "gitlab-ci.yml").read_text()
    assert "example.invalid" not in text
    job = yaml.safe_load(text)["gplscan"]
    assert job["artifacts"]["reports"]["codequality"] == "gl-code-quality.json"
    assert ".gplscan-cache" in job["cache"]["paths"]
    assert job["variables"]["PIP_CACHE_DIR"].endswith(".gplscan-cache/pip")
    line = next(s for s in job["script"] if s.startswith("gplscan "))
    variables = {
        k: v.replace("$CI_PROJECT_DIR", str(tmp_path))
        for k, v in job["variables"].items()
        if k.startswith("GPLSCAN_") or k == "XDG_CACHE_HOME"
    }
    tree = tmp_path / "tree"
    shutil.copytree(built_examples["hyperv-2009-open"]["source"], tree)
    # a project without a baseline file
    proc = _bash(line, variables, tree)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tree / "gl-code-quality.json").read_text()) == []
    # and one with a baseline: a closed object added since fails
    assert (
        run_cli(
            "baseline", "write", str(tree), "-o", str(tree / "gplscan-baseline.json")
        ).returncode
        == 0
    )
    proc = _bash(line, variables, tree)
    assert proc.returncode == 0, proc.stderr
    kbuild = tree / "Kbuild"
    kbuild.write_text(kbuild.read_text().replace("netvsc.o\n", "netvsc.o fastpath.o\n"))
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", tree / "fastpath.o_shipped")
    proc = _bash(line, variables, tree)
    assert proc.returncode == 1, proc.stderr
    quality = json.loads((tree / "gl-code-quality.json").read_text())
    assert {i["check_name"] for i in quality} >= {"gpl-links-closed-object"}
