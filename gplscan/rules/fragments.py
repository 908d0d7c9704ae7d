"""Message fragments: the prose of a finding that depends on the case, worded in the rule file.

A predicate provides values only. Where the words depend on the case (ties or none, one
closed object or several, a declared license or none), it provides a :class:`Text`: which
case of which fragment, and the values to fill it with. The rule file's ``fragments:``
holds the words, one template per case (``str.format`` over the case's values)::

    fragments:
      ties:
        none: ""
        some: ": {calls}"
      calls:
        join: " and "        # how several parts of this fragment are joined (default ", ")
        into: "GPL code calls {symbols} in it"
        back: "it calls back {symbols}"

A value that is a tuple of :class:`Text` is each part rendered, joined by its fragment's
``join``; a :class:`Few` is a list of names, the first few shown, then the fragment
``more``. Evidence a predicate words itself is a :class:`Said`, from the fragment
``evidence``. Which fragments, cases and placeholders a predicate uses is part of its signature
(:mod:`gplscan.rules.signatures`): loading checks the rule file against it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from gplscan.model import Evidence, EvidenceKind

JOIN = "join"  # the key of a fragment that is no case: how several parts are joined

# a fragment name -> its cases -> the placeholders each case may use
FragmentSpec = Mapping[str, Mapping[str, frozenset[str]]]
# the fragments of one rule as loaded: name -> (case or "join") -> text
Fragments = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class Text:
    """Case ``case`` of the rule's fragment ``fragment``, filled with ``values``."""

    fragment: str
    case: str
    values: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Few:
    """Names: the first ``limit`` shown, then how many more, as the rule's fragment
    ``more`` (case ``some``, with ``{count}``) words it."""

    names: tuple[str, ...]
    limit: int = 4


Value = str | Text | Few | tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class Said:
    """A link of evidence a predicate words through its rule's fragment ``evidence``
    (made :class:`~gplscan.model.Evidence` with :meth:`worded` when the finding is)."""

    kind: EvidenceKind
    text: Text
    path: PurePosixPath | None = None

    def worded(self, fragments: Fragments) -> Evidence:
        return Evidence(self.kind, render(fragments, self.text), self.path)


# fragments a predicate words whatever the message shows: its evidence lines, and what
# follows the first names of a list (required whenever the predicate has them)
ALWAYS = frozenset({"evidence", "more"})


def render(fragments: Fragments, value: Value) -> str:
    """The words of ``value``: a string as it is, a :class:`Text` by its rule's template."""
    if isinstance(value, str):
        return value
    if isinstance(value, Few):
        shown = ", ".join(value.names[: value.limit])
        more = len(value.names) - value.limit
        if more > 0:
            shown += render(fragments, Text("more", "some", {"count": str(more)}))
        return shown
    if isinstance(value, tuple):
        if not value:
            return ""
        join = fragments[value[0].fragment].get(JOIN, ", ")
        return join.join(render(fragments, part) for part in value)
    template = fragments[value.fragment][value.case]
    return template.format_map({k: render(fragments, v) for k, v in value.values.items()})


def check_fragments(
    spec: FragmentSpec, used: frozenset[str], given: object, who: str
) -> str | None:
    """Why a rule's ``fragments:`` (``given``) does not fit what ``who`` words through
    them (``spec``), or None. Only the fragments the message reaches (``used``: the
    message's placeholders, then the placeholders of the fragments they name) must be
    there; none may be there that ``who`` does not use."""
    given = given if given is not None else {}
    if not isinstance(given, dict):
        return "fragments must be a mapping"
    for name in given:
        if name not in spec:
            known = ", ".join(sorted(spec)) or "none"
            return f"unknown fragment {name!r} for {who} (its fragments: {known})"
    wanted = _reached(spec, used | (ALWAYS & set(spec)))
    for name in sorted(wanted):
        cases = given.get(name)
        if not isinstance(cases, dict):
            return f"missing fragment {name!r}: {who} words {{{name}}} through it"
        problem = _check_cases(name, spec[name], cases)
        if problem is not None:
            return problem
    return None


def _reached(spec: FragmentSpec, used: frozenset[str]) -> set[str]:
    wanted: set[str] = set()
    todo = [name for name in used if name in spec]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(p for ps in spec[name].values() for p in ps if p in spec)
    return wanted


def _check_cases(
    name: str, spec: Mapping[str, frozenset[str]], cases: dict[str, object]
) -> str | None:
    for case in cases:
        if case != JOIN and case not in spec:
            return (
                f"fragment {name!r}: unknown case {case!r} (its cases: {', '.join(sorted(spec))})"
            )
    for case, provided in spec.items():
        template = cases.get(case)
        if not isinstance(template, str):
            return f"fragment {name!r}: missing case {case!r}"
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            return f"fragment {name!r}: case {case!r} is not a valid template: {exc}"
        for placeholder in names:
            if placeholder not in provided:
                shown = ", ".join(sorted(provided)) or "none"
                return (
                    f"fragment {name!r}: case {case!r} uses {{{placeholder}}}, "
                    f"which it does not provide (it provides: {shown})"
                )
    if not isinstance(cases.get(JOIN, ""), str):
        return f"fragment {name!r}: join must be a string"
    return None
