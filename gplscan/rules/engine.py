"""Apply every rule to every binary."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gplscan.model import Binary, Rule
from gplscan.rules.predicates import PREDICATES, Context, Match


def evaluate(
    rules: Iterable[Rule], binaries: Iterable[Binary], ctx: Context
) -> Iterator[tuple[Rule, Binary, Match]]:
    """Every (rule, binary, match) where a rule fires."""
    binaries = list(binaries)
    for rule in rules:
        predicate = PREDICATES[rule.predicate]
        params = dict(rule.params)
        for binary in binaries:
            for match in predicate(ctx, binary, params):
                yield rule, binary, match
