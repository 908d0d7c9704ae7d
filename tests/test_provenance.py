"""Closed-code accounting that does not depend on file names."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path, PurePosixPath

from gplscan.scan import Options, run
from tests.helpers import FIXTURES, compile_object, need_tools


def test_blob_merged_into_a_source_object_is_found_by_its_unit_names(tmp_path: Path) -> None:
    """main.o is compiled from main.c, then a closed object is merged into it with ld -r:
    the module's symbol table names secret.c, which no source of the tree accounts for."""
    need_tools("gcc", "ld", "make", "nm", "objdump")
    tree = tmp_path / "m"
    tree.mkdir()
    shutil.copytree(FIXTURES / "hyperv-2009" / "include", tree / "include")
    (tree / "Kbuild").write_text("obj-m += m.o\nm-objs := main.o\n")
    (tree / "main.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\n#include <linux/module.h>\n"
        "int blob_compute(int x);\nvoid main_callback(int e) { (void)e; }\n"
        'int m_probe(int x) { return blob_compute(x); }\nMODULE_LICENSE("GPL");\n'
    )
    secret = tmp_path / "private" / "secret.c"
    secret.parent.mkdir()
    shutil.copy(FIXTURES / "rules" / "_blobs" / "blob.c", secret)
    compile_object(secret, tmp_path / "secret.o", "-g")
    make = ["make", "-f", str(FIXTURES / "minikbuild.mk"), "-C", str(tree), f"src={tree}"]
    subprocess.run([*make, "main.o"], check=True, capture_output=True)
    subprocess.run(
        [
            "ld",
            "-r",
            "-o",
            str(tree / "merged.o"),
            str(tree / "main.o"),
            str(tmp_path / "secret.o"),
        ],
        check=True,
    )
    (tree / "merged.o").replace(tree / "main.o")
    subprocess.run(make, check=True, capture_output=True)

    result = run(tree, Options(cache_dir=None))
    (m,) = result.binaries
    closed = [c for c in m.components if c.origin.value == "closed"]
    assert [str(c.path) for c in closed] == ["secret.c"]
    assert closed[0].file == PurePosixPath("m.ko")
    assert "inside main.o" in closed[0].reasons[0]
    assert closed[0].provenance[0].kind == "dwarf"
    rules = {f.rule for f in result.findings}
    assert {"gpl-links-closed-object", "module-license-misdeclared"} <= rules
