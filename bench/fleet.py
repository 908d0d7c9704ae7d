"""Many targets at once (issue 17): sequential vs a local pool vs a Dask LocalCluster.

Targets: the bookworm DKMS packages (``/work/census/debs/*.deb``) and N copies of a small
kernel-like tree (drivers with Kbuild files, tagged and untagged GPL sources, a closed
blob built with gcc; each copy differs from the others in one file). Each configuration
runs the real command line, with no fact cache, so that each does the whole work:

- sequential: ``gplscan audit T... -j 1`` (one target after another, one core);
- pool: ``-j 2`` (a local pool of 2 worker processes, one target each);
- cluster 1 / cluster 2: ``--scheduler`` of a LocalCluster with 1 or 2 workers (one
  thread each; the cluster is started beforehand, its start-up time printed apart).

Prints wall time, speed-up over sequential, and checks that every configuration gives
the same reports (apart from provenance). The per-target overhead of the cluster path
is measured on 40 tiny targets: (cluster with 1 worker - sequential) / 40.

    python bench/fleet.py [--debs N] [--trees N] [--all-debs] [--linux TREE --linux-copies N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import run_measured

DEBS = Path("/work/census/debs")
BIG = "nvidia-"  # the five NVIDIA packages (25-45 MB each): only with --all-debs
GPLSCAN = [sys.executable, "-m", "gplscan"]
EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}

DRIVER_C = """{tag}#include <linux/module.h>
#include "{name}.h"
/*
 * {name}: a small driver of a kernel-like tree.
 *
 * This program is free software; you can redistribute it and/or modify it under the
 * terms of the GNU General Public License version 2 as published by the Free Software
 * Foundation.
 */
int {name}_{n}_probe(int x) {{ return x + {n} + {variant}; }}
MODULE_LICENSE("GPL");
"""


def kernel_like_tree(root: Path, drivers: int = 24, files: int = 6) -> Path:
    """A tree of ``drivers`` modules of ``files`` sources each; one links a closed blob."""
    root.mkdir(parents=True)
    (root / "Kbuild").write_text("".join(f"obj-m += d{i}/\n" for i in range(drivers)))
    for i in range(drivers):
        d = root / f"d{i}"
        d.mkdir()
        objs = " ".join(f"f{n}.o" for n in range(files))
        extra = " blob.o" if i == 0 else ""
        (d / "Kbuild").write_text(f"obj-m += d{i}.o\nd{i}-objs := {objs}{extra}\n")
        (d / f"d{i}.h").write_text("/* SPDX-License-Identifier: GPL-2.0 */\n#define D 1\n")
        for n in range(files):
            tag = "// SPDX-License-Identifier: GPL-2.0-only\n" if n % 2 else ""
            (d / f"f{n}.c").write_text(DRIVER_C.format(tag=tag, name=f"d{i}", n=n, variant=0))
    blob_c = root.parent / "blob.c"
    blob_c.write_text("int blob_secret(int x) { return x * 3; }\n")
    subprocess.run(
        ["gcc", "-c", "-O2", "-o", str(root / "d0" / "blob.o_shipped"), str(blob_c)], check=True
    )
    return root


def copies(tree: Path, n: int, where: Path) -> list[Path]:
    """``n`` copies of ``tree``, copy i with one source changed."""
    out = []
    for i in range(n):
        copy = where / f"tree{i:02d}"
        shutil.copytree(tree, copy)
        first = copy / "d1" / "f1.c"
        first.write_text(first.read_text().replace("+ 0;", f"+ {i};"))
        out.append(copy)
    return out


def linux_copies(tree: Path, n: int, where: Path) -> list[Path]:
    """``n`` copies of a real Linux tree (hard links, so each costs only its directories),
    copy i with one driver source replaced by an edited copy: small differences, each
    judged in full."""
    out = []
    for i in range(n):
        copy = where / f"linux{i:02d}"
        subprocess.run(["cp", "-al", str(tree), str(copy)], check=True)
        changed = copy / "drivers" / "hv" / "vmbus_drv.c"
        text = changed.read_text(errors="surrogateescape")
        changed.unlink()  # break the hard link: the original stays as it was
        changed.write_text(text + f"\n/* copy {i} */\n", errors="surrogateescape")
        out.append(copy)
    return out


def tiny_targets(where: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        d = where / f"tiny{i:02d}"
        d.mkdir(parents=True)
        (d / "Kbuild").write_text("obj-m += t.o\n")
        (d / "t.c").write_text(
            f"// SPDX-License-Identifier: GPL-2.0\nint t{i}(void) {{ return {i}; }}\n"
            'MODULE_LICENSE("GPL");\n'
        )
        out.append(d)
    return out


class Cluster:
    """A LocalCluster in a process of its own (its workers are spawned processes)."""

    def __init__(self, workers: int) -> None:
        code = (
            "import sys, time\n"
            "import dask\n"
            "from distributed import LocalCluster\n"
            "if __name__ == '__main__':\n"
            # as the README's cluster page advises: glibc's own malloc thresholds
            "    dask.config.set({'distributed.nanny.pre-spawn-environ."
            "MALLOC_TRIM_THRESHOLD_': None})\n"
            f"    c = LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True,\n"
            "                     memory_limit='10GiB', dashboard_address=None)\n"
            "    print(c.scheduler_address, flush=True)\n"
            "    sys.stdin.read()\n"
            "    c.close()\n"
        )
        self.script = Path(tempfile.mkstemp(suffix=".py")[1])
        self.script.write_text(code)
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, str(self.script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        self.startup = time.perf_counter() - started

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.script.unlink()


def audit(targets: list[Path], extra: list[str], out: Path) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, peak PSS (MB) of the command's process tree, and its JSON report."""
    m = run_measured(
        [*GPLSCAN, "audit", *map(str, targets), "--no-cache", "-q", "--format", "json",
         "-o", str(out), "--timeout", "1200", *extra],
        env=EPOCH,
    )  # fmt: skip
    if m.returncode not in (0, 1, 2) or not out.exists():
        raise SystemExit(f"audit failed ({m.returncode}): {m.stderr[-2000:]}")
    return m.seconds, m.peak_pss_mb, json.loads(out.read_text())


