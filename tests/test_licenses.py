"""gplscan.facts.licenses against the real scancode-toolkit (no mocks).

All tests run in one process, so scancode's license index is loaded once (≈5-7 s) by the
first test that needs it and shared by the rest.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

try:
    importlib.import_module("licensedcode.cache")
except Exception as exc:  # ImportError, or ValueError from plugincode under pluggy 1.7
    pytest.skip(
        f"scancode-toolkit cannot be imported ({type(exc).__name__}: {exc}); "
        "install 'scancode-toolkit>=32.3' 'pluggy<1.7'",
        allow_module_level=True,
    )

from gplscan.facts.licenses import (
    LicenseDetection,
    combine_and,
    detect_licenses,
    is_kernel_idiom,
)

pytestmark = pytest.mark.scancode

GPL2_NOTICE_C = """\
/*
 * Hyper-V helper
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License version 2 as
 * published by the Free Software Foundation.
 */
#include <linux/module.h>

int hv_helper(int x)
{
\treturn x + 1;
}
EXPORT_SYMBOL_GPL(hv_helper);
MODULE_LICENSE("Dual BSD/GPL");
"""

MIT_TEXT = """\
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

IDIOMS_ONLY_C = """\
#include <linux/module.h>

int foo(int x)
{
\treturn x * 2;
}
EXPORT_SYMBOL_GPL(foo);

int bar(int x)
{
\treturn x - 1;
}
EXPORT_SYMBOL(bar);
EXPORT_SYMBOL_NS_GPL(bar, "BAR");

MODULE_AUTHOR("Someone <someone@example.org>");
MODULE_LICENSE("GPL");
MODULE_LICENSE("GPL v2");
MODULE_LICENSE("Dual MIT/GPL");
"""

NO_LICENSE_C = """\
#include <stdio.h>

static int counter;

int main(void)
{
\tcounter++;
\tprintf("%d\\n", counter);
\treturn 0;
}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_gpl2_notice_without_tag(tmp_path: Path) -> None:
    result = detect_licenses(_write(tmp_path, "hv_helper.c", GPL2_NOTICE_C))
    assert result.expression is not None
    assert "GPL-2.0" in result.expression
    # the EXPORT_SYMBOL_GPL and MODULE_LICENSE lines are facts, not license text
    assert result.expression == "GPL-2.0-only"
    assert [(m.start_line, m.end_line) for m in result.matches] == [(4, 6)]
    match = result.matches[0]
    assert match.expression == "GPL-2.0-only"
    assert match.rule.endswith(".RULE")
    assert match.score == 100.0
    assert match.matched_text is not None
    assert "free software" in match.matched_text


def test_mit_license_text(tmp_path: Path) -> None:
    result = detect_licenses(_write(tmp_path, "LICENSE", MIT_TEXT))
    assert result.expression == "MIT"
    assert [m.expression for m in result.matches] == ["MIT"]
    assert result.matches[0].start_line == 1
    assert result.matches[0].end_line == 17


def test_kernel_idioms_alone_are_no_license(tmp_path: Path) -> None:
    result = detect_licenses(_write(tmp_path, "exports.c", IDIOMS_ONLY_C))
    assert result == LicenseDetection(expression=None, matches=())


def test_no_license_at_all(tmp_path: Path) -> None:
    result = detect_licenses(_write(tmp_path, "main.c", NO_LICENSE_C))
    assert result == LicenseDetection(expression=None, matches=())


def test_binary_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob.o"
    # an ELF header, then the GPL notice as it could sit in .rodata: still not scanned
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) + GPL2_NOTICE_C.encode())
    assert detect_licenses(path) == LicenseDetection(expression=None, matches=())


def test_latin1_source_is_still_scanned(tmp_path: Path) -> None:
    path = tmp_path / "old.c"
    path.write_bytes(("/* (C) 1999 Jos\xe9 */\n" + GPL2_NOTICE_C).encode("latin-1"))
    result = detect_licenses(path)
    assert result.expression == "GPL-2.0-only"
    assert [(m.start_line, m.end_line) for m in result.matches] == [(5, 7)]


def test_unreadable_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        detect_licenses(tmp_path / "missing.c")
    with pytest.raises(OSError):
        detect_licenses(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "EXPORT_SYMBOL_GPL(",
        "EXPORT_SYMBOL_GPL(foo);",
        "EXPORT_SYMBOL_GPL_FUTURE(",
        'EXPORT_SYMBOL_NS_GPL(foo, "NS");',
        'MODULE_LICENSE("GPL");',
        'MODULE_LICENSE("Dual MIT/GPL',
        'MODULE_LICENSE("GPL");  /* combination of LGPL + GPL source behaves as GPL */',
        'MODULE_LICENSE("GPL");  // Actually dual-licensed, but\n\t// it is Free Software.',
    ],
)
def test_kernel_idiom_texts(text: str) -> None:
    assert is_kernel_idiom(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "GPL(",
        "This file is released under the GPL v2. */",
        "Licensed under the GPL\nEXPORT_SYMBOL_GPL(foo);",
    ],
)
def test_not_kernel_idiom_texts(text: str) -> None:
    assert not is_kernel_idiom(text)


def test_combine_and_dedupes_in_first_seen_order() -> None:
    assert combine_and([]) is None
    assert combine_and(["MIT", "GPL-2.0-only", "MIT"]) == "MIT AND GPL-2.0-only"
    assert (
        combine_and(
            ["GPL-2.0-only AND MIT", "BSD-3-Clause OR GPL-2.0-only", "GPL-2.0-only OR BSD-3-Clause"]
        )
        == "GPL-2.0-only AND MIT AND (BSD-3-Clause OR GPL-2.0-only)"
    )
    assert combine_and(["LicenseRef-scancode-free-unknown"]) == "LicenseRef-scancode-free-unknown"


def test_importing_gplscan_does_not_import_scancode() -> None:
    code = (
        "import sys, gplscan.facts.licenses\n"
        "bad = [m for m in ('licensedcode', 'scancode', 'typecode') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_scancode_is_reported_with_a_fix(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.c", NO_LICENSE_C)
    code = (
        "import sys\n"
        "sys.modules['licensedcode'] = None  # as if scancode-toolkit were not installed\n"
        "from pathlib import Path\n"
        "from gplscan.facts.licenses import LicenseDetectionUnavailable, detect_licenses\n"
        "try:\n"
        f"    detect_licenses(Path({str(path)!r}))\n"
        "except LicenseDetectionUnavailable as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    raise SystemExit('no LicenseDetectionUnavailable')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert "scancode-toolkit cannot be imported" in out
    assert "pip install" in out
    assert "pluggy<1.7" in out
