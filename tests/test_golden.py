"""Golden files (issue 16): every report format, byte for byte, from the demo and from a
hand-built ``ScanResult``.

A change to any reporter, rule text, or stage that moves one byte of a report fails here
with the diff. When the change is meant, regenerate and review the diff of the files::

    GPLSCAN_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

The demo's reports come from the real command line (``gplscan audit``, run in-process
with click's runner) on the bundled example built once per session. What belongs to the
run rather than to the scan is fixed or normalised: the cache (each tree's own, read cold
by the first format, the terminal report), the time by ``SOURCE_DATE_EPOCH``, the command
line by the arguments given, the running kernel (whose exports a scan uses when none is
given) by a name with no ``/lib/modules`` entry, the rules' digest (it changes with every
edit of ``rules/``) by a placeholder, with the SBOMs' serial numbers derived from it, and
the terminal report's ``seconds``.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

from gplscan.model import ScanResult
from gplscan.run_record import rules_digest
from tests.golden_result import hand_built

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("GPLSCAN_REGEN_GOLDEN", "") == "1"
EPOCH = "1700000000"

#: --format name -> the golden file's suffix; the terminal report first (it is the one that
#: says how many files were read: all, from a cache of the tree's own)
FORMATS = {
    "terminal": "txt",
    "json": "json",
    "sarif": "sarif",
    "gitlab": "gitlab.json",
    "html": "html",
    "spdx": "spdx.json",
    "cyclonedx": "cdx.json",
}

#: the demo's trees: golden name -> (example, built), and the formats each is kept in
DEMOS = {
    "demo": ("hyperv-2009", True, tuple(FORMATS)),
    "demo-clean": ("hyperv-2009-open", True, ("terminal", "json")),
    "demo-source": ("hyperv-2009", False, ("terminal", "json")),
}

_SECONDS = re.compile(r"^(\s*seconds:\s+)\d+(\.\d+)?$", re.M)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def check_golden(name: str, text: str) -> None:
    """``text`` is byte for byte the golden file ``name`` (or becomes it, when regenerating)."""
    path = GOLDEN / name
    data = text.encode("utf-8", "surrogateescape")
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        return
    if not path.is_file():
        pytest.fail(f"no golden file {name}: make it with GPLSCAN_REGEN_GOLDEN=1 (see above)")
    expected = path.read_bytes()
    if data != expected:
        diff = difflib.unified_diff(
            expected.decode("utf-8", "replace").splitlines(),
            text.splitlines(),
            f"tests/golden/{name}",
            "this run",
            lineterm="",
        )
        shown = "\n".join(list(diff)[:80])
        pytest.fail(
            f"{name} differs from its golden file (if meant: GPLSCAN_REGEN_GOLDEN=1 "
            f"pytest tests/test_golden.py, and review the diff):\n{shown}",
            pytrace=False,
        )


# -- the demo, through the command line ------------------------------------------------


def _not_running(release: str) -> Callable[[], os.uname_result]:
    real = os.uname()

    def uname() -> os.uname_result:
        return os.uname_result((real.sysname, real.nodename, release, real.version, real.machine))

    return uname


@pytest.fixture(scope="module")
def demo_reports(
    built_examples: dict[str, dict[str, Path]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Every demo report of :data:`DEMOS`, as ``gplscan audit TREE --format F -o FILE``
    writes it (normalised), keyed by golden file name."""
    from gplscan.cli import cli

    work = tmp_path_factory.mktemp("golden")
    digest = rules_digest()
    serials: dict[str, str] = {}
    reports: dict[str, str] = {}
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        mp.setenv("COLUMNS", "80")
        for var in ("NO_COLOR", "FORCE_COLOR", "GPLSCAN_CONFIG"):
            mp.delenv(var, raising=False)
        mp.setattr(os, "uname", _not_running("gplscan-golden-no-such-kernel"))
        for golden, (example, built, formats) in DEMOS.items():
            place = work / golden
            place.mkdir()
            tree = built_examples[example]["built" if built else "source"]
            shutil.copytree(tree, place / example, symlinks=True)
            mp.chdir(place)
            mp.setenv("XDG_CACHE_HOME", str(place / "cache"))  # cold for the first format
            for fmt in formats:
                out = f"{golden}.{FORMATS[fmt]}"
                args = ["audit", example, "--format", fmt, "-o", out]
                mp.setattr(sys, "argv", ["gplscan", *args])
                ran = CliRunner().invoke(cli, args, catch_exceptions=False)
                assert ran.exit_code in (0, 1), ran.output
                text = (place / out).read_text(encoding="utf-8", errors="surrogateescape")
                text = text.replace(digest, "RULES-SHA256").replace(str(work), "WORK")
                if golden == "demo":  # the SBOMs' serial numbers: from the rules' digest
                    for uid in _UUID.findall(text):
                        serials.setdefault(uid, f"00000000-0000-5000-8000-{len(serials):012d}")
                        text = text.replace(uid, serials[uid])
                reports[out] = _SECONDS.sub(r"\g<1>0.00", text)
    finally:
        mp.undo()
    yield reports


