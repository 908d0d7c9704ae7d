"""Issue 5's benchmark: a pre-merge run on Linux 6.1 with one driver changed, against a
full scan, in the same run (both through the same warm cache, as in CI after the first
run). ``--changed-since REV`` computes the changed set with git; here it is given
directly (the unpacked tree is not a git work tree), which is what the option passes on.

    .venv/bin/python -m bench.changed_since
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

from bench.debian_archive import linux_source_tree
from gplscan.scan import Options, run

CHANGED = frozenset({PurePosixPath("drivers/hv/channel.c")})


def main() -> int:
    tree = linux_source_tree("6.1")
    with tempfile.TemporaryDirectory(prefix="gplscan-bench-") as tmp:
        cache = Path(tmp) / "cache"
        start = time.perf_counter()
        full = run(tree, Options(cache_dir=cache))
        first = time.perf_counter() - start
        start = time.perf_counter()
        full = run(tree, Options(cache_dir=cache))
        warm = time.perf_counter() - start
        start = time.perf_counter()
        part = run(tree, Options(cache_dir=cache, changed=CHANGED))
        changed = time.perf_counter() - start
    judged = {str(b.path) for b in part.binaries}
    same = all(
        sorted(f.fingerprint for f in full.findings if f.binary == b)
        == sorted(f.fingerprint for f in part.findings if f.binary == b)
        for b in judged
    )
    print(f"tree: {tree}; changed: {', '.join(map(str, CHANGED))}")
    print(f"full audit, empty cache        {first:7.1f} s ({len(full.binaries)} binaries)")
    print(f"full audit, warm cache         {warm:7.1f} s")
    print(
        f"--changed-since, warm cache    {changed:7.1f} s ({', '.join(sorted(judged))}); "
        f"{warm / changed:.1f}x faster than the full warm scan"
    )
    print(f"verdict on the changed binaries equals the full scan's: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
