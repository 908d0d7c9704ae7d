"""Apply every rule to every binary."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gplscan.model import Binary, Rule
from gplscan.rules.predicates import (
    MODULE_PREDICATES,
    PREDICATES,
    TARGET_PREDICATES,
    Context,
    Match,
    is_module,
)


def evaluate(
    rules: Iterable[Rule], binaries: Iterable[Binary], ctx: Context
) -> Iterator[tuple[Rule, Binary | None, Match]]:
    """Every (rule, binary, match) where a rule fires; the binary is None for a finding
    about the whole target (a target predicate's, e.g. a tree where no binary is found)."""
    binaries = list(binaries)
    for rule in rules:
        params = dict(rule.params)
        whole = TARGET_PREDICATES.get(rule.predicate)
        if whole is not None:
            yield from ((rule, b, m) for b, m in whole(ctx, params))
            continue
        predicate = PREDICATES[rule.predicate]
        modules_only = rule.predicate in MODULE_PREDICATES
        for binary in binaries:
            if modules_only and not is_module(binary):
                continue
            for match in predicate(ctx, binary, params):
                yield rule, binary, match
