"""What each predicate accepts and provides: its params (with their types and allowed
values) and the fields a rule's message may use. The rule loader checks every rule file
against these, so a typo (``categoreis:``, ``{licence}``) fails loading, with the file and
line, instead of a rule that never fires or a message that reads "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    fields: frozenset[str]
    params: dict[str, Param] = field(default_factory=dict)


def _sig(fields: str, **params: Param) -> Signature:
    return Signature(frozenset(fields.split()), dict(params))


SIGNATURES: dict[str, Signature] = {
    "links_closed_object": _sig("object gpl_code ties"),
    "links_incompatible_license": _sig("object license gpl_code"),
    "declared_compatible_but_holds_closed": _sig("declared what"),
    "license_string_trick": _sig("declared hidden"),
    "declared_license_category": _sig(
        "declared_text license",
        categories=Param(
            "list",
            frozenset({"proprietary", "incompatible", "unrecognized", "missing"}),
            required=True,
        ),
    ),
    "source_without_license": _sig("object source"),
    "closed_component": _sig("object"),
    "gpl_only_imports_in_non_gpl": _sig("symbol provider declared"),
    "gpl_module_imports_proprietary": _sig("provider symbols provider_license"),
    "gpl_symbol_reexport": _sig(
        "export calls consumers", without_consumer=Param("choice", SEVERITIES)
    ),
    "object_source_mismatch": _sig("object source"),
    "malformed_license_tag": _sig("source error"),
    "license_policy": _sig("object license denied"),
    "not_judged": _sig("subject reason"),
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


def check_placeholders(predicate: str, template: str) -> str | None:
    """Why ``template`` uses a field the predicate does not provide, or None."""
    import string

    provided = SIGNATURES[predicate].fields | COMMON_FIELDS
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"the message is not a valid template: {exc}"
    for name in names:
        base = name.split(".", 1)[0].split("[", 1)[0]
        if base not in provided:
            return (
                f"the message uses {{{name}}}, which {predicate} does not provide "
                f"(it provides: {', '.join(sorted(provided))})"
            )
    return None
