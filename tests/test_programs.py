"""Programs and libraries are binaries too (issue 12, item 6): a plain Makefile's link
rule names what is linked in; a built program found without one is read from its symbols;
DT_NEEDED lists what it links dynamically; a stripped program is not judged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gplscan.model import Binary, ScanResult
from gplscan.scan import Options, run
from tests.helpers import need_tools

MAKEFILE = """\
CC ?= gcc
app: main.o util.o vendor/libcodec.a
\t$(CC) -o $@ $^
"""
MAIN_C = (
    "// SPDX-License-Identifier: GPL-2.0-only\n"
    "int util(void);\nint codec(int);\nint main(void) { return util() + codec(1); }\n"
)
UTIL_C = "// SPDX-License-Identifier: GPL-2.0-only\nint util(void) { return 1; }\n"
CODEC_C = "int codec(int x) { return x * 3; }\nint codec_extra(void) { return 7; }\n"


@pytest.fixture()
def program_tree(tmp_path: Path) -> Path:
    need_tools("gcc", "ar")
    tree = tmp_path / "app"
    (tree / "vendor").mkdir(parents=True)
    (tree / "Makefile").write_text(MAKEFILE)
    (tree / "main.c").write_text(MAIN_C)
    (tree / "util.c").write_text(UTIL_C)
    (tmp_path / "codec.c").write_text(CODEC_C)
    subprocess.run(
        ["gcc", "-c", "-O2", "-o", tmp_path / "codec.o", tmp_path / "codec.c"], check=True
    )
    subprocess.run(["ar", "rcs", tree / "vendor" / "libcodec.a", tmp_path / "codec.o"], check=True)
    shutil.copy(tmp_path / "codec.o", tmp_path / "keep-codec.o")
    return tree


def _audit(tree: Path) -> ScanResult:
    return run(tree, Options(cache_dir=None), detector=lambda p: (None, ()))


def _binary(result: ScanResult, name: str) -> Binary:
    return next(b for b in result.binaries if b.path.name == name)


def _build(tree: Path) -> None:
    subprocess.run(["make", "-s", "-C", str(tree), "app"], check=True, capture_output=True)


def test_a_link_rule_names_what_a_program_links(program_tree: Path) -> None:
    result = _audit(program_tree)
    app = _binary(result, "app")
    assert app.kind == "program" and app.composition_known
    assert {str(c.path): str(c.origin) for c in app.components} == {
        "main.o": "source",
        "util.o": "source",
        "vendor/libcodec.a": "closed",
    }
    closed = [f for f in result.findings if f.rule == "gpl-links-closed-object"]
    assert [(f.binary, f.object) for f in closed] == [("app", "vendor/libcodec.a")]
    assert closed[0].line == 2, "the Makefile line of the link rule"


def test_a_built_program_lists_its_shared_libraries(program_tree: Path) -> None:
    need_tools("make")
    _build(program_tree)
    app = _binary(_audit(program_tree), "app")
    assert app.kind == "executable"
    assert "libc.so.6" in app.needed


def test_a_program_without_a_link_rule_is_read_from_its_symbols(
    program_tree: Path, tmp_path: Path
) -> None:
    need_tools("make")
    _build(program_tree)
    (program_tree / "Makefile").unlink()
    shutil.copy(tmp_path / "keep-codec.o", program_tree / "vendor" / "codec.o")
    (program_tree / "crt1.o").write_bytes((program_tree / "util.o").read_bytes())  # a crt file
    result = _audit(program_tree)
    app = _binary(result, "app")
    assert app.composition_known
    parts = {str(c.path): str(c.origin) for c in app.components}
    # the loose object and the library's member hold the same code: both are named
    assert parts == {
        "main.o": "source",
        "util.o": "source",
        "vendor/codec.o": "closed",
        "vendor/libcodec.a": "closed",
    }
    assert any(
        f.rule == "gpl-links-closed-object" and f.object == "vendor/codec.o"
        for f in result.findings
    )


def test_a_stripped_program_is_not_judged(program_tree: Path) -> None:
    need_tools("make", "strip")
    _build(program_tree)
    (program_tree / "Makefile").unlink()
    subprocess.run(["strip", str(program_tree / "app")], check=True)
    result = _audit(program_tree)
    app = _binary(result, "app")
    assert not app.composition_known
    gaps = [f for f in result.findings if f.rule == "not-judged" and f.binary == "app"]
    assert gaps and "symbol table" in gaps[0].message


def test_a_program_without_a_link_rule_links_a_static_library(program_tree: Path) -> None:
    """Read from its symbols, a built program names the static library whose member it
    holds (vendor/libcodec.a's codec.o), judged member by member: closed."""
    need_tools("make")
    _build(program_tree)
    (program_tree / "Makefile").unlink()
    result = _audit(program_tree)
    app = _binary(result, "app")
    assert app.composition_known
    parts = {str(c.path): str(c.origin) for c in app.components}
    assert parts == {"main.o": "source", "util.o": "source", "vendor/libcodec.a": "closed"}
    assert any(
        f.rule == "gpl-links-closed-object" and f.object == "vendor/libcodec.a"
        for f in result.findings
    )
