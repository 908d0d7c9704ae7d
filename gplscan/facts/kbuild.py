"""Build facts from Kbuild files and Makefiles, read statically, every word with its line.

A small make reader, not make: variables (``=``, ``:=``, ``+=``, ``?=``), the common text
functions, conditionals, ``include`` and explicit rules. Kbuild's meaning is then read off
the variables: ``obj-m`` names modules, ``<mod>-objs``/``<mod>-y`` their members, and
``EXTRA_LDFLAGS``/``ldflags-y`` objects that enter through the linker's command line.

Static reading needs a configuration; gplscan reads trees as if every ``CONFIG_*`` option
were ``m`` (so ``obj-$(CONFIG_FOO) += foo.o`` is a module) and ``KERNELRELEASE`` were set
(so an out-of-tree Makefile's Kbuild half is the one read).

Hostile input is bounded: include cycles and self-references are cut (and noted), and what
reading one build file may cost is capped by ``LIMITS`` (see ``MakeLimits``): a build file
that meets a limit is read no further, and the limit is a gap naming the file and line.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gplscan.model import CopyRule, Evidence, Gap, Location, MemberRef, ModuleSpec, ScanIssue


@dataclass(frozen=True, slots=True)
class MakeLimits:
    """What reading one build file may cost, with all it includes and ``$(eval)``s.

    Each is far above what real trees use: the most any build file of Linux 6.1 or of the
    40 DKMS packages of Debian 12's census uses is 95k steps (zfs), 431k characters of
    work and 26k in one value (nvidia), 3,163 stored words (nvidia), 2,612 lines (Linux's
    top Makefile), 1,516 words in one variable, 55 included files (nouveau) and depth 13.

    A build file that meets one is read no further: what it defined up to there is kept,
    and the limit becomes a gap (the ``not-judged`` finding) naming the file, the line and
    the limit; the scan goes on with the rest of the tree. Sizes are checked while a value
    is built, before it is held, so memory stays small (tens of MB); the step budget
    bounds the time (hostile input meets it in 0.3 to 1.5 s here).
    """

    file_bytes: int = 8 << 20  # one file read (Linux's largest Makefile: ~70 KB)
    lines: int = 100_000  # logical lines read, those of includes and $(eval) text too
    files: int = 1_000  # files read through include (an include inside a loop reads again)
    include_depth: int = 16  # includes within includes
    expansion_depth: int = 40  # references within references; $(eval) text counts on
    value_chars: int = 1 << 20  # one expansion's text, checked as it grows
    words: int = 100_000  # one variable's words
    stored_words: int = 1_000_000  # the words all variables hold together
    work_chars: int = 32 << 20  # the text all expansions produce together
    steps: int = 500_000  # units of work, a few microseconds each (the costs below)


LIMITS = MakeLimits()

# What each kind of work costs, in steps: a reference expanded or a word gone through is
# one; the others are weighed by the time they take
STEP_LINE = 4  # a line read
STEP_FILE = 200  # a file read, a name an include looks up in the file system
STEP_PATTERN = 50  # a $(wildcard) pattern: a directory listed
STEP_SCAN = 64  # characters scanned for references and commas, per step


class _Exhausted(Exception):
    """A limit of ``MakeLimits`` was met: reading stops; the reader reports it as a gap."""


_ASSIGN = re.compile(
    r"^(?P<prefix>(?:(?:override|export|private)\s+)*)"
    r"(?P<name>[^\s:=#]+?)\s*(?P<op>::=|:::=|:=|\+=|\?=|!=|=)\s*(?P<value>.*)$"
)
# a rule line has no "=" (checked first): targets end at the first colon, in linear time
_RULE = re.compile(r"^(?P<targets>[^:=#\t][^:=#]*)(?P<colon>::?)(?!=)\s*(?P<prereqs>[^=]*)$")
_CONDITIONAL = re.compile(r"^(ifeq|ifneq|ifdef|ifndef)\b\s*(.*)$")
_INCLUDE = re.compile(r"^(-?include|sinclude)\s+(.+)$")
_DOUBLED_CHOICE = re.compile(r"-[my]{2,}$")
LDFLAGS_VARS = (
    "EXTRA_LDFLAGS",
    "ldflags-y",
    "ldflags-m",
    "LDFLAGS_MODULE",
    "KBUILD_LDFLAGS_MODULE",
)
SOURCE_SUFFIXES = (".c", ".S", ".s", ".cc", ".cpp")
CFLAGS_VARS = ("ccflags-y", "ccflags-m", "EXTRA_CFLAGS", "subdir-ccflags-y", "asflags-y")
_OBJECT_LIKE = re.compile(r"\.(?:o|o_shipped|o_binary|a|ko)$|\.o_[A-Za-z0-9]+$")


@dataclass(frozen=True, slots=True)
class Word:
    """A word of a variable's value and the line that put it there."""

    text: str
    evidence: Evidence
    conditional: bool = False  # put there by an assignment whose name depends on CONFIG_*


@dataclass(slots=True)
class _Var:
    words: list[Word]
    recursive: bool  # "=" variables are expanded when used, ":=" ones when assigned


@dataclass(slots=True)
class _Rule:
    targets: list[str]
    prereqs: list[str]
    recipe: list[str]
    evidence: Evidence


@dataclass(slots=True)
class MakeDB:
    """What one build file (with its includes) defines."""

    variables: dict[str, _Var] = field(default_factory=dict)
    rules: list[_Rule] = field(default_factory=list)


