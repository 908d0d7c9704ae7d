"""Fuzz targets for what gplscan reads from source text: SPDX tags and expressions, and a
C file's MODULE_LICENSE, EXPORT_SYMBOL, symbol_get and function definitions."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gplscan.facts.source import source_facts
from gplscan.facts.spdx import SpdxError, normalize
from tests.fuzz_targets import Target

SOURCE = b"""\
// SPDX-License-Identifier: GPL-2.0-only OR BSD-3-Clause
#include <linux/module.h>
#define DRV_LICENSE "Dual BSD/GPL"
/* a comment with "quotes" and MODULE_LICENSE("Proprietary") in it */
static int helper(int x) { return x + 1; }
int drv_probe(void *dev) { return helper(symbol_get(nvidia_p2p_get_pages) != 0); }
EXPORT_SYMBOL_GPL(drv_probe);
MODULE_LICENSE(
#if 1
"GPL"
#else
"Proprietary"
#endif
);
MODULE_LICENSE(DRV_LICENSE);
MODULE_INFO(import_ns, "X");
module_init(drv_probe);
"""

SPDX = [
    b"GPL-2.0-only",
    b"GPL-2.0+ WITH Linux-syscall-note",
    b"(GPL-2.0 OR BSD-2-Clause) AND MIT",
    b"LicenseRef-vendor",
]


def spdx(data: bytes, scratch: Path) -> None:
    """A normalized expression, or a reason it does not parse."""
    try:
        assert normalize(data.decode("utf-8", "surrogateescape")).strip()
    except SpdxError as exc:
        assert str(exc)


def source(data: bytes, scratch: Path) -> None:
    """Facts from any text, never an exception; a file's facts do not depend on where
    it is (they are cached by content)."""
    text = data.decode("utf-8", "surrogateescape")
    facts = source_facts(None, PurePosixPath("drv.c"), text)
    for decl in facts.module_info:
        assert decl.at.line >= 1


TARGETS = [
    Target("spdx", lambda scratch: SPDX, spdx),
    Target("source", lambda scratch: [SOURCE], source),
]
