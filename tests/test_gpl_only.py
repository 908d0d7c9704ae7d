"""GPL-only use judged without a finished .ko (issue 12, item 5): from the sources' calls,
from built objects whose module was never linked, through symbol_get, and through the
"GPL\\0..." license trick."""

from __future__ import annotations

from pathlib import Path

from gplscan.model import Finding, ScanResult
from gplscan.scan import Options, run
from tests.helpers import FIXTURES, compile_object

KERNEL = FIXTURES / "rules" / "_kernel" / "Module.symvers"
PROP_C = (
    "// SPDX-License-Identifier: LicenseRef-Proprietary\n"
    "#include <linux/module.h>\n"
    "int kernel_gpl_fn(int);\n"
    "/* kernel_plain_fn(0) in a comment is no call */\n"
    "int prop_probe(int x)\n{\n\treturn kernel_gpl_fn(x);\n}\n"
    'MODULE_LICENSE("{license}");\n'
)


def _no_detection(path: Path) -> tuple[None, tuple[()]]:
    return None, ()


def _audit(tree: Path, kernel: Path | None = None) -> ScanResult:
    return run(tree, Options(cache_dir=None, kernel=kernel), detector=_no_detection)


def _rule(result: ScanResult, rule: str) -> list[Finding]:
    return [f for f in result.findings if f.rule == rule]


def _tree(root: Path, license: str = "Proprietary") -> Path:
    root.mkdir(parents=True)
    (root / "Kbuild").write_text("obj-m += prop.o\n")
    (root / "prop.c").write_text(PROP_C.replace("{license}", license))
    return root


