"""Issue 4's benchmark: every module of Debian's linux-image-6.1 package, in one run.

    .venv/bin/python -m bench.kernel_modules [--repeat N]

Fetches linux-image-6.1.0-*-amd64 (about 4,000 .ko) and its linux-headers package (for
Module.symvers), both cached under ~/.cache/gplscan-bench, and measures in one run:

1. the reference pipeline: ``readelf -sW`` (symbols) and ``modinfo -0`` (.modinfo) over
   every module, batched with xargs (the fastest way to run them) and, for comparison,
   one process per module (what a shell loop does);
2. ``gplscan audit`` of the module directory with ``--kernel Module.symvers``: cold (page
   cache dropped, empty gplscan cache), page cache warm with an empty cache, and with the
   cache (nothing changed);

and prints the figures, the ratios and the audit's verdict (every import resolved, no
finding expected on the distribution's own modules).

Each timed figure is the best of ``--repeat`` runs (3 by default; the median is printed
beside it), for the reference and gplscan alike: on a shared virtual machine single runs
vary by ±15%. Timed runs are not watched; peak memory comes from one more run of each
gplscan mode, sampled every 50 ms. gplscan's bytecode is compiled first, as ``pip
install`` leaves it (this machine sets PYTHONDONTWRITEBYTECODE, which would otherwise make
every run compile gplscan's modules again).
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gplscan
from bench.debian_archive import depends, unpacked
from bench.measure import drop_page_cache, print_rows, run_measured

GPLSCAN = [sys.executable, "-m", "gplscan"]
# kmod's modinfo where installed; else readelf's dump of the same section
_MODINFO_BIN = shutil.which("modinfo") or next(
    (p for p in ("/sbin/modinfo", "/usr/sbin/modinfo") if os.path.exists(p)), None
)
MODINFO = [_MODINFO_BIN, "-0"] if _MODINFO_BIN else ["readelf", "-W", "-p", ".modinfo"]


def module_tree() -> tuple[Path, Path]:
    (image,) = depends("linux-image-amd64")
    (headers,) = depends("linux-headers-amd64")
    mods = next((unpacked(image) / "lib" / "modules").iterdir())
    symvers = next((unpacked(headers) / "usr" / "src").glob("linux-headers-*-amd64"))
    return mods, symvers / "Module.symvers"


def reference(mods: Path, batched: bool) -> float:
    """Seconds for readelf -sW and modinfo -0 over every module."""
    files = sorted(str(p) for p in mods.rglob("*.ko*"))
    start = time.perf_counter()
    if batched:
        listing = "\0".join(files).encode()
        for tool in (["readelf", "-sW"], MODINFO):
            subprocess.run(
                ["xargs", "-0", "-n200", *tool],
                input=listing,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
    else:
        for f in files:
            subprocess.run(["readelf", "-sW", f], stdout=subprocess.DEVNULL, check=False)
            subprocess.run([*MODINFO, f], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """Seconds for one run of ``argv`` (output captured, not decoded)."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - start, done


def best_of(repeat: int, run: Callable[[], float]) -> tuple[float, float]:
    """(best, median) of ``repeat`` runs."""
    times = [run() for _ in range(repeat)]
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    repeat = max(1, parser.parse_args().repeat)
    compileall.compile_dir(Path(gplscan.__file__).parent, quiet=1)
    mods, symvers = module_tree()
    count = sum(1 for _ in mods.rglob("*.ko*"))
    print(f"modules: {mods} ({count} files), kernel: {symvers}, {os.cpu_count()} cores")
    print(f"reference .modinfo reader: {' '.join(MODINFO)}")
    if not drop_page_cache():
        print("note: cannot drop the page cache here (not root?): 'cold' runs are warm")
    rows: list[tuple[str, str]] = []

    def cold_reference() -> float:
        drop_page_cache()
        return reference(mods, batched=True)

    ref_cold = best_of(repeat, cold_reference)
    ref_batch = best_of(repeat, lambda: reference(mods, batched=True))
    ref_each = reference(mods, batched=False)
    rows += [
        ("reference readelf -sW + .modinfo, batched, cold", _fig(ref_cold)),
        ("reference readelf -sW + .modinfo, batched, warm", _fig(ref_batch)),
        ("reference, one process per module, warm", f"{ref_each:.2f} s"),
    ]
    with tempfile.TemporaryDirectory(prefix="gplscan-bench-") as tmp:
        runs = itertools.count()  # a fresh, empty cache directory per run

        def argv(cache: str) -> list[str]:
            return [
                *GPLSCAN,
                "audit",
                str(mods),
                "--kernel",
                str(symvers),
                "--format",
                "json",
                "-q",
                "--cache-dir",
                str(Path(tmp) / cache),
            ]

        def empty_cache(drop: bool) -> float:
            if drop:
                drop_page_cache()
            return timed(argv(f"empty{next(runs)}"))[0]

        cold = best_of(repeat, lambda: empty_cache(drop=True))
        page = best_of(repeat, lambda: empty_cache(drop=False))
        _, first = timed(argv("kept"))  # fills the cache the next runs use
        warm = best_of(repeat, lambda: timed(argv("kept"))[0])
        drop_page_cache()
        cold_memory = run_measured(argv("memory"))
        warm_memory = run_measured(argv("memory"))
    report = json.loads(first.stdout)
    imports = {"EXPORT_SYMBOL": 0, "EXPORT_SYMBOL_GPL": 0}
    unresolved = 0
    for b in report["binaries"]:
        unresolved += len(b["imports"]["unresolved"])
        for counts in b["imports"]["providers"].values():
            for k, v in counts.items():
                imports[k] += v
    rows += [
        (
            "gplscan audit, cold (page cache dropped, empty cache)",
            f"{_fig(cold)}; {cold[0] / ref_cold[0]:.2f}x the batched cold reference "
            f"(median {cold[1] / ref_cold[1]:.2f}x), {cold[0] / ref_each:.2f}x one-per-module",
        ),
        (
            "gplscan audit, page cache warm, empty cache",
            f"{_fig(page)}; {page[0] / ref_batch[0]:.2f}x batched "
            f"(median {page[1] / ref_batch[1]:.2f}x), {page[0] / ref_each:.2f}x one-per-module",
        ),
        (
            "gplscan audit, with the cache (nothing changed)",
            f"{_fig(warm)}; {warm[0] / ref_batch[0]:.2f}x the batched warm reference "
            f"(median {warm[1] / ref_batch[1]:.2f}x)",
        ),
        (
            "gplscan peak memory (PSS, process tree)",
            f"cold {cold_memory.peak_pss_mb:.0f} MB, "
            f"with the cache {warm_memory.peak_pss_mb:.0f} MB",
        ),
        (
            "verdict",
            f"exit {first.returncode}, {report['summary']['binaries']} modules, findings "
            f"{report['summary']['findings']}",
        ),
        (
            "imports",
            f"{sum(imports.values())} resolved ({imports['EXPORT_SYMBOL_GPL']} to "
            f"EXPORT_SYMBOL_GPL), {unresolved} unresolved",
        ),
    ]
    print_rows(rows)
    return 0


def _fig(best_median: tuple[float, float]) -> str:
    return f"{best_median[0]:.2f} s (median {best_median[1]:.2f} s)"


if __name__ == "__main__":
    sys.exit(main())
