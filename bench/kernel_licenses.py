"""Issue 3's benchmark: license facts of all of Linux 6.1, measured in one run.

    .venv/bin/python -m bench.kernel_licenses [--sample 100] [--seed 1] [--skip-agreement]

Fetches Debian's linux-source-6.1 (cached under ~/.cache/gplscan-bench) and measures:

1. the reference: reading the first 2 KB of every file with 2 processes, cold (page cache
   dropped) and warm, the floor any license inventory of the tree stands on;
2. ``gplscan inventory`` of the whole tree: cold (page cache dropped, empty gplscan
   cache), warm (nothing changed), with its peak memory (summed PSS of the process tree);
3. ``gplscan audit`` of drivers/hv alone, with an empty cache, and whether scancode's
   license index was loaded;
4. agreement with scancode on a seeded random sample of untagged files
   (``bench.license_agreement``), with the speed ratio.

It prints the figures and the ratios against the reference measured in the same run.
Timings are figures, never assertions: the tests do not time anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.debian_archive import linux_source_tree
from bench.measure import drop_page_cache, print_rows, run_measured

GPLSCAN = [sys.executable, "-m", "gplscan"]


def _heads(paths: list[str]) -> int:
    n = 0
    for p in paths:
        try:
            with open(p, "rb") as fh:
                n += len(fh.read(2048))
        except OSError:
            pass
    return n


def read_heads(tree: Path) -> float:
    """Seconds to read the first 2 KB of every file with 2 processes (the reference)."""
    start = time.perf_counter()
    files = [os.path.join(d, f) for d, _, fs in os.walk(tree) for f in fs]
    chunks = [files[i : i + 2000] for i in range(0, len(files), 2000)]
    with ProcessPoolExecutor(2) as pool:
        sum(pool.map(_heads, chunks))
    return time.perf_counter() - start


def inventory(tree: Path, cache: Path, out: Path) -> tuple[float, float, dict]:  # type: ignore[type-arg]
    m = run_measured(
        [
            *GPLSCAN,
            "inventory",
            str(tree),
            "--format",
            "json",
            "-o",
            str(out),
            "-q",
            "--cache-dir",
            str(cache),
        ]
    )
    if m.returncode not in (0, 2):
        raise SystemExit(f"gplscan inventory failed ({m.returncode}): {m.stderr[-2000:]}")
    return m.seconds, m.peak_pss_mb, json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-agreement", action="store_true")
    args = parser.parse_args(argv)

    tree = linux_source_tree("6.1")
    files = sum(len(fs) for _, _, fs in os.walk(tree))
    print(f"tree: {tree} ({files} files), {os.cpu_count()} cores")
    can_drop = drop_page_cache()
    if not can_drop:
        print("note: cannot drop the page cache here (not root?): 'cold' runs are warm")

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="gplscan-bench-") as tmp:
        work = Path(tmp)
        drop_page_cache()
        ref_cold = read_heads(tree)
        ref_warm = read_heads(tree)
        rows += [
            ("reference: first 2 KB of every file, cold", f"{ref_cold:.2f} s"),
            ("reference: first 2 KB of every file, warm", f"{ref_warm:.2f} s"),
        ]

        drop_page_cache()
        cold_s, cold_mb, report = inventory(tree, work / "cache", work / "cold.json")
        counts = report["inventory"]["counts"]
        accounted = sum(counts.values())
        warm_s, warm_mb, _ = inventory(tree, work / "cache", work / "warm.json")
        page_s, page_mb, _ = inventory(tree, work / "cache2", work / "page.json")
        rows += [
            (
                "inventory, cold (page cache dropped, empty gplscan cache)",
                f"{cold_s:.1f} s, peak {cold_mb:.0f} MB, {cold_s / ref_cold:.1f}x the cold "
                "reference",
            ),
            (
                "inventory, page cache warm, empty gplscan cache",
                f"{page_s:.1f} s, peak {page_mb:.0f} MB",
            ),
            (
                "inventory, nothing changed (warm)",
                f"{warm_s:.2f} s, peak {warm_mb:.0f} MB, {warm_s / ref_warm:.1f}x the warm "
                "reference",
            ),
            (
                "files accounted for",
                f"{accounted} of {files}: "
                + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
            ),
            ("scan facts (cold run)", "; ".join(f"{k}: {v}" for k, v in report["scan"].items())),
        ]

        drop_page_cache()
        m = run_measured(
            [
                *GPLSCAN,
                "audit",
                str(tree / "drivers" / "hv"),
                "--format",
                "json",
                "-q",
                "--cache-dir",
                str(work / "hv-cache"),
            ]
        )
        hv = json.loads(m.stdout)
        rows.append(
            (
                "audit drivers/hv, cold (page cache dropped, empty cache)",
                f"{m.seconds:.2f} s, exit {m.returncode}, {hv['summary']['findings']}, "
                f"license detection: {hv['scan'].get('license detection', '?')}",
            )
        )
        m2 = run_measured(
            [
                *GPLSCAN,
                "audit",
                str(tree / "drivers" / "hv"),
                "--format",
                "json",
                "-q",
                "--cache-dir",
                str(work / "hv-cache"),
            ]
        )
        hv2 = json.loads(m2.stdout)
        rows.append(
            (
                "audit drivers/hv, again (cached)",
                f"{m2.seconds:.2f} s, the same JSON: {hv2 == hv}",
            )
        )

    print()
    print_rows(rows)
    sys.stdout.flush()

    if not args.skip_agreement:
        print("\nagreement with scancode (bench.license_agreement):", flush=True)
        from bench import license_agreement

        return license_agreement.main(["--sample", str(args.sample), "--seed", str(args.seed)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
