"""A rule typo fails loading, with the file and line (issue 16): an unknown or missing
param, a param value the predicate does not know, a placeholder it does not provide."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gplscan.errors import RuleError
from gplscan.resources import rules_dir
from gplscan.rules import load_rules
from gplscan.rules.predicates import PREDICATES, TARGET_PREDICATES
from gplscan.rules.signatures import SIGNATURES


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(rules_dir(), target)
    return target


def _edit(directory: Path, name: str, old: str, new: str) -> Path:
    path = next(directory.glob(f"{name}-*.yaml"))
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_every_predicate_has_a_signature() -> None:
    assert set(SIGNATURES) == set(PREDICATES) | set(TARGET_PREDICATES)


def test_our_rules_load_and_validate() -> None:
    assert len(load_rules(validate=True)) >= 15


@pytest.mark.parametrize(
    ("rule", "old", "new", "said"),
    [
        ("GPL008", "categories:", "categoreis:", "unknown param 'categoreis'"),
        ("GPL007", "[proprietary, unrecognized, missing]", "[proprietary, closed]", "'closed'"),
        ("GPL008", "  params:\n    categories: [incompatible]\n", "", "missing param 'categories'"),
        ("GPL008", "({license})", "({licence})", "{licence}"),
        ("GPL001", "{binary} links", "{binary.name links", "not a valid template"),
    ],
)
def test_a_typo_fails_loading_with_file_and_line(
    tmp_path: Path, rule: str, old: str, new: str, said: str
) -> None:
    directory = _copy(tmp_path)
    path = _edit(directory, rule, old, new)
    with pytest.raises(RuleError) as caught:
        load_rules(directory)
    message = str(caught.value)
    assert message.startswith(f"{path.name}:"), message
    assert said in message, message
    line = int(message.split(":")[1])
    assert 1 <= line <= len(path.read_text().splitlines())


def test_the_checked_in_rule_reference_is_current() -> None:
    """docs/rules.md is what `gplscan rules list --format md` writes from rules/."""
    from gplscan.cli import rules_markdown

    page = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
    assert page.read_text() == rules_markdown(load_rules()), (
        "regenerate: gplscan rules list --format md > docs/rules.md"
    )
