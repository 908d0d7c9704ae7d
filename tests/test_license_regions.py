"""License-bearing regions in comment styles the kernel uses (no scancode needed)."""

from __future__ import annotations

from gplscan.facts.license_regions import license_regions

BOXED = b"""/* New Hydra driver using generic 8390 core */

/* This file is subject to the terms and conditions of the GNU General      */
/* Public License.  See the file COPYING in the main directory of the       */
/* Linux distribution for more details.                                     */

/* Peter De Schrijver (p2@mind.be) */
int x;
"""


def test_a_boxed_comment_is_one_region() -> None:
    (region,) = license_regions(BOXED)
    assert (region.start_line, region.end_line) == (3, 5)
    assert "GNU General" in region.text and "Linux distribution" in region.text


def test_no_license_words_no_regions() -> None:
    assert license_regions(b"int main(void) { return 0; }\n") == ()
