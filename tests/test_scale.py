"""The machinery for large trees: the fact cache, parallel reading, Kconfig, #include scope."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from gplscan.facts.includes import Resolver, include_closure, kernel_include_dirs
from gplscan.facts.kconfig import KconfigTypes, read_kconfig_types
from gplscan.facts.source import source_facts
from gplscan.report.stats import stat_lines
from gplscan.scan import Options, run
from tests.helpers import run_cli_here

TAGGED = "// SPDX-License-Identifier: GPL-2.0-only\nint f{n}(void) {{ return {n}; }}\n"


def _no_detection(path: Path) -> tuple[None, tuple[()]]:
    return None, ()


def _tree(root: Path, n: int = 150) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    members = " ".join(f"f{i}.o" for i in range(n))
    (root / "Kbuild").write_text(f"obj-m += big.o\nbig-objs := {members}\n")
    for i in range(n):
        (root / f"f{i}.c").write_text(TAGGED.format(n=i))
    (root / "f0.c").write_text(TAGGED.format(n=0) + 'MODULE_LICENSE("GPL");\n')
    return root


def _fact(result, key: str) -> str:  # type: ignore[no-untyped-def]
    return {s.label: s.text for s in stat_lines(result.stats)}[key]


def test_rescan_of_unchanged_tree_reads_no_file(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t")
    cache = tmp_path / "cache"
    first = run(tree, Options(cache_dir=cache), detector=_no_detection)
    assert _fact(first, "files read").startswith("151")
    second = run(tree, Options(cache_dir=cache), detector=_no_detection)
    assert _fact(second, "files read").startswith("0 of 151")
    (tree / "f7.c").write_text(TAGGED.format(n=7) + "/* changed */\n")
    third = run(tree, Options(cache_dir=cache), detector=_no_detection)
    assert _fact(third, "files read").startswith("1 of 151")
    assert [f.fingerprint for f in first.findings] == [f.fingerprint for f in third.findings]
    assert first.binaries == second.binaries


def test_parallel_and_serial_agree(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t")
    serial = run(tree, Options(jobs=1, cache_dir=None), detector=_no_detection)
    parallel = run(tree, Options(jobs=2, cache_dir=None), detector=_no_detection)
    assert serial.binaries == parallel.binaries
    assert serial.inventory == parallel.inventory
    assert len(serial.binaries[0].components) == 150


def test_concurrent_runs_share_one_cache(tmp_path: Path) -> None:
    """Three gplscan processes started together on one tree and one cache directory."""
    tree = _tree(tmp_path / "t")
    cache = tmp_path / "cache"
    args = ["audit", str(tree), "--format", "json", "--cache-dir", str(cache), "-q"]
    env = dict(os.environ, COLUMNS="200")
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "gplscan", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    reports = [json.loads(o) for o in outputs]
    assert all(r["complete"] for r in reports)
    assert len({json.dumps(r["binaries"]) for r in reports}) == 1


def test_a_broken_cache_is_reported_and_bypassed(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", n=3)
    cache = tmp_path / "cache"
    run(tree, Options(cache_dir=cache), detector=_no_detection)
    (db,) = cache.glob("facts-*.sqlite3")
    con = sqlite3.connect(db)
    con.execute("UPDATE files SET record = x'00ff'")
    con.commit()
    con.close()
    result = run(tree, Options(cache_dir=cache), detector=_no_detection)
    assert result.complete and len(result.binaries) == 1
    assert any(i.stage == "cache" for i in result.issues)


def test_kconfig_types_per_architecture(tmp_path: Path) -> None:
    (tmp_path / "drivers").mkdir()
    (tmp_path / "arch" / "x86").mkdir(parents=True)
    (tmp_path / "arch" / "arm64").mkdir(parents=True)
    (tmp_path / "drivers" / "Kconfig").write_text(
        'config FOO\n\ttristate "foo"\n\tdepends on BAR\n\nconfig BAR\n\tbool "bar"\n'
        "menuconfig BAZ\n\tdef_tristate m\n"
    )
    (tmp_path / "arch" / "x86" / "Kconfig").write_text('config KVM\n\ttristate "kvm"\n')
    (tmp_path / "arch" / "arm64" / "Kconfig").write_text(
        'config KVM\n\tbool "kvm"\nconfig ARM64\n\tdef_bool y\n'
    )
    assert read_kconfig_types([tmp_path / "drivers" / "Kconfig"]) == {
        "FOO": "m",
        "BAR": "y",
        "BAZ": "m",
    }
    kinds = [
        PurePosixPath(p) for p in ("drivers/Kconfig", "arch/x86/Kconfig", "arch/arm64/Kconfig")
    ]
    types = KconfigTypes(tmp_path, kinds, "x86")
    assert types.for_directory(PurePosixPath("virt/kvm"))["KVM"] == "m"
    assert types.for_directory(PurePosixPath("virt/kvm"))["ARM64"] == "", "another arch's"
    assert types.for_directory(PurePosixPath("arch/arm64/kvm"))["KVM"] == "y"


def test_bool_options_are_not_modules(tmp_path: Path) -> None:
    (tmp_path / "Kconfig").write_text('config CORE\n\tbool "core"\nconfig DRV\n\ttristate "d"\n')
    (tmp_path / "Makefile").write_text("obj-$(CONFIG_CORE) += core.o\nobj-$(CONFIG_DRV) += drv.o\n")
    for name in ("core", "drv"):
        (tmp_path / f"{name}.c").write_text(TAGGED.format(n=1))
    result = run(tmp_path, Options(cache_dir=None), detector=_no_detection)
    assert [b.name for b in result.binaries] == ["drv"]
    assert result.binaries[0].conditional
    assert not [f for f in result.findings if f.rule == "proprietary-module"], (
        "a conditional module without MODULE_LICENSE read is unknown, not proprietary"
    )


def test_include_resolution_and_closure(tmp_path: Path) -> None:
    files = {
        PurePosixPath(p)
        for p in (
            "drv/a.c",
            "drv/local.h",
            "include/linux/x.h",
            "include/linux/y.h",
            "arch/x86/include/asm/z.h",
            "arch/arm/include/asm/z.h",
            "other/inc/w.h",
        )
    }
    dirs = {p.parent for p in files} | {
        PurePosixPath("include"),
        PurePosixPath("arch/x86/include"),
        PurePosixPath("arch/arm/include"),
    }
    inc = kernel_include_dirs(dirs, "x86")
    assert inc == [PurePosixPath("arch/x86/include"), PurePosixPath("include")]
    resolver = Resolver(files, [PurePosixPath("other/inc"), *inc])
    assert resolver.resolve('"local.h"', "drv") == PurePosixPath("drv/local.h")
    assert resolver.resolve("<local.h>", "drv") is None, "<> does not look next to the file"
    assert resolver.resolve("<asm/z.h>", "drv") == PurePosixPath("arch/x86/include/asm/z.h")
    assert resolver.resolve('"../include/linux/x.h"', "drv") == PurePosixPath("include/linux/x.h")
    assert resolver.resolve('"../../../etc/passwd"', "drv") is None

    texts = {
        "drv/a.c": '#include "local.h"\n#include <linux/x.h>\n',
        "drv/local.h": "#include <linux/y.h>\n",
        "include/linux/x.h": "#include <linux/y.h>\n#include <linux/missing.h>\n",
        "include/linux/y.h": '#include "y.h"\n',
    }

    def read(paths: list[PurePosixPath]) -> dict[PurePosixPath, object]:
        return {p: source_facts(None, p, texts.get(str(p), "")) for p in paths}

    _facts, headers, edges = include_closure([PurePosixPath("drv/a.c")], files, inc, read)  # type: ignore[arg-type]
    assert headers == {
        PurePosixPath(p) for p in ("drv/local.h", "include/linux/x.h", "include/linux/y.h")
    }
    assert edges[PurePosixPath("drv/a.c")] == (
        PurePosixPath("drv/local.h"),
        PurePosixPath("include/linux/x.h"),
    )


@pytest.mark.scancode
def test_inventory_accounts_for_every_file(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "tagged.c").write_text("// SPDX-License-Identifier: GPL-2.0+\nint a;\n")
    (tree / "notice.c").write_text(
        "/*\n * This program is free software; you can redistribute it and/or modify it\n"
        " * under the terms of the GNU General Public License version 2 as published\n"
        " * by the Free Software Foundation.\n */\nint b;\n"
    )
    (tree / "plain.txt").write_text("nothing to see here\n")
    (tree / "bad.c").write_text("// SPDX-License-Identifier: GPL-2.0 OR\n")
    (tree / "fw.bin").write_bytes(bytes(range(256)))
    proc = run_cli_here("inventory", str(tree), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)["inventory"]
    status = {f["path"]: (f["status"], f["license"]) for f in inv["files"]}
    assert status == {
        "tagged.c": ("tagged", "GPL-2.0-or-later"),
        "notice.c": ("detected", "GPL-2.0-only"),
        "plain.txt": ("none", None),
        "bad.c": ("malformed", None),
        "fw.bin": ("binary", None),
    }
    assert inv["scope"] == "all"
    text = run_cli_here("inventory", str(tree), "--files").stdout
    assert "GPL-2.0-only" in text and "notice.c" in text and "5 files:" in text


def test_a_malformed_tag_is_reported_as_an_issue_and_in_the_inventory(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "bad.c").write_text("// SPDX-License-Identifier: GPL-2.0 OR\nint a;\n")
    result = run(tree, Options(cache_dir=None, inventory=True), detector=_no_detection)
    (issue,) = [i for i in result.issues if i.path == PurePosixPath("bad.c")]
    assert issue.stage == "source" and "line 1" in issue.message and not issue.skipped
    assert [f.status for f in result.inventory] == ["malformed"]


def test_module_license_macro_resolved_from_a_header(tmp_path: Path) -> None:
    """MODULE_LICENSE(ZFS_META_LICENSE): the macro is defined in a header the source
    includes, and its string is mapped to SPDX through rules/licenses.yml."""
    tree = tmp_path / "zfs"
    (tree / "include").mkdir(parents=True)
    (tree / "Kbuild").write_text("obj-m += zfs.o\nccflags-y := -I$(src)/include\n")
    (tree / "include" / "zfs_config.h").write_text(
        '// SPDX-License-Identifier: CDDL-1.0\n#define ZFS_META_LICENSE "CDDL"\n'
    )
    (tree / "zfs.c").write_text(
        "// SPDX-License-Identifier: CDDL-1.0\n#include <zfs_config.h>\n"
        "int zfs_init(void) { return 0; }\nMODULE_LICENSE(ZFS_META_LICENSE);\n"
    )
    result = run(tree, Options(cache_dir=None), detector=_no_detection)
    (zfs,) = result.binaries
    assert zfs.declared is not None and zfs.declared.value == b"CDDL"
    assert any("ZFS_META_LICENSE defined as" in e.text for e in zfs.declared.evidence)
    (finding,) = [f for f in result.findings if f.rule == "incompatible-module-license"]
    assert "CDDL-1.0" in finding.message
    assert PurePosixPath("include/zfs_config.h") in {f.path for f in result.inventory}
