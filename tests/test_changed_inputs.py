"""--changed-since sees every input that can change a verdict (issue 15, item 3), and the
SARIF and Code Quality paths are relative to the repository root (item 5)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.helpers import FIXTURES, REPO, compile_object, need_tools, run_cli_here

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "PATH": "/usr/bin:/bin",
}
SARIF_SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=GIT_ENV)


@pytest.fixture()
def repo(tmp_path: Path, built_examples: dict[str, Any]) -> Path:
    """The clean twin, committed, with the network driver's objects in an included objs.mk."""
    need_tools("git", "gcc")
    repo = tmp_path / "drivers"
    shutil.copytree(built_examples["hyperv-2009-open"]["source"], repo)
    kbuild = repo / "Kbuild"
    line = "hv_netvsc-y := netvsc_drv.o netvsc.o\n"
    assert line in kbuild.read_text()
    kbuild.write_text(kbuild.read_text().replace(line, "include $(src)/objs.mk\n"))
    (repo / "objs.mk").write_text(line)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "drivers")
    return repo


def _since(repo: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli_here("audit", str(repo), "--format", "json", "--changed-since", "HEAD", *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _judged(report: dict[str, Any]) -> set[str]:
    return {b["path"] for b in report["binaries"]}


def test_nothing_changed_judges_nothing_and_says_partial(repo: Path) -> None:
    code, report = _since(repo)
    assert code == 0 and _judged(report) == set()
    assert report["judged"] == {"partial": True, "changed_since": "HEAD", "binaries": 0}
    full = json.loads(run_cli_here("audit", str(repo), "--format", "json").stdout)
    assert full["judged"]["partial"] is False


def test_a_new_blob_and_an_included_fragment_are_seen(repo: Path) -> None:
    (repo / "objs.mk").write_text((repo / "objs.mk").read_text() + "hv_netvsc-y += fastpath.o\n")
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", repo / "fastpath.o_shipped")
    _git(repo, "add", "objs.mk", "fastpath.o_shipped")
    code, report = _since(repo)
    assert code == 1
    assert ("gpl-links-closed-object", "hv_netvsc.ko") in {
        (f["rule"], f["binary"]) for f in report["findings"]
    }


def test_an_object_of_any_name_is_seen(repo: Path) -> None:
    kbuild = repo / "Kbuild"
    kbuild.write_text(
        kbuild.read_text()
        + "hv_storvsc-objs += fast.o\n$(obj)/fast.o: $(src)/fast.o_x86_64\n\tcp $< $@\n"
    )
    _git(repo, "commit", "-qam", "a fast path, its object not there yet")
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", repo / "fast.o_x86_64")
    _, report = _since(repo)
    assert "hv_storvsc.ko" in _judged(report)
    full = json.loads(run_cli_here("audit", str(repo), "--format", "json").stdout)
    assert sorted(f["fingerprint"] for f in report["findings"]) == sorted(
        f["fingerprint"] for f in full["findings"] if f["binary"] == "hv_storvsc.ko"
    )


def test_a_header_change_judges_the_binaries_that_include_it(repo: Path) -> None:
    header = repo / "netvsc.h"
    header.write_text(header.read_text().replace("GPL-2.0-only", "CDDL-1.0", 1))
    _, report = _since(repo)
    assert "hv_netvsc.ko" in _judged(report)
    assert "hv_storvsc.ko" not in _judged(report)
    full = json.loads(run_cli_here("audit", str(repo), "--format", "json").stdout)
    assert sorted(f["fingerprint"] for f in report["findings"]) == sorted(
        f["fingerprint"] for f in full["findings"] if f["binary"] in _judged(report)
    )


@pytest.mark.parametrize("name", [".gplscan.toml", "pyproject.toml"])
def test_a_config_change_judges_the_whole_target(repo: Path, name: str) -> None:
    text = '[severity]\n"closed-object" = "error"\n'
    if name == "pyproject.toml":
        text = "[tool.gplscan]\n" + text.replace("[severity]", "[tool.gplscan.severity]")
    (repo / name).write_text(text)
    _, report = _since(repo)
    assert _judged(report) == {"hv_vmbus.ko", "hv_netvsc.ko", "hv_storvsc.ko"}
    assert report["judged"]["partial"] is False


def test_sarif_and_code_quality_paths_are_relative_to_the_repository_root(
    tmp_path: Path, built_examples: dict[str, Any]
) -> None:
    need_tools("git")
    top = tmp_path / "top"
    sub = top / "drivers" / "hv"
    shutil.copytree(built_examples["hyperv-2009"]["source"], sub)
    (top / ".gplscan.toml").write_text(
        '[[waiver]]\nrule = "closed-object"\npath = "*"\njustification = "reviewed"\n'
    )
    _git(top, "init", "-q")
    sarif_file, cq_file, json_file = (tmp_path / n for n in ("r.sarif", "cq.json", "r.json"))
    run_cli_here("audit", str(sub), "--format", "sarif", "-o", str(sarif_file))
    run_cli_here("audit", str(sub), "--format", "gitlab", "-o", str(cq_file))
    run_cli_here("audit", str(sub), "--format", "json", "-o", str(json_file))
    sarif = json.loads(sarif_file.read_text())
    jsonschema.validate(sarif, SARIF_SCHEMA)
    (run,) = sarif["runs"]
    assert "%SRCROOT%" in run["originalUriBaseIds"]
    assert run["tool"]["driver"]["informationUri"].startswith("https://github.com/")
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in run["results"]
        for loc in [*r["locations"], *r.get("relatedLocations", [])]
    ]
    assert uris and all(u.startswith("drivers/hv/") for u in uris), uris
    assert "drivers/hv/Kbuild" in uris
    assert any(r.get("suppressions") for r in run["results"]), "the waiver applies"
    quality = json.loads(cq_file.read_text())
    assert quality and all(i["location"]["path"].startswith("drivers/hv/") for i in quality)
    for report in (sarif_file, cq_file, json_file):
        text = report.read_text()
        assert str(top) not in text.replace(f'"{sub}"', '""'), report
    waived = json.loads(json_file.read_text())["waived"]
    assert {w["waiver"]["source"] for w in waived} == {".gplscan.toml: waiver #1"}
