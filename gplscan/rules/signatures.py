"""What each bespoke predicate accepts and provides: its params (with their types and
allowed values), the fields a rule's message may use and the fragments it words through
(:mod:`gplscan.rules.fragments`). :func:`check_rule` checks a rule file against these, or
against the ``when:`` vocabulary's own (:mod:`gplscan.rules.vocabulary`), so a typo
(``categoreis:``, ``{licence}``, ``orign:``, a fragment case) fails loading, with the file
and line, instead of a rule that never fires or a message that reads "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gplscan.rules.fragments import FragmentSpec

# every match has these, whatever the predicate
COMMON_FIELDS = frozenset({"binary"})
SEVERITIES = frozenset({"error", "warning", "info"})


@dataclass(frozen=True, slots=True)
class Param:
    """One param: ``kind`` is "list" (of strings from ``choices``) or "choice" (one of
    ``choices``)."""

    kind: str
    choices: frozenset[str]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Signature:
    """What a bespoke predicate takes (``params``), provides to the message (``fields``)
    and words through the rule file's fragments (``fragments``: name -> case ->
    placeholders; see :mod:`gplscan.rules.fragments`)."""

    fields: frozenset[str]
    params: dict[str, Param] = field(default_factory=dict)
    fragments: FragmentSpec = field(default_factory=dict)


def _sig(fields: str, fragments: FragmentSpec | None = None, **params: Param) -> Signature:
    return Signature(frozenset(fields.split()), dict(params), fragments or {})


def _cases(**cases: str) -> dict[str, frozenset[str]]:
    return {case: frozenset(placeholders.split()) for case, placeholders in cases.items()}


MORE = _cases(some="count")  # after the first names of a list (gplscan.rules.fragments.Few)

SIGNATURES: dict[str, Signature] = {
    "license_string_trick": _sig(
        "declared hidden", {"hidden": _cases(after_nul="text", after_name="name text")}
    ),
    "declared_license_category": _sig(
        "declared_text license",
        {
            "declared_text": _cases(missing="", declared="declared"),
            "license": _cases(none="", unknown=""),
        },
        categories=Param(
            "list",
            frozenset({"proprietary", "incompatible", "unrecognized", "missing"}),
            required=True,
        ),
    ),
    "gpl_only_imports_in_non_gpl": _sig(
        "symbol provider declared", {"declared": _cases(license="string", none="")}
    ),
    "gpl_module_imports_proprietary": _sig(
        "provider symbols provider_license",
        {
            "provider_license": _cases(none=""),
            "evidence": _cases(exported="symbol provider"),
            "more": MORE,
        },
    ),
    "gpl_symbol_reexport": _sig(
        "export calls consumers",
        {
            "consumers": _cases(proprietary="modules", others="count modules", none=""),
            "evidence": _cases(
                wraps="export module calls",
                may_wrap="export module calls",
                imported="module export",
            ),
            "more": MORE,
        },
        without_consumer=Param("choice", SEVERITIES),
    ),
    "object_source_mismatch": _sig(
        "object source",
        {
            "source": _cases(unknown=""),
            "evidence": _cases(defines="file symbols"),
            "more": MORE,
        },
    ),
    "malformed_license_tag": _sig("source error"),
    # about the whole target: {binary}, when a message uses it, is the fragment binary's none
    "not_judged": _sig("subject reason", {"binary": _cases(none="")}),
}


def check_params(predicate: str, params: object) -> str | None:
    """Why ``params`` does not fit ``predicate``'s signature, or None."""
    signature = SIGNATURES[predicate]
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return "params must be a mapping"
    for name in params:
        if name not in signature.params:
            known = ", ".join(sorted(signature.params)) or "none"
            return f"unknown param {name!r} for {predicate} (its params: {known})"
    for name, spec in signature.params.items():
        if name not in params:
            if spec.required:
                return f"missing param {name!r} for {predicate}"
            continue
        value = params[name]
        values = value if spec.kind == "list" else [value]
        if spec.kind == "list" and (not isinstance(value, list) or not value):
            return f"param {name!r} must be a non-empty list"
        for v in values:
            if not isinstance(v, str) or v not in spec.choices:
                return f"param {name!r}: {v!r} is not one of {', '.join(sorted(spec.choices))}"
    return None


def check_placeholders(
    provided: frozenset[str], template: str, who: str
) -> tuple[str | None, frozenset[str]]:
    """Why ``template`` uses a field ``who`` does not provide (or None), and the fields
    it uses."""
    import string

    provided = provided | COMMON_FIELDS
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"the message is not a valid template: {exc}", frozenset()
    for name in names:
        base = name.split(".", 1)[0].split("[", 1)[0]
        if base not in provided:
            return (
                f"the message uses {{{name}}}, which {who} does not provide "
                f"(it provides: {', '.join(sorted(provided))})"
            ), frozenset()
    return None, frozenset(n.split(".", 1)[0].split("[", 1)[0] for n in names)


def check_rule(doc: Mapping[str, Any]) -> str | None:
    """Why a rule document's ``when:``, ``message`` and ``fragments:`` do not fit together
    (the offending word quoted, for the line), or None."""
    from gplscan.rules import vocabulary
    from gplscan.rules.fragments import check_fragments

    when = doc["when"]
    if vocabulary.is_vocabulary(when):
        problem = vocabulary.check(when)
        if problem is not None:
            return problem
        if "bespoke" in doc:
            return "'bespoke' is for a rule whose when names a predicate"
        sel = vocabulary.selection(when)
        who, provided, spec = (
            f"each {sel.each}",
            vocabulary.provides(sel),
            vocabulary.fragments(sel),
        )
    else:
        who = when.get("predicate")
        if who not in SIGNATURES:
            known = ", ".join(sorted(SIGNATURES))
            return f"unknown predicate {who!r} (known: {known}; or write when: in the vocabulary)"
        if not doc.get("bespoke"):
            return f"'bespoke' missing: a rule naming a predicate ({who}) says why it is one"
        problem = check_params(who, when.get("params"))
        if problem is not None:
            return problem
        provided, spec = SIGNATURES[who].fields, SIGNATURES[who].fragments
    problem, used = check_placeholders(provided, doc["message"], who)
    return problem or check_fragments(spec, used, doc.get("fragments"), who)