def test_source_only_tree_judged_from_its_calls_with_the_kernel_given(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t")
    (finding,) = _rule(_audit(tree, KERNEL), "gpl-only-symbol-in-non-gpl-module")
    assert finding.symbol == "kernel_gpl_fn"
    how = finding.evidence[0]
    assert (str(how.path), how.line, how.kind) == ("prop.c", 7, "source")
    assert "not built" in how.text
    # without the kernel, the same tree is not judged on it, and says so
    alone = _audit(tree)
    assert not _rule(alone, "gpl-only-symbol-in-non-gpl-module")
    (gap,) = _rule(alone, "not-judged")
    assert "GPL-only symbol use by prop.ko" in gap.message


def test_a_gpl_only_export_of_the_same_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t")
    (tree / "Kbuild").write_text("obj-m += prop.o\nobj-m += lib.o\n")
    (tree / "prop.c").write_text(
        PROP_C.replace("{license}", "Proprietary").replace("kernel_gpl_fn", "lib_fn")
    )
    (tree / "lib.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\nint lib_fn(int x) { return x; }\n"
        'EXPORT_SYMBOL_GPL(lib_fn);\nMODULE_LICENSE("GPL");\n'
    )
    (finding,) = _rule(_audit(tree), "gpl-only-symbol-in-non-gpl-module")
    assert (finding.symbol, finding.binary) == ("lib_fn", "prop.ko")
    assert "lib.ko" in finding.message


def test_objects_built_whose_module_was_never_linked(tmp_path: Path) -> None:
    """modpost refused the final link: prop.o is there, prop.ko is not."""
    tree = _tree(tmp_path / "t")
    compile_object(tree / "prop.c", tree / "prop.o", f"-I{FIXTURES / 'hyperv-2009' / 'include'}")
    (finding,) = _rule(_audit(tree, KERNEL), "gpl-only-symbol-in-non-gpl-module")
    how = finding.evidence[0]
    assert (str(how.path), how.kind) == ("prop.o", "symbol")
    assert "undefined in prop.o" in how.text


def test_the_nul_trick_does_not_hide_gpl_only_use(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", license="GPL\\0for the kernel, not for you")
    result = _audit(tree, KERNEL)
    assert _rule(result, "module-license-string-trick")
    (finding,) = _rule(result, "gpl-only-symbol-in-non-gpl-module")
    assert 'MODULE_LICENSE("GPL\\0for the kernel' in finding.message


def test_symbol_get_binds_a_proprietary_modules_export(tmp_path: Path) -> None:
    """nvidia-fs' shape: a GPL module binds a proprietary module's exports at run time."""
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "Kbuild").write_text("obj-m += fs.o\nobj-m += gpu.o\n")
    (tree / "gpu.c").write_text(
        "// SPDX-License-Identifier: LicenseRef-Proprietary\n"
        "int p2p_get_pages(void) { return 0; }\nEXPORT_SYMBOL(p2p_get_pages);\n"
        'MODULE_LICENSE("NVIDIA");\n'
    )
    (tree / "fs.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\n"
        "static int (*get)(void);\nint fs_init(void)\n{\n"
        '\tget = __symbol_get("p2p_get_pages");\n\treturn get ? get() : 0;\n}\n'
        'MODULE_LICENSE("GPL v2");\n'
    )
    (finding,) = _rule(_audit(tree), "gpl-module-imports-proprietary")
    assert finding.binary == "fs.ko" and "gpu.ko" in finding.message, finding
    assert any(
        e.path is not None and str(e.path) == "fs.c" and e.line == 5 for e in finding.evidence
    )


def test_reexport_only_of_wrappers_at_the_export_line(tmp_path: Path) -> None:
    """A plain export whose body is essentially a GPL-only call is a wrapper; an ordinary
    function calling one GPL-only helper among many statements is not (dahdi)."""
    import shutil
    import subprocess

    from tests.helpers import need_tools

    need_tools("gcc", "ld", "make", "nm", "objdump")
    tree = tmp_path / "gw"
    shutil.copytree(FIXTURES / "hyperv-2009" / "include", tree / "include")
    (tree / "Kbuild").write_text("obj-m += gw.o\n")
    (tree / "gw.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\n#include <linux/module.h>\n"
        "int kernel_gpl_fn(int);\n"
        "int gw_wrap(int x)\n{\n\treturn kernel_gpl_fn(x);\n}\nEXPORT_SYMBOL(gw_wrap);\n"
        "int gw_big(int x)\n{\n\tint a = x;\n\ta += 1;\n\ta *= 2;\n\ta -= 3;\n"
        "\treturn kernel_gpl_fn(a);\n}\nEXPORT_SYMBOL(gw_big);\n"
        'MODULE_LICENSE("GPL");\n'
    )
    subprocess.run(
        ["make", "-f", str(FIXTURES / "minikbuild.mk"), "-C", str(tree), f"src={tree}"],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree / "include")
    (finding,) = _rule(_audit(tree, KERNEL), "gpl-symbol-reexport")
    assert (finding.symbol, finding.path, finding.line) == ("gw_wrap", "gw.c", 8)
    assert "no module of the target" in finding.message


def test_symbol_get_of_a_provider_not_in_the_target_is_not_judged(tmp_path: Path) -> None:
    """nvidia-fs as Debian ships it: nvidia.ko, the provider, is another package."""
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "Kbuild").write_text("obj-m += fs.o\n")
    (tree / "fs.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\nstatic void *get;\nint fs_init(void)\n{\n"
        '\tget = __symbol_get("nvidia_p2p_get_pages");\n\treturn 0;\n}\n'
        'MODULE_LICENSE("GPL v2");\n'
    )
    result = _audit(tree)
    (gap,) = _rule(result, "not-judged")
    assert (gap.path, gap.line) == ("fs.c", 5) and "nvidia_p2p_get_pages" in gap.message


def test_calls_under_if_are_not_counted_from_sources_and_that_is_said(tmp_path: Path) -> None:
    """openafs calls cache_purge only under #ifdef AFS_DARWIN_ENV: not a Linux call."""
    tree = _tree(tmp_path / "t")
    text = (
        (tree / "prop.c")
        .read_text()
        .replace(
            "\treturn kernel_gpl_fn(x);", "#ifdef OTHER_OS\n\treturn kernel_gpl_fn(x);\n#endif"
        )
    )
    (tree / "prop.c").write_text(text)
    result = _audit(tree, KERNEL)
    assert not _rule(result, "gpl-only-symbol-in-non-gpl-module")
    (gap,) = _rule(result, "not-judged")
    assert "#if" in gap.message
