"""YAML documents from text: PyYAML's safe loader (libyaml's when it has it), with its
errors turned into one exception of ours, so that callers need not import PyYAML."""

from __future__ import annotations

from typing import Any

from gplscan.errors import YamlTextError as YamlTextError  # importers: gplscan.errors


def parse_yaml(text: str) -> Any:
    """The document ``text`` holds (plain dicts, lists, strings, numbers, ...)."""
    import yaml  # ≈16 ms: only where a document is really parsed

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise YamlTextError(str(exc)) from exc
