"""Rules are data: one YAML file per rule in ``rules/``, checked against ``schema.json``.

A rule's ``when:`` is written in the vocabulary (:mod:`gplscan.rules.vocabulary`) or, for
a shape of its own, names a bespoke predicate and says why (``bespoke:``); the words of
its message that depend on the case are its ``fragments:`` (:mod:`gplscan.rules.fragments`).
Loading fails loudly (:class:`RuleError` naming the file, the line and the problem) on
unknown keys, unknown predicates or words of the vocabulary, duplicate ids or names,
params the predicate does not take (or lacks, or values it does not know), message
placeholders it does not provide and fragments or cases it does not word
(:mod:`gplscan.rules.signatures`), so a typo in a rule never silently disables it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from gplscan.errors import RuleError
from gplscan.model import Rule, Severity
from gplscan.resources import rules_dir
from gplscan.rules.signatures import check_rule
from gplscan.rules.vocabulary import SELECT, is_vocabulary
from gplscan.yamltext import YamlTextError, parse_yaml


def load_rules(
    directory: Path | None = None,
    *,
    validate: bool | None = None,
    parse: Callable[[str], Any] = parse_yaml,
) -> tuple[Rule, ...]:
    """Every rule in ``directory`` (default: gplscan's own ``rules/``), sorted by id.

    Each file is checked against ``schema.json`` when ``validate`` is true; by default for
    every directory but gplscan's own, whose rules its tests check against the schema
    (importing jsonschema and checking 14 files would be ≈60 ms of every run). The checks
    beyond the schema (the ``when:``, its params, the message's placeholders and the
    fragments; unique id and name; file name) always run.
    ``parse`` turns a file's text into its document (a scan passes one that remembers
    documents by content, in its cache).
    """
    own = rules_dir()
    directory = directory or own
    if validate is None:
        validate = directory.resolve() != own.resolve()
    validator = _validator(directory) if validate else None
    rules: list[Rule] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted(directory.glob("GPL*.yaml")):
        doc = _read(path, parse, validator)
        if doc.get("deprecated"):
            continue
        problem = check_rule(doc)
        if problem is not None:
            raise RuleError(f"{path.name}:{_line_of(path, problem)}: {problem}")
        for key in ("id", "name"):
            if (key, doc[key]) in seen:
                used = seen[key, doc[key]].name
                raise RuleError(f"{path.name}: {key} {doc[key]} already used by {used}")
            seen[key, doc[key]] = path
        if not path.name.startswith(f"{doc['id']}-{doc['name']}"):
            raise RuleError(f"{path.name}: file name must be {doc['id']}-{doc['name']}.yaml")
        rules.append(_rule(doc, PurePosixPath("rules") / path.name))
    if not rules:
        raise RuleError(f"{directory}: no rule files (GPL*.yaml) found")
    return tuple(rules)


def _read(path: Path, parse: Callable[[str], Any], validator: Any) -> Any:
    """A rule file's document, checked against the schema when ``validator`` is given
    (an error names the line of the word it quotes, where it quotes one)."""
    try:
        doc = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YamlTextError) as exc:
        raise RuleError(f"{path.name}: not readable YAML: {exc}") from exc
    if validator is not None:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
            line = _line_of(path, errors[0].message)
            raise RuleError(f"{path.name}:{line}: {where}: {errors[0].message}")
    return doc


def _rule(doc: Any, source: PurePosixPath) -> Rule:
    """The rule a checked document says."""
    when = doc["when"]
    if is_vocabulary(when):
        predicate, params = SELECT, when
    else:
        predicate, params = when["predicate"], when.get("params") or {}
    return Rule(
        id=doc["id"],
        name=doc["name"],
        title=doc["title"],
        severity=Severity(doc["severity"]),
        predicate=predicate,
        params=tuple(sorted((k, _freeze(v)) for k, v in params.items())),
        message=" ".join(doc["message"].split()),
        why=" ".join(doc["why"].split()),
        references=tuple(doc["references"]),
        source=source,
        plain=" ".join(doc["plain"].split()),
        remedy=" ".join(doc["remedy"].split()),
        fragments=tuple(
            (name, tuple((case, str(text)) for case, text in cases.items()))
            for name, cases in (doc.get("fragments") or {}).items()
        ),
        bespoke=" ".join(str(doc.get("bespoke", "")).split()),
        fixtures=str(doc.get("fixtures", "")),
    )


def _line_of(path: Path, problem: str) -> int:
    """The line of the rule file the problem is about: the first line holding the word it
    quotes (a param name, a placeholder; of several, the one on the fewest lines), else
    the line of ``when:`` or ``message:``."""
    import re

    lines = path.read_text(encoding="utf-8").splitlines()
    quoted = re.findall(r"'([^']+)'|\{([^}]+)\}", problem)
    found = [[n for n, line in enumerate(lines, 1) if (a or b) in line] for a, b in quoted]
    if any(found):
        return min((f for f in found if f), key=len)[0]
    anchor = "message:" if "message" in problem else "when:"
    return next((n for n, line in enumerate(lines, 1) if line.startswith(anchor)), 1)


def _validator(directory: Path) -> Any:
    import jsonschema

    try:
        schema = json.loads((directory / "schema.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuleError(f"{directory}/schema.json: cannot load the rule schema: {exc}") from exc
    return jsonschema.Draft202012Validator(schema)


def _freeze(value: object) -> object:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value
