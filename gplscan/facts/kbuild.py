"""Build facts from Kbuild files and Makefiles: the modules a directory's build file
describes, their members, and what its explicit rules make.

The make reader (``gplscan.facts.make``) reads the file; Kbuild's meaning is then read off
the variables: ``obj-m`` names modules, ``<mod>-objs``/``<mod>-y`` their members, and
``EXTRA_LDFLAGS``/``ldflags-y`` objects that enter through the linker's command line;
``-I`` flags give the modules' include directories, ``obj-m += dir/`` and ``$(MAKE) -C dir``
the directories the build descends into. The explicit rules are read by ``kbuild_rules``;
the records a built tree holds (what Kbuild really did) by ``kbuild_records``.

Static reading needs a configuration; gplscan reads trees as if every ``CONFIG_*`` option
were ``m`` (so ``obj-$(CONFIG_FOO) += foo.o`` is a module) and ``KERNELRELEASE`` were set
(so an out-of-tree Makefile's Kbuild half is the one read).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gplscan.facts.kbuild_names import OBJECT_LIKE
from gplscan.facts.kbuild_rules import copy_rules, linked_programs
from gplscan.facts.make import LIMITS, Exhausted, MakeLimits, Reader, Word
from gplscan.model import CopyRule, Gap, MemberRef, ModuleSpec, ScanIssue

LDFLAGS_VARS = (
    "EXTRA_LDFLAGS",
    "ldflags-y",
    "ldflags-m",
    "LDFLAGS_MODULE",
    "KBUILD_LDFLAGS_MODULE",
)
CFLAGS_VARS = ("ccflags-y", "ccflags-m", "EXTRA_CFLAGS", "subdir-ccflags-y", "asflags-y")
_DESCENT = re.compile(r"(?:^|\s)(?:-C\s*|M=|SUBDIRS=|KBUILD_EXTMOD=)(\S+)")


def build_file_for(directory: Path) -> Path | None:
    """The file Kbuild reads in a directory: ``Kbuild`` first, else ``Makefile``; in a tree
    that configure has not run in yet, their templates (``Kbuild.in``, ``Makefile.in``)."""
    for name in ("Kbuild", "Makefile", "makefile", "GNUmakefile", "Kbuild.in", "Makefile.in"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


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
    reader = Reader(
        root, directory.resolve(), issues, rel, config, command_line, outer, gaps, limits
    )
    reader.read_file(build_file)
    build = _BuildFile(reader, build_file, directory, root, rel(directory))
    ld_objects = _ldflags_objects(build)
    modules = _modules(build, ld_objects, _include_dirs(build))
    copies = copy_rules(reader.db.rules, build.object_path)
    modules.extend(linked_programs(reader.db.rules, build.object_path, {m.name for m in modules}))
    if reaches is not None:
        reaches.extend(_reached_directories(reader, build_file, root))
    if included is not None:
        included |= reader.included
    return modules, copies


@dataclass(frozen=True, slots=True)
class _BuildFile:
    """A directory's build file once read: its words made paths, or gaps."""

    reader: Reader
    path: Path
    directory: Path
    root: Path
    dir_rel: PurePosixPath

    def words(self, name: str) -> list[Word]:
        return self.reader.words(name, self.path)

    def unknown(self, word: Word, what: str) -> bool:
        """Whether a word is made from a construct gplscan did not evaluate (a gap)."""
        parts = self.reader.unknown_parts(word.text)
        if not parts:
            return False
        where = word.evidence.path or self.dir_rel
        self.reader.gap(
            f"{what} at {where}:{word.evidence.line}",
            where,
            word.evidence.line,
            f"it depends on {self.reader.describe_unknown(parts)}",
        )
        return True

    def object_path(self, word: str) -> PurePosixPath | None:
        """A word of the build file as a path of the target; None outside it."""
        path = self.reader.localize(word, self.directory)
        resolved = Path(os.path.normpath(path.absolute()))
        try:
            return PurePosixPath(resolved.relative_to(self.root).as_posix())
        except ValueError:
            return None


