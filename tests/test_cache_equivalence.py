"""The cache never changes a verdict: a cached audit gives the JSON an uncached one gives,
byte for byte, after every kind of change to the tree (issue 13)."""

from __future__ import annotations

import lzma
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gplscan.report import json as json_report
from gplscan.scan import Options, run
from tests.helpers import compile_object

BLOB_C = "int vendor_magic(int x) { return x * 7; }\nint vendor_init(void) { return 1; }\n"
MAIN_C = (
    "// SPDX-License-Identifier: GPL-2.0-only\n"
    'MODULE_LICENSE("GPL");\n'
    "extern int vendor_magic(int);\n"
    "int drv_probe(void) { return vendor_magic(3); }\n"
)
MODULE_C = (
    'static const char license[] __attribute__((section(".modinfo"), used)) = "license={lic}";\n'
    "int init_module_{n}(void) {{ return {n}; }}\n"
)


def _no_detection(path: Path) -> tuple[None, tuple[()]]:
    return None, ()


def _audit(tree: Path, cache: Path | None) -> str:
    result = run(tree, Options(cache_dir=cache), detector=_no_detection)
    return json_report.render(result)


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    work = tmp_path_factory.mktemp("blob")
    (work / "blob.c").write_text(BLOB_C)
    return compile_object(work / "blob.c", work / "blob.o").read_bytes()


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Three real ELF modules, xz-compressed as distributions ship them."""
    work = tmp_path_factory.mktemp("modules")
    out = {}
    for n, lic in enumerate(("GPL", "Proprietary", "Dual BSD/GPL")):
        src = work / f"m{n}.c"
        src.write_text(MODULE_C.format(lic=lic, n=n))
        elf = compile_object(src, work / f"m{n}.ko").read_bytes()
        out[f"m{n}.ko.xz"] = lzma.compress(elf, check=lzma.CHECK_CRC32)
    return out


def _driver_tree(root: Path, blob: bytes) -> Path:
    """A GPL module linking the same closed blob from two paths (byte-identical)."""
    (root / "sub").mkdir(parents=True)
    (root / "Kbuild").write_text("obj-m += drv.o\ndrv-objs := main.o blob.o sub/dup.o\n")
    (root / "main.c").write_text(MAIN_C)
    (root / "blob.o_shipped").write_bytes(blob)
    (root / "sub" / "dup.o_shipped").write_bytes(blob)
    return root


def _module_dir(root: Path, modules: dict[str, bytes]) -> Path:
    (root / "kernel" / "drivers").mkdir(parents=True)
    for name, data in modules.items():
        (root / "kernel" / "drivers" / name).write_bytes(data)
    return root


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


MUTATIONS: dict[str, Callable[[Path], None]] = {
    "nothing changed": lambda t: None,
    "a file touched": lambda t: _touch(next(p for p in sorted(t.rglob("*")) if p.is_file())),
    "content changed": lambda t: next(
        p for p in sorted(t.rglob("*")) if p.is_file() and p.suffix in (".c", ".xz")
    ).write_bytes(b"// changed\n"),
    "a file renamed": lambda t: (lambda p: p.rename(p.with_name("renamed" + p.name)))(
        next(p for p in sorted(t.rglob("*")) if p.is_file() and p.name != "Kbuild")
    ),
    "a file deleted": lambda t: next(
        p for p in sorted(t.rglob("*")) if p.is_file() and p.name != "Kbuild"
    ).unlink(),
    "a file duplicated at another path": lambda t: (
        lambda p: shutil.copy2(p, p.with_name("copy-" + p.name))
    )(next(p for p in sorted(t.rglob("*")) if p.is_file() and p.name != "Kbuild")),
    "a file's mode changed": lambda t: next(p for p in sorted(t.rglob("*")) if p.is_file()).chmod(
        0o755
    ),
}


@pytest.mark.parametrize("shape", ["driver", "modules"])
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_cached_audit_equals_uncached(
    tmp_path: Path,
    blob: bytes,
    modules: dict[str, bytes],
    shape: str,
    mutation: str,
) -> None:
    tree = tmp_path / "tree"
    if shape == "driver":
        _driver_tree(tree, blob)
    else:
        _module_dir(tree, modules)
    cache = tmp_path / "cache"
    first = _audit(tree, cache)
    assert first == _audit(tree, None), "a cold cache gives the uncached report"
    MUTATIONS[mutation](tree)
    cached = _audit(tree, cache)
    assert cached == _audit(tree, None), mutation
    assert _audit(tree, cache) == cached, "and again, with everything cached"


def test_two_copies_of_a_blob_are_both_judged_on_a_warm_cache(tmp_path: Path, blob: bytes) -> None:
    tree = _driver_tree(tmp_path / "tree", blob)
    cache = tmp_path / "cache"
    for _ in range(2):  # cold, then warm
        result = run(tree, Options(cache_dir=cache), detector=_no_detection)
        closed = [f for f in result.findings if f.rule == "gpl-links-closed-object"]
        assert sorted(str(f.object) for f in closed) == ["blob.o", "sub/dup.o"]
        assert not [c for b in result.binaries for c in b.components if c.origin == "unknown"]


def test_compressed_modules_survive_a_warm_cache(tmp_path: Path, modules: dict[str, bytes]) -> None:
    tree = _module_dir(tmp_path / "tree", modules)
    cache = tmp_path / "cache"
    for _ in range(2):  # cold, then warm
        result = run(tree, Options(cache_dir=cache), detector=_no_detection)
        assert len(result.binaries) == 3
        assert [f.rule for f in result.findings] == ["proprietary-module"]
