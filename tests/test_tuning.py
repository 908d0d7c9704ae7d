"""The runtime settings a scan uses, and that it gives back."""

from __future__ import annotations

import gc
from pathlib import Path

from gplscan.scan import Options, run
from gplscan.tuning import GC_THRESHOLDS


def test_a_scan_collects_cycles_less_often_and_restores_the_callers_setting(
    tmp_path: Path,
) -> None:
    (tmp_path / "main.c").write_text("// SPDX-License-Identifier: GPL-2.0-only\nint x;\n")
    seen: list[tuple[int, int, int]] = []
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        run(
            tmp_path,
            Options(cache_dir=None, jobs=1),
            progress=lambda *_: seen.append(gc.get_threshold()),
        )
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
    assert seen and set(seen) == {GC_THRESHOLDS}
