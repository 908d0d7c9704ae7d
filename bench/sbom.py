"""SBOMs of real targets: written with the command line, validated four ways, timed.

    .venv/bin/python -m bench.sbom TARGET [--kernel DIR] [TARGET ...]

For each target: ``gplscan audit TARGET --format json``, ``--format spdx`` and ``--format
cyclonedx`` (wall time of each, from a warm fact cache: the difference to JSON is the
SBOM's own cost); then the SPDX document through spdx-tools' validator (parsed back from
the file) and the SPDX 2.3 JSON schema, the CycloneDX one through cyclonedx-python-lib's
strict validator and the CycloneDX 1.6 JSON schema (those in tests/data). Prints one row
per document: elements, relationships/dependencies, errors of each check and their times;
exit 1 when any check finds an error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.test_sbom import (
    _cyclonedx_errors,
    _cyclonedx_schema_errors,
    _spdx_errors,
    _spdx_schema_errors,
)


def _audit(target: Path, fmt: str, out: Path, kernel: Path | None) -> float:
    command = [sys.executable, "-m", "gplscan", "audit", str(target), "--format", fmt]
    command += ["-o", str(out), "-q"] + (["--kernel", str(kernel)] if kernel else [])
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)}: exit {proc.returncode}\n{proc.stderr}")
    return elapsed


def _timed(check, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    errors = check(*args)
    return len(errors), time.perf_counter() - started, errors[:3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", type=Path)
    parser.add_argument("--kernel", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1700000000")
    failed = False
    with tempfile.TemporaryDirectory(prefix="gplscan-sbom-") as tmp:
        work = Path(tmp)
        for target in args.targets:
            times = {
                fmt: _audit(target, fmt, work / f"out.{fmt}.json", args.kernel)
                for fmt in ("json", "json", "spdx", "cyclonedx")  # the first warms the cache
            }
            spdx_text = (work / "out.spdx.json").read_text(encoding="utf-8")
            cdx_text = (work / "out.cyclonedx.json").read_text(encoding="utf-8")
            doc, bom = json.loads(spdx_text), json.loads(cdx_text)
            print(f"{target.name}: audit --format json {times['json']:.1f} s")
            rows = [
                (
                    "spdx",
                    times["spdx"],
                    f"{len(doc['packages'])} packages, {len(doc['relationships'])} relationships",
                    _timed(_spdx_errors, spdx_text, work),
                    _timed(_spdx_schema_errors, doc),
                ),
                (
                    "cyclonedx",
                    times["cyclonedx"],
                    f"{_count(bom['components'])} components, "
                    f"{sum(len(d.get('dependsOn', [])) for d in bom['dependencies'])} dependencies",
                    _timed(_cyclonedx_errors, cdx_text),
                    _timed(_cyclonedx_schema_errors, bom),
                ),
            ]
            for fmt, wall, size, (lib_n, lib_s, lib_e), (sch_n, sch_s, sch_e) in rows:
                print(
                    f"  {fmt:<9} audit {wall:6.1f} s  {size}; library validator: {lib_n} "
                    f"errors in {lib_s:.1f} s; JSON schema: {sch_n} errors in {sch_s:.1f} s"
                )
                for e in (*lib_e, *sch_e):
                    print(f"    {str(e)[:300]}")
                failed |= bool(lib_n or sch_n)
    return 1 if failed else 0


def _count(components: list[dict[str, object]]) -> int:
    return sum(1 + _count(c.get("components", [])) for c in components)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
