"""Real packages from Debian's archive (marked `network`; skipped when it is not reachable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def archive() -> None:
    from bench.debian_archive import archive_reachable

    why = archive_reachable()
    if why is not None:
        pytest.skip(f"needs Debian's package archive: {why}")


def _fetch(package: str) -> Path:
    from bench.debian_archive import ArchiveError, fetch_deb

    try:
        return fetch_deb(package)
    except ArchiveError as exc:
        pytest.skip(f"cannot fetch {package}: {exc}")


def test_broadcom_sta_dkms_blob_enters_through_ldflags(archive: None) -> None:
    deb = _fetch("broadcom-sta-dkms")
    proc = run_cli("audit", str(deb), "--format", "json", "--arch", "x86")
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    assert report["target"].endswith("(usr/src/broadcom-sta-6.30.223.271)")
    i386, wl = report["binaries"]  # sorted by path
    assert wl["path"] == "wl.ko"
    assert wl["declared_license"] == "MIXED/Proprietary"
    closed = [c for c in wl["components"] if c["origin"] == "closed"]
    assert [c["path"] for c in closed] == ["lib/wlc_hybrid.o_amd64"]
    # the blob for the other architecture is linked into nothing built here, but it is
    # closed code the package ships: listed on its own
    assert (i386["path"], i386["kind"]) == ("lib/wlc_hybrid.o_i386", "relocatable")
    assert [c["origin"] for c in i386["components"]] == ["closed"]
    by_rule = {(f["rule"], f["binary"]): f for f in report["findings"]}
    assert ("proprietary-module", "wl.ko") in by_rule
    assert ("closed-object", "lib/wlc_hybrid.o_i386") in by_rule
    blob = by_rule["closed-object", "wl.ko"]
    assert blob["path"] == "Makefile" and "EXTRA_LDFLAGS" in blob["evidence"][0]["text"]
    assert not [f for f in report["findings"] if f["severity"] == "error"], (
        "its sources are not GPL: no GPL-mixing error"
    )
    assert proc.returncode == 0


@pytest.mark.kbuild
def test_broadcom_sta_built_against_the_headers_same_verdict(archive: None, tmp_path: Path) -> None:
    """The DKMS tree built as dkms builds it (its dkms.conf: ``make KVER=<release>``)."""
    import shutil
    import subprocess

    from gplscan.unpack import prepare
    from tests.test_real_kbuild import kernel_build_dir

    build = kernel_build_dir()
    deb = _fetch("broadcom-sta-dkms")
    with prepare(deb) as prepared:
        assert prepared.source_root is not None
        tree = tmp_path / "broadcom-sta"
        shutil.copytree(prepared.root / prepared.source_root, tree, symlinks=True)
    assert 'MAKE[0]="make KVER=$kernelver"' in (tree / "dkms.conf").read_text()
    release = build.parent.name
    done = subprocess.run(
        ["make", f"KVER={release}"], cwd=tree, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tree / "wl.ko").is_file()

    def audit(target: Path) -> tuple[int, dict[str, Any]]:
        proc = run_cli("audit", str(target), "--format", "json", "--arch", "x86")
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode, json.loads(proc.stdout)

    code_deb, from_deb = audit(deb)
    code_built, built = audit(tree)
    assert code_deb == code_built == 0
    wl = next(b for b in built["binaries"] if b["path"] == "wl.ko")
    assert wl["kind"] != "planned" and wl["declared_license"] == "MIXED/Proprietary"
    assert [c["path"] for c in wl["components"] if c["origin"] == "closed"] == [
        "lib/wlc_hybrid.o_amd64"
    ]
    assert "found from the build records" in built["scan"]["kernel exports"]

    def verdict(report: dict[str, Any]) -> set[tuple[str, str, str]]:
        return {
            (f["rule"], f["severity"], f["fingerprint"])
            for f in report["findings"]
            if f["rule"] != "not-judged"
        }

    assert verdict(built) == verdict(from_deb)
    assert not [f for f in built["findings"] if f["severity"] == "error"]
    # the package as shipped is not built: its GPL-only use cannot be judged, and says so;
    # built against the headers, everything is judged
    gaps = [f["message"] for f in from_deb["findings"] if f["rule"] == "not-judged"]
    assert len(gaps) == 1 and "GPL-only symbol use by wl.ko" in gaps[0], gaps
    assert from_deb["summary"]["verdict"] == "incomplete"
    assert not [f for f in built["findings"] if f["rule"] == "not-judged"]
    assert built["summary"]["verdict"] == "passes"
