"""Write and check ``rules/notices.yml``: the notices gplscan knows without scancode's index.

    .venv/bin/python -m bench.notice_table [--write] [--min-files 2]

On Debian's linux-source-6.1 tree (fetched once by bench.debian_archive), every file with no
``SPDX-License-Identifier`` goes through scancode's detection (gplscan's fast path, the
notice table off). Then:

- with ``--write``: the scancode rules that matched whole (score 100) in at least
  ``--min-files`` of those files, and that are license notices or texts (not references,
  tags, intros or clues) with a known license, become the table, each with its SPDX
  expression and the sha256 of its text as the installed scancode has it;
- always: every file whose regions the table explains entirely is compared with scancode's
  detection of it (the same expression, after SPDX normalization), and the figures are
  printed: files answered without the index, agreement, every disagreement. A rule that
  takes part in a disagreement is left out of a table being written, and the check repeats.
"""

from __future__ import annotations

import argparse
import collections
import pickle
import sys
import time
from pathlib import Path

import yaml

from bench.debian_archive import linux_source_tree
from bench.license_agreement import same, untagged_files
from gplscan.facts import notices
from gplscan.facts.license_regions import license_regions
from gplscan.facts.licenses import Detector, LicenseDetection, known_notices
from gplscan.facts.scancode_adapter import spdx_expression
from gplscan.resources import rules_dir

TABLE = rules_dir() / "notices.yml"
MIN_WORDS = 12
HEADER = """\
# Known license notices: scancode rules whose whole text the untagged files of Linux 6.1
# match, recognized by gplscan without loading scancode's index (gplscan/facts/notices.py).
# Written by `python -m bench.notice_table --write`, which checks every entry against
# scancode's own detection on every untagged file of the tree. `sha256` is the rule text as
# scancode-toolkit {version} has it; an entry whose installed text differs is not used.
"""


def detect_all(tree: Path, files: list[str]) -> dict[str, LicenseDetection]:
    detector = Detector(notices=False)
    out: dict[str, LicenseDetection] = {}
    for rel in files:
        path = tree / rel
        regions = license_regions(path.read_bytes())
        if regions:
            out[rel] = detector.detect_text(regions, name=path.name)
    return out


def candidates(found: dict[str, LicenseDetection], min_files: int) -> list[dict[str, str]]:
    rules_path = notices.scancode_rules_dir()
    if rules_path is None:
        raise SystemExit("scancode-toolkit's rule data is not installed")
    counts: collections.Counter[str] = collections.Counter()
    for detection in found.values():
        counts.update({m.rule for m in detection.matches if m.score == 100.0})
    entries: list[dict[str, str]] = []
    for rule, count in sorted(counts.items()):
        if count < min_files or not rule.endswith((".RULE", ".LICENSE")):
            continue
        path = notices.rule_path(rules_path, rule)
        raw = path.read_text(encoding="utf-8")
        front = yaml.safe_load(raw.split("---", 2)[1]) if raw.startswith("---") else {}
        front = front or {}
        kind_ok = (
            rule.endswith(".LICENSE")
            or front.get("is_license_notice")
            or front.get("is_license_text")
        )
        key = "key" if rule.endswith(".LICENSE") else "license_expression"
        front_expression = front.get(key)
        if not kind_ok or not front_expression or "unknown" in str(front_expression):
            continue
        if front.get("is_false_positive") or front.get("is_license_clue"):
            continue
        text = notices.rule_text(path)
        if len(notices.words_of(text)) < MIN_WORDS:
            continue
        entries.append(
            {
                "rule": rule,
                "expression": spdx_expression(str(front_expression)),
                "sha256": notices.text_digest(text),
                "files": str(count),
            }
        )
    return entries


def check(
    tree: Path, found: dict[str, LicenseDetection], table: notices.NoticeTable
) -> tuple[int, int, list[tuple[str, str | None, str | None, set[str]]]]:
    """(files answered by the table, of them agreeing, disagreements)."""
    answered = agreed = 0
    wrong: list[tuple[str, str | None, str | None, set[str]]] = []
    for rel, reference in found.items():
        known = known_notices(license_regions((tree / rel).read_bytes()), table)
        if known is None:
            continue
        answered += 1
        if same(known.expression, reference.expression):
            agreed += 1
        else:
            wrong.append(
                (rel, known.expression, reference.expression, {m.rule for m in known.matches})
            )
    return answered, agreed, wrong


def build_table(entries: list[dict[str, str]]) -> notices.NoticeTable:
    path = Path("/tmp/gplscan-notices-check.yml")
    path.write_text(yaml.safe_dump({"notices": entries}, sort_keys=False))
    notices.load_table.cache_clear()
    return notices.load_table(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--min-files", type=int, default=2)
    parser.add_argument("--save", type=Path, help="keep scancode's detections in this file")
    parser.add_argument("--load", type=Path, help="use the detections --save kept")
    args = parser.parse_args(argv)

    tree = linux_source_tree("6.1")
    files = untagged_files(tree)
    start = time.perf_counter()
    found = detect_all(tree, files) if args.load is None else pickle.loads(args.load.read_bytes())
    if args.save is not None:
        args.save.write_bytes(pickle.dumps(found))
    print(
        f"{len(files)} untagged files, {len(found)} with license words: scancode detection "
        f"{time.perf_counter() - start:.1f} s"
    )

    if args.write:
        entries = candidates(found, args.min_files)
        while True:
            table = build_table(entries)
            answered, agreed, wrong = check(tree, found, table)
            bad = set().union(*(rules for *_, rules in wrong)) if wrong else set()
            if not bad:
                break
            print(f"left out after a disagreement: {', '.join(sorted(bad))}")
            entries = [e for e in entries if e["rule"] not in bad]
        from importlib.metadata import version

        TABLE.write_text(
            HEADER.format(version=version("scancode-toolkit"))
            + yaml.safe_dump({"notices": entries}, sort_keys=False, width=100)
        )
        print(f"wrote {TABLE}: {len(entries)} notices")
    notices.load_table.cache_clear()
    table = notices.load_table()
    answered, agreed, wrong = check(tree, found, table)
    print(f"table: {table.size} notices ({len(table.dropped)} dropped: text not as vetted)")
    print(
        f"files the table answers without scancode's index: {answered} of {len(found)} "
        f"with license words ({answered / max(len(found), 1):.1%})"
    )
    print(f"agreement with scancode on them: {agreed}/{answered}")
    for rel, got, ref, rules in wrong:
        print(f"  DIFFERENT {rel}: table {got} ({', '.join(sorted(rules))}), scancode {ref}")
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
