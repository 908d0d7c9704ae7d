"""Does gplscan's fast license detection agree with scancode, and what does it cost?

    .venv/bin/python -m bench.license_agreement [--sample N] [--seed S] [--no-all] [--no-fork]
        [--threshold T] [--threshold-no-match T0]

On Debian's linux-source-6.1 tree (fetched once by bench.debian_archive), for the files that
carry no ``SPDX-License-Identifier`` anywhere:

1. a seeded random sample (default 100 files, seed 1) is detected twice in this process:
   the reference is scancode's full detection on each whole file, approximate matching on
   (``licensedcode.detection.detect_licenses(location=...)``, what ``scancode --license``
   runs per file); the fast path is ``gplscan.facts.licenses.Detector.detect_file``. On both
   sides kernel idioms are set aside (a match whose text is only EXPORT_SYMBOL*/MODULE_LICENSE
   calls) and expressions are SPDX ids normalized as gplscan normalizes tags. It prints both
   times (the index load once, separately), the speed ratio, the agreement file by file
   (equivalent expressions) and every disagreement with what each side found there;
2. the fast path then runs on every untagged file in a fresh process (index load included,
   reported apart) and reports its time, the prefilter's skips, the distinct regions and the
   peak RSS;
3. then the fork-sharing measurement: the index is loaded in a parent, which forks two
   workers that detect half of the untagged files each, while the summed PSS of the three
   processes is sampled (what two worker processes sharing one index cost in memory).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.debian_archive import linux_source_tree
from gplscan.facts.kernel_idioms import is_kernel_idiom_match
from gplscan.facts.license_expr import combine_and
from gplscan.facts.license_regions import license_regions
from gplscan.facts.licenses import (
    APPROXIMATE_THRESHOLD,
    APPROXIMATE_THRESHOLD_NO_MATCH,
    Detector,
    LicenseDetection,
)
from gplscan.facts.scancode_adapter import spdx_expression

TAG = b"SPDX-License-Identifier"


def untagged_files(tree: Path) -> list[str]:
    """Paths (relative to ``tree``, sorted) of the regular files with no SPDX tag anywhere."""
    found: list[str] = []
    for directory, dirs, files in os.walk(tree):
        dirs.sort()
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                if TAG not in handle.read():
                    found.append(os.path.relpath(path, tree))
    return sorted(found)


# -- the reference: scancode on the whole file ---------------------------------------------


@dataclass
class Found:
    """One detection as a side reports it, for explaining disagreements."""

    expression: str
    start_line: int
    end_line: int
    how: str  # matchers and rules
    text: str


@dataclass
class Outcome:
    expression: str | None
    found: list[Found] = field(default_factory=list)
    seconds: float = 0.0  # CPU
    wall: float = 0.0


def reference(path: Path) -> Outcome:
    """scancode's detection on the whole file, with the kernel idioms set aside."""
    from licensedcode.detection import LicenseDetection as ScDetection
    from licensedcode.detection import detect_licenses

    start, wall = time.process_time(), time.perf_counter()
    detections = list(detect_licenses(location=str(path)))
    seconds, wall = time.process_time() - start, time.perf_counter() - wall
    expressions: list[str] = []
    found: list[Found] = []
    for detection in detections:
        if detection.license_expression is None:
            continue
        kept = [m for m in detection.matches if not is_kernel_idiom_match(m)]
        if not kept:
            continue
        if len(kept) < len(detection.matches):
            rebuilt = ScDetection.from_matches(matches=kept)
            if rebuilt is None or rebuilt.license_expression is None:
                continue
            detection = rebuilt
        expression = spdx_expression(detection.license_expression)
        expressions.append(expression)
        found.append(
            Found(
                expression=expression,
                start_line=min(m.start_line for m in kept),
                end_line=max(m.end_line for m in kept),
                how=", ".join(f"{m.matcher} {m.rule.identifier} {m.coverage():.0f}%" for m in kept),
                text=" | ".join(m.matched_text(whole_lines=False, highlight=False) for m in kept),
            )
        )
    return Outcome(combine_and(expressions), found, seconds, wall)


def fast(detector: Detector, path: Path) -> Outcome:
    start, wall = time.process_time(), time.perf_counter()
    result: LicenseDetection = detector.detect_file(path)
    seconds, wall = time.process_time() - start, time.perf_counter() - wall
    found = [
        Found(
            m.expression, m.start_line, m.end_line, f"{m.rule} {m.score:.0f}", m.matched_text or ""
        )
        for m in result.matches
    ]
    return Outcome(result.expression, found, seconds, wall)


