"""Make's text, read without evaluating it: the shapes of its lines (assignment, rule,
conditional, include), logical lines with their continuations, comments, and the splitting
of values into words and of function arguments at commas (both outside references)."""

from __future__ import annotations

import re
from collections.abc import Iterable

ASSIGN = re.compile(
    r"^(?P<prefix>(?:(?:override|export|private)\s+)*)"
    r"(?P<name>[^\s:=#]+?)\s*(?P<op>::=|:::=|:=|\+=|\?=|!=|=)\s*(?P<value>.*)$"
)
# a rule line has no "=" (checked first): targets end at the first colon, in linear time
RULE = re.compile(r"^(?P<targets>[^:=#\t][^:=#]*)(?P<colon>::?)(?!=)\s*(?P<prereqs>[^=]*)$")
CONDITIONAL = re.compile(r"^(ifeq|ifneq|ifdef|ifndef)\b\s*(.*)$")
INCLUDE = re.compile(r"^(-?include|sinclude)\s+(.+)$")
DOUBLED_CHOICE = re.compile(r"-[my]{2,}$")


def logical_lines(text: str) -> Iterable[tuple[int, str, bool]]:
    """(first line number, logical line, is_recipe) with continuations joined."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        if line.endswith("\\") and i + 1 < len(lines):
            parts = []  # joined once at the end: linear in the line's length
            while line.endswith("\\") and i + 1 < len(lines):
                parts.append(line[:-1])
                i += 1
                line = lines[i].lstrip()
            parts.append(line)
            line = " ".join(parts)
        i += 1
        yield start + 1, line, line.startswith("\t")


def split_words(value: str) -> list[str]:
    """Split at whitespace outside ``$(...)``/``${...}`` references."""
    words: list[str] = []
    depth = 0
    start: int | None = None
    for j, c in enumerate(value):
        if c in "({":
            depth += 1
        elif c in ")}":
            depth = max(0, depth - 1)
        if c.isspace() and depth == 0:
            if start is not None:
                words.append(value[start:j])
                start = None
        elif start is None:
            start = j
    if start is not None:
        words.append(value[start:])
    return words


def matching(text: str, start: int, open_c: str, close_c: str) -> int:
    depth = 0
    for j in range(start, len(text)):
        if text[j] == open_c:
            depth += 1
        elif text[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    return -1


def split_commas(text: str, count: int) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    for j, c in enumerate(text):
        if c in "({":
            depth += 1
        elif c in ")}":
            depth -= 1
        elif c == "," and depth == 0 and len(parts) < count - 1:
            parts.append(text[start:j])
            start = j + 1
    parts.append(text[start:])
    while len(parts) < count:
        parts.append("")
    return parts


def patsubst(pattern: str, replacement: str, word: str) -> str:
    if "%" not in pattern:
        return replacement if word == pattern else word
    pre, _, post = pattern.partition("%")
    if word.startswith(pre) and word.endswith(post) and len(word) >= len(pre) + len(post):
        stem = word[len(pre) : len(word) - len(post)]
        return replacement.replace("%", stem, 1) if "%" in replacement else replacement
    return word


def strip_comment(line: str) -> str:
    if "#" not in line:
        return line
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            out.append(line[i : i + 2])
            i += 2
            continue
        if c == "#":
            break
        out.append(c)
        i += 1
    return "".join(out)


def looks_like_rule(line: str, assign: re.Match[str]) -> bool:
    """``a: b=c`` is a target-specific assignment, i.e. a rule line, not a variable."""
    return ":" in assign.group("name") and assign.group("op") not in ("::=", ":::=")


def parse_condition_args(rest: str) -> tuple[str, str] | None:
    rest = rest.strip()
    if rest.startswith("("):
        end = matching(rest, 0, "(", ")")
        if end < 0:
            return None
        a, b = split_commas(rest[1:end], 2)
        return a, b
    # "a" "b" or 'a' 'b': the first string ends at its first closing quote
    if rest[:1] not in ("'", '"'):
        return None
    close = rest.find(rest[0], 1)
    second = rest[close + 1 :].lstrip() if close > 0 else ""
    if not rest[close + 1 : close + 2].isspace() or len(second) < 2:
        return None
    if second[0] not in ("'", '"') or second[-1] != second[0]:
        return None
    return rest[1:close], second[1:-1]