class _Reader:
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
        self.gaps = gaps if gaps is not None else []
        # where a limit met is reported: the gaps, unless the caller keeps those to itself
        self.limit_gaps = limit_gaps if limit_gaps is not None else self.gaps
        self.limits = limits
        # what reading has cost so far (see MakeLimits), and why it stopped, once it has
        self.steps = 0
        self.produced = 0
        self.stored = 0
        self.files_read = 0
        self.stopped: tuple[Path, int, str] | None = None
        self.stop_reported = False
        self.depth0 = 0  # the expansion depth lines are read at: an $(eval)'s, inside one
        self.included: set[Path] = set()  # files read through an include
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
        self.here: tuple[Path, int, int] = (src_dir, 0, 0)  # file, line, include depth
        self.in_condition = False
        self.root = root
        self.src_dir = src_dir
        self.issues = issues
        self.rel = functools.lru_cache(maxsize=256)(rel)  # a path's is asked for often
        self.db = MakeDB()
        self.lines_read = 0
        self.include_stack: list[Path] = []
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

    # -- reading ---------------------------------------------------------------------------

    def read_file(self, path: Path) -> None:
        """Read a top-level build file; a limit met stops the reading and is reported."""
        try:
            self.read(path)
        except _Exhausted:
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
                ScanIssue(self.rel(path), "build", f"not readable: {exc.strerror or exc}")
            )
            return
        if len(data) > self.limits.file_bytes:
            self.exceed(f"{path.name} is larger than {self.limits.file_bytes} bytes", path, 0)
        text = data.decode("utf-8", "surrogateescape")
        if "\x00" in text:
            # make ignores the rest of a line after a NUL; "\0" also marks gplscan's stand-ins
            line = text.count("\n", 0, text.index("\x00")) + 1
            self._note(
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
            self._read_lines(path, text, depth)
        finally:
            self.include_stack.pop()

    def _logical_lines(self, text: str) -> Iterable[tuple[int, str, bool]]:
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

    def _read_lines(self, path: Path, text: str, depth: int, at_line: int | None = None) -> None:
        """Read makefile text: a file's, or (``at_line`` set) the text an ``$(eval)`` on
        that line of ``path`` gives."""
        relpath = self.rel(path)
        # a stack of (active, taken) for nested conditionals; active: this branch is, and
        # so is every one it is nested in
        cond: list[tuple[bool, bool]] = []
        current_rule: _Rule | None = None
        for lineno, raw, is_recipe in self._logical_lines(text):
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
            line = _strip_comment(raw).strip()
            if not line:
                continue
            evidence = Evidence("makefile", raw.strip(), relpath, lineno)
            keyword = line.split(None, 1)[0]
            if "(" in keyword and keyword.startswith(("ifeq(", "ifneq(")):
                keyword, _, rest = line.partition("(")
                line = f"{keyword} ({rest}"
            if keyword in ("ifeq", "ifneq", "ifdef", "ifndef"):
                result = self._condition(line) if active else False
                cond.append((result, result))
                continue
            if keyword == "else":
                if not cond:
                    self._note(relpath, lineno, "'else' without a matching 'if'")
                    continue
                _, taken = cond[-1]
                outer = cond[-2][0] if len(cond) > 1 else True
                rest = line[4:].strip()
                if rest and _CONDITIONAL.match(rest):
                    result = (not taken) and outer and self._condition(rest)
                    cond[-1] = (result, taken or result)
                else:
                    cond[-1] = ((not taken) and outer, True)
                continue
            if keyword == "endif":
                if cond:
                    cond.pop()
                else:
                    self._note(relpath, lineno, "'endif' without a matching 'if'")
                continue
            if not active:
                continue
            current_rule = None
            inc = _INCLUDE.match(line)
            if inc:
                self._include(path, relpath, lineno, inc.group(1), inc.group(2), depth)
                continue
            if keyword in ("define", "endef", "undefine", "vpath", "unexport"):
                continue  # multi-line defines are not object lists; skipped on purpose
            assign = _ASSIGN.match(line)
            if assign and not _looks_like_rule(line, assign):
                self._assign(assign, evidence)
                continue
            rule = _RULE.match(line) if "=" not in line else None
            if rule is None and line.startswith(("$(", "${")):
                # a line that is only an expansion, e.g. $(foreach m,$(MODS),$(eval include
                # $(m)/$(m).Kbuild)): expanded for what its $(eval)s read
                self.expand(line, self.depth0)
                current_rule = None
                continue
            if rule:
                prereq_text, _, inline_recipe = rule.group("prereqs").partition(";")
                current_rule = _Rule(
                    targets=self.expand(rule.group("targets"), self.depth0).split(),
                    prereqs=self.expand(prereq_text, self.depth0).split(),
                    recipe=[inline_recipe.strip()] if inline_recipe.strip() else [],
                    evidence=evidence,
                )
                self.db.rules.append(current_rule)
        if cond:
            self._note(relpath, None, f"{len(cond)} conditional(s) not closed by 'endif'")

    def gap(self, subject: str, relpath: PurePosixPath, line: int | None, reason: str) -> None:
        """Something that decides what is built and could not be evaluated."""
        self.gaps.append(
            Gap(
                subject,
                reason,
                Location(relpath, line),
                evidence=(Evidence("makefile", reason, relpath, line),),
            )
        )

    def unknown_parts(self, text: str) -> list[str]:
        """The constructs not evaluated ($(shell ...)) whose stand-ins are in ``text``."""
        found = (int(n) for n in re.findall(r"\x00([0-9]{1,9})\x00", text))
        return [self.unevaluated[n] for n in found if n < len(self.unevaluated)]

    # -- limits ----------------------------------------------------------------------------

    def exceed(self, reason: str, path: Path | None = None, line: int | None = None) -> None:
        """Stop reading: a limit is met (``reason`` says which). Raises ``_Exhausted``."""
        if self.stopped is None:
            here, at, _ = self.here
            self.stopped = (path or here, at if line is None else line, reason)
        raise _Exhausted(self.stopped[2])

    def charge(self, steps: int, chars: int = 0) -> None:
        """Count work done; past the step or work budget, stop reading."""
        self.steps += steps
        self.produced += chars
        if self.stopped is not None:
            raise _Exhausted(self.stopped[2])
        if self.steps > self.limits.steps:
            self.exceed(
                f"reading it takes more than {self.limits.steps} steps of work (references "
                "expanded, words, lines and files gone through)"
            )
        if self.produced > self.limits.work_chars:
            self.exceed(f"expanding it produces more than {self.limits.work_chars} characters")

    def check_size(self, size: int) -> None:
        """Stop reading before a value longer than the limit is built."""
        if size > self.limits.value_chars:
            self.exceed(f"a value grows past {self.limits.value_chars} characters")

    def join(self, pieces: Iterable[str]) -> str:
        """Words joined by spaces, the size checked as it grows."""
        out: list[str] = []
        size = 0
        for piece in pieces:
            size += len(piece) + 1
            self.check_size(size)
            out.append(piece)
        self.charge(len(out), size)
        return " ".join(out)

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
                evidence=(Evidence("makefile", reason, relpath, line or None),),
            )
        )
        # and a part of a file not read: the scan is incomplete (exit 2 unless
        # --allow-partial), as for any other input met at a limit
        self.issues.append(
            ScanIssue(
                relpath,
                "build",
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
        except _Exhausted:
            self.report_stop(top)
            return []

    def expand_after(self, text: str, top: Path) -> str:
        """``expand`` once reading is done; empty once a limit stops the reading."""
        try:
            return self.expand(text)
        except _Exhausted:
            self.report_stop(top)
            return ""

    def describe_unknown(self, unknown: list[str]) -> str:
        parts = [f"{u[:80]} (not run: gplscan does not run commands)" for u in unknown[:2]]
        undefined = sorted(self.undefined - {"KERNELRELEASE"})
        if undefined:
            parts.append(
                f"{', '.join(undefined[:4])} (never set in the tree: make's command line or "
                "the environment sets it; dkms.conf's MAKE line can)"
            )
        return "; ".join(parts) or "a value gplscan could not work out"

    def _note(self, relpath: PurePosixPath, line: int | None, message: str) -> None:
        where = f"line {line}: " if line else ""
        self.issues.append(ScanIssue(relpath, "build", where + message, skipped=False))

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
                self._note(
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
            name = _DOUBLED_CHOICE.sub(lambda c: "-m" if "m" in c.group(0) else "-y", name)
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
        words = [Word(w, evidence, conditional) for w in _split_words(value)]
        existing = self.db.variables.get(name)
        if op == "+=" and existing is not None:
            if not existing.recursive:
                words = self._expand_words(words, self.depth0)
            self._store(name, len(existing.words) + len(words), len(words))
            existing.words.extend(words)
            return
        recursive = op in ("=", "?=") or (op == "+=" and existing is None)
        if not recursive:
            words = self._expand_words(words, self.depth0)
        self._store(name, len(words), len(words))
        self.db.variables[name] = _Var(words, recursive)

    def _store(self, name: str, count: int, added: int) -> None:
        """Check a variable's size (``count`` words, ``added`` of them new) before it is held."""
        if count > self.limits.words:
            self.exceed(f"variable {name[:80]} grows past {self.limits.words} words")
        self.stored += added
        if self.stored > self.limits.stored_words:
            self.exceed(f"its variables hold more than {self.limits.stored_words} words")

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
            pair = _parse_condition_args(rest)
            if pair is None:
                return False
            first, second = (self.expand(p, self.depth0).strip() for p in pair)
            equal = first == second
            return equal if keyword == "ifeq" else not equal
        finally:
            self.in_condition = False

    # -- expansion -------------------------------------------------------------------------

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
                self._note(
                    where.path if where and where.path else PurePosixPath("?"),
                    where.line if where else None,
                    f"variable {name} refers to itself; the loop is cut",
                )
            return []
        self.expanding.add(name)
        try:
            return self._expand_words(var.words, depth)
        finally:
            self.expanding.discard(name)

    def _expand_words(self, words: list[Word], depth: int) -> list[Word]:
        out: list[Word] = []
        limit = self.limits.words
        for w in words:
            if "$" not in w.text:
                out.append(w)
                continue
            ref = re.fullmatch(r"\$[({]([A-Za-z0-9_.\-]+)[)}]", w.text)
            if ref and ref.group(1) in self.db.variables:
                if depth >= self.limits.expansion_depth:
                    self._too_deep()
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

    def _too_deep(self) -> None:
        self.exceed(
            f"references nested deeper than {self.limits.expansion_depth} (with the "
            "$(eval)s they are in)"
        )

    def expand(self, text: str, depth: int = 0) -> str:
        """Expand variable references and the common functions in ``text``."""
        if "$" not in text:
            return text
        if depth >= self.limits.expansion_depth:
            self._too_deep()
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
                end = _matching(text, i + 1, nxt, close)
                if end < 0:
                    out.append(text[i:])
                    size += n - i
                    break
                piece = self._reference(text[i + 2 : end], depth + 1)
                i = end + 1
            else:
                piece = self._lookup(nxt, depth + 1)  # $X single-character variable
                i += 2
            size += len(piece)
            self.check_size(size)
            out.append(piece)
        self.charge(1 + n // STEP_SCAN, size)
        return "".join(out)

    def _lookup(self, name: str, depth: int) -> str:
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

    def _reference(self, body: str, depth: int) -> str:
        self.charge(1 + len(body) // STEP_SCAN)
        head, sep, rest = body.partition(" ")
        func = _FUNCTIONS.get(head) if sep else None
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
            words = self._lookup(subst.group(1), depth).split()
            pat, rep = subst.group(2), subst.group(3)
            if "%" not in pat:
                pat, rep = "%" + pat, "%" + rep
            return self.join(_patsubst(pat, rep, w) for w in words)
        return self._lookup(name, depth)

    def args(self, rest: str, depth: int, count: int) -> list[str]:
        parts = _split_commas(rest, count)
        return [self.expand(p, depth) for p in parts]


def _split_words(value: str) -> list[str]:
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


def _matching(text: str, start: int, open_c: str, close_c: str) -> int:
    depth = 0
    for j in range(start, len(text)):
        if text[j] == open_c:
            depth += 1
        elif text[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _split_commas(text: str, count: int) -> list[str]:
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


def _patsubst(pattern: str, replacement: str, word: str) -> str:
    if "%" not in pattern:
        return replacement if word == pattern else word
    pre, _, post = pattern.partition("%")
    if word.startswith(pre) and word.endswith(post) and len(word) >= len(pre) + len(post):
        stem = word[len(pre) : len(word) - len(post)]
        return replacement.replace("%", stem, 1) if "%" in replacement else replacement
    return word


def _f_addprefix(r: _Reader, rest: str, d: int) -> str:
    prefix, words = r.args(rest, d, 2)
    return r.join(prefix + w for w in words.split())


def _f_addsuffix(r: _Reader, rest: str, d: int) -> str:
    suffix, words = r.args(rest, d, 2)
    return r.join(w + suffix for w in words.split())


def _f_patsubst(r: _Reader, rest: str, d: int) -> str:
    pat, rep, words = r.args(rest, d, 3)
    return r.join(_patsubst(pat.strip(), rep.strip(), w) for w in words.split())


def _f_subst(r: _Reader, rest: str, d: int) -> str:
    frm, to, text = r.args(rest, d, 3)
    if not frm:
        return text
    count = text.count(frm)
    r.check_size(len(text) + count * (len(to) - len(frm)))  # before it is built
    r.charge(count)
    return text.replace(frm, to)


def _f_strip(r: _Reader, rest: str, d: int) -> str:
    return " ".join(r.expand(rest, d).split())


def _f_notdir(r: _Reader, rest: str, d: int) -> str:
    return r.join(w.rsplit("/", 1)[-1] for w in r.expand(rest, d).split())


def _f_dir(r: _Reader, rest: str, d: int) -> str:
    return r.join(
        (w.rsplit("/", 1)[0] + "/") if "/" in w else "./" for w in r.expand(rest, d).split()
    )


def _f_basename(r: _Reader, rest: str, d: int) -> str:
    return r.join(os.path.splitext(w)[0] for w in r.expand(rest, d).split())


def _f_filter(r: _Reader, rest: str, d: int, keep: bool = True) -> str:
    pats, words = r.args(rest, d, 2)
    patterns = [p.replace("%", "*") for p in pats.split()]
    items = words.split()
    r.charge(len(items) * max(1, len(patterns)))  # each word against each pattern
    return r.join(w for w in items if any(fnmatch.fnmatchcase(w, p) for p in patterns) == keep)


def _f_filter_out(r: _Reader, rest: str, d: int) -> str:
    return _f_filter(r, rest, d, keep=False)


def _f_if(r: _Reader, rest: str, d: int) -> str:
    cond, then, other = _split_commas(rest, 3)
    return r.expand(then, d) if r.expand(cond, d).strip() else r.expand(other, d)


def _f_wildcard(r: _Reader, rest: str, d: int) -> str:
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


def _f_eval(r: _Reader, rest: str, d: int) -> str:
    """``$(eval TEXT)``: TEXT expanded, then read as makefile lines (of the line it is on)."""
    text = r.expand(rest, d)
    path, line, depth = r.here
    if text.strip():
        # its lines are read at this depth: $(eval)s within $(eval)s count on
        saved, r.depth0 = r.depth0, d
        try:
            r._read_lines(path, text, depth, at_line=line)
        finally:
            r.depth0 = saved
        r.here = (path, line, depth)
    return ""


def _f_foreach(r: _Reader, rest: str, d: int) -> str:
    """``$(foreach VAR,LIST,TEXT)``: TEXT expanded with VAR set to each word of LIST."""
    name, words, body = _split_commas(rest, 3)
    name = r.expand(name, d).strip()
    path, line, _ = r.here
    evidence = Evidence("makefile", f"$(foreach {name},...)", r.rel(path), line)
    saved = r.db.variables.get(name)
    out = []
    size = 0
    try:
        for word in r.expand(words, d).split():
            r.charge(1)
            r.db.variables[name] = _Var([Word(word, evidence)], recursive=False)
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


def _f_call(r: _Reader, rest: str, d: int) -> str:
    """``$(call VAR,ARG1,ARG2,...)``: VAR's value expanded with $(1), $(2), ... set.

    A function may call itself, as in make; one that never stops meets the depth limit."""
    parts = _split_commas(rest, rest.count(",") + 1)
    r.charge(len(parts))  # each argument is a variable while it runs
    name = r.expand(parts[0], d).strip()
    var = r.db.variables.get(name)
    if var is None:
        return ""
    args = {str(i): r.expand(a, d) for i, a in enumerate(parts[1:], 1)}
    args["0"] = name
    path, line, _ = r.here
    evidence = Evidence("makefile", f"$(call {name},...)", r.rel(path), line)
    saved = {k: r.db.variables.get(k) for k in args}
    for k, v in args.items():
        r.db.variables[k] = _Var([Word(w, evidence) for w in v.split()], recursive=False)
    try:
        text = r.join(w.text for w in var.words)
        return r.expand(text, d) if var.recursive else text
    finally:
        for k, old in saved.items():
            if old is None:
                r.db.variables.pop(k, None)
            else:
                r.db.variables[k] = old


def _f_value(r: _Reader, rest: str, d: int) -> str:
    var = r.db.variables.get(r.expand(rest, d).strip())
    return r.join(w.text for w in var.words) if var is not None else ""


def _f_origin(r: _Reader, rest: str, d: int) -> str:
    name = r.expand(rest, d).strip()
    if name in r.command_line:
        return "command line"
    if name in r.db.variables:
        return "file"
    return "default" if name in ("CC", "LD", "AR", "AS", "CPP", "CXX", "RM") else "undefined"


def _f_lastword(r: _Reader, rest: str, d: int) -> str:
    words = r.expand(rest, d).split()
    return words[-1] if words else ""


def _f_words(r: _Reader, rest: str, d: int) -> str:
    return str(len(r.expand(rest, d).split()))


def _f_word(r: _Reader, rest: str, d: int) -> str:
    n, words = r.args(rest, d, 2)
    items = words.split()
    number = re.fullmatch(r"\s*0*([0-9]{1,9})\s*", n)  # make takes decimal digits only
    index = int(number.group(1)) if number else 0
    return items[index - 1] if 0 < index <= len(items) else ""


def _f_abspath(r: _Reader, rest: str, d: int) -> str:
    """Paths made absolute against the directory read (where make runs for Kbuild's M=)."""
    return r.join(
        w if "\x00" in w else os.path.normpath(os.path.join(r.src_dir, w))
        for w in r.expand(rest, d).split()
    )


def _f_sort(r: _Reader, rest: str, d: int) -> str:
    words = r.expand(rest, d).split()
    r.charge(len(words))
    return " ".join(sorted(set(words)))


def _f_firstword(r: _Reader, rest: str, d: int) -> str:
    words = r.expand(rest, d).split()
    return words[0] if words else ""


_FUNCTIONS: dict[str, Callable[[_Reader, str, int], str]] = {
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


def _strip_comment(line: str) -> str:
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


def _looks_like_rule(line: str, assign: re.Match[str]) -> bool:
    """``a: b=c`` is a target-specific assignment, i.e. a rule line, not a variable."""
    return ":" in assign.group("name") and assign.group("op") not in ("::=", ":::=")


def _parse_condition_args(rest: str) -> tuple[str, str] | None:
    rest = rest.strip()
    if rest.startswith("("):
        end = _matching(rest, 0, "(", ")")
        if end < 0:
            return None
        a, b = _split_commas(rest[1:end], 2)
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


# --- Kbuild meaning -------------------------------------------------------------------------


def build_file_for(directory: Path) -> Path | None:
    """The file Kbuild reads in a directory: ``Kbuild`` first, else ``Makefile``; in a tree
    that configure has not run in yet, their templates (``Kbuild.in``, ``Makefile.in``)."""
    for name in ("Kbuild", "Makefile", "makefile", "GNUmakefile", "Kbuild.in", "Makefile.in"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


_AUTOCONF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)@")


def configured(text: str, directory: Path, root: Path) -> str:
    """An autoconf template as configure would write it, as far as a static reading knows:
    the source and build directories (``@abs_srcdir@``, ``@top_srcdir@``, ...) are the
    template's own and the top of its configure tree; an automake conditional
    (``@COND_TRUE@``/``@COND_FALSE@``) keeps both branches' lines; any other ``@VAR@`` is
    left empty (a configure result: a kernel path, a flag)."""
    top = next(
        (
            d
            for d in (directory, *directory.parents)
            if (d / "configure").is_file() or (d / "configure.ac").is_file()
        ),
        root,
    )
    if not top.is_relative_to(root):
        top = root
    up = os.path.relpath(top, directory)
    known = {
        "abs_srcdir": str(directory),
        "abs_builddir": str(directory),
        "srcdir": ".",
        "builddir": ".",
        "abs_top_srcdir": str(top),
        "abs_top_builddir": str(top),
        "top_srcdir": up,
        "top_builddir": up,
        "TOP_SRCDIR": str(top / "src") if (top / "src").is_dir() else str(top),  # OpenAFS
        "TOP_OBJDIR": str(top),
    }

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        return known.get(name, "")

    return _AUTOCONF.sub(value, text)


def read_kbuild(
    build_file: Path,
    root: Path,
    issues: list[ScanIssue],
    config: Mapping[str, str] | None = None,
    *,
    gaps: list[Gap] | None = None,
    command_line: Mapping[str, str] | None = None,
    reaches: list[PurePosixPath] | None = None,
    included: set[Path] | None = None,
    limits: MakeLimits = LIMITS,
) -> tuple[list[ModuleSpec], list[CopyRule]]:
    """Modules (with members) and copy rules one directory's build file describes.

    ``command_line`` holds variables set on make's command line (dkms.conf's MAKE line).
    A variable the file never sets is taken from the make that runs Kbuild: the other half
    of the directory's Makefile (read with KERNELRELEASE unset), then the target's top
    Makefile's. What decides the modules and cannot be evaluated is added to ``gaps``, and
    so is a limit met (``limits``: what reading each file may cost).
    """
    if gaps is None:
        gaps = []

    def rel(p: Path) -> PurePosixPath:
        try:
            return PurePosixPath(p.resolve().relative_to(root).as_posix())
        except ValueError:
            return PurePosixPath(p.name)

    directory = build_file.parent
    outer = _OuterMake(root, directory.resolve(), rel, config, command_line, limits, gaps)
    reader = _Reader(
        root, directory.resolve(), issues, rel, config, command_line, outer, gaps, limits
    )
    reader.read_file(build_file)
    dir_rel = rel(directory)

    def unknown(word: Word, what: str) -> bool:
        """Whether a word is made from a construct gplscan did not evaluate (a gap)."""
        parts = reader.unknown_parts(word.text)
        if not parts:
            return False
        where = word.evidence.path or dir_rel
        reader.gap(
            f"{what} at {where}:{word.evidence.line}",
            where,
            word.evidence.line,
            f"it depends on {reader.describe_unknown(parts)}",
        )
        return True

    def object_path(word: str) -> PurePosixPath | None:
        path = reader.localize(word, directory)
        resolved = Path(os.path.normpath(path.absolute()))
        try:
            return PurePosixPath(resolved.relative_to(root).as_posix())
        except ValueError:
            return None

    ld_objects: list[tuple[Word, PurePosixPath]] = []
    for var in LDFLAGS_VARS:
        for w in reader.words(var, build_file):
            if _OBJECT_LIKE.search(w.text) and not w.text.startswith("-"):
                target = object_path(w.text)
                if target is not None:
                    ld_objects.append((w, target))

    include_dirs: list[PurePosixPath] = []
    for var in CFLAGS_VARS:
        flags = [w.text for w in reader.words(var, build_file)]
        for i, text in enumerate(flags):
            flag = text[2:] if text.startswith("-I") else None
            if text == "-I" and i + 1 < len(flags):
                flag = flags[i + 1]
            if flag:
                where = Path(flag) if os.path.isabs(flag) else root / flag
                target = object_path(str(where))
                if target is not None and target not in include_dirs:
                    include_dirs.append(target)

    modules: list[ModuleSpec] = []
    seen: set[str] = set()
    for word in reader.words("obj-m", build_file):
        if unknown(word, "a module name (obj-m)"):
            continue
        if not word.text.endswith(".o"):
            continue
        name = PurePosixPath(word.text).name[:-2]
        if not name:  # "$(NAME).o" with NAME empty as read: which module is not known
            declared = word.evidence.path or dir_rel
            reader.gap(
                f"a module name (obj-m) at {declared}:{word.evidence.line}",
                declared,
                word.evidence.line,
                f"it reads as {word.text!r}, a module without a name: it depends on "
                f"{reader.describe_unknown([])}",
            )
            continue
        if name in seen:
            continue
        seen.add(name)
        members: list[MemberRef] = []
        for suffix in ("-objs", "-y", "-m"):
            for w in reader.words(name + suffix, build_file):
                if unknown(w, f"an object of {name} ({name}{suffix})"):
                    continue
                if not _OBJECT_LIKE.search(w.text):
                    continue  # subdirectories and stray words are not members
                target = object_path(w.text)
                if target is None:
                    reader._note(
                        w.evidence.path or dir_rel,
                        w.evidence.line,
                        f"member {w.text} of {name} lies outside the target",
                    )
                    continue
                members.append(MemberRef(target, "objs", w.evidence))
        if not members:
            target = object_path(word.text)
            if target is not None:
                members.append(MemberRef(target, "self", word.evidence))
        members.extend(MemberRef(t, "ldflags", w.evidence) for w, t in ld_objects)
        conditional = word.conditional
        modules.append(
            ModuleSpec(
                name,
                dir_rel,
                word.evidence,
                tuple(_dedupe(members)),
                tuple(include_dirs),
                conditional,
            )
        )

    copies: list[CopyRule] = []
    for rule in reader.db.rules:
        generated = _generator(rule, object_path)
        if generated:
            copies.extend(generated)
            continue
        compiled = [p for p in rule.prereqs if "%" not in p and p.endswith(SOURCE_SUFFIXES)]
        if compiled and not any(t.endswith("_shipped") for t in rule.prereqs):
            # an explicit compile rule, e.g. $(obj)/aes-glue-%.o: $(src)/aes-glue.c
            source = object_path(compiled[0])
            for target_word in rule.targets:
                target = object_path(target_word.replace("%", "\x00"))
                if source is not None and target is not None:
                    copies.append(
                        CopyRule(
                            PurePosixPath(str(target).replace("\x00", "%")),
                            source,
                            rule.evidence,
                            "compile",
                        )
                    )
            continue
        if any(re.search(r"\$[({]MAKE[)}]", r) for r in rule.recipe):
            # a sub-make makes it (dahdi's firmware objects: `$(obj)/../firmware/x.o:
            # $(obj)/base.o` then `$(MAKE) -C firmware x.o`): the prerequisite only orders
            # the build, it is not what the target is made from
            continue
        shipped = [p for p in rule.prereqs if "%" not in p and p.endswith("_shipped")]
        linking = any(re.search(r"\b(cp|cat|ln|install|symlink)\b", r) for r in rule.recipe)
        # an object made from one prebuilt object (nv-kernel.o: nv-kernel.o_binary, made
        # by $(call if_changed,symlink)): a copy, whatever the recipe says
        prebuilt = [
            p
            for p in rule.prereqs
            if "%" not in p and _OBJECT_LIKE.search(p) and not p.endswith((".c", ".S"))
        ]
        if all(t.endswith(".o") for t in rule.targets) and len(prebuilt) == 1:
            shipped = shipped or prebuilt
        if not shipped and not linking:
            continue
        sources = shipped or [p for p in rule.prereqs if "%" not in p][:1]
        for target_word in rule.targets:
            if "%" in target_word:
                continue
            target = object_path(target_word)
            source = object_path(sources[0]) if sources else None
            if target is not None and source is not None:
                copies.append(CopyRule(target, source, rule.evidence))
    modules.extend(_linked_programs(reader.db.rules, object_path, {m.name for m in modules}))
    if reaches is not None:
        reaches.extend(_reached_directories(reader, build_file, root))
    if included is not None:
        included |= reader.included
    return modules, copies


_DESCENT = re.compile(r"(?:^|\s)(?:-C\s*|M=|SUBDIRS=|KBUILD_EXTMOD=)(\S+)")


# a recipe that links: the compiler driver or the linker writing the target
_LINKS = re.compile(
    r"\$\((?:CC|CXX|LD|HOSTCC)\)|\$\{(?:CC|CXX|LD)\}|\b(?:gcc|g\+\+|cc|c\+\+|clang|ld)\b"
)


def _linked_programs(
    rules: list[_Rule],
    object_path: Callable[[str], PurePosixPath | None],
    modules: set[str],
) -> list[ModuleSpec]:
    """Programs and libraries a plain Makefile links: ``app: main.o util.o libx.a`` with a
    recipe that runs the compiler driver or the linker. Each object and archive it names is
    a member, judged like a module's. Objects (``x.o: x.c``) and Kbuild's own targets are
    not programs."""
    out = []
    for rule in rules:
        parts = [p for p in rule.prereqs if p.endswith((".o", ".a")) and "%" not in p]
        if not parts or not any(_LINKS.search(line) for line in rule.recipe):
            continue
        for word in rule.targets:
            name = word.rsplit("/", 1)[-1]
            if (
                "%" in word
                or "\x00" in word  # a name an unevaluated $(shell ...) stands in
                or name.endswith((".o", ".ko", ".a", ".mod"))
                or name in modules
            ):
                continue
            target = object_path(word)
            if target is None:
                continue
            members = []
            for prereq in parts:
                member = object_path(prereq)
                if member is not None:
                    members.append(MemberRef(member, "link", rule.evidence))
            if members:
                out.append(
                    ModuleSpec(
                        target.name, target.parent, rule.evidence, tuple(members), program=True
                    )
                )
    return out


def _generator(rule: _Rule, object_path: Callable[[str], PurePosixPath | None]) -> list[CopyRule]:
    """A rule that writes a source file from other files of the tree: a script's input
    (``$(obj)/%-core.S: $(src)/%-armv4.pl``), a template (``$(obj)/int%.c: $(src)/int.uc``),
    a host program's output (``$(obj)/tables.c: $(obj)/mktables``), data
    (``shipped-certs.c: certs/*.hex``). Each target becomes a ``generate`` rule naming its
    first input, so that the object compiled from it is accounted for by its generator.
    A static pattern rule (``a.S b.S: $(obj)/%.S: $(src)/%.pl``) gives one rule per target.
    """
    if not rule.targets or not all(t.endswith(SOURCE_SUFFIXES) for t in rule.targets):
        return []
    prereqs = [p for p in rule.prereqs if p != "FORCE"]
    pairs: list[tuple[str, str]] = []
    static = next((i for i, p in enumerate(prereqs) if p.endswith(":")), None)
    if static is not None:  # targets: target-pattern: prereq-patterns
        pattern = prereqs[static][:-1]
        inputs = prereqs[static + 1 :]
        prefix, _, suffix = pattern.partition("%")
        for t in rule.targets:
            if inputs and t.startswith(prefix) and t.endswith(suffix):
                stem = t[len(prefix) : len(t) - len(suffix)]
                pairs.append((t, inputs[0].replace("%", stem)))
    elif prereqs:
        pairs = [(t, prereqs[0]) for t in rule.targets]
    out = []
    for target_word, source_word in pairs:
        if "%" in source_word and "%" not in target_word:
            continue
        target = object_path(target_word.replace("%", "\x00"))
        source = object_path(source_word.replace("%", "\x00"))
        if target is None or source is None:
            continue
        out.append(
            CopyRule(
                PurePosixPath(str(target).replace("\x00", "%")),
                PurePosixPath(str(source).replace("\x00", "%")),
                rule.evidence,
                "generate",
            )
        )
    return out


def _reached_directories(reader: _Reader, build_file: Path, root: Path) -> list[PurePosixPath]:
    """Directories this build descends into: ``obj-m += dir/`` (and obj-y, subdir-y), and
    ``$(MAKE) -C dir`` / ``M=dir`` / ``SUBDIRS=dir`` in its rules' recipes."""
    directory = build_file.parent
    words = [
        w.text
        for var in ("obj-m", "obj-y", "subdir-y", "subdir-m", "obj-")
        for w in reader.words(var, build_file)
        if w.text.endswith("/")
    ]
    for rule in reader.db.rules:
        for line in rule.recipe:
            words.extend(_DESCENT.findall(reader.expand_after(line, build_file)))
    out = []
    for word in words:
        if "\x00" in word:
            continue
        path = Path(os.path.normpath(word if os.path.isabs(word) else directory / word))
        if path.is_relative_to(root):
            out.append(PurePosixPath(path.relative_to(root).as_posix()))
    return out


class _OuterMake:
    """Variables of the make that runs Kbuild, read only when first asked for: the other
    half of the directory's Makefile (``ifneq ($(KERNELRELEASE),)`` ... ``else``) and the
    target's top Makefile, read with KERNELRELEASE unset. What an out-of-tree Makefile
    passes down (``make -C $(KDIR) M=$(PWD) NV_KERNEL_MODULES=...``, ``export``) is there."""

    def __init__(
        self,
        root: Path,
        directory: Path,
        rel: Callable[[Path], PurePosixPath],
        config: Mapping[str, str] | None,
        command_line: Mapping[str, str] | None,
        limits: MakeLimits,
        limit_gaps: list[Gap],
    ) -> None:
        self.limits = limits
        self.limit_gaps = limit_gaps  # a limit met reading them is a gap; other gaps are not
        self.files = [
            d / name
            for d in dict.fromkeys((directory, root))
            for name in ("Makefile", "makefile", "GNUmakefile")
            if (d / name).is_file()
        ][:2]
        self.args = (root, rel, config, command_line)
        self.readers: list[_Reader] | None = None

    def __call__(self, name: str) -> str | None:
        if not self.files or name.startswith(("KBUILD_", "CONFIG_")):
            return None
        if self.readers is None:
            self.readers = []
            root, rel, config, command_line = self.args
            for path in self.files:
                reader = _Reader(
                    root,
                    path.parent,
                    [],
                    rel,
                    config,
                    command_line,
                    limits=self.limits,
                    limit_gaps=self.limit_gaps,
                )
                del reader.builtins["KERNELRELEASE"]
                reader.read_file(path)
                self.readers.append(reader)
        for reader, path in zip(self.readers, self.files, strict=True):
            if name in reader.db.variables:
                try:
                    value = reader.join(w.text for w in reader.words(name, path))
                except _Exhausted:
                    reader.report_stop(path)
                    return None
                # a stand-in for a construct it did not evaluate means nothing here
                return value if "\x00" not in value else None
        return None


def _dedupe(members: list[MemberRef]) -> list[MemberRef]:
    seen: set[PurePosixPath] = set()
    out: list[MemberRef] = []
    for m in members:
        if m.path not in seen:
            seen.add(m.path)
            out.append(m)
    return out


# --- what Kbuild really did: <mod>.mod and .<target>.cmd records of a built tree ----------

_SAVEDCMD = re.compile(r"^(?:savedcmd|cmd)_(?P<target>\S+)\s*:=\s*(?P<cmd>.*)$", re.MULTILINE)


def _record_path(token: str, directory: Path, root: Path) -> PurePosixPath | None:
    """A path as a Kbuild record names it (relative to objtree, to M=, or absolute)."""
    candidates = [Path(token)] if os.path.isabs(token) else [root / token, directory / token]
    candidates.append(directory / Path(token).name)
    for c in candidates:
        resolved = Path(os.path.normpath(c))
        if resolved.is_relative_to(root) and resolved.exists():
            return PurePosixPath(resolved.relative_to(root).as_posix())
    resolved = Path(os.path.normpath(candidates[-1]))
    return (
        PurePosixPath(resolved.relative_to(root).as_posix())
        if resolved.is_relative_to(root)
        else None
    )


def _link_objects(cmd_file: Path, directory: Path, root: Path) -> list[tuple[str, Evidence]]:
    """Objects on the ld command line a ``.<target>.cmd`` file records (``@file`` expanded)."""
    try:
        text = cmd_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    m = _SAVEDCMD.search(text)
    if m is None:
        return []
    tokens = m.group("cmd").split()
    if not tokens or not any(t.endswith("ld") or t.endswith("ld.bfd") for t in tokens[:2]):
        return []
    line = text.count("\n", 0, m.start()) + 1
    rel = PurePosixPath(cmd_file.resolve().relative_to(root).as_posix())
    # the record holds absolute build paths: shown relative to the target
    shown = m.group(0).strip().replace(str(root) + os.sep, "")[:400]
    evidence = Evidence("makefile", shown, rel, line)
    out: list[tuple[str, Evidence]] = []
    skip_next = False
    for t in tokens[1:]:
        if skip_next:
            skip_next = False
            continue
        if t in ("-o", "-T", "--script", "-Map", "-z"):
            skip_next = True
            continue
        if t.startswith("@"):
            listing = directory / Path(t[1:]).name
            with contextlib.suppress(OSError):
                out.extend((w, evidence) for w in listing.read_text().split())
        elif not t.startswith("-") and _OBJECT_LIKE.search(t) and not _kbuild_own(t):
            out.append((t, evidence))
    return out


def _kbuild_own(token: str) -> bool:
    """Objects Kbuild itself adds to every module: modpost's ``<mod>.mod.o`` and, since
    Linux 6.10, ``.module-common.o`` (compiled from the kernel's scripts/module-common.c)."""
    return token.endswith(".mod.o") or token.rsplit("/", 1)[-1] == ".module-common.o"


def apply_records(spec: ModuleSpec, root: Path) -> ModuleSpec:
    """The module as Kbuild built it, when the tree holds its records; else as declared.

    ``<mod>.mod`` lists the member objects; the ld commands recorded in ``.<mod>.o.cmd``
    and ``.<mod>.ko.cmd`` add what entered through linker flags. Members the build files
    name keep their build-file line as evidence; the others get the record's line.
    """
    directory = root / spec.directory
    mod_file = directory / f"{spec.name}.mod"
    if not mod_file.is_file():
        return spec
    try:
        mod_text = mod_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return spec
    mod_rel = PurePosixPath(mod_file.resolve().relative_to(root).as_posix())
    declared = {m.path: m for m in spec.members}
    members: list[MemberRef] = []
    seen: set[PurePosixPath] = set()
    for n, line in enumerate(mod_text.splitlines(), 1):
        for token in line.split():
            path = _record_path(token, directory, root)
            if path is None or path in seen:
                continue
            seen.add(path)
            members.append(
                declared.get(path)
                or MemberRef(
                    path, "objs", Evidence("makefile", f"{token} (Kbuild's record)", mod_rel, n)
                )
            )
    single = spec.name + ".o"
    for cmd in (f".{spec.name}.o.cmd", f".{spec.name}.ko.cmd"):
        for token, evidence in _link_objects(directory / cmd, directory, root):
            path = _record_path(token, directory, root)
            if path is None or path in seen or path.name == single:
                continue
            seen.add(path)
            members.append(declared.get(path) or MemberRef(path, "ldflags", evidence))
    if not members:
        return spec
    return ModuleSpec(
        spec.name,
        spec.directory,
        spec.declared_at,
        tuple(members),
        spec.include_dirs,
        spec.conditional,
    )
