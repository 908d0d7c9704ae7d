"""License data: the kernel's exact-match strings and how SPDX expressions meet GPL code."""

from __future__ import annotations

import pytest

from gplscan.policy import load_license_data

DATA = load_license_data()


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (b"GPL", True),
        (b"GPL v2", True),
        (b"GPL and additional rights", True),
        (b"Dual BSD/GPL", True),
        (b"Dual MIT/GPL", True),
        (b"Dual MPL/GPL", True),
        (b"GPL\0for files in the GPL directory", True),  # what strcmp sees: the trick works
        (b"GPLv2", False),
        (b"gpl", False),
        (b"Proprietary", False),
        (b"MIXED/Proprietary", False),
        (b"", False),
    ],
)
def test_kernel_accepts_exactly_the_license_h_strings(value: bytes, accepted: bool) -> None:
    assert DATA.kernel_accepts(value) is accepted


@pytest.mark.parametrize(
    ("expression", "gpl"),
    [
        ("GPL-2.0-only", True),
        ("GPL-2.0-only WITH Linux-syscall-note", True),
        ("GPL-2.0-or-later AND MIT", True),
        ("GPL-2.0-only OR BSD-3-Clause", False),  # may be taken under BSD
        ("MIT", False),
        ("LicenseRef-closed", False),
        (None, False),
        ("not ( an expression", False),
    ],
)
def test_requires_gpl(expression: str | None, gpl: bool) -> None:
    assert DATA.requires_gpl(expression) is gpl


def test_incompatibility_depends_on_the_gpl_version() -> None:
    assert DATA.conflicts_with_gpl("CDDL-1.0", frozenset({"GPL-2.0-only"}))
    assert DATA.conflicts_with_gpl("Apache-2.0", frozenset({"GPL-2.0-only"}))
    assert not DATA.conflicts_with_gpl("Apache-2.0", frozenset({"GPL-3.0-or-later"}))
    assert not DATA.conflicts_with_gpl("MIT OR CDDL-1.0", frozenset({"GPL-2.0-only"}))
    assert DATA.withholds_source("LicenseRef-proprietary")


@pytest.mark.parametrize(
    ("detected", "judged"),
    [
        # Synopsys' disclaimer under a GPL-or-BSD grant
        (
            "(GPL-2.0-only OR BSD-3-Clause) AND LicenseRef-scancode-proprietary-license",
            "(GPL-2.0-only OR BSD-3-Clause)",
        ),
        ("LicenseRef-scancode-proprietary-license AND MIT", "MIT"),
        # proprietary and nothing else stays proprietary
        ("LicenseRef-scancode-proprietary-license", "LicenseRef-scancode-proprietary-license"),
        ("GPL-2.0-only", "GPL-2.0-only"),
        (None, None),
    ],
)
def test_detected_proprietary_notices_beside_a_grant_are_set_aside(
    detected: str | None, judged: str | None
) -> None:
    assert DATA.as_detected(detected) == judged


def test_allow_and_deny_lists_respect_alternatives() -> None:
    assert DATA.policy_violations("CDDL-1.0", None, ("CDDL-1.0",)) == [("denied", ("CDDL-1.0",))]
    assert DATA.policy_violations("GPL-2.0-only OR CDDL-1.0", None, ("CDDL-1.0",)) == []
    allow = ("GPL-2.0-only", "MIT")
    assert DATA.policy_violations("GPL-2.0-only OR Apache-2.0", allow, ()) == []
    assert DATA.policy_violations("GPL-2.0-only AND Apache-2.0", allow, ()) == [
        ("not_allowed", ("Apache-2.0",))
    ]
