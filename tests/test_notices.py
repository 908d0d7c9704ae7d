"""Known notices (rules/notices.yml): recognized without scancode's index, equal to scancode."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gplscan.facts import notices
from gplscan.facts.license_regions import license_regions
from gplscan.facts.licenses import Detector, known_notices

# drivers/hv/hv_kvp.c of Linux 6.1 (no SPDX tag): the notice scancode has as gpl-2.0_458
HV_KVP_HEAD = """\
/*
 * An implementation of key value pair (KVP) functionality for Linux.
 *
 *
 * Copyright (C) 2010, Novell, Inc.
 * Author : K. Y. Srinivasan <ksrinivasan@novell.com>
 *
 * This program is free software; you can redistribute it and/or modify it
 * under the terms of the GNU General Public License version 2 as published
 * by the Free Software Foundation.
 *
 * This program is distributed in the hope that it will be useful, but
 * WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY OR FITNESS FOR A PARTICULAR PURPOSE, GOOD TITLE or
 * NON INFRINGEMENT.  See the GNU General Public License for more
 * details.
 *
 * You should have received a copy of the GNU General Public License
 * along with this program; if not, write to the Free Software
 * Foundation, Inc., 51 Franklin St, Fifth Floor, Boston, MA 02110-1301 USA.
 *
 */
#include <linux/module.h>

int kvp_init(void) { return 0; }
EXPORT_SYMBOL_GPL(kvp_init);
"""

SHORT_GPL2 = (
    "This program is free software; you can redistribute it and/or modify\n"
    "it under the terms of the GNU General Public License version 2 as\n"
    "published by the Free Software Foundation.\n"
)


def _comment(text: str) -> str:
    return "/*\n" + "".join(f" * {line}".rstrip() + "\n" for line in text.splitlines()) + " */\n"


def _table() -> notices.NoticeTable:
    table = notices.load_table()
    if not table.size:
        pytest.skip("scancode-toolkit's rule texts are not installed: the table is empty")
    return table


def test_kernel_notice_is_known_without_the_index(tmp_path: Path) -> None:
    _table()
    path = tmp_path / "hv_kvp.c"
    path.write_text(HV_KVP_HEAD)
    detector = Detector()
    result = detector.detect_file(path)
    assert result.expression == "GPL-2.0-only"
    assert [(m.rule, m.start_line, m.end_line) for m in result.matches] == [
        ("gpl-2.0_458.RULE", 8, 20)
    ]
    assert result.matches[0].matched_text is not None
    assert result.matches[0].matched_text.startswith("* This program is free software")
    assert detector.notice_hits == 1
    assert not detector.index_loaded


def test_the_table_does_not_import_scancode() -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from gplscan.facts.license_regions import license_regions
        from gplscan.facts.licenses import known_notices
        regions = license_regions({HV_KVP_HEAD.encode()!r})
        assert known_notices(regions).expression == "GPL-2.0-only"
        heavy = [m for m in sys.modules if m.split(".")[0] in ("licensedcode", "scancode")]
        print(heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "extra",
    [
        "or (at your option) any later version.",  # a later-version grant after the notice
        "Alternatively, this file may be distributed under the BSD license.",
        "This file is also available under a proprietary license.",
        "Version 2 only.",
    ],
)
def test_more_legal_words_send_the_region_to_scancode(extra: str) -> None:
    table = _table()
    (region,) = license_regions(_comment(SHORT_GPL2 + extra).encode())
    assert table.explain(region.start_line, region.text) is None
    # without the extra words, the same region is known
    (plain,) = license_regions(_comment(SHORT_GPL2).encode())
    assert table.explain(plain.start_line, plain.text) is not None


def test_ownership_and_description_lines_do_not_count() -> None:
    table = _table()
    head = "Driver for the frobnicator.\n\nCopyright (C) 2024 Example Corp. All rights reserved.\n"
    (region,) = license_regions(_comment(head + "Author: A. Person\n\n" + SHORT_GPL2).encode())
    found = table.explain(region.start_line, region.text)
    assert found is not None
    assert [m.notice.expression for m in found] == ["GPL-2.0-only"]


def test_two_notices_in_one_region_go_to_scancode() -> None:
    table = _table()
    two = SHORT_GPL2 + "\n" + SHORT_GPL2
    (region,) = license_regions(_comment(two).encode())
    assert table.explain(region.start_line, region.text) is None


def test_or_later_is_not_only() -> None:
    # "+" belongs to the word: GPL-2.0+ never reads as GPL-2.0
    assert notices.words_of("GPL-2.0+ and GPL-2.0") == ("gpl", "2", "0+", "and", "gpl", "2", "0")


def test_changed_or_missing_rule_texts_are_dropped(tmp_path: Path) -> None:
    rules = tmp_path / "data" / "rules"
    rules.mkdir(parents=True)
    (tmp_path / "data" / "licenses").mkdir()
    (rules / "kept.RULE").write_text("---\nlicense_expression: gpl-2.0\n---\n" + SHORT_GPL2)
    (rules / "changed.RULE").write_text("---\nlicense_expression: mit\n---\nSomething else.\n")
    body = notices.rule_text(rules / "kept.RULE")
    table_file = tmp_path / "notices.yml"
    table_file.write_text(
        "notices:\n"
        f"- {{rule: kept.RULE, expression: GPL-2.0-only, sha256: {notices.text_digest(body)}}}\n"
        f"- {{rule: changed.RULE, expression: MIT, sha256: {'0' * 64}}}\n"
        f"- {{rule: gone.RULE, expression: MIT, sha256: {'0' * 64}}}\n"
    )
    table = notices.load_table(table_file, rules)
    assert table.size == 1
    assert sorted(table.dropped) == ["changed.RULE", "gone.RULE"]
    (region,) = license_regions(_comment(SHORT_GPL2).encode())
    found = table.explain(region.start_line, region.text)
    assert found is not None and found[0].notice.rule == "kept.RULE"
    # a table that cannot be read is empty, and detection then asks scancode
    assert notices.load_table(tmp_path / "missing.yml", rules).size == 0


@pytest.mark.scancode
@pytest.mark.parametrize(
    "text",
    [
        HV_KVP_HEAD,
        _comment(SHORT_GPL2) + "int x;\n",
        "\n\n" + _comment("Copyright (c) 2020 Someone\n\n" + SHORT_GPL2) + "int y;\n",
    ],
)
def test_known_notices_equal_scancode(text: str) -> None:
    """The table's answer is scancode's answer: the expression and the matched lines."""
    _table()
    regions = license_regions(text.encode())
    known = known_notices(regions)
    assert known is not None
    reference = Detector(notices=False).detect_text(regions, name="x.c")
    assert known.expression == reference.expression
    assert [(m.start_line, m.end_line, m.rule) for m in known.matches] == [
        (m.start_line, m.end_line, m.rule) for m in reference.matches
    ]
