"""License data and the questions rules ask of it (``rules/licenses.yml``).

Which MODULE_LICENSE strings the kernel takes as GPL-compatible (an exact match, as in
``include/linux/license.h``), what SPDX expression each string means, and how an SPDX
expression combines with GPL code in one binary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gplscan.errors import LicenseDataError, YamlTextError
from gplscan.resources import rules_dir
from gplscan.yamltext import parse_yaml

CLOSED = "LicenseRef-closed"


@dataclass(frozen=True, slots=True)
class LicenseData:
    """The contents of ``licenses.yml``, ready for lookups."""

    gpl_compatible_strings: dict[str, str]
    other_strings: dict[str, str]
    gpl: frozenset[str]
    gpl_incompatible: frozenset[str]
    gpl2_only_incompatible: frozenset[str]
    proprietary: frozenset[str]

    def kernel_accepts(self, value: bytes) -> bool:
        """What ``license_is_gpl_compatible()`` answers: an exact match up to the first NUL."""
        text = value.split(b"\0", 1)[0].decode("utf-8", "replace")
        return text in self.gpl_compatible_strings

    def honestly_gpl(self, value: bytes) -> bool:
        """Whether the kernel takes the license as GPL-compatible and nothing is hidden
        after a NUL (the "GPL\\0..." trick fools the kernel, not gplscan)."""
        seen, _, hidden = value.partition(b"\0")
        return self.kernel_accepts(seen) and not hidden.strip(b"\0 ")

    def module_string_spdx(self, text: str) -> str | None:
        """The SPDX meaning of a MODULE_LICENSE string, when the data knows it."""
        return self.gpl_compatible_strings.get(text) or self.other_strings.get(text)

    def requires_gpl(self, expression: str | None) -> bool:
        """True when code under ``expression`` is GPL code in every alternative it offers.

        ``GPL-2.0-only OR BSD-3-Clause`` is not: it may be taken under BSD, so linking it
        with closed code breaks no license.
        """
        tree = _parse(expression)
        return tree is not None and self._all_alternatives(tree, self.gpl)

    def withholds_source(self, expression: str | None) -> bool:
        """True when every alternative includes closed or proprietary code."""
        tree = _parse(expression)
        return tree is not None and self._all_alternatives(tree, self.proprietary)

    def conflicts_with_gpl(self, expression: str | None, gpl_versions: frozenset[str]) -> bool:
        """True when every alternative includes a license that cannot meet this GPL code."""
        tree = _parse(expression)
        if tree is None:
            return False
        bad = set(self.gpl_incompatible) | set(self.proprietary)
        if gpl_versions and all(
            v.startswith("GPL-2.0-only") or v.startswith("GPL-1.0") for v in gpl_versions
        ):
            bad |= self.gpl2_only_incompatible
        return self._all_alternatives(tree, frozenset(bad))

    def as_detected(self, expression: str | None) -> str | None:
        """A detected (not tagged) expression as gplscan judges a file by it.

        Text detection matches notices as well as grants: Synopsys' "unsupported
        proprietary work" disclaimer under a GPL-or-BSD grant, or tg3's note that its (long
        gone) firmware was "derived from proprietary unpublished source code". A proprietary
        match ANDed with any other license is read as such a notice and set aside; only a
        file whose detected text is proprietary and nothing else counts as proprietary. The
        scancode evidence keeps every match, so the reader sees what was set aside.
        """
        tree = _parse(expression)
        if tree is None or type(tree).__name__ != "AND":
            return expression
        kept = [a for a in tree.args if not self._all_alternatives(a, self.proprietary)]
        if not kept or len(kept) == len(tree.args):
            return expression
        return " AND ".join(f"({a})" if type(a).__name__ == "OR" else str(a) for a in kept)

    def policy_violations(
        self, expression: str | None, allow: tuple[str, ...] | None, deny: tuple[str, ...]
    ) -> list[tuple[str, tuple[str, ...]]]:
        """How an expression breaks a project's allow/deny lists ([] when it does not):
        ``("denied", ids)`` and/or ``("not_allowed", ids)`` (the rule words them).

        Denied: every alternative it offers includes a denied id. Not allowed: no
        alternative is made only of allowed ids. (Code offered under GPL-2.0-only OR
        CDDL-1.0 may be taken under the GPL: a CDDL deny list does not stop it.)
        """
        tree = _parse(expression)
        if tree is None:
            return []
        out = []
        if deny and self._all_alternatives(tree, frozenset(deny)):
            out.append(("denied", tuple(sorted(set(_keys(tree)) & set(deny)))))
        if allow is not None and not _some_alternative_within(tree, frozenset(allow)):
            out.append(("not_allowed", tuple(sorted(set(_keys(tree)) - set(allow)))))
        return out

    def gpl_ids(self, expression: str | None) -> frozenset[str]:
        """The GPL license ids an expression names."""
        tree = _parse(expression)
        if tree is None:
            return frozenset()
        return frozenset(k for k in _keys(tree) if k in self.gpl)

    def _all_alternatives(self, node: Any, wanted: frozenset[str]) -> bool:
        kind = type(node).__name__
        if kind == "OR":
            return all(self._all_alternatives(a, wanted) for a in node.args)
        if kind == "AND":
            return any(self._all_alternatives(a, wanted) for a in node.args)
        return _key(node) in wanted


def _some_alternative_within(node: Any, allowed: frozenset[str]) -> bool:
    kind = type(node).__name__
    if kind == "OR":
        return any(_some_alternative_within(a, allowed) for a in node.args)
    if kind == "AND":
        return all(_some_alternative_within(a, allowed) for a in node.args)
    return _key(node) in allowed


def _key(node: Any) -> str:
    symbol = getattr(node, "license_symbol", node)
    return str(getattr(symbol, "key", symbol))


def _keys(node: Any) -> list[str]:
    if type(node).__name__ in ("OR", "AND"):
        return [k for a in node.args for k in _keys(a)]
    return [_key(node)]


@functools.lru_cache(maxsize=4096)
def _parse(expression: str | None) -> Any:
    if not expression:
        return None
    from license_expression import Licensing

    try:
        return Licensing().parse(expression, validate=False, simple=False)
    except Exception:
        return None


def load_license_data(
    path: Path | None = None, *, parse: Callable[[str], Any] = parse_yaml
) -> LicenseData:
    """Read and check ``licenses.yml``; raise :class:`LicenseDataError` with the reason.

    ``parse`` turns the file's text into its document (see :func:`gplscan.rules.load_rules`).
    """
    path = path or rules_dir() / "licenses.yml"
    try:
        doc = parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YamlTextError) as exc:
        raise LicenseDataError(f"{path}: {exc}") from exc
    try:
        if doc.get("schema") != "gplscan-licenses/1":
            raise LicenseDataError(f"{path}: expected schema: gplscan-licenses/1")
        mod = doc["module_licenses"]
        cats = doc["categories"]
        return LicenseData(
            gpl_compatible_strings={e["string"]: e["spdx"] for e in mod["gpl_compatible"]},
            other_strings={e["string"]: e["spdx"] for e in mod.get("not_gpl_compatible", [])},
            gpl=frozenset(cats["gpl"]),
            gpl_incompatible=frozenset(cats["gpl_incompatible"]),
            gpl2_only_incompatible=frozenset(cats.get("gpl2_only_incompatible", [])),
            proprietary=frozenset(cats["proprietary"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise LicenseDataError(f"{path}: missing or malformed entry: {exc}") from exc
