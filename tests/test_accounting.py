"""Closed code found whatever the build says: every relocatable object of a tree with
sources is accounted for by a source, linked into a binary, tied to one by symbols, or
listed on its own (issue 12, item 4)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gplscan.model import Origin
from gplscan.scan import Options, run
from tests.helpers import FIXTURES, compile_object

MAIN_C = (
    "// SPDX-License-Identifier: GPL-2.0-only\n"
    "int blob_compute(int x);\n"
    "void main_callback(int e) { (void)e; }\n"
    "int drv_probe(int x)\n{\n\treturn blob_compute(x);\n}\n"
    'MODULE_LICENSE("GPL");\n'
)


def _no_detection(path: Path) -> tuple[None, tuple[()]]:
    return None, ()


def _tree(root: Path, kbuild: str) -> Path:
    (root / "vendor").mkdir(parents=True)
    (root / "Kbuild").write_text(kbuild)
    (root / "main.c").write_text(MAIN_C)
    compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", root / "vendor" / "core.o_binary")
    return root


def test_a_blob_no_build_file_names_is_tied_to_the_module_whose_sources_call_it(
    tmp_path: Path,
) -> None:
    tree = _tree(tmp_path / "t", "obj-m += drv.o\ndrv-objs := main.o $(VENDOR_OBJS)\n")
    result = run(tree, Options(cache_dir=None), detector=_no_detection)
    (drv,) = result.binaries
    blob = drv.component(PurePosixPath("vendor/core.o_binary"))
    assert blob is not None and blob.origin is Origin.CLOSED
    assert blob.linked_by.path == PurePosixPath("main.c") and blob.linked_by.line == 6
    assert "blob_compute" in blob.linked_by.text
    rules = {f.rule for f in result.findings}
    assert {"gpl-links-closed-object", "closed-object"} <= rules


def test_a_blob_tied_to_nothing_is_listed_on_its_own(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", "obj-m += drv.o\ndrv-objs := main.o\n")
    (tree / "main.c").write_text(
        MAIN_C.replace("blob_compute(x)", "x").replace("int blob_compute(int x);\n", "")
    )
    result = run(tree, Options(cache_dir=None), detector=_no_detection)
    by_path = {str(b.path): b for b in result.binaries}
    assert set(by_path) == {"drv.ko", "vendor/core.o_binary"}
    alone = by_path["vendor/core.o_binary"]
    assert alone.kind == "relocatable"
    assert [c.origin for c in alone.components] == [Origin.CLOSED]
    assert [(f.rule, f.binary) for f in result.findings] == [
        ("closed-object", "vendor/core.o_binary")
    ]


def test_objects_built_from_the_tree_are_not_closed(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", "obj-m += drv.o\ndrv-objs := main.o\n")
    (tree / "vendor" / "core.o_binary").unlink()
    (tree / "tool.c").write_text("// SPDX-License-Identifier: MIT\nint tool(void) { return 1; }\n")
    compile_object(tree / "tool.c", tree / "tool.o")
    result = run(tree, Options(cache_dir=None), detector=_no_detection)
    assert [str(b.path) for b in result.binaries] == ["drv.ko"]
    assert not [f for f in result.findings if "closed" in f.rule]


def test_a_built_program_is_a_binary_whose_composition_is_not_judged_yet(
    tmp_path: Path,
) -> None:
    import subprocess

    from tests.helpers import need_tools

    need_tools("gcc")
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "app.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\nint main(void) { return 0; }\n"
    )
    subprocess.run(["gcc", "-o", str(tree / "app"), str(tree / "app.c")], check=True)
    result = run(tree, Options(cache_dir=None), detector=_no_detection)
    (app,) = result.binaries
    assert (str(app.path), app.kind, app.composition_known) == ("app", "executable", False)
    (gap,) = result.findings
    assert gap.rule == "not-judged" and "objects linked into app" in gap.message


def test_kbuilds_own_module_common_object_is_not_closed(tmp_path: Path) -> None:
    """Linux >= 6.10 links .module-common.o (from the kernel's scripts/module-common.c)
    into every module: it is Kbuild's, not the package's closed code."""
    import subprocess

    from tests.helpers import need_tools

    need_tools("gcc", "ld")
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "Kbuild").write_text("obj-m += m.o\n")
    (tree / "m.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\n"
        'static const char l[] __attribute__((section(".modinfo"), used)) = "license=GPL";\n'
        "int m_probe(void) { return 0; }\n"
    )
    compile_object(tree / "m.c", tree / "m.o")
    (tmp_path / "module-common.c").write_text("int __kbuild_common_marker(void) { return 1; }\n")
    compile_object(tmp_path / "module-common.c", tree / ".module-common.o")
    subprocess.run(
        ["ld", "-r", "-o", str(tree / "m.ko"), str(tree / "m.o"), str(tree / ".module-common.o")],
        check=True,
    )
    result = run(tree, Options(cache_dir=None), detector=_no_detection)
    assert [str(b.path) for b in result.binaries] == ["m.ko"]
    assert not [c for c in result.binaries[0].components if c.origin is Origin.CLOSED]
    assert not [f for f in result.findings if "closed" in f.rule], result.findings


def test_a_closed_static_library_linked_with_whole_archive(tmp_path: Path) -> None:
    """ldflags-y += --whole-archive $(src)/lib/x.a: the archive's members are judged one
    by one (a regular and a GNU thin archive)."""
    import subprocess

    from tests.helpers import need_tools

    need_tools("gcc", "ar")
    for flags in ("rcs", "rcsT"):
        tree = tmp_path / flags
        (tree / "lib").mkdir(parents=True)
        (tree / "Kbuild").write_text(
            "obj-m += drv.o\ndrv-objs := main.o\nldflags-y += --whole-archive $(src)/lib/x.a\n"
        )
        (tree / "main.c").write_text(MAIN_C)
        blob = compile_object(FIXTURES / "rules" / "_blobs" / "blob.c", tree / "lib" / "core.o_")
        subprocess.run(["ar", flags, str(tree / "lib" / "x.a"), str(blob)], check=True)
        if flags == "rcs":
            blob.unlink()  # a regular archive holds its members itself
        result = run(tree, Options(cache_dir=None), detector=_no_detection)
        drv = next(b for b in result.binaries if b.name == "drv")
        lib = drv.component(PurePosixPath("lib/x.a"))
        assert lib is not None and lib.origin is Origin.CLOSED, (flags, lib)
        assert "1 closed" in lib.reasons[0]
        assert "gpl-links-closed-object" in {f.rule for f in result.findings}
