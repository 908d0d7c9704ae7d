"""gplscan.facts.licenses against the real scancode-toolkit (no mocks), and the parts that
need no scancode (regions, kernel idioms, combining expressions, the import discipline).

The tests marked ``scancode`` (an opt-in group: ``pytest -m scancode``) run in one
process, so scancode's license index is loaded once (≈5-7 s) by the first test that needs
it and shared by the rest; they skip when scancode-toolkit cannot be imported
(tests/conftest.py). The others run in the default run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gplscan.facts.kernel_idioms import is_kernel_idiom, is_kernel_idiom_match
from gplscan.facts.license_expr import combine_and
from gplscan.facts.license_regions import LICENSE_WORDS, Region, license_regions
from gplscan.facts.licenses import Detector, LicenseDetection, detect_licenses
from gplscan.facts.scancode_adapter import spdx_expression

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


@pytest.mark.scancode
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


@pytest.mark.scancode
def test_remarks_about_gpl_only_symbols_are_no_license(tmp_path: Path) -> None:
    """NVIDIA's proprietary nv.c speaks of the kernel's GPL-only symbols in comments."""
    text = (
        "/*\n * Copyright 1999-2021 by NVIDIA Corporation.  All rights reserved.  All\n"
        " * information contained herein is proprietary and confidential to NVIDIA\n"
        " * Corporation.\n */\n\nint f(void)\n{\n"
        "        /*\n         * to call GPL sme_active symbol, this bug has already been\n"
        "         */\n        return 0;\n}\n"
        "    /* init_sync_kiocb() internally uses GPL licensed __get_task_ioprio() from */\n"
    )
    result = detect_licenses(_write(tmp_path, "nv.c", text))
    assert result.expression is not None and "GPL" not in result.expression, result


@pytest.mark.scancode
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


@pytest.mark.scancode
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
    path = _write(tmp_path, "hv_helper.c", GPL2_NOTICE_C)
    code = (
        "import sys\n"
        "sys.modules['licensedcode'] = None  # as if scancode-toolkit were not installed\n"
        "from pathlib import Path\n"
        "from gplscan.facts.licenses import detect_licenses\n"
        "from gplscan.errors import LicenseDetectionUnavailable\n"
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


# -- prefilter and regions (no scancode) -----------------------------------------------------

BSD3_NOTICE = """\
Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:
1. Redistributions of source code must retain the above copyright notice,
   this list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
3. Neither the name of the copyright holder nor the names of its contributors
   may be used to endorse or promote products derived from this software
   without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
