"""The pre-merge check: a baseline, a new violation, waivers (issue 5's walk-through)."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES, compile_object, need_tools, run_cli_here


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "PATH": "/usr/bin:/bin",
        },
    )


@pytest.fixture()
def repo(tmp_path: Path, built_examples: dict[str, Any]) -> Path:
    need_tools("git", "gcc")
    repo = tmp_path / "drivers"
    shutil.copytree(built_examples["hyperv-2009-open"]["source"], repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "Hyper-V drivers as released under the GPL")
    return repo


def _audit(repo: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    proc = run_cli_here(
        "audit",
        str(repo),
        "--format",
        "json",
        "--baseline",
        str(repo / "gplscan-baseline.json"),
        *extra,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, report, proc.stderr


def _waiver(repo: Path, **fields: str) -> None:
    lines = ["[[waiver]]"] + [
        f'{k} = "{v}"' if k != "expires" else f"{k} = {v}" for k, v in fields.items()
    ]
    (repo / ".gplscan.toml").write_text("\n".join(lines) + "\n")


def test_baseline_new_violation_waiver_and_expiry(repo: Path) -> None:
    proc = run_cli_here("baseline", "write", str(repo), "-o", str(repo / "gplscan-baseline.json"))
    assert proc.returncode == 0, proc.stderr
    code, report, _ = _audit(repo)
    assert code == 0 and report["findings"] == []

    # a change links a closed object into the GPL network driver
    kbuild = repo / "Kbuild"
    kbuild.write_text(kbuild.read_text().replace("netvsc.o\n", "netvsc.o fastpath.o\n"))
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", repo / "fastpath.o_shipped")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "Add a fast path")
    code, report, _ = _audit(repo)
    assert code == 1
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert {f["rule"] for f in errors} == {"gpl-links-closed-object", "module-license-misdeclared"}
    assert {(f["binary"], f["object"]) for f in report["findings"]} == {
        ("hv_netvsc.ko", "fastpath.o")
    }, "only what the change introduced"

    # waived, with a justification: passes
    _waiver(
        repo,
        rule="*",
        path="fastpath.o",
        justification="Vendor blob under review by legal, ticket LEGAL-42",
        approved_by="legal@example.com",
    )
    code, report, _ = _audit(repo)
    assert code == 0 and report["findings"] == []
    assert {w["waiver"]["justification"] for w in report["waived"]} == {
        "Vendor blob under review by legal, ticket LEGAL-42"
    }

    # a waiver without a justification is refused
    _waiver(repo, rule="*", path="fastpath.o")
    code, _, stderr = _audit(repo)
    assert code == 2 and "needs a justification" in stderr

    # an expired waiver no longer applies
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    _waiver(repo, rule="*", path="fastpath.o", justification="temporary", expires=yesterday)
    code, report, _ = _audit(repo)
    assert code == 1
    assert report["waivers"]["expired"][0]["expires"] == yesterday


def test_unknown_config_key_is_an_error(repo: Path) -> None:
    (repo / ".gplscan.toml").write_text('fail_on = "warning"\n')
    proc = run_cli_here("audit", str(repo))
    assert proc.returncode == 2 and "unknown key(s) fail_on" in proc.stderr


def test_config_severity_override_and_fail_on(repo: Path) -> None:
    (repo / "Kbuild").write_text((repo / "Kbuild").read_text() + "obj-m += extra.o\n")
    (repo / "extra.c").write_text('// SPDX-License-Identifier: MIT\nMODULE_LICENSE("MIT");\n')
    assert run_cli_here("audit", str(repo)).returncode == 0  # proprietary-module is a warning
    (repo / "pyproject.toml").write_text(
        '[tool.gplscan]\n[tool.gplscan.severity]\n"proprietary-module" = "error"\n'
    )
    assert run_cli_here("audit", str(repo)).returncode == 1
    assert run_cli_here("audit", str(repo), "--fail-on", "never").returncode == 0


def test_changed_since_judges_what_the_change_touches_like_a_full_scan(repo: Path) -> None:
    _git(repo, "tag", "base")
    kbuild = repo / "Kbuild"
    kbuild.write_text(kbuild.read_text().replace("netvsc.o\n", "netvsc.o fastpath.o\n"))
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", repo / "fastpath.o_shipped")
    (repo / "storvsc.c").write_text((repo / "storvsc.c").read_text() + "/* touched */\n")
    full = json.loads(run_cli_here("audit", str(repo), "--format", "json").stdout)
    proc = run_cli_here("audit", str(repo), "--format", "json", "--changed-since", "base")
    part = json.loads(proc.stdout)
    assert proc.returncode == 1
    # the Kbuild file changed: every module it declares is judged (conservatively)
    assert {b["path"] for b in part["binaries"]} == {"hv_vmbus.ko", "hv_netvsc.ko", "hv_storvsc.ko"}
    for binary in ("hv_vmbus.ko", "hv_netvsc.ko", "hv_storvsc.ko"):

        def verdict(report: dict[str, Any], b: str = binary) -> list[str]:
            return sorted(f["fingerprint"] for f in report["findings"] if f["binary"] == b)

        assert verdict(part) == verdict(full)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "fast path")
    _git(repo, "tag", "base2")
    (repo / "storvsc.c").write_text((repo / "storvsc.c").read_text() + "/* again */\n")
    only = json.loads(
        run_cli_here("audit", str(repo), "--format", "json", "--changed-since", "base2").stdout
    )
    assert [b["path"] for b in only["binaries"]] == ["hv_storvsc.ko"]
    assert only["findings"] == []
    bad = run_cli_here("audit", str(repo), "--changed-since", "no-such-rev")
    assert bad.returncode == 2 and "no-such-rev" in bad.stderr


def test_config_license_deny_list(repo: Path) -> None:
    (repo / "Kbuild").write_text((repo / "Kbuild").read_text() + "obj-m += extra.o\n")
    (repo / "extra.c").write_text(
        '// SPDX-License-Identifier: MIT\nMODULE_LICENSE("Dual MIT/GPL");\n'
    )
    assert run_cli_here("audit", str(repo)).returncode == 0
    (repo / ".gplscan.toml").write_text('[licenses]\ndeny = ["MIT"]\n')
    proc = run_cli_here("audit", str(repo), "--format", "json")
    assert proc.returncode == 1
    (f,) = json.loads(proc.stdout)["findings"]
    assert f["rule"] == "denied-license" and f["binary"] == "extra.ko"


def test_fingerprints_survive_moves_and_edits_but_not_a_new_blob(
    built_examples: dict[str, Any], tmp_path: Path
) -> None:
    def prints(tree: Path) -> set[str]:
        report = json.loads(run_cli_here("audit", str(tree), "--format", "json").stdout)
        return {f["fingerprint"] for f in report["findings"]}

    tree = built_examples["hyperv-2009"]["source"]
    moved = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(tree, moved)
    (moved / "Kbuild").write_text(
        "# a comment shifts every line\n" + (moved / "Kbuild").read_text()
    )
    (moved / "channel.c").write_text("/* edited */\n" + (moved / "channel.c").read_text())
    assert prints(moved) == prints(tree)
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", moved / "hv_core.o_shipped")
    assert prints(moved) != prints(tree), "another closed object is another finding"