@pytest.mark.parametrize(
    "name",
    [f"{golden}.{FORMATS[fmt]}" for golden, (_, _, formats) in DEMOS.items() for fmt in formats],
)
def test_demo_report_is_golden(name: str, demo_reports: dict[str, str]) -> None:
    check_golden(name, demo_reports[name])


def test_demo_reports_do_not_hold_the_run(demo_reports: dict[str, str]) -> None:
    """What was normalised is all that would have varied: no temporary path, no time but
    the epoch's, and the SBOMs' serial numbers were there to replace."""
    for name, text in demo_reports.items():
        assert "WORK" not in text and "/tmp/" not in text, name
    assert "2023-11-14T22:13:20" in demo_reports["demo.spdx.json"]
    assert "urn:uuid:00000000-0000-5000-8000-" in demo_reports["demo.cdx.json"]


# -- a hand-built ScanResult, through each reporter --------------------------------------


def render(result: ScanResult, fmt: str) -> str:
    """The report ``fmt`` of ``result``, as the command line renders it to a file."""
    if fmt == "html":
        from gplscan.report import html

        return html.render(result, fail_on=result.fail_on, allow_partial=result.allow_partial)
    if fmt == "terminal":
        from gplscan.report import terminal

        return terminal.render(result, color=False, width=80)
    if fmt == "json":
        from gplscan.report import json as json_report

        return json_report.render(result)
    if fmt == "sarif":
        from gplscan.report import sarif

        return sarif.render(result)
    if fmt == "gitlab":
        from gplscan.report import gitlab

        return gitlab.render(result)
    if fmt == "spdx":
        from gplscan.report import spdx

        return spdx.render(result)
    from gplscan.report import cyclonedx

    assert fmt == "cyclonedx", fmt
    return cyclonedx.render(result)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_hand_built_report_is_golden(fmt: str) -> None:
    check_golden(f"handbuilt.{FORMATS[fmt]}", render(hand_built(), fmt))


def test_hand_built_result_reaches_every_part_of_the_model() -> None:
    """The hand-built result is worth its golden files: every kind of thing a report shows
    is in it at least once."""
    r = hand_built()
    assert r.findings and r.baseline and r.waived and r.expired_waivers and r.unused_waivers
    assert any(i.skipped for i in r.issues) and any(not i.skipped for i in r.issues)
    assert {b.kind for b in r.binaries} >= {"kernel-module", "planned", "program"}
    assert {f.status for f in r.inventory} >= {"tagged", "detected", "none", "malformed"}
    assert any(b.imports for b in r.binaries) and r.edges and r.provenance is not None
    assert r.changed_since is not None and r.repo_path
    assert any(c.members for b in r.binaries for c in b.components)
    assert PurePosixPath("drivers/blob.o_shipped") in {f.path for f in r.files}