def loop_of_single_runs(targets: list[Path], work: Path) -> tuple[float, float]:
    """What a user scripts today: ``gplscan audit T`` once per target, each with every core
    (the default ``-j``) and scancode's index loaded by each run. Wall seconds, peak PSS."""
    seconds, peak = 0.0, 0.0
    for n, target in enumerate(targets):
        out = work / f"single{n}.json"
        m = run_measured(
            [
                *GPLSCAN,
                "audit",
                str(target),
                "--no-cache",
                "-q",
                "--format",
                "json",
                "-o",
                str(out),
            ],
            env=EPOCH,
        )
        if m.returncode not in (0, 1, 2) or not out.exists():
            raise SystemExit(f"audit failed ({m.returncode}): {m.stderr[-2000:]}")
        seconds += m.seconds
        peak = max(peak, m.peak_pss_mb)
    return seconds, peak


def comparable(data: dict[str, Any]) -> list[Any]:
    """The reports apart from provenance, and each row apart from time and worker."""
    reports = [{k: v for k, v in (r or {}).items() if k != "provenance"} for r in data["reports"]]
    rows = [
        {k: v for k, v in row.items() if k not in ("seconds", "worker")} for row in data["targets"]
    ]
    return [reports, rows]


def compare(
    name: str,
    targets: list[Path],
    work: Path,
    with_loop: bool = False,
    cluster_sizes: tuple[int, ...] = (1, 2),
    spread: bool = True,
) -> None:
    """Each configuration timed and printed as it finishes (a long run that is stopped
    keeps what it measured), then checked against the sequential reports."""
    print(f"\n{name}: {len(targets)} targets", flush=True)
    results: dict[str, tuple[float, float, dict[str, Any]]] = {}
    no_spread = [] if spread else ["--no-spread"]

    def timed(label: str, extra: list[str], out: str) -> None:
        results[label] = audit(targets, [*extra, *no_spread], work / out)
        seconds, pss, data = results[label]
        base = results["sequential (-j 1)"][0]
        same = comparable(data) == comparable(results["sequential (-j 1)"][2])
        errors = sum(1 for row in data["targets"] if row["error"])
        print(
            f"  {label:<24} {seconds:7.1f} s  x{base / seconds:4.2f}  "
            f"peak PSS {pss:6.0f} MB  {'identical' if same else 'DIFFERENT'}  "
            f"exit {data['summary']['exit_code']}" + (f"  {errors} errors" if errors else ""),
            flush=True,
        )

    timed("sequential (-j 1)", ["-j", "1"], "seq.json")
    timed("local pool (-j 2)", ["-j", "2"], "pool.json")
    for workers in cluster_sizes:
        cluster = Cluster(workers)
        try:
            label = f"LocalCluster {workers} worker{'s' if workers > 1 else ''}"
            print(f"  ({label} started in {cluster.startup:.1f} s)", flush=True)
            timed(label, ["--scheduler", cluster.address], f"c{workers}.json")
        finally:
            cluster.close()
    if with_loop:
        base = results["sequential (-j 1)"][0]
        loop = loop_of_single_runs(targets, work)
        print(
            f"  {'loop of single runs':<24} {loop[0]:7.1f} s  x{base / loop[0]:4.2f}  "
            f"peak PSS {loop[1]:6.0f} MB  (one gplscan per target, default -j)"
        )


