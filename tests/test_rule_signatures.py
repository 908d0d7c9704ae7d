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
        # the when: vocabulary (the schema check names the word, the line is its line)
        ("GPL001", "origin: closed", "orign: closed", "'orign'"),
        ("GPL013", "origin: closed", "origin: shut", "'shut'"),
        ("GPL001", "describe: [ties, gpl_code]", "describe: [ties, gpl]", "'gpl'"),
        ("GPL011", "at: source", "at: sauce", "'sauce'"),
        ("GPL004", "    - name: closed\n", "    - nam: closed\n", "'nam'"),
        ("GPL011", "{source}, which has", "{license_text}, which has", "{license_text}"),
        # fragments: unknown, missing, a case or placeholder the predicate does not word
        ("GPL007", "  declared_text:", "  declard_text:", "'declard_text'"),
        ("GPL001", 'some: ": {calls}"', 'some: ": {cals}"', "{cals}"),
        ("GPL004", "    closed_many:", "    closed_lots:", "'closed_lots'"),
        ("GPL005", "    after_nul:", "    after_null:", "'after_null'"),
        ("GPL006", "consumers:           #", "users:               #", "'users'"),
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
    from gplscan.cli.rules import rules_markdown

    page = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
    assert page.read_text() == rules_markdown(load_rules()), (
        "regenerate: gplscan rules list --format md > docs/rules.md"
    )


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize(
    ("rule", "old", "new", "said"),
    [
        # a rule naming a predicate says why it is bespoke; a vocabulary rule is none
        (
            "GPL014",
            "bespoke: >\n  It reports the SPDX parser's own diagnosis of a tag.\n",
            "",
            "'bespoke'",
        ),
        (
            "GPL013",
            "  each: component\n  component:\n    origin: closed\n",
            "  predicate: malformed_license_tag\n",
            "'bespoke'",
        ),
    ],
)
def test_bespoke_is_said_where_a_predicate_is_named(
    tmp_path: Path, rule: str, old: str, new: str, said: str, validate: bool
) -> None:
    directory = _copy(tmp_path)
    path = _edit(directory, rule, old, new)
    with pytest.raises(RuleError, match=rf"{path.name}:\d+: .*{said}"):
        load_rules(directory, validate=validate)


def test_vocabulary_rules_say_when_in_the_reference() -> None:
    from gplscan.cli.rules import rules_markdown

    page = rules_markdown(load_rules())
    assert "**When.** each component where `origin: closed`; binary: `holds_gpl_code: true`" in page
    assert "bespoke predicate `license_string_trick` (It reads the bytes" in page
    assert "| component | `origin` | source / closed / unknown |" in page
