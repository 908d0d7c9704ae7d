"""The bundled example trees and their builder, checked against the reference tool readelf."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gplscan.examples import (
    BLOB_CFLAGS,
    MAKEFILE,
    ExampleError,
    blobs_for,
    data_dir,
    example_names,
    prepare_example,
)

Examples = dict[str, dict[str, Path]]

CLOSED = "hyperv-2009"
OPEN = "hyperv-2009-open"
BLOB = "hv_core.o_shipped"
CORE_FUNCTIONS = {"hv_init", "hv_cleanup", "hv_post_message", "hv_signal_event", "hv_synic_init"}
VMBUS_EXPORTS = {
    "vmbus_driver_register",
    "vmbus_driver_unregister",
    "vmbus_open",
    "vmbus_close",
    "vmbus_sendpacket",
    "vmbus_recvpacket",
}
VMBUS_MEMBERS = ["vmbus_drv.o", "channel.o", "ring_buffer.o", "hv_core.o"]
IS_X86_64 = platform.machine().lower() in {"x86_64", "amd64"}


# ---------------------------------------------------------------------------
# readelf


@dataclass(frozen=True, slots=True)
class Sym:
    name: str
    type: str
    bind: str
    ndx: str
    section: str | None  # the section's name, None when undefined or absolute


def readelf(*args: str) -> str:
    if shutil.which("readelf") is None:
        pytest.skip("needs readelf (binutils) on PATH as the reference tool")
    proc = subprocess.run(
        ["readelf", "-W", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    return proc.stdout


def section_names(path: Path) -> dict[str, str]:
    """Section index -> name, from ``readelf -SW``."""
    names: dict[str, str] = {}
    for line in readelf("-S", str(path)).splitlines():
        match = re.match(r"\s*\[\s*(\d+)\]\s+(\S+)", line)
        if match and match.group(1) != "0":
            names[match.group(1)] = match.group(2)
    return names


def symbols(path: Path) -> dict[str, Sym]:
    """Named symbols from ``readelf -sW`` (the last one wins on duplicate names)."""
    sections = section_names(path)
    out: dict[str, Sym] = {}
    for line in readelf("-s", str(path)).splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit():
            continue
        _, _, _, type_, bind, _, ndx, name = parts[:8]
        out[name] = Sym(name, type_, bind, ndx, sections.get(ndx))
    return out


def header(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in readelf("-h", str(path)).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def modinfo(path: Path) -> list[str]:
    """The strings of ``.modinfo``, from ``readelf -p .modinfo``."""
    text = readelf("-p", ".modinfo", str(path))
    return [m.group(1) for m in re.finditer(r"^\s*\[\s*[0-9a-f]+\]\s+(.*)$", text, re.M)]


def defined(sym: Sym | None) -> bool:
    return sym is not None and sym.ndx != "UND"


# ---------------------------------------------------------------------------
# The trees as stored


def test_example_names() -> None:
    assert example_names() == [CLOSED, OPEN]


def test_recipe_names_the_closed_object() -> None:
    [blob] = blobs_for(CLOSED)
    assert (str(blob.source), str(blob.output)) == ("hv_core.c", BLOB)
    assert blobs_for(OPEN) == []
    assert (data_dir() / "_private" / "hv_core.c").is_file()


def test_no_object_is_stored_in_the_trees() -> None:
    for name in example_names():
        for path in (data_dir() / name).rglob("*"):
            assert path.suffix not in {".o", ".ko", ".o_shipped"}, path
            assert not path.name.endswith("_shipped"), path


def test_twins_differ_only_in_hv_core_and_readme() -> None:
    def files(tree: Path) -> dict[str, bytes]:
        return {
            p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()
        }

    closed, open_ = files(data_dir() / CLOSED), files(data_dir() / OPEN)
    assert set(open_) - set(closed) == {"hv_core.c"}
    assert set(closed) - set(open_) == set()
    differing = {name for name in closed if closed[name] != open_[name]}
    assert differing == {"README.md"}


def test_sources_carry_spdx_and_copyright() -> None:
    for name in example_names():
        for path in (data_dir() / name).rglob("*.[ch]"):
            head = path.read_text().splitlines()[:8]
            assert "SPDX-License-Identifier: GPL-2.0-only" in head[0], path
            assert any("Copyright" in line for line in head), path
    # the closed part's source is gplscan's own fixture, under gplscan's license: it only
    # plays the closed part (it stays outside the example trees)
    private = (data_dir() / "_private" / "hv_core.c").read_text()
    assert "SPDX-License-Identifier: GPL-2.0-or-later" in private.splitlines()[1]
    assert "PLAYS the closed part" in private and "PROPRIETARY" not in private


# ---------------------------------------------------------------------------
# The closed object


def test_blob_is_a_relocatable_object(built_examples: Examples) -> None:
    blob = built_examples[CLOSED]["source"] / BLOB
    fields = header(blob)
    assert fields["Class"] == "ELF64"
    assert fields["Type"].startswith("REL ")
    if IS_X86_64:
        assert fields["Machine"] == "Advanced Micro Devices X86-64"


def test_blob_defines_the_core_and_calls_back_into_gpl_code(built_examples: Examples) -> None:
    syms = symbols(built_examples[CLOSED]["source"] / BLOB)
    for name in CORE_FUNCTIONS:
        assert syms[name].type == "FUNC" and syms[name].bind == "GLOBAL", syms[name]
        assert syms[name].section == ".text"
    undefined = {s.name for s in syms.values() if s.ndx == "UND" and s.name}
    assert undefined == {"vmbus_on_msg_dpc"}
    assert syms["hv_core.c"].type == "FILE"
    assert not any(
        name.startswith(".debug")
        for name in section_names(built_examples[CLOSED]["source"] / BLOB).values()
    ), "compiled with -g0"


def test_source_form_holds_sources_and_the_blob_only(built_examples: Examples) -> None:
    for name, forms in built_examples.items():
        tree = forms["source"]
        objects = sorted(
            p.name for p in tree.iterdir() if p.suffix in {".o", ".ko", ".mod", ".o_shipped"}
        )
        assert objects == ([BLOB] if name == CLOSED else [])
        assert not list(tree.glob(".*.cmd"))


# ---------------------------------------------------------------------------
# The built trees


def test_vmbus_module_info(built_examples: Examples) -> None:
    for name in example_names():
        ko = built_examples[name]["built"] / "hv_vmbus.ko"
        info = modinfo(ko)
        assert "license=GPL" in info
        assert "name=hv_vmbus" in info
        assert "depends=" in info
        assert any(s.startswith("vermagic=") for s in info)
        assert "author=Example Hypervisor Corp." in info
        netvsc = modinfo(built_examples[name]["built"] / "hv_netvsc.ko")
        assert {"license=GPL", "name=hv_netvsc", "depends=hv_vmbus"} <= set(netvsc)


def test_vmbus_module_links_the_core_and_exports_gpl_only(built_examples: Examples) -> None:
    for name in example_names():
        syms = symbols(built_examples[name]["built"] / "hv_vmbus.ko")
        for function in CORE_FUNCTIONS | {"vmbus_on_msg_dpc", "init_module", "cleanup_module"}:
            assert defined(syms.get(function)), (name, function)
        for export in VMBUS_EXPORTS:
            assert syms[f"__ksymtab_{export}"].section == "__ksymtab_gpl", (name, export)
            assert syms[f"__kstrtab_{export}"].section == "__ksymtab_strings"
            assert defined(syms[export])
        assert syms["__this_module"].section == ".gnu.linkonce.this_module"
        undefined = {s.name for s in syms.values() if s.ndx == "UND" and s.name}
        assert undefined == {"printk"}, "only the kernel's printk is left to resolve"


def test_client_modules_import_the_vmbus_api(built_examples: Examples) -> None:
    for name in example_names():
        for module in ("hv_netvsc.ko", "hv_storvsc.ko"):
            syms = symbols(built_examples[name]["built"] / module)
            for imported in ("vmbus_open", "vmbus_sendpacket", "vmbus_driver_register"):
                assert syms[imported].ndx == "UND", (module, imported)
            assert "hv_post_message" not in syms
            assert not any(s.startswith("__ksymtab_") for s in syms)


def test_open_twin_compiles_its_core(built_examples: Examples) -> None:
    for form in ("source", "built"):
        tree = built_examples[OPEN][form]
        assert not [p for p in tree.rglob("*") if p.name.endswith("_shipped")]
    tree = built_examples[OPEN]["built"]
    cmd = (tree / ".hv_core.o.cmd").read_text()
    assert "source_hv_core.o := hv_core.c" in cmd
    assert re.search(r"^savedcmd_hv_core\.o := gcc .* -c -o hv_core\.o hv_core\.c$", cmd, re.M)
    sections = set(section_names(tree / "hv_core.o").values())
    assert ".debug_info" in sections, "compiled here, with debug information"


def test_closed_core_is_a_copy_of_the_blob(built_examples: Examples) -> None:
    tree = built_examples[CLOSED]["built"]
    assert (tree / "hv_core.o").read_bytes() == (tree / BLOB).read_bytes()
    # Kbuild's %_shipped rule runs $(call cmd,copy), which records no .cmd file.
    assert not (tree / ".hv_core.o.cmd").exists()
    assert not (tree / "hv_core.c").exists()


def test_kbuild_records(built_examples: Examples) -> None:
    for name in example_names():
        tree = built_examples[name]["built"]
        assert (tree / "hv_vmbus.mod").read_text().split() == VMBUS_MEMBERS
        assert (tree / "hv_netvsc.mod").read_text().split() == ["netvsc_drv.o", "netvsc.o"]
        assert (tree / "modules.order").read_text().split() == [
            "hv_vmbus.o",
            "hv_netvsc.o",
            "hv_storvsc.o",
        ]
        symvers = [line.split("\t") for line in (tree / "Module.symvers").read_text().splitlines()]
        assert {(row[1], row[2], row[3]) for row in symvers} == {
            (export, "hv_vmbus", "EXPORT_SYMBOL_GPL") for export in VMBUS_EXPORTS
        }
        assert (tree / ".hv_vmbus.o.cmd").read_text() == (
            "savedcmd_hv_vmbus.o := ld -r -o hv_vmbus.o @hv_vmbus.mod\n"
        )
        ko_cmd = (tree / ".hv_vmbus.ko.cmd").read_text()
        assert ko_cmd.startswith("savedcmd_hv_vmbus.ko := ld -r ")
        assert ko_cmd.rstrip().endswith("-o hv_vmbus.ko hv_vmbus.o hv_vmbus.mod.o")
        for member in ("vmbus_drv", "channel", "ring_buffer", "netvsc", "storvsc_drv"):
            cmd = (tree / f".{member}.o.cmd").read_text()
            assert f"source_{member}.o := {member}.c" in cmd
            assert "-DKBUILD_MODNAME=" in cmd and "deps_" in cmd


def test_built_tree_is_up_to_date(built_examples: Examples) -> None:
    """A second make has nothing to do (make -q: exit 0 when every target is current)."""
    for name in example_names():
        tree = built_examples[name]["built"]
        proc = subprocess.run(
            ["make", "-q", "-f", str(data_dir() / MAKEFILE), "-C", str(tree), f"src={tree}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------
# prepare_example's errors


def test_unknown_example(tmp_path: Path) -> None:
    with pytest.raises(ExampleError, match=r"no example named 'nope'.*hyperv-2009"):
        prepare_example("nope", tmp_path)


def test_existing_destination(tmp_path: Path) -> None:
    (tmp_path / OPEN).mkdir()
    with pytest.raises(ExampleError, match="already exists"):
        prepare_example(OPEN, tmp_path)


def test_missing_tools_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ExampleError, match=r"gcc.* not found on PATH"):
        prepare_example(CLOSED, tmp_path)
    with pytest.raises(ExampleError, match=r"make, gcc, ld, nm, objdump not found on PATH"):
        prepare_example(OPEN, tmp_path, built=True)
    assert not (tmp_path / CLOSED).exists() and not (tmp_path / OPEN).exists()


def test_build_failure_reports_command_and_compiler_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if any(shutil.which(t) is None for t in ("make", "gcc", "ld", "nm", "objdump")):
        pytest.skip("needs make, gcc and binutils")
    fixtures = tmp_path / "fixtures"
    shutil.copytree(data_dir(), fixtures, ignore=shutil.ignore_patterns("rules"))
    broken = fixtures / OPEN / "ring_buffer.c"
    broken.write_text(broken.read_text() + "\nthis is not C;\n")
    monkeypatch.setattr("gplscan.examples.data_dir", lambda: fixtures)
    with pytest.raises(ExampleError) as info:
        prepare_example(OPEN, tmp_path / "out", built=True)
    message = str(info.value)
    assert "$ make " in message and MAKEFILE in message
    assert "ring_buffer.c" in message and "error" in message


def test_blob_flags_match_build_md() -> None:
    build_md = (data_dir() / "_private" / "BUILD.md").read_text()
    assert "gcc " + " ".join(BLOB_CFLAGS) in " ".join(build_md.replace("\\\n", " ").split())


def test_copy_from_a_read_only_installation_is_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    fixtures = tmp_path / "fixtures"
    shutil.copytree(data_dir(), fixtures, ignore=shutil.ignore_patterns("rules"))
    for path in (*fixtures.rglob("*"), fixtures):
        path.chmod(path.stat().st_mode & ~0o222)
    monkeypatch.setattr("gplscan.examples.data_dir", lambda: fixtures)
    try:
        tree = prepare_example(CLOSED, tmp_path / "out")
    finally:
        for path in (fixtures, *fixtures.rglob("*")):
            path.chmod(path.stat().st_mode | 0o200)
    assert (tree / BLOB).is_file()
    for path in (tree, *tree.rglob("*")):
        assert path.stat().st_mode & 0o200, path
