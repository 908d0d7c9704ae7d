"""Known license notices, recognized without loading scancode's license index.

Loading scancode's index costs ≈4 s and ≈1.4 GB per process, so an audit whose only untagged
files carry one of the kernel's standard notices (``drivers/hv/hv_kvp.c`` carries the GPL-2.0
notice and no SPDX tag) would pay that for one well-known paragraph. ``rules/notices.yml``
names the scancode rules whose texts the untagged files of a kernel tree match exactly
(written by ``bench/notice_table.py`` from scancode's own detections there); each entry
carries the rule's SPDX expression and the sha256 of its text as the installed scancode has
it. The rule texts are read from scancode's data directory (no index, no import of scancode):
an entry whose text is missing or changed is left out, and scancode decides those regions.

A region is explained by the table only when it is *entirely* explained: one stretch of its
words equals a rule text, and no word outside that stretch is legal
vocabulary (:data:`LEGAL_STEMS`: license words, and the words that change a notice's
meaning such as "version", "later", "only"). Anything else (a variant, a second license, an
"or any later version" after a known sentence) goes to scancode, which is what keeps the
answers equal to scancode's: ``bench/notice_table.py`` checks that on every untagged file of
the kernel tree.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from gplscan.resources import rules_dir

# a word as detection sees it: letters and digits, lowercased; a trailing "+" is part of the
# word, so that "GPL-2.0+" (or-later) never equals "GPL-2.0" (only)
_WORD = re.compile(r"[^\W_]+\+?")
# the words a rule's first ANCHOR words are looked up by
ANCHOR = 4
# scancode marks required phrases in rule texts with {{ }}; they are not words of the text
_MARKS = re.compile(r"\{\{|\}\}")

# Words that, outside a matched notice, mean the region says more about licensing than the
# notice does. Stems match a word's start. Copyright statements, author lines and
# descriptions of the code carry none of them (a description that does falls back to
# scancode, which is only slower).
LEGAL_STEMS: tuple[str, ...] = (
    "licen",
    "sublicen",
    "copyleft",
    "gpl",
    "lgpl",
    "agpl",
    "gnu",
    "warrant",
    "redistribut",
    "distribut",
    "modif",
    "permi",
    "grant",
    "spdx",
    "apache",
    "mozilla",
    "mpl",
    "artistic",
    "creative",
    "proprietar",
    "patent",
    "derivative",
    "freely",
    "liable",
    "liabilit",
    "responsib",
    "version",
    "later",
    "option",
    "alternativ",
    "dual",
    "bsd",
    "mit",
    "isc",
    "x11",
    "public",
    "domain",
    "terms",
    "condition",
    "foundation",
    "software",
    "merchantab",
    "fitness",
    "infring",
    "notice",
    "disclaim",
    "copy",
    "agree",
    "contract",
    "restrict",
    "only",
    "either",
    "express",
    "implied",
    "tort",
    "negligen",
    "damage",
    "trademark",
    "endorse",
    "promote",
    "commercial",
    "royalt",
    "confidential",
    "secret",
    "eula",
    "zlib",
    "openib",
    "cddl",
    "epl",
    "openssl",
    "unlicense",
    "wtfpl",
    "beerware",
)
_LEGAL = re.compile(r"^(?:" + "|".join(sorted(LEGAL_STEMS, key=len, reverse=True)) + ")")
# "Copyright" lines and "all rights reserved" state ownership, not a license: scancode
# reports them as copyrights, never as license matches (author lines likewise).
_OWNERSHIP = frozenset({"copyright", "copyrights", "copyrighted", "right", "rights"})


@dataclass(frozen=True, slots=True)
class Notice:
    """One known notice: a scancode rule's words and the SPDX expression it stands for."""

    rule: str
    expression: str
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NoticeMatch:
    """A rule's whole text found in a region, at file lines ``start_line``..``end_line``."""

    notice: Notice
    start_line: int
    end_line: int


