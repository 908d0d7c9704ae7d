"""Real packages from Debian's archive (marked `network`; skipped when it is not reachable)."""

from __future__ import annotations

import json
from pathlib import Path

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
    (wl,) = report["binaries"]
    assert wl["path"] == "wl.ko"
    assert wl["declared_license"] == "MIXED/Proprietary"
    closed = [c for c in wl["components"] if c["origin"] == "closed"]
    assert [c["path"] for c in closed] == ["lib/wlc_hybrid.o_amd64"]
    by_rule = {f["rule"]: f for f in report["findings"]}
    assert "proprietary-module" in by_rule
    blob = by_rule["closed-object"]
    assert blob["path"] == "Makefile" and "EXTRA_LDFLAGS" in blob["evidence"][0]["text"]
    assert not [f for f in report["findings"] if f["severity"] == "error"], \
        "its sources are not GPL: no GPL-mixing error"
    assert proc.returncode == 0
