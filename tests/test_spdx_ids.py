"""An SPDX tag names SPDX ids: ``GPLv2`` is not one, and is reported as a tag that does
not parse (with the id it most likely meant), never taken as a license (issue 13)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gplscan.facts.spdx import SpdxError, did_you_mean, is_known_id, normalize


@pytest.mark.parametrize(
    ("tag", "meant"),
    [
        ("GPLv2", "GPL-2.0-only"),
        ("GPL2+", "GPL-2.0-or-later"),
        ("LGPLv2.1", "LGPL-2.1-only"),
        ("MIT OR GPLv3", "GPL-3.0-only"),
    ],
)
def test_shorthand_is_not_an_id(tag: str, meant: str) -> None:
    with pytest.raises(SpdxError, match=f"not an SPDX license id \\(did you mean {meant}\\?\\)"):
        normalize(tag)


@pytest.mark.parametrize(
    ("tag", "normal"),
    [
        ("GPL-2.0", "GPL-2.0-only"),
        ("GPL-2.0+ WITH Linux-syscall-note", "GPL-2.0-or-later WITH Linux-syscall-note"),
        ("(GPL-2.0 OR BSD-2-Clause)", "GPL-2.0-only OR BSD-2-Clause"),
        ("Linux-OpenIB", "Linux-OpenIB"),
        ("LicenseRef-vendor-eula", "LicenseRef-vendor-eula"),
    ],
)
def test_the_kernels_tags_parse(tag: str, normal: str) -> None:
    assert normalize(tag) == normal


def test_a_word_that_is_no_id_gets_no_guess() -> None:
    assert did_you_mean("Proprietary") == ""
    assert not is_known_id("Proprietary")


@given(st.text(max_size=60))
def test_normalize_parses_or_says_why(text: str) -> None:
    """Any text: a normalized expression of known ids, or an SpdxError, nothing else."""
    try:
        normal = normalize(text)
    except SpdxError as exc:
        assert str(exc)
    else:
        assert normal.strip()
