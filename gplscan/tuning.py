"""Settings of the Python runtime that gplscan's scans are measured to need."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# The cycle collector's thresholds during a scan: a scan builds hundreds of thousands of
# long-lived objects (symbols, imports, facts) and makes little cyclic garbage, so Python's
# defaults (a collection every 700 allocations, a full one every 10x10 of those) spent ≈30%
# of a cached audit of 4,000 modules traversing them again and again; at 50,000 the same
# audit still made 7 young collections of ≈15 ms each (≈0.1 s of 1.0 s), at 500,000 none.
# Cycles are still collected, only less often.
GC_THRESHOLDS = (500_000, 20, 100)
# scancode's matching makes garbage of its own: the forked workers that run it keep the
# tighter setting that the license-detection memory figures (issue 3) were measured with.
MATCHING_GC_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def few_collections() -> Iterator[None]:
    """Run the block with :data:`GC_THRESHOLDS`; the caller's thresholds are restored."""
    old = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)
