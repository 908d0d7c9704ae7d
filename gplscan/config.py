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
import difflib
import functools
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gplscan.errors import ConfigError
from gplscan.model import FAIL_ON, Severity, Waiver
from gplscan.resources import rules_dir
from gplscan.run_record import shown_path

CONFIG_NAMES = (".gplscan.toml", "gplscan.toml")


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
    """The nearest configuration file from ``start`` upwards, then in the current directory.

    A ``pyproject.toml`` on the way that cannot be read is an error, not a file to pass
    over: it may hold the ``[tool.gplscan]`` waivers and policy the project relies on.
    """
    directory = start if start.is_dir() else start.parent
    for d in [directory.resolve(), *directory.resolve().parents, Path.cwd()]:
        for name in CONFIG_NAMES:
            if (d / name).is_file():
                return d / name
        pyproject = d / "pyproject.toml"
        if pyproject.is_file() and _tool_section(pyproject) is not None:
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's document; :class:`ConfigError` naming the file and the reason when it
    cannot be read, is not UTF-8 text, or is not TOML."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: not readable: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "a configuration file is TOML, which is UTF-8"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from exc


def _tool_section(pyproject: Path) -> dict[str, Any] | None:
    """``[tool.gplscan]`` of a pyproject.toml (None when it has none)."""
    data = _read_toml(pyproject)
    tool = data.get("tool")
    section = tool.get("gplscan") if isinstance(tool, dict) else None
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{pyproject}: tool.gplscan must be a table ([tool.gplscan])")
    return section


def load_config(path: Path | None) -> Config:
    """Read and check a configuration file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    pyproject = path.name == "pyproject.toml"
    data = (_tool_section(path) or {}) if pyproject else _read_toml(path)
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
    table = data.get("severity") or {}
    if not isinstance(table, dict):
        raise ConfigError(f'{path}: severity must be a table ([severity], rule = "error")')
    for rule, value in table.items():
        _check_rule(path, f"severity.{rule}", rule)
        if not isinstance(value, str) or value not in {s.value for s in Severity}:
            raise ConfigError(f"{path}: severity.{rule}: {value!r} is not error, warning or info")
        severity.append((rule, Severity(value)))
    waivers = data.get("waiver") or []
    if not isinstance(waivers, list):
        raise ConfigError(f"{path}: waiver must be an array of tables ([[waiver]])")
    shown = Path(shown_path(path))  # a report names the file, never by an absolute path
    checked = tuple(_waiver(path, shown, i, w) for i, w in enumerate(waivers, 1))
    lists = data.get("licenses") or {}
    if not isinstance(lists, dict):
        raise ConfigError(f"{path}: licenses must be a table ([licenses] allow / deny)")
    unknown = set(lists) - _LICENSE_KEYS
    if unknown:
        raise ConfigError(
            f"{path}: licenses: unknown key(s) {', '.join(sorted(unknown))} (known: allow, deny)"
        )
    for key in sorted(_LICENSE_KEYS & set(lists)):
        if not isinstance(lists[key], list) or not all(isinstance(x, str) for x in lists[key]):
            raise ConfigError(f"{path}: licenses.{key} must be a list of SPDX ids")
        for license_id in lists[key]:
            _check_license(path, f"licenses.{key}", license_id)
    allow = tuple(lists["allow"]) if "allow" in lists else None
    return Config(path, fail_on, tuple(severity), checked, allow, tuple(lists.get("deny", [])))


@functools.cache
def _rule_keys() -> frozenset[str]:
    """Every rule's id and name, from the rule files' names (``GPL001-<name>.yaml``)."""
    keys: set[str] = set()
    for rule in rules_dir().glob("GPL*.yaml"):
        rule_id, _, name = rule.stem.partition("-")
        keys.update({rule_id, name} - {""})
    return frozenset(keys)


def _check_rule(path: Path, key: str, rule: str) -> None:
    """A rule named in the configuration must exist: a misspelt one would change nothing."""
    known = _rule_keys()
    if not known or rule in known:  # no rule files to check against: a wheel without data
        return
    close = difflib.get_close_matches(rule, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else " (see `gplscan rules list`)"
    raise ConfigError(f"{path}: {key}: no rule has the id or name {rule!r}{hint}")


# GNU license names as people write them: GPL2, GPLv2+, LGPL-2.1, AGPL 3 ...
_GNU_SHORT = re.compile(
    r"(?P<base>A|L)?GPL[-_ ]?v?(?P<major>\d)(?:\.(?P<minor>\d))?(?P<plus>\+|-or-later|-only)?",
    re.IGNORECASE,
)


@functools.cache
def _spdx_ids() -> tuple[dict[str, str], dict[str, str]]:
    """SPDX license ids (lower case -> id) and their aliases (deprecated and other names ->
    the id to use), from the license list license-expression ships."""
    index = resources.files("license_expression") / "data" / "scancode-licensedb-index.json"
    ids: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for entry in json.loads(index.read_text(encoding="utf-8")):
        key = entry.get("spdx_license_key")
        if not key or entry.get("is_exception"):
            continue
        ids[key.lower()] = key
        for other in entry.get("other_spdx_license_keys") or ():
            aliases.setdefault(other.lower(), key)
    return ids, aliases


def _check_license(path: Path, key: str, license_id: str) -> None:
    """An SPDX id in an allow or deny list must be one, as scans spell it: a misspelt one
    (``GPL2``) or a deprecated one (``GPL-2.0``, which tags are normalized away from)
    would never match anything."""
    if license_id.startswith("LicenseRef-") and len(license_id) > len("LicenseRef-"):
        return
    try:
        ids, aliases = _spdx_ids()
    except (OSError, ValueError):  # no license list to check against
        return
    if license_id in ids.values():
        return
    lower = license_id.lower()
    suggestion = ids.get(lower) or aliases.get(lower)
    gnu = _GNU_SHORT.fullmatch(license_id.strip())
    if suggestion is None and gnu is not None:
        suffix = "-or-later" if gnu.group("plus") in ("+", "-or-later") else "-only"
        base = f"{(gnu.group('base') or '').upper()}GPL"
        suggestion = ids.get(
            f"{base}-{gnu.group('major')}.{gnu.group('minor') or 0}{suffix}".lower()
        )
    if suggestion is None:
        close = difflib.get_close_matches(lower, list(ids), n=1, cutoff=0.6)
        suggestion = ids[close[0]] if close else None
    hint = f"; did you mean {suggestion}?" if suggestion else ""
    raise ConfigError(f"{path}: {key}: {license_id!r} is not an SPDX license id{hint}")


def _waiver(path: Path, shown: Path, n: int, raw: Any) -> Waiver:
    """One [[waiver]]: an error names the file as the user gave it; the waiver's source,
    which reports show, names it as ``shown`` (never by an absolute path)."""
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
    for key in ("path", "fingerprint", "approved_by"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise ConfigError(f'{where}: {key} must be a string ({key} = "...")')
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
        f"{shown}: waiver #{n}",
    )