@dataclass(frozen=True, slots=True)
class NoticeTable:
    """The usable entries of ``rules/notices.yml``, indexed by their first words."""

    by_anchor: dict[tuple[str, ...], tuple[Notice, ...]]
    size: int
    dropped: tuple[str, ...]  # rules whose installed text is missing or differs

    def explain(self, start_line: int, text: str) -> tuple[NoticeMatch, ...] | None:
        """The notice that explains one region's text entirely, or None when none does.

        ``text`` has one line per file line from ``start_line`` on (a detection region).
        None also when the region holds two notices: how scancode combines neighbouring
        matches (one may be part of the other's text) is its post-processing's call.
        """
        words: list[str] = []
        lines: list[int] = []
        for offset, line in enumerate(text.split("\n")):
            for word in _WORD.findall(_MARKS.sub(" ", line.lower())):
                words.append(word)
                lines.append(start_line + offset)
        found: list[NoticeMatch] = []
        i = 0
        n = len(words)
        while i < n:
            notice = self._longest_at(words, i)
            if notice is None:
                if _is_legal(words[i]):
                    return None
                i += 1
                continue
            if found:
                return None  # two notices side by side: scancode's post-processing decides
            end = i + len(notice.words)
            found.append(NoticeMatch(notice, lines[i], lines[end - 1]))
            i = end
        return tuple(found) if found else None

    def _longest_at(self, words: Sequence[str], i: int) -> Notice | None:
        best: Notice | None = None
        for notice in self.by_anchor.get(tuple(words[i : i + ANCHOR]), ()):
            size = len(notice.words)
            if (best is None or size > len(best.words)) and tuple(words[i : i + size]) == (
                notice.words
            ):
                best = notice
        return best


def _is_legal(word: str) -> bool:
    return word not in _OWNERSHIP and _LEGAL.match(word) is not None


def words_of(text: str) -> tuple[str, ...]:
    """A text's words as the table compares them (lowercased, {{ }} marks dropped)."""
    return tuple(_WORD.findall(_MARKS.sub(" ", text.lower())))


def scancode_rules_dir() -> Path | None:
    """scancode's rule texts (``licensedcode/data/rules``), found without importing scancode."""
    try:
        spec = importlib.util.find_spec("licensedcode")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "rules"
        if candidate.is_dir():
            return candidate
    return None


def rule_path(rules: Path, rule: str) -> Path:
    """Where scancode keeps ``rule``: ``rules/<id>.RULE``, or ``licenses/<key>.LICENSE``."""
    if rule.endswith(".LICENSE"):
        return rules.parent / "licenses" / rule
    return rules / rule


def rule_text(path: Path) -> str:
    """The text of a scancode ``.RULE`` file: what follows its YAML front matter."""
    raw = path.read_text(encoding="utf-8")
    if raw.startswith("---"):
        parts = raw.split("---", 2)
        if len(parts) == 3:
            return parts[2]
    return raw


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def load_table(path: Path | None = None, rules: Path | None = None) -> NoticeTable:
    """The notice table from ``path`` (default ``rules/notices.yml``), texts from ``rules``.

    Entries whose rule text is not installed, or not the text the table was vetted with,
    are left out (listed in ``dropped``). Without scancode installed the table is empty.
    """
    path = path or rules_dir() / "notices.yml"
    rules = rules or scancode_rules_dir()
    try:
        with path.open("rb") as handle:
            entries = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        entries = None
    by_anchor: dict[tuple[str, ...], list[Notice]] = {}
    dropped: list[str] = []
    size = 0
    for entry in (entries or {}).get("notices", []) if isinstance(entries, dict) else []:
        rule, expression, digest = entry["rule"], entry["expression"], entry["sha256"]
        try:
            text = rule_text(rule_path(rules, rule)) if rules is not None else None
        except (OSError, UnicodeDecodeError):
            text = None
        if text is None or text_digest(text) != digest:
            dropped.append(rule)
            continue
        words = words_of(text)
        if len(words) < ANCHOR:
            dropped.append(rule)
            continue
        by_anchor.setdefault(words[:ANCHOR], []).append(Notice(rule, expression, words))
        size += 1
    return NoticeTable(
        by_anchor={k: tuple(v) for k, v in by_anchor.items()}, size=size, dropped=tuple(dropped)
    )
