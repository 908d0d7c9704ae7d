"""Issue 13's cache equivalence on real trees: a cached audit equals an uncached one.

    .venv/bin/python -m bench.cache_equivalence [TREE ...]

For each tree (default: a few built DKMS trees of the census under
``$GPLSCAN_CENSUS_DIR/build/6.1/dkms``, and the Linux 6.1 tree when
``--linux`` is given), on a private copy: audit once with an empty cache (the cold run
must equal an uncached one), then for each change of ``tests/test_cache_equivalence``'s
list (nothing, touch, content changed, rename, delete, duplicate at another path, mode
changed) change the copy, audit with the cache and without, and compare the JSON reports
byte for byte (the provenance block, which records the run, is left out). Prints one row
per tree and change, and the number of differences; exit 1 when any.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gplscan.report import json as json_report
from gplscan.scan import Options, run
from tests.test_cache_equivalence import MUTATIONS

CENSUS = Path(os.environ.get("GPLSCAN_CENSUS_DIR", "/work/census"))
DEFAULT = ("broadcom-sta", "dahdi", "xtables-addons", "v4l2loopback", "nvidia-fs")
LINUX = Path.home() / ".cache/gplscan-bench/trees/linux-source-6.1"


def _report(tree: Path, cache: Path | None) -> str:
    result = run(tree, Options(cache_dir=cache))
    data: dict[str, Any] = json_report.as_dict(result)
    data.pop("provenance", None)
    return json.dumps(data, sort_keys=True)


def _trees(names: list[str], linux: bool) -> list[Path]:
    if names:
        return [Path(n) for n in names]
    base = CENSUS / "build" / "6.1" / "dkms"
    found = []
    for name in DEFAULT:
        versions = sorted((base / name).glob("*/build")) if (base / name).is_dir() else []
        found.extend(versions[-1:])
    if linux and LINUX.is_dir():
        found.append(LINUX)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*")
    parser.add_argument("--linux", action="store_true", help="also the Linux 6.1 tree (slow)")
    args = parser.parse_args()
    differences = 0
    rows = 0
    for tree in _trees(args.trees, args.linux):
        with tempfile.TemporaryDirectory(prefix="gplscan-cache-eq-") as tmp:
            copy = Path(tmp) / "tree"
            shutil.copytree(tree, copy, symlinks=True)
            for name, change in MUTATIONS.items():
                cache = Path(tmp) / f"cache-{len(name)}-{rows}"
                start = time.perf_counter()
                cold = _report(copy, cache)
                same_cold = cold == _report(copy, None)
                try:
                    change(copy)
                except (StopIteration, OSError) as exc:
                    print(f"{tree.name:<24} {name:<34} change not applicable: {exc!r}")
                    continue
                warm = _report(copy, cache)
                same = warm == _report(copy, None) and same_cold
                differences += 0 if same else 1
                rows += 1
                print(
                    f"{tree.name:<24} {name:<34} {'same' if same else 'DIFFERENT'}"
                    f"  {time.perf_counter() - start:6.1f} s"
                )
    print(f"{rows} comparisons, {differences} difference(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
