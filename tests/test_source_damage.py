"""A source's MODULE_LICENSE is read as the compiler reads it (issue 13): a NUL byte in
a comment does not hide the file, and a ``#if`` inside the macro's argument picks one
string, never both glued together; a condition gplscan cannot evaluate is not judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gplscan.report import json as json_report
from gplscan.scan import Options, run

CALLS_GPL_ONLY = "int drv_init(void) { return debugfs_create_dir(0, 0) != 0; }\n"


def _audit(tree: Path) -> dict:  # type: ignore[type-arg]
    result = run(tree, Options(cache_dir=None), detector=lambda p: (None, ()))
    report: dict = json.loads(json_report.render(result))  # type: ignore[type-arg]
    return report


def _tree(root: Path, source: bytes) -> Path:
    root.mkdir()
    (root / "Kbuild").write_text("obj-m += drv.o\n")
    (root / "drv.c").write_bytes(source)
    return root


def _rules(report: dict) -> set[str]:  # type: ignore[type-arg]
    return {f["rule"] for f in report["findings"]}


def test_a_nul_in_a_comment_does_not_hide_the_source(tmp_path: Path) -> None:
    source = b'/* \0 */\nMODULE_LICENSE("Proprietary");\n' + CALLS_GPL_ONLY.encode()
    report = _audit(_tree(tmp_path / "t", source))
    assert "proprietary-module" in _rules(report)
    note = next(i for i in report["issues"] if i["path"] == "drv.c")
    assert "NUL" in note["message"] and "read as source" in note["message"]
    assert report["summary"]["verdict"] != "pass"


@pytest.mark.parametrize(
    ("condition", "declared"),
    [("#if 1", "GPL"), ("#if 0", "Proprietary"), ("#if (0x0)", "Proprietary")],
)
def test_a_constant_condition_picks_one_string(
    tmp_path: Path, condition: str, declared: str
) -> None:
    source = f'MODULE_LICENSE(\n{condition}\n"GPL"\n#else\n"Proprietary"\n#endif\n);\n'
    report = _audit(_tree(tmp_path / "t", (source + CALLS_GPL_ONLY).encode()))
    (binary,) = report["binaries"]
    assert binary["declared_license"] == declared
    assert ("proprietary-module" in _rules(report)) == (declared == "Proprietary")


def test_a_condition_gplscan_cannot_evaluate_is_not_judged(tmp_path: Path) -> None:
    source = 'MODULE_LICENSE(\n#ifdef VENDOR\n"Proprietary"\n#else\n"GPL"\n#endif\n);\n'
    report = _audit(_tree(tmp_path / "t", (source + CALLS_GPL_ONLY).encode()))
    gaps = [f for f in report["findings"] if f["rule"] == "not-judged"]
    assert any("#ifdef VENDOR" in f["message"] for f in gaps), report["findings"]
    assert report["summary"]["verdict"] != "pass"
