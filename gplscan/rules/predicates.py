"""The predicates rules name, by name: the ``when:`` vocabulary's one (``select``, whose
params are the rule's ``when:``) and the bespoke ones, each a shape of its own.

Adding a rule of a shape the vocabulary has means writing YAML; adding a shape means a
word of :mod:`gplscan.rules.vocabulary`, or a bespoke predicate (in :mod:`.modules` or
:mod:`.files`) with its signature (:mod:`.signatures`) and its unit test.
"""

from __future__ import annotations

from collections.abc import Mapping

from gplscan.model import MODULE_KINDS, Binary, Rule
from gplscan.rules import each, vocabulary
from gplscan.rules.context import Context, Match, Predicate, TargetPredicate
from gplscan.rules.files import (
    malformed_license_tag,
    not_judged,
    object_source_mismatch,
)
from gplscan.rules.modules import (
    declared_license_category,
    gpl_module_imports_proprietary,
    gpl_only_imports_in_non_gpl,
    gpl_symbol_reexport,
    license_string_trick,
)

__all__ = [
    "MODULE_PREDICATES",
    "PREDICATES",
    "TARGET_PREDICATES",
    "Context",
    "Match",
    "Predicate",
    "TargetPredicate",
    "is_module",
    "predicate_for",
]

TARGET_PREDICATES: dict[str, TargetPredicate] = {"not_judged": not_judged}

# predicates about what a kernel module declares and imports: other binaries (an object
# of the tree that is linked into nothing, a program) have no MODULE_LICENSE to judge
MODULE_PREDICATES = frozenset(
    {
        "license_string_trick",
        "declared_license_category",
        "gpl_only_imports_in_non_gpl",
        "gpl_module_imports_proprietary",
        "gpl_symbol_reexport",
    }
)

PREDICATES: dict[str, Predicate] = {
    "license_string_trick": license_string_trick,
    "declared_license_category": declared_license_category,
    "gpl_only_imports_in_non_gpl": gpl_only_imports_in_non_gpl,
    "gpl_module_imports_proprietary": gpl_module_imports_proprietary,
    "gpl_symbol_reexport": gpl_symbol_reexport,
    "object_source_mismatch": object_source_mismatch,
    "malformed_license_tag": malformed_license_tag,
}


def predicate_for(rule: Rule) -> tuple[Predicate, bool]:
    """The predicate a (binary) rule applies, and whether it judges kernel modules only."""
    if rule.predicate == vocabulary.SELECT:
        when: Mapping[str, object] = dict(rule.params)
        return each.predicate(when), when.get("each") == "module"
    return PREDICATES[rule.predicate], rule.predicate in MODULE_PREDICATES


def is_module(binary: Binary) -> bool:
    """A kernel module, built or planned by the build files."""
    return binary.kind in MODULE_KINDS
