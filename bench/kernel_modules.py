"""Issue 4's benchmark: every module of Debian's linux-image-6.1 package, in one run.

    .venv/bin/python -m bench.kernel_modules

Fetches linux-image-6.1.0-*-amd64 (about 4,000 .ko) and its linux-headers package (for
Module.symvers), both cached under ~/.cache/gplscan-bench, and measures in one run:

1. the reference pipeline: ``readelf -sW`` (symbols) and ``modinfo -0`` (.modinfo) over
   every module, batched with xargs (the fastest way to run them) and, for comparison,
   one process per module (what a shell loop does);
2. ``gplscan audit`` of the module directory with ``--kernel Module.symvers``: cold (page
   cache dropped, empty gplscan cache) and with the cache (nothing changed);

and prints the figures, the ratios and the audit's verdict (every import resolved, no
finding expected on the distribution's own modules).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.debian_archive import depends, unpacked
from bench.measure import drop_page_cache, print_rows, run_measured

GPLSCAN = [sys.executable, "-m", "gplscan"]
# kmod's modinfo where installed; else readelf's dump of the same section
_MODINFO_BIN = shutil.which("modinfo") or next(
    (p for p in ("/sbin/modinfo", "/usr/sbin/modinfo") if os.path.exists(p)), None)
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
            subprocess.run(["xargs", "-0", "-n200", *tool], input=listing,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    else:
        for f in files:
            subprocess.run(["readelf", "-sW", f], stdout=subprocess.DEVNULL, check=False)
            subprocess.run([*MODINFO, f], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    mods, symvers = module_tree()
    count = sum(1 for _ in mods.rglob("*.ko*"))
    print(f"modules: {mods} ({count} files), kernel: {symvers}, {os.cpu_count()} cores")
    print(f"reference .modinfo reader: {' '.join(MODINFO)}")
    if not drop_page_cache():
        print("note: cannot drop the page cache here (not root?): 'cold' runs are warm")
    rows: list[tuple[str, str]] = []
    drop_page_cache()
    ref_cold = reference(mods, batched=True)
    ref_batch = reference(mods, batched=True)
    ref_each = reference(mods, batched=False)
    rows += [
        ("reference readelf -sW + .modinfo, batched, cold", f"{ref_cold:.2f} s"),
        ("reference readelf -sW + .modinfo, batched, warm", f"{ref_batch:.2f} s"),
        ("reference, one process per module, warm", f"{ref_each:.2f} s"),
    ]
    with tempfile.TemporaryDirectory(prefix="gplscan-bench-") as tmp:
        cache = Path(tmp) / "cache"
        argv = [*GPLSCAN, "audit", str(mods), "--kernel", str(symvers), "--format", "json",
                "-q", "--cache-dir", str(cache)]
        drop_page_cache()
        cold = run_measured(argv)
        warm = run_measured(argv)
        page = run_measured([*argv[:-1], str(Path(tmp) / "cache2")])
    report = json.loads(cold.stdout)
    imports = {"EXPORT_SYMBOL": 0, "EXPORT_SYMBOL_GPL": 0}
    unresolved = 0
    for b in report["binaries"]:
        unresolved += len(b["imports"]["unresolved"])
        for counts in b["imports"]["providers"].values():
            for k, v in counts.items():
                imports[k] += v
    rows += [
        ("gplscan audit, cold (page cache dropped, empty cache)",
         f"{cold.seconds:.2f} s, peak {cold.peak_pss_mb:.0f} MB; {cold.seconds / ref_cold:.2f}x "
         f"the batched cold reference, {cold.seconds / ref_each:.2f}x one-per-module"),
        ("gplscan audit, page cache warm, empty cache",
         f"{page.seconds:.2f} s; {page.seconds / ref_batch:.2f}x batched, "
         f"{page.seconds / ref_each:.2f}x one-per-module"),
        ("gplscan audit, with the cache (nothing changed)",
         f"{warm.seconds:.2f} s, peak {warm.peak_pss_mb:.0f} MB; {warm.seconds / ref_batch:.2f}x "
         "the batched warm reference"),
        ("verdict", f"exit {cold.returncode}, {report['summary']['binaries']} modules, findings "
                    f"{report['summary']['findings']}"),
        ("imports", f"{sum(imports.values())} resolved ({imports['EXPORT_SYMBOL_GPL']} to "
                    f"EXPORT_SYMBOL_GPL), {unresolved} unresolved"),
    ]
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
