"""The ``when:`` vocabulary at work: the findings of a :class:`~.vocabulary.Selection`.

``each: component`` yields one match per component of a binary that meets the conditions;
``each: module`` one per module holding components of a group. Conditions that need nothing
but the component are tried first, the binary's next (its GPL code is described only for a
binary with candidates), then those that depend on the binary or the project's policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import PurePosixPath

from gplscan.model import Binary, Component, Evidence, Location, Origin
from gplscan.rules.context import (
    Context,
    Match,
    Predicate,
    closed_evidence,
    declared_location,
    gpl_code,
    ties,
    where,
)
from gplscan.rules.fragments import Text, Value
from gplscan.rules.vocabulary import Selection, selection


def predicate(when: Mapping[str, object]) -> Predicate:
    """The predicate a rule's (frozen) ``when:`` stands for."""
    sel = selection(when)
    return partial(_each_module if sel.each == "module" else _each_component, sel)


def _each_component(sel: Selection, ctx: Context, binary: Binary, _: object) -> Iterator[Match]:
    chosen = [c for c in binary.components if _holds(sel.component, ctx, c)]
    if not chosen or not _binary_holds(sel.binary, ctx, binary):
        return
    gpl: tuple[tuple[Text, ...], tuple[Evidence, ...]] = ((), ())
    if "gpl_code" in sel.describe or "holds_gpl_code" in sel.binary:
        gpl = gpl_code(ctx, binary)
        if "holds_gpl_code" in sel.binary and bool(gpl[0]) != (
            sel.binary["holds_gpl_code"] == "true"
        ):
            return
    wants_versions = sel.component.get("conflicts_with_gpl") == "binary-versions"
    versions = _versions(ctx, binary) if wants_versions else frozenset()
    for c in chosen:
        denied: list[tuple[str, tuple[str, ...]]] = []
        if not _against(sel.component, ctx, c, versions, denied):
            continue
        fields, evidence = _values(c), [*_component_evidence(c)]
        if denied:  # fragment "denied": per breach, the ids it names
            fields["denied"] = tuple(
                Text("denied", kind, {"licenses": ", ".join(ids)}) for kind, ids in denied
            )
        for word in sel.describe:
            value, more = ties(ctx, binary, c) if word == "ties" else gpl
            fields[word] = value
            evidence.extend(more)
        source = PurePosixPath(str(fields["source"]))
        yield Match(
            location=Location(source) if sel.at == "source" else where(c.linked_by),
            object=str(c.path),
            symbol=None,
            evidence=tuple(evidence),
            fields=fields,
            content=c.sha256 if c.origin is Origin.CLOSED else None,
        )


def _each_module(sel: Selection, ctx: Context, binary: Binary, _: object) -> Iterator[Match]:
    if not _binary_holds(sel.binary, ctx, binary):
        return
    wants_versions = any(t.get("conflicts_with_gpl") == "binary-versions" for _, t in sel.holding)
    versions = _versions(ctx, binary) if wants_versions else frozenset()
    found = []
    for name, test in sel.holding:
        held = [
            c
            for c in binary.components
            if _holds(test, ctx, c) and _against(test, ctx, c, versions, [])
        ]
        if held:
            found.append((name, held))
    if not found:
        return
    what = tuple(
        Text(
            "what",
            name if len(held) == 1 else f"{name}_many",
            {"objects": tuple(Text("objects", name, _values(c)) for c in held)},
        )
        for name, held in found
    )
    first = found[0][1][0]
    declared = binary.declared
    fields: dict[str, Value] = {"what": what}
    if declared is not None:
        fields["declared"] = declared.text
    yield Match(
        location=declared_location(binary),
        object=str(first.path),
        content=first.sha256 if first.origin is Origin.CLOSED else None,
        symbol=None,
        evidence=(
            *(declared.evidence if declared is not None else ()),
            *(c.linked_by for _, held in found for c in held),
        ),
        fields=fields,
    )


def _holds(test: Mapping[str, str], ctx: Context, c: Component) -> bool:
    """The conditions on a component that need nothing of its binary."""
    if "origin" in test and c.origin.value != test["origin"]:
        return False
    if "licensed" in test and bool(c.license) != (test["licensed"] == "true"):
        return False
    want = test.get("requires_gpl")
    return want is None or ctx.licenses.requires_gpl(c.license) == (want == "true")


def _against(
    test: Mapping[str, str],
    ctx: Context,
    c: Component,
    versions: frozenset[str],
    denied: list[tuple[str, tuple[str, ...]]],
) -> bool:
    """The conditions on a component that depend on its binary or the project (``denied``
    receives what the policy denies)."""
    conflict = test.get("conflicts_with_gpl")
    if conflict is not None:
        against = versions if conflict == "binary-versions" else frozenset()
        if not ctx.licenses.conflicts_with_gpl(c.license, against):
            return False
    if "denied_by_policy" in test:
        if ctx.allow is None and not ctx.deny:
            return False
        denied.extend(ctx.licenses.policy_violations(c.license, ctx.allow, ctx.deny))
        return bool(denied)
    return True


def _binary_holds(test: Mapping[str, str], ctx: Context, binary: Binary) -> bool:
    want = test.get("declared_kernel_accepted")
    return want is None or ctx.accepted(binary) == (want == "true")


def _versions(ctx: Context, binary: Binary) -> frozenset[str]:
    return frozenset(v for c in binary.components for v in ctx.licenses.gpl_ids(c.license))


def _values(c: Component) -> dict[str, Value]:
    values: dict[str, Value] = {
        "object": str(c.path),
        "source": str(c.sources[0]) if c.sources else str(c.path),
    }
    if c.license:
        values["license"] = c.license
    return values


def _component_evidence(c: Component) -> list[Evidence]:
    if c.origin is Origin.SOURCE:
        return [c.linked_by, *c.license_evidence]
    return closed_evidence(c)
