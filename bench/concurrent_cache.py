"""Issue 13's load test: many audits of one tree sharing one cache directory, one killed.

    .venv/bin/python -m bench.concurrent_cache [--runs 8] [--tree DIR] [--jobs 1]

Run it from a checkout nobody edits meanwhile (``git archive HEAD | tar -x -C DIR``, then
``cd DIR``): the audits import gplscan from the current directory, and a change to the
code between the lone run and the others changes their reports.

1. a lone audit of the tree with a cache of its own: the reference JSON;
2. ``--runs`` audits started at once with one shared, empty cache directory; one of them
   is killed (SIGKILL) as soon as it starts writing to the cache (its ``wchar`` in
   /proc grows: the audit writes nothing else before its report);
3. every other run must end with the reference JSON (and exit code), the database must
   pass ``PRAGMA integrity_check``, nothing may be set aside, and a further audit with
   the shared cache must read it (fast) and give the same JSON again.

Prints the wall times and whether each check held; exits 1 when one did not. The tree is
Linux 6.1's source by default (what bench/kernel_licenses.py unpacks).
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import print_rows

DEFAULT_TREE = Path.home() / ".cache" / "gplscan-bench" / "trees" / "linux-source-6.1"


def _argv(tree: Path, cache: Path, jobs: int) -> list[str]:
    options = ["--format", "json", "-q", "--jobs", str(jobs), "--cache-dir", str(cache)]
    return [sys.executable, "-m", "gplscan", "audit", *options, str(tree)]


def _comparable(stdout: str) -> Any:
    """The report without what records the run itself (its time, its command line with
    its own --cache-dir), which differs between runs of one tree by design."""
    report = json.loads(stdout)
    report.get("scan", {}).pop("seconds", None)
    # what the run loaded (scancode's index is not loaded when every detection is cached)
    report.get("scan", {}).pop("scancode index", None)
    report.pop("timings", None)
    for key in ("scanned_at", "command"):
        report.get("provenance", {}).pop(key, None)
    return report


def _wchar(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="audits at once (one is killed)")
    parser.add_argument("--tree", type=Path, default=DEFAULT_TREE)
    parser.add_argument("--jobs", type=int, default=1, help="--jobs of each audit")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="gplscan-bench-concurrent-") as tmp:
        start = time.monotonic()
        lone = subprocess.run(
            _argv(args.tree, Path(tmp) / "lone", args.jobs), capture_output=True, text=True
        )
        lone_seconds = time.monotonic() - start
        if lone.returncode not in (0, 1):
            print(lone.stderr, file=sys.stderr)
            return 2
        reference = _comparable(lone.stdout)
        rows.append(
            ("lone audit, its own empty cache", f"{lone_seconds:.1f} s, exit {lone.returncode}")
        )

        shared = Path(tmp) / "shared"
        start = time.monotonic()
        procs = [
            subprocess.Popen(
                _argv(args.tree, shared, args.jobs),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(args.runs)
        ]
        victim = procs[0]
        base = _wchar(victim.pid)
        while victim.poll() is None and _wchar(victim.pid) - base < 64 * 1024:
            time.sleep(0.005)
        killed_at = time.monotonic() - start
        killed = victim.poll() is None
        victim.send_signal(signal.SIGKILL)
        finished = [(p, *p.communicate()) for p in procs]
        all_seconds = time.monotonic() - start
        same = sum(
            1
            for p, out, _ in finished[1:]
            if p.returncode == lone.returncode and _comparable(out) == reference
        )
        notes = sum(1 for _, _, err in finished[1:] if "cache" in err)
        for p, out, err in finished[1:]:
            if p.returncode != lone.returncode or _comparable(out) != reference:
                report = _comparable(out) if out.strip() else {}
                keys = sorted(k for k in reference if report.get(k) != reference[k])
                print(f"run {p.pid}: exit {p.returncode}, differs in {keys}: {err.strip()}")
        rows += [
            (
                f"{args.runs} audits at once, one shared empty cache",
                f"{all_seconds:.1f} s for all; one killed after {killed_at:.1f} s "
                f"({'while writing to the cache' if killed else 'NOT killed: it had ended'})",
            ),
            ("runs with the lone run's JSON and exit code", f"{same} of {args.runs - 1}"),
            ("runs that said anything about the cache", str(notes)),
        ]
        ok &= killed and same == args.runs - 1 and notes == 0

        databases = sorted(shared.glob("facts-*.sqlite3"))
        integrity = "no database"
        if databases:
            with sqlite3.connect(databases[0]) as con:
                integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        set_aside = sorted(p.name for p in shared.glob("*.corrupt*"))
        start = time.monotonic()
        after = subprocess.run(_argv(args.tree, shared, args.jobs), capture_output=True, text=True)
        after_seconds = time.monotonic() - start
        again = after.returncode == lone.returncode and _comparable(after.stdout) == reference
        rows += [
            ("cache database integrity_check", integrity),
            ("set aside", ", ".join(set_aside) or "nothing"),
            (
                "audit with the shared cache afterwards",
                f"{after_seconds:.1f} s, {'the same JSON' if again else 'DIFFERENT JSON'}"
                f"{'; it said: ' + after.stderr.strip() if after.stderr.strip() else ''}",
            ),
        ]
        ok &= integrity == "ok" and not set_aside and again and not after.stderr.strip()
    print_rows(rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
