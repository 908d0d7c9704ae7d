"""The ``when:`` vocabulary: rules that share a shape, written as data.

A rule that fires on components of a binary (or on a module, for the components it holds)
says when in a few typed words instead of naming a predicate::

    when:
      each: component            # one finding per component of a binary that passes
      component:                 # conditions on the component (all must hold)
        origin: closed
      binary:                    # conditions on the binary that holds it
        holds_gpl_code: true
      describe: [ties, gpl_code] # what the message describes, beyond the component
      at: link                   # where the finding points: link (default) or source

    when:
      each: module               # one finding per kernel module that passes
      binary: {declared_kernel_accepted: true}
      holding:                   # it fires when the module holds components of a group;
        - name: closed           #   {what} names them, group by group (fragment "what")
          origin: closed

The conditions (:data:`COMPONENT_CONDITIONS`, :data:`BINARY_CONDITIONS`) and what each
word provides to the message are documented where they are defined and in docs/rules.md.
A finding's evidence is the component's (how it is linked; for a closed one why it is
taken as closed, else its license evidence), then that of each thing described, in order.
Loading checks a ``when:`` with :func:`check`, which names the offending word.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gplscan.model import Origin, Rule
from gplscan.rules.fragments import FragmentSpec

SELECT = "select"  # the predicate name a vocabulary rule is loaded under
BOOL = ("true", "false")


@dataclass(frozen=True, slots=True)
class Condition:
    """One word of the vocabulary: its values (``true``/``false`` for a yes-or-no
    question) and what it asks."""

    values: tuple[str, ...]
    doc: str


COMPONENT_CONDITIONS: dict[str, Condition] = {
    "origin": Condition(
        tuple(o.value for o in Origin),
        "where its code comes from: source in the tree, closed (no source accounts for it)"
        " or unknown",
    ),
    "licensed": Condition(BOOL, "it has a license (an SPDX tag or license text)"),
    "requires_gpl": Condition(BOOL, "its license is the GPL in every alternative it offers"),
    "conflicts_with_gpl": Condition(
        ("every-version", "binary-versions"),
        "its license cannot meet the GPL: any version of it, or the versions of the GPL "
        "code the binary holds (GPL-2.0-only adds Apache-2.0 and the like)",
    ),
    "denied_by_policy": Condition(
        ("true",), "the project's [licenses] policy denies (or does not allow) its license"
    ),
}
BINARY_CONDITIONS: dict[str, Condition] = {
    "holds_gpl_code": Condition(BOOL, "it holds source under the GPL or declares the GPL"),
    "declared_kernel_accepted": Condition(
        BOOL, "its MODULE_LICENSE is one the kernel takes as GPL-compatible"
    ),
}
DESCRIBE = {
    "ties": "the symbols between the component and the rest of the binary",
    "gpl_code": "the GPL code the binary holds",
}
KEYS = {
    "component": {"each", "component", "binary", "describe", "at"},
    "module": {"each", "binary", "holding"},
}
AT = ("link", "source")
COMPONENT_FIELDS = frozenset({"object", "license", "source"})


@dataclass(frozen=True, slots=True)
class Selection:
    """A ``when:`` as loaded: what to select and the conditions it must meet."""

    each: str
    component: Mapping[str, str]
    binary: Mapping[str, str]
    holding: tuple[tuple[str, Mapping[str, str]], ...] = ()
    describe: tuple[str, ...] = ()
    at: str = "link"

    def summary(self) -> str:
        """The selection in one line, for the rule reference (markdown)."""
        out = f"each {self.each}"
        if self.component:
            out += " where " + _conditions(self.component)
        for name, test in self.holding:
            out += f"; holding `{name}`: " + _conditions(test)
        if self.binary:
            out += "; binary: " + _conditions(self.binary)
        if self.describe:
            out += "; describes " + ", ".join(f"`{w}`" for w in self.describe)
        return out + ("; at its source" if self.at == "source" else "")


def is_vocabulary(when: Mapping[str, object]) -> bool:
    """Whether a rule's ``when:`` is written in the vocabulary (not a predicate's name)."""
    return "each" in when


def check(when: Mapping[str, object]) -> str | None:
    """Why ``when`` is not a valid selection (the offending word quoted), or None."""
    each = when.get("each")
    if not isinstance(each, str) or each not in KEYS:
        return f"'each' must be one of {', '.join(KEYS)}, not {each!r}"
    for key in when:
        if key not in KEYS[str(each)]:
            return (
                f"unknown key {key!r} in when (each {each}: {', '.join(sorted(KEYS[str(each)]))})"
            )
    problem = _check_conditions(when.get("component"), COMPONENT_CONDITIONS, "component")
    problem = problem or _check_conditions(when.get("binary"), BINARY_CONDITIONS, "binary")
    if problem is not None:
        return problem
    for word in _items(when.get("describe", ())):
        if word not in DESCRIBE:
            return f"'describe': {word!r} is not one of {', '.join(DESCRIBE)}"
    if when.get("at", "link") not in AT:
        return f"'at' must be one of {', '.join(AT)}"
    if each == "module":
        groups = _items(when.get("holding", ()))
        if not groups:
            return "'holding' must list at least one group (name: and its conditions)"
        for group in groups:
            fields = dict(_mapping(group))
            if not isinstance(fields.pop("name", None), str):
                return "each group of 'holding' needs a name"
            problem = _check_conditions(fields, COMPONENT_CONDITIONS, "holding")
            if problem is not None:
                return problem
    return None


def _check_conditions(given: object, known: Mapping[str, Condition], where: str) -> str | None:
    if given is not None and not isinstance(given, Mapping):
        return f"{where!r} must be a mapping of conditions"
    for name, value in _mapping(given).items():
        if name not in known:
            return f"unknown condition {name!r} in {where} (known: {', '.join(known)})"
        shown = _word(value)
        if shown not in known[name].values:
            return f"condition {name!r}: {shown!r} is not one of {', '.join(known[name].values)}"
    return None


def selection(when: Mapping[str, object]) -> Selection:
    """The selection a checked ``when:`` (as loaded, or frozen into a rule's params) says."""
    groups = []
    for group in _items(when.get("holding", ())):
        fields = dict(_mapping(group))
        name = str(fields.pop("name"))
        groups.append((name, _test(fields, COMPONENT_CONDITIONS)))
    return Selection(
        each=str(when["each"]),
        component=_test(_mapping(when.get("component")), COMPONENT_CONDITIONS),
        binary=_test(_mapping(when.get("binary")), BINARY_CONDITIONS),
        holding=tuple(groups),
        describe=tuple(str(w) for w in _items(when.get("describe", ()))),
        at=str(when.get("at", "link")),
    )


def _test(given: Mapping[str, object], words: Mapping[str, Condition]) -> dict[str, str]:
    """Conditions as words, in the vocabulary's order (a frozen rule has them sorted)."""
    return {name: _word(given[name]) for name in words if name in given}


def provides(sel: Selection) -> frozenset[str]:
    """The fields a message of this selection may use (besides ``binary``)."""
    if sel.each == "module":
        return frozenset({"declared", "what"})
    denied = {"denied"} if "denied_by_policy" in sel.component else set()
    return COMPONENT_FIELDS | denied | set(sel.describe)


def fragments(sel: Selection) -> FragmentSpec:
    """The fragments (their cases and placeholders) this selection words through."""
    if sel.each == "module":
        names = [name for name, _ in sel.holding]
        return {
            "what": {case: frozenset({"objects"}) for n in names for case in (n, f"{n}_many")},
            "objects": dict.fromkeys(names, COMPONENT_FIELDS),
        }
    spec: dict[str, Mapping[str, frozenset[str]]] = {}
    if "ties" in sel.describe:
        spec["ties"] = {"none": frozenset(), "some": frozenset({"calls"})}
        spec["calls"] = {"into": frozenset({"symbols"}), "back": frozenset({"symbols"})}
        spec["more"] = {"some": frozenset({"count"})}
    if "denied_by_policy" in sel.component:
        spec["denied"] = {"denied": frozenset({"licenses"}), "not_allowed": frozenset({"licenses"})}
    if "gpl_code" in sel.describe:
        spec["gpl_code"] = {
            "license": frozenset({"license", "files"}),
            "license_more": frozenset({"license", "files", "more"}),
            "declared": frozenset({"declared"}),
        }
    return spec


def _conditions(test: Mapping[str, str]) -> str:
    return ", ".join(f"`{k}: {v}`" for k, v in test.items())


def _word(value: object) -> str:
    """A YAML scalar as the vocabulary spells it (``true`` for True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mapping(value: object) -> Mapping[str, object]:
    """A mapping as loaded, or as frozen into a rule's params (sorted pairs)."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, tuple):
        return dict(value)
    return {}


def _items(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def when_text(rule: Rule) -> str:
    """A rule's ``when:`` in one line of the rule reference (markdown)."""
    if rule.predicate == SELECT:
        return selection(dict(rule.params)).summary()
    out = f"bespoke predicate `{rule.predicate}`"
    if rule.params:
        out += " with " + ", ".join(f"`{k}` = `{v}`" for k, v in rule.params)
    return out + (f" ({rule.bespoke})" if rule.bespoke else "")


def reference() -> str:
    """The vocabulary's words and what each asks, for the rule reference (markdown)."""
    out = [
        "## The `when:` vocabulary\n\n",
        "`each: component` makes one finding per component of a binary that meets the "
        "`component:` and `binary:` conditions; `each: module` one per kernel module that "
        "meets the `binary:` conditions and holds components of a `holding:` group. "
        "`describe:` adds a field and its evidence to the finding; `at: source` points it "
        "at the component's source instead of where it is linked. Rules of another shape "
        "name a bespoke predicate and say why (`bespoke:`).\n\n",
        "| where | word | values | asks |\n|---|---|---|---|\n",
    ]
    for where_, words in (("component", COMPONENT_CONDITIONS), ("binary", BINARY_CONDITIONS)):
        out.extend(
            f"| {where_} | `{name}` | {' / '.join(c.values)} | {c.doc} |\n"
            for name, c in words.items()
        )
    out.extend(f"| describe | `{name}` | | {doc} |\n" for name, doc in DESCRIBE.items())
    return "".join(out)


def fragment_text(cases: Iterable[tuple[str, str]]) -> str:
    """A fragment's cases in one line of the rule reference (markdown)."""
    return "; ".join(f"{case}: `{text!r}`" for case, text in cases)
