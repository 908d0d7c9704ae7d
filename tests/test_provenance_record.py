"""Reports record their provenance (issue 14): when (SOURCE_DATE_EPOCH honoured), the
command line, the rules' digest, the input's sha256, and the sha256 and size of every
closed or unknown object; two runs with the same SOURCE_DATE_EPOCH are byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import jsonschema

from gplscan.resources import data_path
from tests.helpers import compile_object

MAIN_C = (
    "// SPDX-License-Identifier: GPL-2.0-only\n"
    'MODULE_LICENSE("GPL");\n'
    "extern int vendor_magic(int);\n"
    "int drv_probe(void) { return vendor_magic(3); }\n"
)


def _package(tmp_path: Path) -> tuple[Path, bytes]:
    tree = tmp_path / "drv"
    tree.mkdir()
    (tree / "Kbuild").write_text("obj-m += drv.o\ndrv-objs := main.o blob.o\n")
    (tree / "main.c").write_text(MAIN_C)
    (tmp_path / "blob.c").write_text("int vendor_magic(int x) { return x * 7; }\n")
    blob = compile_object(tmp_path / "blob.c", tree / "blob.o_shipped").read_bytes()
    tarball = tmp_path / "drv.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tree, arcname="drv")
    return tarball, blob


def _audit(target: Path, out: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gplscan",
            "audit",
            str(target),
            "--no-cache",
            "--quiet",
            "--format",
            fmt,
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_json_report_records_its_provenance(tmp_path: Path) -> None:
    tarball, blob = _package(tmp_path)
    out = tmp_path / "report.json"
    proc = _audit(tarball, out, "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(out.read_text())
    schema = json.loads(
        (Path(__file__).parent.parent / "gplscan/report/gplscan-1.schema.json").read_text()
    )
    jsonschema.validate(report, schema)
    p = report["provenance"]
    assert p["scanned_at"] == "2023-11-14T22:13:20Z"
    assert p["command"][:2] == ["gplscan", "audit"] and str(tarball) in p["command"]
    assert p["input"] == {
        "sha256": hashlib.sha256(tarball.read_bytes()).hexdigest(),
        "size": tarball.stat().st_size,
    }
    rules = hashlib.sha256()
    for f in sorted(data_path("rules").iterdir()):
        if f.suffix in (".yaml", ".yml", ".json"):
            rules.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    assert p["rules_sha256"] == rules.hexdigest()
    (closed,) = p["closed_and_unknown_objects"]
    assert closed == {
        "path": "drv/blob.o_shipped",
        "origin": "closed",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }


def test_same_source_date_epoch_same_bytes(tmp_path: Path) -> None:
    tarball, _ = _package(tmp_path)
    for fmt in ("json", "html"):
        out = tmp_path / f"report.{fmt}"
        first = (_audit(tarball, out, fmt), out.read_bytes())
        second = (_audit(tarball, out, fmt), out.read_bytes())
        assert first[0].returncode == second[0].returncode == 1
        assert first[1] == second[1], fmt
    html = (tmp_path / "report.html").read_text()
    assert "2023-11-14T22:13:20Z" in html
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() in html


def test_headers_are_attributed_to_the_binaries_that_include_them(tmp_path: Path) -> None:
    """Issue 14: the inventory names, for a header, the binaries whose sources include it
    (the HTML's "binaries" cell was empty for every header)."""
    from gplscan.report import html as html_report
    from gplscan.report import json as json_report
    from gplscan.scan import Options, run

    tree = tmp_path / "drv"
    tree.mkdir()
    (tree / "Kbuild").write_text("obj-m += drv.o\n")
    (tree / "drv.h").write_text("// SPDX-License-Identifier: GPL-2.0-only\nint drv_x(void);\n")
    (tree / "drv.c").write_text(
        '// SPDX-License-Identifier: GPL-2.0-only\n#include "drv.h"\nMODULE_LICENSE("GPL");\n'
    )
    result = run(tree, Options(cache_dir=None), detector=lambda p: (None, ()))
    files = {f["path"]: f for f in json.loads(json_report.render(result))["inventory"]["files"]}
    assert files["drv.h"]["binaries"] == ["drv.ko"]
    assert files["drv.c"]["binaries"] == ["drv.ko"]
    page = html_report.render(result)
    assert '<td class="path">drv.h:1</td><td>tagged</td><td class="path">drv.ko</td>' in page


def test_include_resolution_does_not_depend_on_hash_order(tmp_path: Path) -> None:
    """Two modules add different -I directories that both hold conf.h; a third source
    includes "conf.h" from a directory without one. Which header it resolves to must not
    change from run to run (the Linux tree's cold and warm audits differed in three
    headers: the include directories were a set, ordered by hash randomization)."""
    tree = tmp_path / "t"
    for sub in ("a", "b", "c", "a/inc", "b/inc"):
        (tree / sub).mkdir(parents=True, exist_ok=True)
    (tree / "Kbuild").write_text("obj-y += a/ b/ c/\n")
    for name in ("a", "b"):
        (tree / name / "Kbuild").write_text(f"obj-m += {name}.o\nccflags-y += -I$(src)/inc\n")
        (tree / name / f"{name}.c").write_text(
            '// SPDX-License-Identifier: GPL-2.0-only\nMODULE_LICENSE("GPL");\n'
        )
        (tree / name / "inc" / "conf.h").write_text(
            f"// SPDX-License-Identifier: {'MIT' if name == 'a' else 'BSD-2-Clause'}\n"
        )
    (tree / "c" / "Kbuild").write_text("obj-m += c.o\n")
    (tree / "c" / "c.c").write_text(
        '// SPDX-License-Identifier: GPL-2.0-only\n#include "conf.h"\nMODULE_LICENSE("GPL");\n'
    )
    seen = set()
    for seed in ("1", "2", "3", "4", "5", "6"):
        env = dict(os.environ, PYTHONHASHSEED=seed, SOURCE_DATE_EPOCH="1700000000")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "gplscan",
                "audit",
                str(tree),
                "--no-cache",
                "-q",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        seen.add(json.dumps(json.loads(proc.stdout)["inventory"], sort_keys=True))
    assert len(seen) == 1
