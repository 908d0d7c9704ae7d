"""Reading make's lines: conditionals, includes, assignments and explicit rules, into the
``MakeDB`` of one top-level build file (with what it includes and ``$(eval)``s).

Include cycles are cut (and noted); a limit met stops the reading and becomes a gap naming
the file and line (``report_stop``); an include whose name cannot be worked out, or names a
file outside the target, is a gap too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from gplscan.facts.make.autoconf import configured
from gplscan.facts.make.database import MakeRule, Variable, Word
from gplscan.facts.make.expansion import Expander
from gplscan.facts.make.limits import LIMITS, STEP_FILE, STEP_LINE, Exhausted, MakeLimits
from gplscan.facts.make.syntax import (
    ASSIGN,
    CONDITIONAL,
    DOUBLED_CHOICE,
    INCLUDE,
    RULE,
    logical_lines,
    looks_like_rule,
    parse_condition_args,
    split_words,
    strip_comment,
)
from gplscan.model import Evidence, EvidenceKind, Gap, Location, ScanIssue, Stage

# a stack of (active, taken) for nested conditionals; active: this branch is, and so is
# every one it is nested in
_Conditions = list[tuple[bool, bool]]
_CONDITIONAL_KEYWORDS = ("ifeq", "ifneq", "ifdef", "ifndef", "else", "endif")


class Reader(Expander):
    """Reads one top-level build file and everything it includes."""

    def __init__(
        self,
        root: Path,
        src_dir: Path,
        issues: list[ScanIssue],
        rel: Callable[[Path], PurePosixPath],
        config: Mapping[str, str] | None = None,
        command_line: Mapping[str, str] | None = None,
        outer: Callable[[str], str | None] | None = None,
        gaps: list[Gap] | None = None,
        limits: MakeLimits = LIMITS,
        limit_gaps: list[Gap] | None = None,
    ) -> None:
        super().__init__(root, src_dir, issues, rel, config, command_line, outer, limits)
        self.gaps = gaps if gaps is not None else []
        # where a limit met is reported: the gaps, unless the caller keeps those to itself
        self.limit_gaps = limit_gaps if limit_gaps is not None else self.gaps
        self.stop_reported = False
        self.included: set[Path] = set()  # files read through an include
        self.lines_read = 0
        self.include_stack: list[Path] = []

    def read_file(self, path: Path) -> None:
        """Read a top-level build file; a limit met stops the reading and is reported."""
        try:
            self.read(path)
        except Exhausted:
            self.report_stop(path)

    def read(self, path: Path, depth: int = 0) -> None:
        resolved = path.resolve()
        if resolved in self.include_stack:
            return  # the caller reported the cycle
        try:
            with path.open("rb") as f:
                data = f.read(self.limits.file_bytes + 1)
        except OSError as exc:
            self.issues.append(
                ScanIssue(self.rel(path), Stage.BUILD, f"not readable: {exc.strerror or exc}")
            )
            return
        if len(data) > self.limits.file_bytes:
            self.exceed(f"{path.name} is larger than {self.limits.file_bytes} bytes", path, 0)
        text = data.decode("utf-8", "surrogateescape")
        if "\x00" in text:
            # make ignores the rest of a line after a NUL; "\0" also marks gplscan's stand-ins
            line = text.count("\n", 0, text.index("\x00")) + 1
            self.note(
                self.rel(path), line, "NUL character: the rest of the line ignored, as make does"
            )
            text = re.sub(r"\x00[^\n]*", "", text)
        if path.name.endswith(".in"):
            text = configured(text, path.parent.resolve(), self.root)
        self.include_stack.append(resolved)
        self.builtins["MAKEFILE_LIST"] = (
            self.builtins.get("MAKEFILE_LIST", "") + " " + str(path.absolute())
        ).strip()
        try:
            self.read_lines(path, text, depth)
        finally:
            self.include_stack.pop()

    def read_lines(self, path: Path, text: str, depth: int, at_line: int | None = None) -> None:
        """Read makefile text: a file's, or (``at_line`` set) the text an ``$(eval)`` on
        that line of ``path`` gives."""
        relpath = self.rel(path)
        cond: _Conditions = []
        current_rule: MakeRule | None = None
        for lineno, raw, is_recipe in logical_lines(text):
            if at_line is not None:
                lineno = at_line
            self.here = (path, lineno, depth)
            self.lines_read += 1
            self.charge(STEP_LINE)
            if self.lines_read > self.limits.lines:
                self.exceed(f"more than {self.limits.lines} lines to read")
            active = cond[-1][0] if cond else True
            if is_recipe and current_rule is not None:
                if active:
                    current_rule.recipe.append(raw.strip())
                continue
            line = strip_comment(raw).strip()
            if not line:
                continue
            keyword = line.split(None, 1)[0]
            if "(" in keyword and keyword.startswith(("ifeq(", "ifneq(")):
                keyword, _, rest = line.partition("(")
                line = f"{keyword} ({rest}"
            if keyword in _CONDITIONAL_KEYWORDS:
                self._conditional(keyword, line, cond, relpath, lineno)
            elif active:
                evidence = Evidence(EvidenceKind.MAKEFILE, raw.strip(), relpath, lineno)
                current_rule = self._statement(path, depth, line, keyword, evidence)
        if cond:
            self.note(relpath, None, f"{len(cond)} conditional(s) not closed by 'endif'")

    def _conditional(
        self, keyword: str, line: str, cond: _Conditions, relpath: PurePosixPath, lineno: int
    ) -> None:
        """Follow ``ifeq``/``ifneq``/``ifdef``/``ifndef``, ``else [if ...]`` and ``endif``
        on the stack of conditionals ``cond``."""
        if keyword == "endif":
            if cond:
                cond.pop()
            else:
                self.note(relpath, lineno, "'endif' without a matching 'if'")
        elif keyword == "else":
            if not cond:
                self.note(relpath, lineno, "'else' without a matching 'if'")
                return
            _, taken = cond[-1]
            outer = cond[-2][0] if len(cond) > 1 else True
            rest = line[4:].strip()
            if rest and CONDITIONAL.match(rest):
                result = (not taken) and outer and self._condition(rest)
                cond[-1] = (result, taken or result)
            else:
                cond[-1] = ((not taken) and outer, True)
        else:
            active = cond[-1][0] if cond else True
            result = self._condition(line) if active else False
            cond.append((result, result))

    def _statement(
        self, path: Path, depth: int, line: str, keyword: str, evidence: Evidence
    ) -> MakeRule | None:
        """Read a line that is not a conditional, in an active branch: an include, an
        assignment, an expansion or a rule. The rule it starts, whose recipe follows."""
        inc = INCLUDE.match(line)
        if inc:
            relpath, lineno = self.rel(path), self.here[1]  # the line's, as its evidence's
            self._include(path, relpath, lineno, inc.group(1), inc.group(2), depth)
            return None
        if keyword in ("define", "endef", "undefine", "vpath", "unexport"):
            return None  # multi-line defines are not object lists; skipped on purpose
        assign = ASSIGN.match(line)
        if assign and not looks_like_rule(line, assign):
            self._assign(assign, evidence)
            return None
        rule = RULE.match(line) if "=" not in line else None
        if rule is None and line.startswith(("$(", "${")):
            # a line that is only an expansion, e.g. $(foreach m,$(MODS),$(eval include
            # $(m)/$(m).Kbuild)): expanded for what its $(eval)s read
            self.expand(line, self.depth0)
            return None
        if rule is None:
            return None
        prereq_text, _, inline_recipe = rule.group("prereqs").partition(";")
        made = MakeRule(
            targets=self.expand(rule.group("targets"), self.depth0).split(),
            prereqs=self.expand(prereq_text, self.depth0).split(),
            recipe=[inline_recipe.strip()] if inline_recipe.strip() else [],
            evidence=evidence,
        )
        self.db.rules.append(made)
        return made

    def gap(self, subject: str, relpath: PurePosixPath, line: int | None, reason: str) -> None:
        """Something that decides what is built and could not be evaluated."""
        self.gaps.append(
            Gap(
                subject,
                reason,
                Location(relpath, line),
                evidence=(Evidence(EvidenceKind.MAKEFILE, reason, relpath, line),),
            )
        )

    def report_stop(self, top: Path) -> None:
        """The gap for a limit met while reading ``top`` (once)."""
        if self.stopped is None or self.stop_reported:
            return
        self.stop_reported = True
        path, line, reason = self.stopped
        relpath = self.rel(path)
        subject = f"the build file {self.rel(top)}"
        where = f"{relpath}:{line}" if line else str(relpath)
        self.limit_gaps.append(
            Gap(
                subject,
                f"{reason} (at {where}), past gplscan's limit for one build file; it is not "
                "read further, so what it defines (modules, their objects) is not known",
                Location(relpath, line or None),
                evidence=(Evidence(EvidenceKind.MAKEFILE, reason, relpath, line or None),),
            )
        )
        # and a part of a file not read: the scan is incomplete (exit 2 unless
        # --allow-partial), as for any other input met at a limit
        self.issues.append(
            ScanIssue(
                relpath,
                Stage.BUILD,
                f"not read past {where}: {reason} (a limit of gplscan's make reader)",
            )
        )

    def words(self, name: str, top: Path) -> list[Word]:
        """A variable's words once reading is done; none once a limit stops the reading."""
        var = self.db.variables.get(name)
        if var is not None and var.words and self.stopped is None:
            first = var.words[0].evidence
            if first.path is not None:
                self.here = (self.root / first.path, first.line or 0, 0)
        try:
            return self.value(name)
        except Exhausted:
            self.report_stop(top)
            return []

    def expand_after(self, text: str, top: Path) -> str:
        """``expand`` once reading is done; empty once a limit stops the reading."""
        try:
            return self.expand(text)
        except Exhausted:
            self.report_stop(top)
            return ""

    def _include(
        self, path: Path, relpath: PurePosixPath, lineno: int, how: str, arg: str, depth: int
    ) -> None:
        optional = how != "include"
        self.undefined.clear()
        names = self.expand(arg, self.depth0).split()
        unknown = self.unknown_parts(" ".join(names))
        if not optional and (unknown or (self.undefined and not names)):
            self.gap(
                f"the include at {relpath}:{lineno}",
                relpath,
                lineno,
                f"its file name depends on {self.describe_unknown(unknown)}, so what it "
                "defines (modules, their objects) is not read",
            )
            return
        for name in names:
            if "\x00" in name:
                continue  # an optional include of a name not known (from $(shell ...))
            self.charge(STEP_FILE)  # a look at the file system
            target = self.localize(name, path.parent)
            if not target.exists() and not os.path.isabs(name):
                # make opens a relative name from its own directory: the directory whose
                # build file is read (tools/'s Makefiles), or a kernel tree's top
                target = next(
                    (c for c in (self.src_dir / name, self.root / name) if c.exists()), target
                )
            resolved = target.resolve()
            if resolved in self.include_stack:
                self.note(
                    relpath,
                    lineno,
                    f"include of {name} would loop (it is already being read); skipped",
                )
                continue
            if depth + 1 > self.limits.include_depth:
                self.exceed(f"includes nested deeper than {self.limits.include_depth}")
            template = target.with_name(target.name + ".in") if target.name else target
            if not target.exists() and template.is_file() and resolved.is_relative_to(self.root):
                target = template  # a file configure makes: read from its template
            if not resolved.is_relative_to(self.root) or not target.is_file():
                if not optional:
                    where = (
                        "is outside the target"
                        if not resolved.is_relative_to(self.root)
                        else "is not in the target"
                    )
                    undefined = sorted(self.undefined - {"KERNELRELEASE"})
                    why = (
                        f" ({', '.join(undefined)} not set: make's command line or the "
                        "environment sets it)"
                        if undefined
                        else ""
                    )
                    self.gap(
                        f"the include at {relpath}:{lineno}",
                        relpath,
                        lineno,
                        f"the file it names, {name}, {where}{why}, so what it defines "
                        "(modules, their objects) is not read",
                    )
                continue
            self.included.add(target.resolve())
            self.files_read += 1
            self.charge(STEP_FILE)
            if self.files_read > self.limits.files:
                self.exceed(f"more than {self.limits.files} files to read through include")
            self.read(target, depth + 1)

    def _assign(self, m: re.Match[str], evidence: Evidence) -> None:
        name = self.expand(m.group("name"), self.depth0).strip()
        if "$" in m.group("name"):
            # obj-$(DAHDI_BUILD_ALL)$(CONFIG_DAHDI): one of the two is set, the other empty;
            # with every option read as m, both read "m": the name Kbuild sees is obj-m
            name = DOUBLED_CHOICE.sub(lambda c: "-m" if "m" in c.group(0) else "-y", name)
        op = m.group("op")
        value = m.group("value")
        if not name:
            return
        if op == "!=":
            value = self.stand_in(f"{name} != {value.strip()}")
            op = ":="
        if name in self.command_line:
            return  # a command-line variable overrides the files' assignments, as in make
        if op == "?=" and (name in self.db.variables or name in self.builtins):
            return
        conditional = "$" in m.group("name")
        words = [Word(w, evidence, conditional) for w in split_words(value)]
        existing = self.db.variables.get(name)
        if op == "+=" and existing is not None:
            if not existing.recursive:
                words = self.expand_words(words, self.depth0)
            self.store(name, len(existing.words) + len(words), len(words))
            existing.words.extend(words)
            return
        recursive = op in ("=", "?=") or (op == "+=" and existing is None)
        if not recursive:
            words = self.expand_words(words, self.depth0)
        self.store(name, len(words), len(words))
        self.db.variables[name] = Variable(words, recursive)

    def _condition(self, line: str) -> bool:
        # an option no Kconfig of the tree declares is read as "y" when a condition tests
        # it (an out-of-tree driver testing the kernel's CONFIG_NET), "m" elsewhere
        self.in_condition = True
        try:
            keyword, _, rest = line.partition(" ")
            keyword, _, more = keyword.partition("\t")  # make takes a TAB as a space
            rest = (more + " " + rest).strip()
            if keyword in ("ifdef", "ifndef"):
                defined = bool(self.expand(f"$({rest})", self.depth0).strip())
                return defined if keyword == "ifdef" else not defined
            pair = parse_condition_args(rest)
            if pair is None:
                return False
            first, second = (self.expand(p, self.depth0).strip() for p in pair)
            equal = first == second
            return equal if keyword == "ifeq" else not equal
        finally:
            self.in_condition = False
