"""Expansion: variable references and make's functions turned into text, within the budget.

``Expander`` holds what expansion reads (the variables defined so far, make's command line,
the built-in variables Kbuild sets, the configuration, the make that runs Kbuild) and what
it meets and cannot evaluate (``$(shell ...)``: a stand-in in the text, so that a word made
from it is known to be unknown; variables never set). The functions are in ``functions``;
``Reader`` adds the reading of lines, which ``$(eval)`` calls back into.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from gplscan.facts.make.database import MakeDB, Word
from gplscan.facts.make.functions import FUNCTIONS, static_shell
from gplscan.facts.make.limits import STEP_SCAN, Budget, MakeLimits
from gplscan.facts.make.syntax import matching, patsubst, split_commas
from gplscan.model import ScanIssue, Stage


class Expander(Budget):
    """Expands text against the variables one build file (with its includes) defines."""

    def __init__(
        self,
        root: Path,
        src_dir: Path,
        issues: list[ScanIssue],
        rel: Callable[[Path], PurePosixPath],
        config: Mapping[str, str] | None,
        command_line: Mapping[str, str] | None,
        outer: Callable[[str], str | None] | None,
        limits: MakeLimits,
    ) -> None:
        super().__init__(limits, (src_dir, 0, 0))
        self.depth0 = 0  # the expansion depth lines are read at: an $(eval)'s, inside one
        self.config = config or {}
        # variables set on make's command line (dkms.conf's MAKE line): they win over the
        # files' own assignments, as in make
        self.command_line = dict(command_line or {})
        # a variable the build files never set: from the make that ran Kbuild (the
        # Makefile's other half, its exports and its command line), when there is one
        self.outer = outer
        # what expansion met and could not evaluate: "\0<n>\0" stands in the text for
        # construct n ($(shell ...)), so that a word made from it is known to be unknown
        self.unevaluated: list[str] = []
        self.undefined: set[str] = set()  # variables referenced and never set
        self.in_condition = False
        self.root = root
        self.src_dir = src_dir
        self.issues = issues
        self.rel = functools.lru_cache(maxsize=256)(rel)  # a path's is asked for often
        self.db = MakeDB()
        self.expanding: set[str] = set()
        self.reported_loops: set[str] = set()
        self.builtins = {
            "src": str(src_dir),
            "obj": str(src_dir),
            "srctree": str(src_dir),
            "objtree": str(src_dir),
            "M": str(src_dir),
            "PWD": str(src_dir),
            "CURDIR": str(src_dir),
            "KERNELRELEASE": "gplscan-static-read",
            "MAKE": "make",
        }
        # In a kernel source tree make runs at its top: $(srctree) is the top and $(src)
        # the directory's path from there, and relative paths are the top's. Anything else
        # Kbuild builds as an external module (M=...): $(src) is the directory itself.
        self.kernel_tree = (root / "scripts" / "Makefile.build").is_file()
        self.rel_dir = os.path.relpath(src_dir, root) if src_dir.is_relative_to(root) else ""
        if self.kernel_tree:
            top, here = str(root), self.rel_dir
            self.builtins.update(src=here, obj=here, srctree=top, objtree=top)
        else:
            self.builtins["KBUILD_EXTMOD"] = str(src_dir)

    def read_lines(self, path: Path, text: str, depth: int, at_line: int | None = None) -> None:
        """Read makefile text (what ``$(eval)`` does with its text): the reader's part."""
        raise NotImplementedError

    def localize(self, path: str, base: Path | None = None) -> Path:
        """A path as make would open it: absolute as it is; in a kernel tree, one written
        from the top ($(src)/x, $(obj)/x) from the top; else from ``base`` (the directory
        of the file that names it)."""
        if os.path.isabs(path):
            return Path(path)
        here = self.rel_dir
        if (
            self.kernel_tree
            and here not in ("", ".")
            and (path == here or path.startswith(here + "/"))
        ):
            return self.root / path
        return (base or self.src_dir) / path

    def unknown_parts(self, text: str) -> list[str]:
        """The constructs not evaluated ($(shell ...)) whose stand-ins are in ``text``."""
        found = (int(n) for n in re.findall(r"\x00([0-9]{1,9})\x00", text))
        return [self.unevaluated[n] for n in found if n < len(self.unevaluated)]

    def describe_unknown(self, unknown: list[str]) -> str:
        """What a value depends on and gplscan could not work out, said for a gap."""
        parts = [f"{u[:80]} (not run: gplscan does not run commands)" for u in unknown[:2]]
        undefined = sorted(self.undefined - {"KERNELRELEASE"})
        if undefined:
            parts.append(
                f"{', '.join(undefined[:4])} (never set in the tree: make's command line or "
                "the environment sets it; dkms.conf's MAKE line can)"
            )
        return "; ".join(parts) or "a value gplscan could not work out"

    def note(self, relpath: PurePosixPath, line: int | None, message: str) -> None:
        """A problem of the build file that does not stop the reading (not a skip)."""
        where = f"line {line}: " if line else ""
        self.issues.append(ScanIssue(relpath, Stage.BUILD, where + message, skipped=False))

    def value(self, name: str, depth: int = 0) -> list[Word]:
        """The words of a variable, expanded."""
        var = self.db.variables.get(name)
        if var is None:
            return []
        if not var.recursive:
            return list(var.words)
        if name in self.expanding:
            if name not in self.reported_loops:
                self.reported_loops.add(name)
                where = var.words[0].evidence if var.words else None
                self.note(
                    where.path if where and where.path else PurePosixPath("?"),
                    where.line if where else None,
                    f"variable {name} refers to itself; the loop is cut",
                )
            return []
        self.expanding.add(name)
        try:
            return self.expand_words(var.words, depth)
        finally:
            self.expanding.discard(name)

    def expand_words(self, words: list[Word], depth: int) -> list[Word]:
        """Words expanded, each result keeping the line of the word it came from."""
        out: list[Word] = []
        limit = self.limits.words
        for w in words:
            if "$" not in w.text:
                out.append(w)
                continue
            ref = re.fullmatch(r"\$[({]([A-Za-z0-9_.\-]+)[)}]", w.text)
            if ref and ref.group(1) in self.db.variables:
                if depth >= self.limits.expansion_depth:
                    self.too_deep()
                inner = self.value(ref.group(1), depth + 1)
                if w.conditional:
                    inner = [Word(i.text, i.evidence, True) for i in inner]
                out.extend(inner)
            else:
                expanded = self.expand(w.text, depth).split()
                out.extend(Word(t, w.evidence, w.conditional) for t in expanded)
            self.charge(len(out))
            if len(out) > limit:
                self.exceed(f"a value grows past {limit} words")
        return out

    def expand(self, text: str, depth: int = 0) -> str:
        """Expand variable references and the common functions in ``text``."""
        if "$" not in text:
            return text
        if depth >= self.limits.expansion_depth:
            self.too_deep()
        out: list[str] = []
        size = 0
        i = 0
        n = len(text)
        while i < n:
            dollar = text.find("$", i)
            if dollar < 0 or dollar + 1 >= n:
                out.append(text[i:])
                size += n - i
                break
            if dollar > i:
                out.append(text[i:dollar])
                size += dollar - i
            i = dollar
            nxt = text[i + 1]
            if nxt == "$":
                piece = "$"
                i += 2
            elif nxt in "({":
                close = ")" if nxt == "(" else "}"
                end = matching(text, i + 1, nxt, close)
                if end < 0:
                    out.append(text[i:])
                    size += n - i
                    break
                piece = self.reference(text[i + 2 : end], depth + 1)
                i = end + 1
            else:
                piece = self.lookup(nxt, depth + 1)  # $X single-character variable
                i += 2
            size += len(piece)
            self.check_size(size)
            out.append(piece)
        self.charge(1 + n // STEP_SCAN, size)
        return "".join(out)

    def lookup(self, name: str, depth: int) -> str:
        """A variable's value: make's command line, the files, Kbuild's built-ins, the
        configuration (``CONFIG_*``), the make that runs Kbuild; else empty (and noted)."""
        if name in self.command_line:
            return self.command_line[name]
        if name in self.db.variables:
            return self.join(w.text for w in self.value(name, depth))
        if name in self.builtins:
            return self.builtins[name]
        if name.startswith("CONFIG_"):
            return self.config.get(name[7:], "y" if self.in_condition else "m")
        if self.outer is not None:
            value = self.outer(name)
            if value is not None:
                return value
        self.undefined.add(name)
        return ""

    def stand_in(self, construct: str) -> str:
        """A word that stands for what a construct gplscan does not evaluate would give."""
        self.charge(10, len(construct))  # each is held, and may become a gap
        self.unevaluated.append(construct)
        return f"\x00{len(self.unevaluated) - 1}\x00"

    def reference(self, body: str, depth: int) -> str:
        """``$(body)``: a function, ``$(shell ...)``, a substitution reference
        (``$(VAR:.c=.o)``) or a variable."""
        self.charge(1 + len(body) // STEP_SCAN)
        head, sep, rest = body.partition(" ")
        func = FUNCTIONS.get(head) if sep else None
        if func is not None:
            return func(self, rest, depth)
        if sep and head == "shell":
            command = self.expand(rest, depth)
            known = static_shell(command, self.src_dir)
            return known if known is not None else self.stand_in(f"$({body})")
        if sep and head in ("info", "warning", "error", "file"):
            return ""
        name = self.expand(body, depth)
        subst = re.fullmatch(r"([^:]+):([^=]*)=(.*)", name)
        if subst:
            words = self.lookup(subst.group(1), depth).split()
            pat, rep = subst.group(2), subst.group(3)
            if "%" not in pat:
                pat, rep = "%" + pat, "%" + rep
            return self.join(patsubst(pat, rep, w) for w in words)
        return self.lookup(name, depth)

    def args(self, rest: str, depth: int, count: int) -> list[str]:
        """A function's ``count`` arguments, split at commas and expanded."""
        parts = split_commas(rest, count)
        return [self.expand(p, depth) for p in parts]