def overhead(work: Path, n: int = 40) -> None:
    targets = tiny_targets(work / "tiny", n)
    seq, _, _ = audit(targets, ["-j", "1"], work / "tiny-seq.json")
    cluster = Cluster(1)
    try:
        clustered, _, _ = audit(targets, ["--scheduler", cluster.address], work / "tiny-c1.json")
    finally:
        cluster.close()
    print(
        f"\nper-target overhead of the cluster path ({n} tiny targets, 1 worker): "
        f"sequential {seq:.2f} s, cluster {clustered:.2f} s: "
        f"{(clustered - seq) / n * 1000:.0f} ms per target"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debs", type=int, default=0, help="only the first N packages")
    parser.add_argument("--all-debs", action="store_true", help="the NVIDIA packages too")
    parser.add_argument("--trees", type=int, default=6, help="copies of the kernel-like tree")
    parser.add_argument("--linux", type=Path, help="a Linux source tree to copy (real trees)")
    parser.add_argument("--linux-copies", type=int, default=3, help="copies of --linux")
    parser.add_argument("--loop", action="store_true", help="also time one run per target")
    parser.add_argument("--no-debs", action="store_true", help="leave out the packages")
    parser.add_argument(
        "--together", action="store_true", help="the packages and the Linux copies as one fleet"
    )
    parser.add_argument(
        "--cluster-sizes", default="1,2", help="LocalCluster sizes to time (default 1,2)"
    )
    parser.add_argument("--no-overhead", action="store_true", help="skip the overhead run")
    parser.add_argument(
        "--no-spread", action="store_true", help="judge each tree whole on one worker"
    )
    args = parser.parse_args()
    debs = sorted(p for p in DEBS.glob("*.deb") if args.all_debs or not p.name.startswith(BIG))
    if args.debs:
        debs = debs[: args.debs]
    if args.no_debs:
        debs = []
    sizes = tuple(int(n) for n in args.cluster_sizes.split(",") if n)
    with tempfile.TemporaryDirectory(prefix="gplscan-bench-fleet-") as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # nothing into ~/.cache
        if not args.no_overhead:
            overhead(work)
        if args.together and args.linux:
            trees = linux_copies(args.linux, args.linux_copies, work)
            name = f"{len(debs)} packages and {len(trees)} copies of {args.linux.name}"
            compare(name, [*debs, *trees], work, args.loop, sizes, not args.no_spread)
            return
        if debs:
            compare("bookworm DKMS packages", debs, work, args.loop, sizes)
        if args.trees:
            tree = kernel_like_tree(work / "src" / "tree")
            compare("kernel-like trees", copies(tree, args.trees, work), work, False, sizes)
        if args.linux:
            trees = linux_copies(args.linux, args.linux_copies, work)
            compare(
                f"copies of {args.linux.name}", trees, work, args.loop, sizes, not args.no_spread
            )


if __name__ == "__main__":
    main()
