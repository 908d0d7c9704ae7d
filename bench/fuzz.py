"""Issue 13's long fuzz run: every target of ``tests/fuzz_targets`` for N minutes.

    .venv/bin/python -m bench.fuzz --minutes 30 [--workers 2] [--budget 2] [--memory 2048]

Each worker process builds the targets' seeds (real files made with gcc, tar, ar, xz …),
then, until the time is up, takes the targets in turn (a one-second slice each, so fast
parsers get more inputs than slow ones) and feeds each a damaged copy of a seed
(:func:`tests.fuzz_targets.mutate`). Every input runs under a time budget (``--budget``
seconds, SIGALRM) in a process whose address space is limited (``--memory`` MiB,
RLIMIT_AS). An input ends in one of:

- ok: facts, or an issue saying what could not be read (the property holds);
- silent drop: the target's property failed (AssertionError): something read and not
  reported;
- traceback: any other exception escaped;
- hang: the time budget ran out;
- memory: MemoryError under the address-space limit.

Prints per target the inputs run and each outcome, the inputs per second, and each
worker's peak resident memory; writes every failing input (the first 20 of each kind and
target) to ``--out`` (default ``/tmp/gplscan-fuzz``) with its traceback, to replay with
``--replay FILE --target NAME``. Exit 1 when anything but ok was seen.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from types import FrameType

OUTCOMES = ("ok", "silent drop", "traceback", "hang", "memory")
SLICE = 1.0  # seconds per target in turn
KEEP = 20  # failing inputs saved per target and outcome


class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hang


def _worker(args: tuple[int, float, float, int, str, list[str] | None]) -> dict[str, object]:
    number, seconds, budget, memory_mib, out, only = args
    from tests.fuzz_targets import all_targets, mutate

    limit = memory_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _alarm)
    rnd = random.Random(number * 7919 + int(time.time()))
    base = Path(tempfile.mkdtemp(prefix=f"gplscan-fuzz-{number}-"))
    counts: dict[str, Counter[str]] = {}
    kept: Counter[tuple[str, str]] = Counter()
    try:
        targets = [t for t in all_targets() if only is None or t.name in only]
        seeds = {}
        for t in targets:
            area = base / f"seeds-{t.name}"
            area.mkdir()
            seeds[t.name] = t.seeds(area)
        targets = [t for t in targets if seeds[t.name]]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for target in targets:
                stop = min(end, time.monotonic() + SLICE)
                tally = counts.setdefault(target.name, Counter())
                inputs = seeds[target.name]
                while time.monotonic() < stop:
                    data = mutate(rnd.choice(inputs), rnd, inputs)
                    outcome, detail = _one(target.run, data, base, budget)
                    tally[outcome] += 1
                    if outcome != "ok" and kept[target.name, outcome] < KEEP:
                        kept[target.name, outcome] += 1
                        _save(Path(out), target.name, outcome, data, detail)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        shutil.rmtree(base, ignore_errors=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"counts": {k: dict(v) for k, v in counts.items()}, "peak_kib": peak_kib}


def _one(run: object, data: bytes, base: Path, budget: float) -> tuple[str, str]:
    scratch = base / "input"  # one directory, emptied after each input that wrote to it
    scratch.mkdir(exist_ok=True)
    try:
        signal.setitimer(signal.ITIMER_REAL, budget)
        try:
            run(data, scratch)  # type: ignore[operator]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Hang:
        return "hang", f"more than {budget} s"
    except MemoryError:
        return "memory", traceback.format_exc()
    except AssertionError:
        return "silent drop", traceback.format_exc()
    except Exception:
        return "traceback", traceback.format_exc()
    finally:
        if any(scratch.iterdir()):
            shutil.rmtree(scratch, ignore_errors=True)
    return "ok", ""


def _save(out: Path, target: str, outcome: str, data: bytes, detail: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{target}-{outcome.replace(' ', '-')}-{time.time_ns()}"
    (out / f"{stem}.bin").write_bytes(data)
    (out / f"{stem}.txt").write_text(detail)


def _replay(path: Path, name: str) -> int:
    from tests.fuzz_targets import all_targets

    target = next(t for t in all_targets() if t.name == name)
    with tempfile.TemporaryDirectory() as tmp:
        target.run(path.read_bytes(), Path(tmp))
    print("ok")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per input")
    parser.add_argument("--memory", type=int, default=2048, help="MiB of address space")
    parser.add_argument("--out", default="/tmp/gplscan-fuzz")
    parser.add_argument("--target", action="append", help="only these targets")
    parser.add_argument("--replay", type=Path, help="run one saved input (with --target)")
    args = parser.parse_args()
    if args.replay is not None:
        return _replay(args.replay, args.target[0])
    seconds = args.minutes * 60
    jobs = [
        (n, seconds, args.budget, args.memory, args.out, args.target) for n in range(args.workers)
    ]
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results = pool.map(_worker, jobs)
    elapsed = time.monotonic() - started
    total: dict[str, Counter[str]] = {}
    for r in results:
        for name, c in r["counts"].items():  # type: ignore[attr-defined]
            total.setdefault(name, Counter()).update(c)
    width = max(map(len, total), default=6)
    print(f"{'target':<{width}}  {'inputs':>10}  " + "  ".join(f"{o:>11}" for o in OUTCOMES))
    grand: Counter[str] = Counter()
    for name in sorted(total):
        c = total[name]
        grand.update(c)
        row = "  ".join(f"{c[o]:>11,}" for o in OUTCOMES)
        print(f"{name:<{width}}  {sum(c.values()):>10,}  {row}")
    n = sum(grand.values())
    print(f"{'all':<{width}}  {n:>10,}  " + "  ".join(f"{grand[o]:>11,}" for o in OUTCOMES))
    print(
        f"{elapsed:,.0f} s with {args.workers} worker(s): {n / elapsed:,.0f} inputs/s; "
        f"budget {args.budget} s and {args.memory} MiB of address space per input; "
        "peak resident memory per worker: "
        + ", ".join(f"{r['peak_kib'] / 1024:,.0f} MiB" for r in results)  # type: ignore[operator]
    )
    bad = n - grand["ok"]
    if bad:
        print(f"{bad} input(s) failed; saved in {args.out}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
