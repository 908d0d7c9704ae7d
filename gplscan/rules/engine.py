"""Apply every rule to every binary."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gplscan.model import Binary, Rule
from gplscan.rules.predicates import (
    TARGET_PREDICATES,
    Context,
    Match,
    is_module,
    predicate_for,
)


def evaluate(
    rules: Iterable[Rule], binaries: Iterable[Binary], ctx: Context
) -> Iterator[tuple[Rule, Binary | None, Match]]:
    """Every (rule, binary, match) where a rule fires; the binary is None for a finding
    about the whole target (a target predicate's, e.g. a tree where no binary is found)."""
    binaries = list(binaries)
    modules = [b for b in binaries if is_module(b)]
    for rule in rules:
        params = dict(rule.params)
        whole = TARGET_PREDICATES.get(rule.predicate)
        if whole is not None:
            yield from ((rule, b, m) for b, m in whole(ctx, params))
            continue
        predicate, modules_only = predicate_for(rule)
        for binary in modules if modules_only else binaries:
            for match in predicate(ctx, binary, params):
                yield rule, binary, match
