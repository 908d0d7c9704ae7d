"""Settings of the Python runtime that gplscan's scans are measured to need."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# The cycle collector's thresholds during a scan: a scan builds hundreds of thousands of
# long-lived objects (symbols, imports, facts) and makes little cyclic garbage, so Python's
# defaults (a collection every 700 allocations, a full one every 10x10 of those) spent ≈30%
# of a cached audit of 4,000 modules traversing them again and again. Cycles are still
# collected, only less often.
GC_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def few_collections() -> Iterator[None]:
    """Run the block with :data:`GC_THRESHOLDS`; the caller's thresholds are restored."""
    old = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)