def same(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    from license_expression import Licensing

    return bool(a == b or Licensing().is_equivalent(a, b))


def explain(path: Path, ref: Outcome, got: Outcome) -> Iterator[str]:
    """What each side found that the other did not, with where and how."""
    regions = license_regions(path.read_bytes())
    if not regions:
        yield "fast path: no region (prefilter found no license word, or binary file)"

    def inside(f: Found) -> str:
        hits = [r for r in regions if r.start_line <= f.end_line and f.start_line <= r.end_line]
        return "inside a region" if hits else "OUTSIDE every region"

    for f in ref.found:
        if not any(same(f.expression, g.expression) for g in got.found):
            yield (
                f"reference only: {f.expression} at lines {f.start_line}-{f.end_line} "
                f"({inside(f)}) by {f.how}: {_short(f.text)}"
            )
    for g in got.found:
        if not any(same(g.expression, f.expression) for f in ref.found):
            yield (
                f"fast only: {g.expression} at lines {g.start_line}-{g.end_line} by {g.how}: "
                f"{_short(g.text)}"
            )


def _short(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


# -- the whole tree, in a fresh process -----------------------------------------------------


def run_all(tree: Path, files: Sequence[str], threshold: int, no_match: int) -> dict[str, Any]:
    """The fast path on every file in ``files``, in this (fresh) process."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    detector = Detector(approximate_threshold=threshold, approximate_threshold_no_match=no_match)
    detector.load_index()
    load_wall, load_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    rss_after_load = _rss_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    skipped = with_license = regions = 0
    regions_cpu = 0.0
    for rel in files:
        path = tree / rel
        t0 = time.process_time()
        found = license_regions(path.read_bytes())
        regions_cpu += time.process_time() - t0
        if not found:
            skipped += 1
            continue
        regions += len(found)
        if detector.detect_text(found, name=path.name).expression is not None:
            with_license += 1
    return {
        "files": len(files),
        "index_load_wall": load_wall,
        "index_load_cpu": load_cpu,
        "rss_after_load_mb": rss_after_load,
        "wall": time.perf_counter() - wall0,
        "cpu": time.process_time() - cpu0,
        "regions_cpu": regions_cpu,
        "prefilter_skipped": skipped,
        "regions": regions,
        "distinct_regions": detector.matcher_calls,
        "approximate_regions": detector.approximate_calls,
        "cache_hits": detector.cache_hits,
        "with_license": with_license,
        "rss_end_mb": _rss_mb(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_fork(tree: Path, files: Sequence[str], threshold: int, no_match: int) -> dict[str, Any]:
    """Index loaded in this parent, then two forked workers detect half of ``files`` each."""
    detector = Detector(approximate_threshold=threshold, approximate_threshold_no_match=no_match)
    detector.load_index()
    gc.collect()
    gc.freeze()  # keep the collector from touching (and so copying) the index's objects
    parent_pss = _pss_mb(os.getpid())
    wall0 = time.perf_counter()
    children: list[int] = []
    for part in (files[0::2], files[1::2]):
        pid = os.fork()
        if pid == 0:  # worker
            worker = Detector(
                approximate_threshold=threshold, approximate_threshold_no_match=no_match
            )
            for rel in part:
                worker.detect_file(tree / rel)
            os._exit(0)
        children.append(pid)
    peak = _Peak([os.getpid(), *children])
    peak.start()
    for pid in children:
        os.waitpid(pid, 0)
    peak.stop()
    return {
        "parent_pss_before_fork_mb": parent_pss,
        "wall": time.perf_counter() - wall0,
        "peak_total_pss_mb": peak.total_pss,
        "peak_child_rss_mb": peak.child_rss,
        "peak_total_rss_mb": peak.total_rss,
    }


class _Peak(threading.Thread):
    """Samples the summed PSS/RSS of some processes every 0.2 s; keeps the peaks."""

    def __init__(self, pids: Sequence[int]) -> None:
        super().__init__(daemon=True)
        self.pids = list(pids)
        self.total_pss = self.total_rss = self.child_rss = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            pss = [_pss_mb(pid) for pid in self.pids]
            rss = [_rss_mb(pid) for pid in self.pids]
            self.total_pss = max(self.total_pss, sum(pss))
            self.total_rss = max(self.total_rss, sum(rss))
            self.child_rss = max(self.child_rss, *rss[1:])
            self._done.wait(0.2)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _rollup(pid: int, key: str) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pss_mb(pid: int) -> float:
    return _rollup(pid, "Pss")


def _rss_mb(pid: int | None = None) -> float:
    return _rollup(os.getpid() if pid is None else pid, "Rss")


def _subprocess(
    mode: str, tree: Path, listing: Path, threshold: int, no_match: int
) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.license_agreement", mode, str(tree), str(listing)]
    out = subprocess.run(
        [*command, str(threshold), str(no_match)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# -- main ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("--child-all", "--child-fork"):
        tree, listing = Path(argv[1]), Path(argv[2])
        threshold, no_match = int(argv[3]), int(argv[4])
        files = listing.read_text().splitlines()
        run = run_all if argv[0] == "--child-all" else run_fork
        print(json.dumps(run(tree, files, threshold, no_match)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=100, help="untagged files to compare")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--threshold",
        type=int,
        default=APPROXIMATE_THRESHOLD,
        help="unmatched legalese tokens that send a region to approximate matching",
    )
    parser.add_argument(
        "--threshold-no-match",
        type=int,
        default=APPROXIMATE_THRESHOLD_NO_MATCH,
        help="the same, for a region where exact matching found nothing",
    )
    parser.add_argument("--no-all", action="store_true", help="skip the whole-tree run")
    parser.add_argument("--no-fork", action="store_true", help="skip the fork-sharing run")
    args = parser.parse_args(argv)

    tree = linux_source_tree()
    t0 = time.perf_counter()
    files = untagged_files(tree)
    print(f"tree: {tree}")
    print(f"untagged files: {len(files)} (listed in {time.perf_counter() - t0:.1f} s)")
    sample = sorted(random.Random(args.seed).sample(files, min(args.sample, len(files))))

    t0, c0 = time.perf_counter(), time.process_time()
    detector = Detector(
        approximate_threshold=args.threshold, approximate_threshold_no_match=args.threshold_no_match
    )
    detector.load_index()
    print(
        f"index load (once, shared by both sides): {time.perf_counter() - t0:.2f} s wall, "
        f"{time.process_time() - c0:.2f} s CPU, RSS {_rss_mb():.0f} MB"
    )

    refs = {rel: reference(tree / rel) for rel in sample}
    gots = {rel: fast(detector, tree / rel) for rel in sample}
    ref_cpu = sum(o.seconds for o in refs.values())
    fast_cpu = sum(o.seconds for o in gots.values())
    agree = [rel for rel in sample if same(refs[rel].expression, gots[rel].expression)]
    identical = [rel for rel in sample if refs[rel].expression == gots[rel].expression]
    with_license = sum(1 for rel in sample if refs[rel].expression is not None)
    skipped = [rel for rel in sample if not license_regions((tree / rel).read_bytes())]
    missed = [rel for rel in skipped if refs[rel].expression is not None]
    print(f"\nsample: {len(sample)} untagged files (seed {args.seed})")
    ref_wall = sum(o.wall for o in refs.values())
    fast_wall = sum(o.wall for o in gots.values())
    print(
        f"  reference (scancode, whole files, approximate): {ref_cpu:.2f} s CPU, "
        f"{ref_wall:.2f} s wall"
    )
    print(
        f"  fast path (regions, exact + selective approximate): {fast_cpu:.3f} s CPU, "
        f"{fast_wall:.3f} s wall "
        f"({detector.matcher_calls} regions matched, {detector.approximate_calls} of them "
        f"approximately, {detector.cache_hits} from the cache)"
    )
    print(f"  speed ratio: {ref_cpu / max(fast_cpu, 1e-9):.0f}x")
    print(f"  reference found a license in {with_license} files")
    print(
        f"  prefilter skipped {len(skipped)} files; reference found a license in "
        f"{len(missed)} of them{': ' + ', '.join(missed) if missed else ''}"
    )
    print(
        f"  agreement: {len(agree)}/{len(sample)} = {100 * len(agree) / len(sample):.1f}% "
        f"equivalent expressions ({len(identical)} written identically)"
    )
    for rel in sample:
        if rel in agree:
            continue
        print(f"\n  DISAGREE {rel}\n    reference: {refs[rel].expression}")
        print(f"    fast:      {gots[rel].expression}")
        for line in explain(tree / rel, refs[rel], gots[rel]):
            print(f"    - {line}")

    if args.no_all and args.no_fork:
        return 0
    listing = Path(os.environ.get("TMPDIR", "/tmp")) / f"gplscan-untagged-{os.getpid()}.txt"
    listing.write_text("\n".join(files) + "\n")
    try:
        if not args.no_all:
            r = _subprocess("--child-all", tree, listing, args.threshold, args.threshold_no_match)
            print(f"\nfast path on all {r['files']} untagged files (fresh process):")
            print(
                f"  index load: {r['index_load_wall']:.2f} s wall, {r['index_load_cpu']:.2f} s "
                f"CPU, RSS after load {r['rss_after_load_mb']:.0f} MB"
            )
            print(
                f"  detection: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU (of which reading "
                f"+ prefilter + regions {r['regions_cpu']:.1f} s)"
            )
            print(
                f"  prefilter skipped {r['prefilter_skipped']} files; {r['regions']} regions, "
                f"{r['distinct_regions']} distinct ({r['cache_hits']} answered from the "
                f"cache), {r['approximate_regions']} matched approximately"
            )
            print(f"  files with a license: {r['with_license']}")
            print(
                f"  RSS at the end: {r['rss_end_mb']:.0f} MB; peak RSS (ru_maxrss, includes the "
                f"index load): {r['peak_rss_mb']:.0f} MB"
            )
        if not args.no_fork:
            r = _subprocess("--child-fork", tree, listing, args.threshold, args.threshold_no_match)
            print("\nindex loaded in a parent, 2 forked workers detecting half the files each:")
            print(f"  parent PSS before fork: {r['parent_pss_before_fork_mb']:.0f} MB")
            print(
                f"  wall {r['wall']:.1f} s; peak summed PSS {r['peak_total_pss_mb']:.0f} MB, "
                f"peak summed RSS {r['peak_total_rss_mb']:.0f} MB, "
                f"peak worker RSS {r['peak_child_rss_mb']:.0f} MB"
            )
    finally:
        listing.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
