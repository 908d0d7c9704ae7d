"""Rules are data: one YAML file per rule in ``rules/``, checked against ``schema.json``.

Loading fails loudly (:class:`RuleError` naming the file, the line and the problem) on
unknown keys, unknown predicates, duplicate ids or names, params the predicate does not
take (or lacks, or values it does not know) and message placeholders it does not provide
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
from gplscan.rules.signatures import check_params, check_placeholders
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
    beyond the schema (known predicate, unique id and name, file name) always run.
    ``parse`` turns a file's text into its document (a scan passes one that remembers
    documents by content, in its cache).
    """
    from gplscan.rules.predicates import PREDICATES, TARGET_PREDICATES

    own = rules_dir()
    directory = directory or own
    if validate is None:
        validate = directory.resolve() != own.resolve()
    validator = _validator(directory) if validate else None
    rules: list[Rule] = []
    seen_ids: dict[str, Path] = {}
    seen_names: dict[str, Path] = {}
    for path in sorted(directory.glob("GPL*.yaml")):
        try:
            doc = parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YamlTextError) as exc:
            raise RuleError(f"{path.name}: not readable YAML: {exc}") from exc
        errors = (
            sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
            if validator is not None
            else []
        )
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
            raise RuleError(f"{path.name}: {where}: {errors[0].message}")
        if doc.get("deprecated"):
            continue
        predicate = doc["when"]["predicate"]
        if predicate not in PREDICATES and predicate not in TARGET_PREDICATES:
            raise RuleError(
                f"{path.name}: unknown predicate {predicate!r} "
                f"(known: {', '.join(sorted({*PREDICATES, *TARGET_PREDICATES}))})"
            )
        problem = check_params(predicate, doc["when"].get("params")) or check_placeholders(
            predicate, doc["message"]
        )
        if problem is not None:
            raise RuleError(f"{path.name}:{_line_of(path, problem)}: {problem}")
        if doc["id"] in seen_ids:
            raise RuleError(
                f"{path.name}: id {doc['id']} already used by {seen_ids[doc['id']].name}"
            )
        if doc["name"] in seen_names:
            raise RuleError(
                f"{path.name}: name {doc['name']} already used by {seen_names[doc['name']].name}"
            )
        if not path.name.startswith(f"{doc['id']}-{doc['name']}"):
            raise RuleError(f"{path.name}: file name must be {doc['id']}-{doc['name']}.yaml")
        seen_ids[doc["id"]] = path
        seen_names[doc["name"]] = path
        params = doc["when"].get("params") or {}
        rules.append(
            Rule(
                id=doc["id"],
                name=doc["name"],
                title=doc["title"],
                severity=Severity(doc["severity"]),
                predicate=predicate,
                params=tuple(sorted((k, _freeze(v)) for k, v in params.items())),
                message=" ".join(doc["message"].split()),
                why=" ".join(doc["why"].split()),
                references=tuple(doc["references"]),
                source=PurePosixPath("rules") / path.name,
                plain=" ".join(doc["plain"].split()),
                remedy=" ".join(doc["remedy"].split()),
            )
        )
    if not rules:
        raise RuleError(f"{directory}: no rule files (GPL*.yaml) found")
    return tuple(rules)


def _line_of(path: Path, problem: str) -> int:
    """The line of the rule file the problem is about: the first line holding the word it
    quotes (a param name, a placeholder), else the line of ``when:`` or ``message:``."""
    import re

    lines = path.read_text(encoding="utf-8").splitlines()
    quoted = re.findall(r"'([^']+)'|\{([^}]+)\}", problem)
    words = [a or b for a, b in quoted]
    for word in words:
        for n, line in enumerate(lines, 1):
            if word in line:
                return n
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
