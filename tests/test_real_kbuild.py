"""A module built by the kernel's own Kbuild against real kernel headers, then audited.

Needs a kernel build directory (Debian: ``apt-get install linux-headers-amd64``, which
gives ``/lib/modules/<release>/build``), ``make`` and the compiler the headers name; the
tests are skipped, with the reason, where no headers are installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES, need_tools, run_cli

pytestmark = pytest.mark.kbuild

TREE = FIXTURES / "real-kbuild" / "tree"
CLOSED = FIXTURES / "real-kbuild" / "closed"
BLOB_FLAGS = [
    "-c",
    "-O2",
    "-fno-pic",
    "-ffreestanding",
    "-fno-stack-protector",
    "-mcmodel=kernel",
    "-mno-red-zone",
    "-g0",
]


def kernel_build_dir() -> Path:
    """The first ``/lib/modules/*/build`` that holds a Makefile and Module.symvers."""
    modules = Path("/lib/modules")
    candidates = sorted(modules.glob("*/build")) if modules.is_dir() else []
    for build in candidates:
        if (build / "Makefile").is_file() and (build / "Module.symvers").is_file():
            return build
    pytest.skip(
        "no kernel headers: no /lib/modules/*/build with a Makefile and Module.symvers "
        "(on Debian: apt-get install linux-headers-amd64)"
    )


def _copy(tmp_path: Path) -> Path:
    need_tools("gcc", "make")
    tree = tmp_path / "demo"
    shutil.copytree(TREE, tree)
    subprocess.run(
        ["gcc", *BLOB_FLAGS, "-o", str(tree / "blob.o_shipped"), "blob.c"],
        cwd=CLOSED,
        check=True,
        capture_output=True,
    )
    return tree


def _build(tree: Path, build: Path) -> None:
    done = subprocess.run(
        ["make", "-C", str(build), f"M={tree}", "modules"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _audit(tree: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = run_cli("audit", str(tree), "--format", "json", "--no-cache", *extra)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    build = kernel_build_dir()
    tree = _copy(tmp_path_factory.mktemp("kbuild"))
    _, before = _audit(tree)
    _build(tree, build)
    return tree, build, before


def test_kbuild_built_the_modules(built: tuple[Path, Path, dict[str, Any]]) -> None:
    tree, _, _ = built
    assert (tree / "demo.ko").is_file() and (tree / "clean_demo.ko").is_file()
    # what Kbuild recorded: the module's members, and the copy of the shipped object
    assert (tree / "demo.mod").read_text().split() == [
        str(tree / "demo_main.o"),
        str(tree / "blob.o"),
    ]


def test_closed_object_in_the_real_build(built: tuple[Path, Path, dict[str, Any]]) -> None:
    tree, _, _ = built
    code, report = _audit(tree)
    assert code == 1
    closed = [f for f in report["findings"] if "gpl-links-closed-object" in json.dumps(f)]
    assert len(closed) == 1
    text = json.dumps(closed[0])
    assert "demo.ko" in text and "blob.o" in text
    assert "demo-objs := demo_main.o blob.o" in text  # the Kbuild line
    assert "blob_init" in text and "demo_callback" in text  # the symbols that tie them
    # the clean module has nothing against it
    assert "clean_demo" not in json.dumps(report["findings"])
    binaries = {b["path"]: b for b in report["binaries"]}
    assert set(binaries) >= {"demo.ko", "clean_demo.ko"}
    demo = binaries["demo.ko"]
    origins = {c["path"]: c["origin"] for c in demo["components"]}
    assert origins["blob.o"] == "closed"
    assert origins["demo_main.o"] != "closed"


def test_kernel_found_from_the_build_records(built: tuple[Path, Path, dict[str, Any]]) -> None:
    tree, build, _ = built
    _, report = _audit(tree)
    shown = report["scan"]["kernel exports"]
    assert "found from the build records" in shown
    assert str(build) in shown or str(build.resolve()) in shown
    # pr_info -> _printk, resolved to the kernel's plain export
    demo = next(b for b in report["binaries"] if b["path"] == "demo.ko")
    assert demo["imports"]["unresolved"] == []
    assert demo["imports"]["providers"]["vmlinux"]["EXPORT_SYMBOL"] >= 1


def test_same_verdict_before_and_after_the_build(
    built: tuple[Path, Path, dict[str, Any]],
) -> None:
    tree, _, before = built
    _, after = _audit(tree)

    def judged(report: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (f["fingerprint"], f["severity"])
            for f in report["findings"]
            if f["severity"] == "error"
        }

    assert judged(before)
    assert judged(before) == judged(after)
