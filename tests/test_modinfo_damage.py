"""A module whose ``.modinfo`` is damaged never vanishes from the report (issue 13).

Each case takes a real module object built with gcc (a ``.modinfo`` declaring MIT, a
``__this_module``), damages it the way the issue's mutations did, and audits it beside an
intact GPL module: the damaged one is still listed and judged, or named as not read, and
the audit does not pass.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from gplscan.report import json as json_report
from gplscan.scan import Options, run
from tests.helpers import compile_object

MODULE_C = """\
static const char info[] __attribute__((section(".modinfo"), used)) =
    "license={lic}\\0name={name}\\0vermagic=6.1.0 SMP mod_unload";
struct module {{ int state; }};
struct module __this_module = {{ 1 }};
int init_module(void) {{ return 0; }}
"""


def _sections(data: bytes) -> dict[bytes, tuple[int, int, int]]:
    """name -> (header offset, content offset, size) of a 64-bit little-endian ELF file."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, count, strndx = struct.unpack_from("<HHH", data, 0x3A)
    (names,) = struct.unpack_from("<Q", data, shoff + strndx * entsize + 0x18)
    out = {}
    for i in range(count):
        base = shoff + i * entsize
        (name,) = struct.unpack_from("<I", data, base)
        start = names + name
        offset, size = struct.unpack_from("<QQ", data, base + 0x18)
        out[data[start : data.index(b"\0", start)]] = (base, offset, size)
    return out


def _zero_size(data: bytearray) -> None:
    base, _, _ = _sections(bytes(data))[b".modinfo"]
    struct.pack_into("<Q", data, base + 0x20, 0)


def _no_nuls(data: bytearray) -> None:
    _, offset, size = _sections(bytes(data))[b".modinfo"]
    data[offset : offset + size] = data[offset : offset + size].replace(b"\0", b"x")


def _renamed(data: bytearray) -> None:
    base, _, _ = _sections(bytes(data))[b".modinfo"]
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, _, strndx = struct.unpack_from("<HHH", data, 0x3A)
    (names,) = struct.unpack_from("<Q", data, shoff + strndx * entsize + 0x18)
    (name,) = struct.unpack_from("<I", data, base)
    data[names + name : names + name + 8] = b".modinfX"


def _no_section_table(data: bytearray) -> None:
    struct.pack_into("<Q", data, 0x28, 0)


DAMAGE: dict[str, Callable[[bytearray], None]] = {
    "section size zeroed": _zero_size,
    "NULs removed": _no_nuls,
    "section renamed": _renamed,
    "e_shoff zeroed": _no_section_table,
}


@pytest.fixture(scope="module")
def module_objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    work = tmp_path_factory.mktemp("modinfo")
    out = {}
    for name, lic in (("closed", "MIT"), ("open", "GPL")):
        src = work / f"{name}.c"
        src.write_text(MODULE_C.format(lic=lic, name=name))
        out[name] = compile_object(src, work / f"{name}.ko").read_bytes()
    return out


def _audit(tree: Path) -> dict:  # type: ignore[type-arg]
    result = run(tree, Options(cache_dir=None), detector=lambda p: (None, ()))
    report: dict = json.loads(json_report.render(result))  # type: ignore[type-arg]
    return report


def test_the_intact_module_is_judged(tmp_path: Path, module_objects: dict[str, bytes]) -> None:
    (tmp_path / "closed.ko").write_bytes(module_objects["closed"])
    (tmp_path / "open.ko").write_bytes(module_objects["open"])
    report = _audit(tmp_path)
    assert {b["path"] for b in report["binaries"]} == {"closed.ko", "open.ko"}
    # the kernel accepts no "MIT": it taints the module as proprietary
    closed = [f for f in report["findings"] if f["binary"] == "closed.ko"]
    assert [f["rule"] for f in closed] == ["proprietary-module"]
    assert '"MIT"' in closed[0]["message"]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_modinfo_never_hides_the_module(
    tmp_path: Path, module_objects: dict[str, bytes], damage: str
) -> None:
    data = bytearray(module_objects["closed"])
    DAMAGE[damage](data)
    (tmp_path / "closed.ko").write_bytes(data)
    (tmp_path / "open.ko").write_bytes(module_objects["open"])
    report = _audit(tmp_path)
    listed = {b["path"] for b in report["binaries"]}
    not_read = {i["path"] for i in report["issues"] if i["skipped"]}
    assert "closed.ko" in listed | not_read, report
    assert report["summary"]["verdict"] != "pass", report["summary"]
    if "closed.ko" in listed:
        # a module whose .modinfo holds no readable license is, to the kernel, unlicensed
        assert any(
            f["rule"] == "proprietary-module" and f["binary"] == "closed.ko"
            for f in report["findings"]
        ), report["findings"]
    else:
        assert report["complete"] is False


def test_a_stray_object_beside_built_modules_is_listed(
    tmp_path: Path, module_objects: dict[str, bytes]
) -> None:
    """A directory of built modules and no sources: an object no module accounts for is
    still reported, not dropped because there is no source tree to account against."""
    (tmp_path / "open.ko").write_bytes(module_objects["open"])
    (tmp_path / "blob.c").write_text("int vendor_secret(int x) { return x ^ 42; }\n")
    compile_object(tmp_path / "blob.c", tmp_path / "blob.o")
    (tmp_path / "blob.c").unlink()
    report = _audit(tmp_path)
    assert "blob.o" in {b["path"] for b in report["binaries"]}
    assert any(f["object"] == "blob.o" for f in report["findings"]), report["findings"]