POSSIBILITY OF SUCH DAMAGE.
"""


def _c_comment(text: str) -> str:
    return "/*\n" + "".join(f" * {line}".rstrip() + "\n" for line in text.splitlines()) + " */\n"


def _lines(text: str) -> list[str]:
    return text.split("\n")


def test_no_license_words_no_regions_no_index(tmp_path: Path) -> None:
    assert license_regions(NO_LICENSE_C.encode()) == ()
    assert license_regions(b"") == ()
    detector = Detector()
    assert detector.detect_text(()) == LicenseDetection(expression=None, matches=())
    assert detector.detect_file(_write(tmp_path, "main.c", NO_LICENSE_C)) == LicenseDetection(
        expression=None, matches=()
    )
    assert not detector.index_loaded
    assert detector.matcher_calls == 0


def test_license_free_file_does_not_even_import_scancode(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.c", NO_LICENSE_C)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gplscan.facts.licenses import detect_licenses\n"
        f"assert detect_licenses(Path({str(path)!r})).expression is None\n"
        "bad = [m for m in ('licensedcode', 'scancode', 'typecode') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_idioms_alone_give_no_region() -> None:
    assert license_regions(IDIOMS_ONLY_C.encode()) == ()
    text = 'x;\nEXPORT_SYMBOL_GPL(x); /* GPL v2 only */\nMODULE_LICENSE("GPL"); // GPL\n'
    assert license_regions(text.encode()) == ()


def test_binary_bytes_give_no_region() -> None:
    assert license_regions(b"\x7fELF\x02\x01\x01\x00\0\0" + GPL2_NOTICE_C.encode()) == ()


@pytest.mark.parametrize("word", LICENSE_WORDS)
def test_every_license_word_opens_a_region(word: str) -> None:
    (region,) = license_regions(f"int x;\n\n// {word.upper()} here\n\nint y;\n".encode())
    assert (region.start_line, region.end_line) == (3, 3)


def test_region_is_the_comment_block_around_the_hits() -> None:
    (region,) = license_regions(GPL2_NOTICE_C.encode())
    # the whole comment, from "/*" to "*/"; not the code below it
    assert (region.start_line, region.end_line) == (1, 7)
    assert (
        _lines(region.text)[3]
        == "* This program is free software; you can redistribute it and/or modify"
    )
    assert "#include" not in region.text


def test_region_lines_with_form_feeds_and_carriage_returns() -> None:
    # scancode splits a file at \n, \r\n and \r only: a form feed is not a line break
    data = (
        b"int a;\x0c\n"  # 1
        b"\x0c\n"  # 2
        b"int b;\r\n"  # 3
        b"int c;\r"  # 4
        b"\r\n"  # 5
        b"/* This file is\x0cfree software; you can redistribute it */\n"  # 6
        b"\x0c\n"  # 7
        b"int d;\n"  # 8
    )
    (region,) = license_regions(data)
    assert (region.start_line, region.end_line) == (6, 6)
    assert region.text == "/* This file is free software; you can redistribute it */"
    # each line of the text is one file line, whatever str.splitlines thinks of \x0c
    data2 = b"/*\n * Copyright (C) 2001 A\x0cB\n *\x0c\n * GPL v2\n */\n"
    (region,) = license_regions(data2)
    assert (region.start_line, region.end_line) == (1, 5)
    assert _lines(region.text) == ["/*", "* Copyright (C) 2001 A B", "*", "* GPL v2", "*/"]
    assert len(region.text.splitlines()) == region.end_line - region.start_line + 1


def test_idioms_are_blanked_inside_regions() -> None:
    text = (
        "/*\n"
        " * Licensed under the GPL-2 or later.\n"
        " */\n"
        "EXPORT_SYMBOL_GPL(foo);\n"
        'MODULE_LICENSE("GPL"); /* GPL v2 */\n'
        "int bar;\n"
    )
    (region,) = license_regions(text.encode())
    assert (region.start_line, region.end_line) == (1, 3)
    text = (
        "// This code is licensed under the GPL.\nEXPORT_SYMBOL_GPL(foo); // see COPYING\nint x;\n"
    )
    (region,) = license_regions(text.encode())
    assert (region.start_line, region.end_line) == (1, 3)
    assert _lines(region.text) == ["// This code is licensed under the GPL.", "", "int x;"]


def test_distant_hits_make_separate_regions_and_close_ones_merge() -> None:
    code = "".join(f"int v{i};\n" for i in range(40))
    text = _c_comment("Copyright (C) 2020 Someone") + code + "/* Released under the GPL */\n"
    first, second = license_regions(text.encode())
    assert (first.start_line, first.end_line) == (1, 3)
    assert (second.start_line, second.end_line) == (44, 44)
    # two license paragraphs of a plain text file, a few lines apart, are one region
    plain = "Copyright (C) 2020 Someone\n\nThis is free software.\n\n\nNo warranty at all.\n"
    (region,) = license_regions(plain.encode())
    assert (region.start_line, region.end_line) == (1, 6)


def test_latin1_lines_are_decoded_as_scancode_does() -> None:
    data = "/*\n * Copyright (C) 1999 Jos\xe9\n * GPL\n */\n".encode("latin-1")
    (region,) = license_regions(data)
    assert _lines(region.text)[1] == "* Copyright (C) 1999 Jos\xe9"


# -- detection against scancode's own full detection -----------------------------------------


def _scancode_reference(path: Path) -> tuple[str | None, list[tuple[int, int]]]:
    """scancode's whole-file detection (approximate on), kernel idioms set aside.

    The lines are those of the matches that make up each detection's expression.
    """
    from licensedcode.cache import get_licensing
    from licensedcode.detection import detect_licenses as scancode_detect

    licensing = get_licensing()

    expressions = []
    lines = []
    for detection in scancode_detect(location=str(path)):
        kept = [m for m in detection.matches if not is_kernel_idiom_match(m)]
        if detection.license_expression is None or not kept:
            continue
        expressions.append(spdx_expression(detection.license_expression))
        keys = set(licensing.license_keys(detection.license_expression))
        lines.extend(
            (m.start_line, m.end_line)
            for m in kept
            if set(licensing.license_keys(m.rule.license_expression)) <= keys
        )
    return combine_and(expressions), lines


# a DRM-style MIT notice with a changed disclaimer: only scancode's approximate matcher
# recognizes it as MIT
VARIANT_MIT = """\
Permission is hereby granted, free of charge, to any person obtaining a
copy of this software and associated documentation files (the "Software"),
to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice (including the next
paragraph) shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.  IN NO EVENT SHALL
VA LINUX SYSTEMS AND/OR ITS SUPPLIERS BE LIABLE FOR ANY CLAIM, DAMAGES OR
OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR
OTHER DEALINGS IN THE SOFTWARE.
"""

REAL_FILES = {
    "gpl2.c": GPL2_NOTICE_C,
    "LICENSE": MIT_TEXT,
    "bsd3.h": _c_comment("Copyright (c) 2010 Example Corp.\n\n" + BSD3_NOTICE)
    + "\n#define BSD3_H 1\n",
    "dual.c": "// Copyright (C) 2018 Someone\n//\n"
    "// This file is dual licensed under the terms of the GNU General Public\n"
    "// License version 2, or (at your option) the MIT license.\n\n"
    "int dual(void)\n{\n\treturn 0;\n}\nEXPORT_SYMBOL_GPL(dual);\n"
    'MODULE_LICENSE("Dual MIT/GPL");\n',
    "variant.c": _c_comment("Copyright 2015 Red Hat, Inc.\n\n" + VARIANT_MIT)
    + "\n#include <linux/kernel.h>\n\x0c\nint f(void) { return 1; }\n",
    "formfeeds.c": "int a;\x0c\n\x0c\nint b;\r\nint c;\r\r\n\x0c/*\n * \x0cCopyright 2001 A\n"
    " * This program is free software; you can redistribute it and/or modify\x0c\n"
    " * it under the terms of the GNU General Public License version 2 as\n"
    " * published by the Free Software Foundation.\n */\n",
    "banner.c": "static const char banner[] =\n"
    '\t"This program is free software; you can redistribute it and/or modify\\n"\n'
    '\t"it under the terms of the GNU General Public License version 2 as\\n"\n'
    '\t"published by the Free Software Foundation.\\n";\n',
    "libfoo.txt": "NAME\n----\nlibfoo - a library\n\nLICENSE\n-------\n"
    "libfoo is Free Software licensed under the GNU LGPL 2.1\n",
    "script.sh": "#!/bin/sh\n#\n# This program is free software; you can redistribute it and/or\n"
    "# modify it under the terms of the GNU General Public License as\n"
    "# published by the Free Software Foundation; either version 2 of\n"
    "# the License, or (at your option) any later version.\n\necho hi\n",
}


@pytest.mark.scancode
@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_agrees_with_scancode_full_detection(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name, REAL_FILES[name])
    expected, expected_lines = _scancode_reference(path)
    result = Detector().detect_file(path)
    assert expected is not None
    assert result.expression == expected
    assert [(m.start_line, m.end_line) for m in result.matches] == expected_lines


@pytest.mark.scancode
def test_variant_text_goes_through_approximate_matching(tmp_path: Path) -> None:
    detector = Detector(notices=False)  # scancode's matchers, even for a known notice
    result = detector.detect_file(_write(tmp_path, "variant.c", REAL_FILES["variant.c"]))
    assert result.expression == "MIT"
    assert detector.approximate_calls == 1
    # a plain GPL notice is matched exactly
    detector.detect_file(_write(tmp_path, "gpl2.c", GPL2_NOTICE_C))
    assert detector.approximate_calls == 1
    assert detector.matcher_calls == 2


@pytest.mark.scancode
def test_pieces_of_one_notice_go_through_approximate_matching(tmp_path: Path) -> None:
    # exactly: "licensed under the GNU LGPL" (LGPL-2.0-or-later) + "GNU LGPL 2.1" (LGPL-2.1-only)
    detector = Detector()
    result = detector.detect_file(_write(tmp_path, "libfoo.txt", REAL_FILES["libfoo.txt"]))
    assert result.expression == "LGPL-2.1-only"
    assert detector.approximate_calls == 1


@pytest.mark.scancode
def test_identical_regions_are_matched_once(tmp_path: Path) -> None:
    detector = Detector(notices=False)  # scancode's matchers, even for a known notice
    notice = _c_comment(
        "This program is free software; you can redistribute it and/or modify\n"
        "it under the terms of the GNU General Public License version 2 as\n"
        "published by the Free Software Foundation."
    )
    code = "".join(f"int v{i};\n" for i in range(30))
    # the same notice twice in one file, indented differently the second time
    twice = notice + code + notice.replace(" * ", " *\t  ")
    first, second = license_regions(twice.encode())
    assert first.text == second.text
    result = detector.detect_text((first, second))
    assert detector.matcher_calls == 1
    assert detector.cache_hits == 1
    assert [(m.start_line, m.end_line) for m in result.matches] == [(2, 4), (37, 39)]
    assert result.expression == "GPL-2.0-only"
    # and in another file, at other lines
    other = detector.detect_file(_write(tmp_path, "other.c", "\n\n" + notice))
    assert detector.matcher_calls == 1
    assert detector.cache_hits == 2
    assert [(m.start_line, m.end_line) for m in other.matches] == [(4, 6)]
    assert other.matches[0].matched_text == result.matches[0].matched_text


@pytest.mark.scancode
def test_region_text_is_used_as_given() -> None:
    detector = Detector()
    region = Region(start_line=10, end_line=11, text="Licensed under the MIT license.\n")
    result = detector.detect_text((region,))
    assert result.expression == "MIT"
    assert [(m.start_line, m.end_line) for m in result.matches] == [(10, 10)]


VARIANT_TEXTS = [
    VARIANT_MIT,
    BSD3_NOTICE.replace("must retain", "must keep").replace("Neither the name", "The name"),
    "This program is free software; you can redistribute it and/or modify it\n"
    "under the terms of the GNU General Public License as published by the Free\n"
    "Software Foundation; either version 2 of the License, or (at your option)\n"
    "any later version, whichever you like best.\n\n"
    "This program is distributed in the hope that it will be useful, but\n"
    "WITHOUT ANY WARRANTY; without even the implied warranty of MERCHANTABILITY\n"
    "or FITNESS FOR A PARTICULAR PURPOSE. See the GNU General Public License\n"
    "for more details. You should have gotten a copy of the GNU General Public\n"
    "License with this program; if not, write to the Free Software Foundation,\n"
    "Inc., 675 Mass Ave, Cambridge, MA 02139, USA.\n",
]


def _match_key(m: Any) -> tuple[Any, ...]:
    return (m.rule.identifier, tuple(m.qspan), tuple(m.ispan), m.score(), m.start_line, m.end_line)


@pytest.mark.scancode
@pytest.mark.parametrize("text", VARIANT_TEXTS)
def test_narrowed_approximate_matching_finds_what_scancode_finds(text: str) -> None:
    from licensedcode.cache import get_index
    from licensedcode.query import Query

    from gplscan.facts.scancode_adapter import CandidateRules

    index = get_index()
    plain = index.match_query(Query(query_string=text, idx=index, line_threshold=15))
    query = Query(query_string=text, idx=index, line_threshold=15)
    narrowed_index = CandidateRules(index).index_for(query)
    assert len(narrowed_index.approx_matchable_rids) < len(index.approx_matchable_rids) / 2
    narrowed = narrowed_index.match_query(query)
    assert plain
    assert [_match_key(m) for m in narrowed] == [_match_key(m) for m in plain]


@pytest.mark.scancode
@pytest.mark.parametrize("text", [*VARIANT_TEXTS, "[1] Licensed under the GPL [see COPYING]\n"])
def test_remembered_texts_are_scancodes_texts(text: str) -> None:
    from licensedcode.cache import get_index
    from licensedcode.query import Query

    index = get_index()
    region = Region(start_line=5, end_line=4 + len(text.splitlines()), text=text.rstrip("\n"))
    result = Detector(approximate_threshold=1).detect_text((region,))
    query = Query(query_string="\n" * 4 + region.text, idx=index, line_threshold=15)
    expected = {
        (m.start_line, m.end_line): m.matched_text(whole_lines=False, highlight=False)
        for m in index.match_query(query)
    }
    assert result.matches
    for m in result.matches:
        assert m.matched_text == expected[(m.start_line, m.end_line)]


def test_comment_with_blank_lines_is_one_region() -> None:
    # SoftFloat's notice: paragraphs separated by blank lines, only the last names a keyword
    notice = (
        "/*\n"
        "This C source file is part of the SoftFloat package.\n"
        "\n"
        "THIS SOFTWARE IS DISTRIBUTED AS IS, FOR FREE.\n"
        "\n"
        "Derivative works are acceptable, even for commercial purposes.\n"
        "*/\n"
        "\n"
        "int x;\n"
    )
    (region,) = license_regions(notice.encode())
    assert (region.start_line, region.end_line) == (1, 7)
    # outside a comment, a blank line ends the paragraph
    (region,) = license_regions(notice.replace("/*", "").replace("*/", "").encode())
    assert (region.start_line, region.end_line) == (6, 6)


def test_boxed_comment_is_one_region() -> None:
    boxed = (
        "int a;\n\n"
        "/* Copyright 1994 Someone                                */\n"
        "/* This software may be used and distributed according   */\n"
        "/* to the terms of the GNU General Public License.         */\n"
        "/* Hardware notes: none                                   */\n"
        "int b;\n"
    )
    (region,) = license_regions(boxed.encode())
    assert (region.start_line, region.end_line) == (3, 6)
