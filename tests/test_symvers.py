"""Where the kernel's exports come from: Module.symvers parsing and the build-record lookup."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gplscan.facts.symvers import (
    SymversExports,
    kernel_from_records,
    load_kernel_symbols,
    parse_symvers,
)

SYMVERS = (
    "0x1\t_printk\tvmlinux\tEXPORT_SYMBOL\t\n"
    "0x2\tkmalloc_trace\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"
    "0x3\tusb_register\tdrivers/usb/core/usbcore\tEXPORT_SYMBOL_GPL\tUSB_NS\n"
    "not a record\n"
    "0x4 spaced_sym vmlinux EXPORT_SYMBOL\n"
)


def test_parse_symvers_reads_every_record_with_its_line() -> None:
    exports = parse_symvers(SYMVERS, "/k/Module.symvers")
    assert sorted(exports) == ["_printk", "kmalloc_trace", "spaced_sym", "usb_register"]
    assert len(exports) == 4 and "nothing" not in exports
    usb = exports["usb_register"]
    assert (usb.module, usb.gpl_only, usb.namespace) == ("drivers/usb/core/usbcore", True, "USB_NS")
    assert usb.evidence.line == 3
    assert usb.evidence.text == "0x3 usb_register drivers/usb/core/usbcore EXPORT_SYMBOL_GPL USB_NS"
    assert exports["_printk"].gpl_only is False and exports["_printk"].namespace is None
    assert exports.get("missing") is None


def test_well_formed_symvers_reads_the_same_as_line_by_line() -> None:
    """A file whose every line has five columns is indexed by its columns; any other
    line sends the whole file through the line-by-line reader. Both give the same."""
    fast = parse_symvers(SYMVERS.split("not a record")[0] * 2, "/k/Module.symvers")
    slow = parse_symvers(SYMVERS.split("not a record")[0] * 2 + "\n", "/k/Module.symvers")
    assert isinstance(fast, SymversExports) and isinstance(slow, SymversExports)
    assert fast._columns and not slow._columns  # which reader each took
    assert list(fast) == list(slow) == ["_printk", "kmalloc_trace", "usb_register"]
    for symbol in slow:
        assert fast[symbol] == slow[symbol]
    assert fast["usb_register"].evidence.line == 6  # the later of two records wins
    assert fast.get("spaced_sym") is None and "x" not in fast and len(fast) == 3


RECORDS = [PurePosixPath(".main.o.cmd")]


def _kernel_tree(base: Path, name: str) -> Path:
    tree = base / name
    (tree / "include" / "linux").mkdir(parents=True)
    (tree / "include" / "linux" / "kconfig.h").write_text("/* kconfig */\n")
    return tree


def _record(target: Path, source: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / ".main.o.cmd").write_text(
        f"cmd_{target}/main.o := gcc -nostdinc -I{source}/include "
        f"-include {source}/include/linux/kconfig.h -c -o {target}/main.o {target}/main.c\n"
    )


def test_kernel_built_in_place_is_found_from_the_records(tmp_path: Path) -> None:
    source = _kernel_tree(tmp_path, "linux")
    (source / "Module.symvers").write_text(SYMVERS)
    target = tmp_path / "driver"
    _record(target, source)
    found = kernel_from_records(target, RECORDS)
    assert found is not None
    assert found[0] == source / "Module.symvers"
    assert ".main.o.cmd" in found[1] and str(source) in found[1]
    symbols = load_kernel_symbols(None, target, RECORDS)
    assert "_printk" in symbols.exports
    assert "found from the build records" in symbols.source


def test_debian_headers_layout_is_found_from_the_records(tmp_path: Path) -> None:
    # Debian: the -common package holds the source side, the -amd64 package the build side,
    # whose Makefile includes the common one and which holds Module.symvers
    common = _kernel_tree(tmp_path / "usr-src", "linux-headers-6.1.0-50-common")
    build = tmp_path / "usr-src" / "linux-headers-6.1.0-50-amd64"
    build.mkdir()
    (build / "Makefile").write_text(f"include {common}/Makefile\n")
    (build / "Module.symvers").write_text(SYMVERS)
    other = tmp_path / "usr-src" / "linux-headers-6.1.0-49-amd64"
    other.mkdir()
    (other / "Makefile").write_text("include /elsewhere/Makefile\n")
    (other / "Module.symvers").write_text("")
    target = tmp_path / "driver"
    _record(target, common)
    found = kernel_from_records(target, [PurePosixPath("main.c"), *RECORDS])
    assert found is not None and found[0] == build / "Module.symvers"


def test_no_records_no_kernel(tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text("int x;\n")
    (tmp_path / ".main.o.cmd").write_text("cmd_main.o := gcc -c -o main.o main.c\n")
    assert kernel_from_records(tmp_path, [PurePosixPath("main.c"), *RECORDS]) is None
