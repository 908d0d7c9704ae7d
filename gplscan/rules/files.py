"""Bespoke predicates about the files of the tree: objects whose named source does not
define what they do, SPDX tags that do not parse, and what could not be established (the
gaps, judged once for the whole target). Each judges a shape of its own, so each is a
function rather than words of the ``when:`` vocabulary; the rule files say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from gplscan.model import Binary, Component, Evidence, EvidenceKind, Location
from gplscan.rules.context import Context, Match, few4, where
from gplscan.rules.fragments import Said, Text, Value


def object_source_mismatch(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """An object that names a source of the tree but does not define what that source does."""
    for c in binary.components:
        if not c.defined or not c.expected or c.defined & c.expected or _renamed(c):
            continue
        source: Value = str(c.named_source) if c.named_source else Text("source", "unknown")
        yield Match(
            location=where(c.linked_by),
            object=str(c.path),
            symbol=None,
            evidence=(
                c.linked_by,
                Said(
                    EvidenceKind.SYMBOL,
                    Text(
                        "evidence", "defines", {"file": source, "symbols": few4(sorted(c.expected))}
                    ),
                    c.sources[0] if c.sources else None,
                ),
                Said(
                    EvidenceKind.SYMBOL,
                    Text(
                        "evidence",
                        "defines",
                        {"file": str(c.file or c.path), "symbols": few4(sorted(c.defined))},
                    ),
                    c.file,
                ),
            ),
            fields={"object": str(c.path), "source": source},
        )


def _renamed(c: Component) -> bool:
    """A prefix a macro adds to every name (openafs' heimdal: MD5_Init is hc_MD5_Init)."""
    return any(d.endswith("_" + e) for d in c.defined for e in c.expected)


def malformed_license_tag(
    ctx: Context, binary: Binary, params: Mapping[str, object]
) -> Iterable[Match]:
    """A source compiled into the binary carries an SPDX tag that does not parse."""
    for c in binary.components:
        if c.tag_error and c.sources:
            line = _first_int(c.tag_error)
            yield Match(
                location=Location(c.sources[0], line),
                object=str(c.path),
                symbol=None,
                evidence=(
                    Evidence(EvidenceKind.SPDX, c.tag_error, c.sources[0], line),
                    c.linked_by,
                ),
                fields={"source": str(c.sources[0]), "error": c.tag_error},
            )


def _first_int(text: str) -> int | None:
    m = re.search(r"line (\d+)", text)
    return int(m.group(1)) if m else None


def not_judged(ctx: Context, params: Mapping[str, object]) -> Iterable[tuple[Binary | None, Match]]:
    """Every gap: something that decides the verdict and could not be established."""
    for gap in ctx.gaps:
        binary = ctx.binaries.get(str(gap.binary)) if gap.binary is not None else None
        yield (
            binary,
            Match(
                location=gap.at,
                object=str(gap.at.path),
                symbol=None,
                evidence=gap.evidence
                or (Evidence(EvidenceKind.SCAN, gap.reason, gap.at.path, gap.at.line),),
                fields={"subject": gap.subject, "reason": gap.reason},
                # identity by subject and file, not line or wording: an edit elsewhere in
                # the file or a reason worded differently is not a new finding
                content=gap.subject,
            ),
        )