def _ldflags_objects(build: _BuildFile) -> list[tuple[Word, PurePosixPath]]:
    """Objects the linker flags name: members of every module of the directory."""
    ld_objects: list[tuple[Word, PurePosixPath]] = []
    for var in LDFLAGS_VARS:
        for w in build.words(var):
            if OBJECT_LIKE.search(w.text) and not w.text.startswith("-"):
                target = build.object_path(w.text)
                if target is not None:
                    ld_objects.append((w, target))
    return ld_objects


def _include_dirs(build: _BuildFile) -> list[PurePosixPath]:
    """The directories the compiler flags' ``-I`` name, in order, each once."""
    include_dirs: list[PurePosixPath] = []
    for var in CFLAGS_VARS:
        flags = [w.text for w in build.words(var)]
        for i, text in enumerate(flags):
            flag = text[2:] if text.startswith("-I") else None
            if text == "-I" and i + 1 < len(flags):
                flag = flags[i + 1]
            if flag:
                where = Path(flag) if os.path.isabs(flag) else build.root / flag
                target = build.object_path(str(where))
                if target is not None and target not in include_dirs:
                    include_dirs.append(target)
    return include_dirs


def _modules(
    build: _BuildFile,
    ld_objects: list[tuple[Word, PurePosixPath]],
    include_dirs: list[PurePosixPath],
) -> list[ModuleSpec]:
    """The modules ``obj-m`` names, each with its members."""
    modules: list[ModuleSpec] = []
    seen: set[str] = set()
    for word in build.words("obj-m"):
        if build.unknown(word, "a module name (obj-m)"):
            continue
        if not word.text.endswith(".o"):
            continue
        name = PurePosixPath(word.text).name[:-2]
        if not name:  # "$(NAME).o" with NAME empty as read: which module is not known
            declared = word.evidence.path or build.dir_rel
            build.reader.gap(
                f"a module name (obj-m) at {declared}:{word.evidence.line}",
                declared,
                word.evidence.line,
                f"it reads as {word.text!r}, a module without a name: it depends on "
                f"{build.reader.describe_unknown([])}",
            )
            continue
        if name in seen:
            continue
        seen.add(name)
        members = _members(build, name, word)
        members.extend(MemberRef(t, "ldflags", w.evidence) for w, t in ld_objects)
        conditional = word.conditional
        modules.append(
            ModuleSpec(
                name,
                build.dir_rel,
                word.evidence,
                tuple(_dedupe(members)),
                tuple(include_dirs),
                conditional,
            )
        )
    return modules


def _members(build: _BuildFile, name: str, word: Word) -> list[MemberRef]:
    """A module's objects (``<mod>-objs``, ``-y``, ``-m``); with none, its own object."""
    members: list[MemberRef] = []
    for suffix in ("-objs", "-y", "-m"):
        for w in build.words(name + suffix):
            if build.unknown(w, f"an object of {name} ({name}{suffix})"):
                continue
            if not OBJECT_LIKE.search(w.text):
                continue  # subdirectories and stray words are not members
            target = build.object_path(w.text)
            if target is None:
                build.reader.note(
                    w.evidence.path or build.dir_rel,
                    w.evidence.line,
                    f"member {w.text} of {name} lies outside the target",
                )
                continue
            members.append(MemberRef(target, "objs", w.evidence))
    if not members:
        target = build.object_path(word.text)
        if target is not None:
            members.append(MemberRef(target, "self", word.evidence))
    return members


def _reached_directories(reader: Reader, build_file: Path, root: Path) -> list[PurePosixPath]:
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
        self.readers: list[Reader] | None = None

    def __call__(self, name: str) -> str | None:
        if not self.files or name.startswith(("KBUILD_", "CONFIG_")):
            return None
        if self.readers is None:
            self.readers = []
            root, rel, config, command_line = self.args
            for path in self.files:
                reader = Reader(
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
                except Exhausted:
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
