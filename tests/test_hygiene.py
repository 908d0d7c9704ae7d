"""Hygiene (issue 15, item 6): the license file, gplscan's own reports left out of a scan,
the library API, ``-V``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import gplscan
from tests.helpers import REPO, run_cli_here


def test_license_file_matches_the_metadata_and_ships_in_the_wheel() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 2, June 1991" in text
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "GPL-2.0-or-later"
    # hatchling puts license-files in the wheel's .dist-info/licenses/
    assert "LICENSE" in project["license-files"]
    assert project["urls"]["Homepage"] == gplscan.__url__


def test_own_baseline_and_reports_are_not_scanned(
    built_examples: dict[str, Any], tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(built_examples["hyperv-2009"]["source"], tree)
    baseline = run_cli_here(
        "baseline", "write", str(tree), "-o", str(tree / "gplscan-baseline.json")
    )
    assert baseline.returncode == 0, baseline.stderr
    for fmt, name in (("sarif", "gplscan.sarif"), ("gitlab", "gl-code-quality.json")):
        run_cli_here("audit", str(tree), "--format", fmt, "-o", str(tree / name))
    report = json.loads(run_cli_here("audit", str(tree), "--format", "json").stdout)
    own = {"gplscan-baseline.json", "gplscan.sarif", "gl-code-quality.json"}
    assert not [i for i in report["issues"] if i["path"] in own], report["issues"]


def test_library_api(built_examples: dict[str, Any]) -> None:
    code = "import sys, gplscan; print('gplscan.scan' in sys.modules, gplscan.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split()[0] == "False", "import gplscan stays light"
    report = gplscan.audit(built_examples["hyperv-2009"]["source"], cache=False)
    assert isinstance(report, gplscan.Report)
    assert {f.rule for f in report.findings} >= {"gpl-links-closed-object"}
    assert report.fail_on == "error" and gplscan.audit.__doc__
    held = gplscan.audit(
        built_examples["hyperv-2009"]["source"],
        baseline=[f.fingerprint for f in report.findings],
    )
    assert held.findings == () and len(held.baseline) == len(report.findings)


def test_short_version_option() -> None:
    proc = run_cli_here("-V")
    assert proc.returncode == 0 and gplscan.__version__ in proc.stdout
