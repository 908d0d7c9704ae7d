"""Project configuration: ``.gplscan.toml``, ``gplscan.toml`` or ``[tool.gplscan]``.

Looked up from the scanned directory upwards (then the current directory); ``--config``
names a file directly; command-line flags override what the file says. Unknown keys are
errors naming the key, and so is a waiver without a justification: a waiver is a decision
someone must be able to read and question.

    fail-on = "error"

    [severity]                      # per rule, by name or id
    proprietary-module = "error"

    [licenses]                      # SPDX ids in any binary of the target
    deny = ["CDDL-1.0"]
    # allow = ["GPL-2.0-only", "GPL-2.0-or-later", "MIT", "BSD-3-Clause"]

    [[waiver]]
    rule = "gpl-links-closed-object"  # a rule's name or id; a glob ("*") for every rule
    path = "drivers/foo/*"          # glob on the binary, the object or the finding's path
    # fingerprint = "…"             # or exactly one finding
    justification = "Firmware loader stub, source provided to the customer under NDA-2024-17"
    approved_by = "legal@example.com"
    expires = 2027-06-30
"""

from __future__ import annotations

import datetime
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gplscan.errors import GplscanError
from gplscan.model import Severity, Waiver

CONFIG_NAMES = (".gplscan.toml", "gplscan.toml")
FAIL_ON = ("error", "warning", "info", "never")


class ConfigError(GplscanError):
    """A configuration file that gplscan will not guess about."""


@dataclass(frozen=True, slots=True)
class Config:
    """The effective configuration and where it came from."""

    path: Path | None = None
    fail_on: str | None = None
    severity: tuple[tuple[str, Severity], ...] = ()
    waivers: tuple[Waiver, ...] = ()
    allow: tuple[str, ...] | None = None  # SPDX ids allowed in binaries (None: any)
    deny: tuple[str, ...] = ()  # SPDX ids never allowed in binaries


_TOP_KEYS = {"fail-on", "severity", "waiver", "licenses"}
_LICENSE_KEYS = {"allow", "deny"}
_WAIVER_KEYS = {"rule", "path", "fingerprint", "justification", "approved_by", "expires"}


def find_config(start: Path) -> Path | None:
    """The nearest configuration file from ``start`` upwards, then in the current directory."""
    directory = start if start.is_dir() else start.parent
    for d in [directory.resolve(), *directory.resolve().parents, Path.cwd()]:
        for name in CONFIG_NAMES:
            if (d / name).is_file():
                return d / name
        pyproject = d / "pyproject.toml"
        if pyproject.is_file() and _tool_section(pyproject) is not None:
            return pyproject
    return None


def _tool_section(pyproject: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    section = data.get("tool", {}).get("gplscan")
    return section if isinstance(section, dict) else None


def load_config(path: Path | None) -> Config:
    """Read and check a configuration file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        if path.name == "pyproject.toml":
            data = _tool_section(path) or {}
        else:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: not readable: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_TOP_KEYS))})"
        )
    fail_on = data.get("fail-on")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise ConfigError(f"{path}: fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    severity: list[tuple[str, Severity]] = []
    for rule, value in (data.get("severity") or {}).items():
        try:
            severity.append((rule, Severity(value)))
        except ValueError as exc:
            raise ConfigError(
                f"{path}: severity.{rule}: {value!r} is not error, warning or info"
            ) from exc
    waivers = tuple(_waiver(path, i, w) for i, w in enumerate(data.get("waiver") or [], 1))
    lists = data.get("licenses") or {}
    unknown = set(lists) - _LICENSE_KEYS
    if unknown:
        raise ConfigError(
            f"{path}: licenses: unknown key(s) {', '.join(sorted(unknown))} (known: allow, deny)"
        )
    for key in _LICENSE_KEYS & set(lists):
        if not isinstance(lists[key], list) or not all(isinstance(x, str) for x in lists[key]):
            raise ConfigError(f"{path}: licenses.{key} must be a list of SPDX ids")
    allow = tuple(lists["allow"]) if "allow" in lists else None
    return Config(path, fail_on, tuple(severity), waivers, allow, tuple(lists.get("deny", [])))


def _waiver(path: Path, n: int, raw: Any) -> Waiver:
    where = f"{path}: waiver #{n}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table ([[waiver]])")
    unknown = set(raw) - _WAIVER_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_WAIVER_KEYS))})"
        )
    rule = raw.get("rule")
    if not isinstance(rule, str) or not rule:
        raise ConfigError(f'{where}: needs the rule it waives (rule = "...")')
    justification = raw.get("justification")
    if not isinstance(justification, str) or not justification.strip():
        raise ConfigError(
            f"{where}: needs a justification: say why this finding is accepted "
            '(justification = "...")'
        )
    if raw.get("path") is None and raw.get("fingerprint") is None:
        raise ConfigError(f"{where}: needs a path (a glob) or a fingerprint to match")
    expires = raw.get("expires")
    if isinstance(expires, str):
        try:
            expires = datetime.date.fromisoformat(expires)
        except ValueError as exc:
            raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD)") from exc
    if expires is not None and not isinstance(expires, datetime.date):
        raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD)")
    return Waiver(
        rule,
        raw.get("path"),
        raw.get("fingerprint"),
        justification.strip(),
        raw.get("approved_by"),
        expires,
        where,
    )
