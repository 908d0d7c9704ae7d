"""make's text functions (``$(patsubst ...)``, ``$(foreach ...)``, ``$(call ...)``,
``$(eval ...)``, ...), each given the expander, its argument text and the expansion depth;
and what a ``$(shell ...)`` prints, where that is known without running it."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gplscan.facts.make.database import Variable, Word
from gplscan.facts.make.limits import STEP_PATTERN
from gplscan.facts.make.syntax import patsubst, split_commas
from gplscan.model import Evidence, EvidenceKind

if TYPE_CHECKING:
    from gplscan.facts.make.expansion import Expander


def _f_addprefix(r: Expander, rest: str, d: int) -> str:
    prefix, words = r.args(rest, d, 2)
    return r.join(prefix + w for w in words.split())


def _f_addsuffix(r: Expander, rest: str, d: int) -> str:
    suffix, words = r.args(rest, d, 2)
    return r.join(w + suffix for w in words.split())


def _f_patsubst(r: Expander, rest: str, d: int) -> str:
    pat, rep, words = r.args(rest, d, 3)
    return r.join(patsubst(pat.strip(), rep.strip(), w) for w in words.split())


def _f_subst(r: Expander, rest: str, d: int) -> str:
    frm, to, text = r.args(rest, d, 3)
    if not frm:
        return text
    count = text.count(frm)
    r.check_size(len(text) + count * (len(to) - len(frm)))  # before it is built
    r.charge(count)
    return text.replace(frm, to)


def _f_strip(r: Expander, rest: str, d: int) -> str:
    return " ".join(r.expand(rest, d).split())


def _f_notdir(r: Expander, rest: str, d: int) -> str:
    return r.join(w.rsplit("/", 1)[-1] for w in r.expand(rest, d).split())


def _f_dir(r: Expander, rest: str, d: int) -> str:
    return r.join(
        (w.rsplit("/", 1)[0] + "/") if "/" in w else "./" for w in r.expand(rest, d).split()
    )


def _f_basename(r: Expander, rest: str, d: int) -> str:
    return r.join(os.path.splitext(w)[0] for w in r.expand(rest, d).split())


def _f_filter(r: Expander, rest: str, d: int, keep: bool = True) -> str:
    pats, words = r.args(rest, d, 2)
    patterns = [p.replace("%", "*") for p in pats.split()]
    items = words.split()
    r.charge(len(items) * max(1, len(patterns)))  # each word against each pattern
    return r.join(w for w in items if any(fnmatch.fnmatchcase(w, p) for p in patterns) == keep)


def _f_filter_out(r: Expander, rest: str, d: int) -> str:
    return _f_filter(r, rest, d, keep=False)


def _f_if(r: Expander, rest: str, d: int) -> str:
    cond, then, other = split_commas(rest, 3)
    return r.expand(then, d) if r.expand(cond, d).strip() else r.expand(other, d)


def _f_wildcard(r: Expander, rest: str, d: int) -> str:
    found: list[str] = []
    for pat in r.expand(rest, d).split():
        r.charge(STEP_PATTERN)  # a directory listed
        if "\x00" in pat:  # made from what was not evaluated: so is what it names
            found.append(pat)
            continue
        base = str(r.localize(pat))
        directory, name = os.path.split(base)
        if not Path(directory).resolve().is_relative_to(r.root):
            continue
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        shown = os.path.dirname(pat)  # make gives names in the form the pattern has
        r.charge(len(names))
        found.extend(
            os.path.join(shown, n) if shown else n for n in names if fnmatch.fnmatchcase(n, name)
        )
    return r.join(found)


_SHELL_TEST_WORDS = frozenset({"if", "then", "else", "elif", "fi", "[", "test", "true"})


def static_shell(command: str, cwd: Path) -> str | None:
    """What a ``$(shell ...)`` prints, where that is known without running it: ``dirname``,
    ``basename``, ``pwd``, and ``echo`` of literal words under ``if [ ... ]`` tests (lttng:
    ``$(shell if [ $(VERSION) -ge 4 ]; then echo "lttng-probe-9p.o"; fi)``, whose words are
    taken as printed, as obj-$(CONFIG_X) is taken as m: object names only). None when it
    runs anything else or prints words that are not objects."""
    if "\x00" in command or any(c in command for c in "`$|<>&"):
        return None
    words = command.split()
    if not words:
        return ""
    if words[0] in ("dirname", "basename") and len(words) > 1:
        op = os.path.dirname if words[0] == "dirname" else os.path.basename
        return " ".join(op(w.rstrip("/")) or "." for w in words[1:])
    if words == ["pwd"]:
        return str(cwd)
    printed: list[str] = []
    for part in re.split(r"[;\n]", command):
        tokens = part.replace("\\", " ").split()
        while tokens and tokens[0] in ("then", "else"):
            tokens = tokens[1:]
        if not tokens:
            continue
        if tokens[0] == "echo":
            printed.extend(t.strip("\"'") for t in tokens[1:] if t.strip("\"'"))
        elif tokens[0] not in _SHELL_TEST_WORDS and not tokens[0].startswith("-"):
            return None  # runs a program: what it prints is not known
    if not all(w.endswith(".o") for w in printed):
        return None  # a value a condition compares ("ok", "warn"): which one is not known
    return " ".join(printed)


def _f_eval(r: Expander, rest: str, d: int) -> str:
    """``$(eval TEXT)``: TEXT expanded, then read as makefile lines (of the line it is on)."""
    text = r.expand(rest, d)
    path, line, depth = r.here
    if text.strip():
        # its lines are read at this depth: $(eval)s within $(eval)s count on
        saved, r.depth0 = r.depth0, d
        try:
            r.read_lines(path, text, depth, at_line=line)
        finally:
            r.depth0 = saved
        r.here = (path, line, depth)
    return ""


def _f_foreach(r: Expander, rest: str, d: int) -> str:
    """``$(foreach VAR,LIST,TEXT)``: TEXT expanded with VAR set to each word of LIST."""
    name, words, body = split_commas(rest, 3)
    name = r.expand(name, d).strip()
    path, line, _ = r.here
    evidence = Evidence(EvidenceKind.MAKEFILE, f"$(foreach {name},...)", r.rel(path), line)
    saved = r.db.variables.get(name)
    out = []
    size = 0
    try:
        for word in r.expand(words, d).split():
            r.charge(1)
            r.db.variables[name] = Variable([Word(word, evidence)], recursive=False)
            piece = r.expand(body, d)
            if piece.strip():
                size += len(piece) + 1
                r.check_size(size)  # as it grows
                out.append(piece)
    finally:
        if saved is None:
            r.db.variables.pop(name, None)
        else:
            r.db.variables[name] = saved
    return " ".join(out)


def _f_call(r: Expander, rest: str, d: int) -> str:
    """``$(call VAR,ARG1,ARG2,...)``: VAR's value expanded with $(1), $(2), ... set.

    A function may call itself, as in make; one that never stops meets the depth limit."""
    parts = split_commas(rest, rest.count(",") + 1)
    r.charge(len(parts))  # each argument is a variable while it runs
    name = r.expand(parts[0], d).strip()
    var = r.db.variables.get(name)
    if var is None:
        return ""
    args = {str(i): r.expand(a, d) for i, a in enumerate(parts[1:], 1)}
    args["0"] = name
    path, line, _ = r.here
    evidence = Evidence(EvidenceKind.MAKEFILE, f"$(call {name},...)", r.rel(path), line)
    saved = {k: r.db.variables.get(k) for k in args}
    for k, v in args.items():
        r.db.variables[k] = Variable([Word(w, evidence) for w in v.split()], recursive=False)
    try:
        text = r.join(w.text for w in var.words)
        return r.expand(text, d) if var.recursive else text
    finally:
        for k, old in saved.items():
            if old is None:
                r.db.variables.pop(k, None)
            else:
                r.db.variables[k] = old


def _f_value(r: Expander, rest: str, d: int) -> str:
    var = r.db.variables.get(r.expand(rest, d).strip())
    return r.join(w.text for w in var.words) if var is not None else ""


def _f_origin(r: Expander, rest: str, d: int) -> str:
    name = r.expand(rest, d).strip()
    if name in r.command_line:
        return "command line"
    if name in r.db.variables:
        return "file"
    return "default" if name in ("CC", "LD", "AR", "AS", "CPP", "CXX", "RM") else "undefined"


def _f_lastword(r: Expander, rest: str, d: int) -> str:
    words = r.expand(rest, d).split()
    return words[-1] if words else ""


def _f_words(r: Expander, rest: str, d: int) -> str:
    return str(len(r.expand(rest, d).split()))


def _f_word(r: Expander, rest: str, d: int) -> str:
    n, words = r.args(rest, d, 2)
    items = words.split()
    number = re.fullmatch(r"\s*0*([0-9]{1,9})\s*", n)  # make takes decimal digits only
    index = int(number.group(1)) if number else 0
    return items[index - 1] if 0 < index <= len(items) else ""


def _f_abspath(r: Expander, rest: str, d: int) -> str:
    """Paths made absolute against the directory read (where make runs for Kbuild's M=)."""
    return r.join(
        w if "\x00" in w else os.path.normpath(os.path.join(r.src_dir, w))
        for w in r.expand(rest, d).split()
    )


def _f_sort(r: Expander, rest: str, d: int) -> str:
    words = r.expand(rest, d).split()
    r.charge(len(words))
    return " ".join(sorted(set(words)))


def _f_firstword(r: Expander, rest: str, d: int) -> str:
    words = r.expand(rest, d).split()
    return words[0] if words else ""


FUNCTIONS: dict[str, Callable[[Expander, str, int], str]] = {
    "addprefix": _f_addprefix,
    "addsuffix": _f_addsuffix,
    "patsubst": _f_patsubst,
    "subst": _f_subst,
    "strip": _f_strip,
    "notdir": _f_notdir,
    "dir": _f_dir,
    "basename": _f_basename,
    "filter": _f_filter,
    "filter-out": _f_filter_out,
    "if": _f_if,
    "wildcard": _f_wildcard,
    "sort": _f_sort,
    "firstword": _f_firstword,
    "lastword": _f_lastword,
    "words": _f_words,
    "word": _f_word,
    "abspath": _f_abspath,
    "realpath": _f_abspath,
    "eval": _f_eval,
    "foreach": _f_foreach,
    "call": _f_call,
    "value": _f_value,
    "origin": _f_origin,
}
