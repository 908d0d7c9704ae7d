"""What a build file defines, as the make reader holds it: variables (their words, each with
the line that put it there) and explicit rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from gplscan.model import Evidence


@dataclass(frozen=True, slots=True)
class Word:
    """A word of a variable's value and the line that put it there."""

    text: str
    evidence: Evidence
    conditional: bool = False  # put there by an assignment whose name depends on CONFIG_*


@dataclass(slots=True)
class Variable:
    words: list[Word]
    recursive: bool  # "=" variables are expanded when used, ":=" ones when assigned


@dataclass(slots=True)
class MakeRule:
    """An explicit rule: its targets and prerequisites expanded, its recipe as written."""

    targets: list[str]
    prereqs: list[str]
    recipe: list[str]
    evidence: Evidence


@dataclass(slots=True)
class MakeDB:
    """What one build file (with its includes) defines."""

    variables: dict[str, Variable] = field(default_factory=dict)
    rules: list[MakeRule] = field(default_factory=list)
