"""Source facts: SPDX tags, MODULE_LICENSE byte-exact, exports, defined functions."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from gplscan.facts.source import source_facts, symbol_lines
from gplscan.facts.spdx import SpdxError, find_tag, normalize


def facts(tmp_path: Path, text: str, name: str = "x.c"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(text.encode())
    sf = source_facts(path, PurePosixPath(name))
    return sf, sf.string_defines


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("GPL-2.0", "GPL-2.0-only"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("GPL-2.0 WITH Linux-syscall-note", "GPL-2.0-only WITH Linux-syscall-note"),
        ("(GPL-2.0 OR BSD-3-Clause)", "GPL-2.0-only OR BSD-3-Clause"),
        ("LGPL-2.1+ and MIT", "LGPL-2.1-or-later AND MIT"),
        ("GPL-2.0-only", "GPL-2.0-only"),
    ],
)
def test_spdx_normalization(raw: str, normalized: str) -> None:
    assert normalize(raw) == normalized


@pytest.mark.parametrize("raw", ["GPL-2.0 OR", "", "(MIT"])
def test_malformed_spdx_is_an_error_not_a_crash(raw: str) -> None:
    with pytest.raises(SpdxError):
        normalize(raw)


@pytest.mark.parametrize(
    "line",
    [
        "// SPDX-License-Identifier: GPL-2.0",
        "/* SPDX-License-Identifier: GPL-2.0 */",
        "# SPDX-License-Identifier: GPL-2.0",
        "<!-- SPDX-License-Identifier: GPL-2.0 -->",
    ],
)
def test_tag_in_every_comment_style(line: str) -> None:
    found = find_tag(line + "\n")
    assert found is not None and found[0] == "GPL-2.0"


def test_malformed_tag_is_kept_as_an_error(tmp_path: Path) -> None:
    sf, _ = facts(tmp_path, "// SPDX-License-Identifier: GPL-2.0 OR\nint x;\n")
    assert sf.spdx is None
    assert sf.spdx_error and "line 1" in sf.spdx_error


def test_module_license_is_byte_exact_with_nuls(tmp_path: Path) -> None:
    sf, _ = facts(
        tmp_path,
        "// SPDX-License-Identifier: GPL-2.0\n"
        '/* MODULE_LICENSE("Proprietary") only in a comment */\n'
        "#define MODULE_LICENSE(x) MODULE_INFO(license, x)\n"
        'MODULE_LICENSE("GPL\\0for files in the \\"GPL\\" directory");\n'
        'MODULE_AUTHOR("A " "B <\\x61@b>");\n',
    )
    licenses = sf.module_licenses()
    assert len(licenses) == 1, "comments and #define lines are not declarations"
    assert licenses[0].value == b'GPL\x00for files in the "GPL" directory'
    assert licenses[0].at.line == 4
    author = next(d for d in sf.module_info if d.tag == "author")
    assert author.value == b"A B <a@b>"


def test_module_license_macro_is_left_for_resolution(tmp_path: Path) -> None:
    sf, defines = facts(
        tmp_path, '#define ZFS_META_LICENSE "CDDL"\nMODULE_LICENSE(ZFS_META_LICENSE);\n'
    )
    assert sf.module_licenses()[0].value is None
    assert sf.module_licenses()[0].argument == "ZFS_META_LICENSE"
    assert dict(defines) == {"ZFS_META_LICENSE": b"CDDL"}


def test_exports_and_defined_functions(tmp_path: Path) -> None:
    sf, _ = facts(
        tmp_path,
        "static int helper(int a) { return a; }\n"
        'int __init\nvmbus_init(void)\n{\n\tchar *s = "{";\n\treturn helper(1);\n}\n'
        "struct ops o = { .x = 1 };\n"
        "int proto(void);\n"
        "EXPORT_SYMBOL_GPL(vmbus_init);\n"
        'EXPORT_SYMBOL_NS(proto, "HV");\n',
    )
    assert sf.defines == frozenset({"vmbus_init"})
    assert [(e.symbol, e.gpl_only, e.namespace) for e in sf.exports] == [
        ("vmbus_init", True, None),
        ("proto", False, "HV"),
    ]


def test_symbol_lines_prefers_calls_and_definitions() -> None:
    text = "int f(void);\nvoid cb(void);\nvoid cb(void)\n{\n}\nint g(void)\n{\n\treturn f();\n}\n"
    assert symbol_lines(text, ["f"]) == {"f": 8}
    assert symbol_lines(text, ["cb"], want="definition") == {"cb": 3}


def test_undecodable_bytes_do_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "latin.c"
    path.write_bytes(b'/* Copyright \xe9t\xe9 */\nMODULE_LICENSE("GPL\xff");\n')
    sf = source_facts(path, PurePosixPath("latin.c"))
    assert sf.module_licenses()[0].value == b"GPL\xff"


def test_a_projects_wrapper_of_module_license_is_read() -> None:
    """zfs declares its modules' licenses through ZFS_MODULE_LICENSE(...)."""
    from gplscan.facts.source import source_facts as facts

    text = 'ZFS_MODULE_LICENSE("Dual BSD/GPL");\nFOOMODULE_LICENSE("no");\n'
    sf = facts(None, PurePosixPath("z.c"), text, defines=False)
    assert [(d.tag, d.value) for d in sf.module_info] == [("license", b"Dual BSD/GPL")]


def test_defined_functions_are_what_the_object_will_define() -> None:
    """module_init/module_exit give init_module/cleanup_module; a macro invocation that
    looks like a definition is not one (object-source-mismatch precision)."""
    from gplscan.facts.source import defined_functions

    text = (
        "int probe(void) { return 0; }\nstatic int helper(void) { return 1; }\n"
        "DAHDI_IRQ_HANDLER(wctdm_interrupt)\n{\n\treturn 0;\n}\n"
        "module_init(probe);\nmodule_exit(helper);\n"
    )
    assert defined_functions(text) == {"probe", "init_module", "cleanup_module"}


def test_symbol_get_bindings_name_a_symbol_only_when_the_source_does() -> None:
    from gplscan.facts.source import source_facts as facts

    text = (
        "void f(void)\n{\n\ta = symbol_get(nvidia_p2p_get_pages);\n"
        '\tb = __symbol_get("nvidia_p2p_put_pages");\n\tc = __symbol_get(probename);\n}\n'
    )
    sf = facts(None, PurePosixPath("p.c"), text, defines=False)
    assert sf.runtime_imports == (("nvidia_p2p_get_pages", 3), ("nvidia_p2p_put_pages", 4))
