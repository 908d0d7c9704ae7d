"""What a build file's explicit rules make: an object copied from a prebuilt one, compiled
from a named source, a source written by a generator, a program linked from objects.

Each is read from one ``MakeRule`` (its targets and prerequisites expanded) with
``object_path``, which turns a word of the build file into a path of the target (None
outside it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath

from gplscan.facts.kbuild_names import OBJECT_LIKE, SOURCE_SUFFIXES
from gplscan.facts.make import MakeRule
from gplscan.model import CopyRule, MemberRef, ModuleSpec

ObjectPath = Callable[[str], PurePosixPath | None]

# a recipe that links: the compiler driver or the linker writing the target
_LINKS = re.compile(
    r"\$\((?:CC|CXX|LD|HOSTCC)\)|\$\{(?:CC|CXX|LD)\}|\b(?:gcc|g\+\+|cc|c\+\+|clang|ld)\b"
)


def copy_rules(rules: list[MakeRule], object_path: ObjectPath) -> list[CopyRule]:
    """The rules that make an object or a source from another file of the tree: a
    generator's (``generate``), an explicit compile rule's (``compile``), a copy's."""
    copies: list[CopyRule] = []
    for rule in rules:
        generated = _generator(rule, object_path)
        if generated:
            copies.extend(generated)
            continue
        compiled = [p for p in rule.prereqs if "%" not in p and p.endswith(SOURCE_SUFFIXES)]
        if compiled and not any(t.endswith("_shipped") for t in rule.prereqs):
            copies.extend(_compiled(rule, compiled[0], object_path))
        else:
            copies.extend(_copied(rule, object_path))
    return copies


def _compiled(rule: MakeRule, source_word: str, object_path: ObjectPath) -> list[CopyRule]:
    """An explicit compile rule, e.g. ``$(obj)/aes-glue-%.o: $(src)/aes-glue.c``."""
    out = []
    source = object_path(source_word)
    for target_word in rule.targets:
        target = object_path(target_word.replace("%", "\x00"))
        if source is not None and target is not None:
            out.append(
                CopyRule(
                    PurePosixPath(str(target).replace("\x00", "%")),
                    source,
                    rule.evidence,
                    "compile",
                )
            )
    return out


def _copied(rule: MakeRule, object_path: ObjectPath) -> list[CopyRule]:
    """An object copied (or linked) from a shipped or prebuilt one."""
    if any(re.search(r"\$[({]MAKE[)}]", r) for r in rule.recipe):
        # a sub-make makes it (dahdi's firmware objects: `$(obj)/../firmware/x.o:
        # $(obj)/base.o` then `$(MAKE) -C firmware x.o`): the prerequisite only orders
        # the build, it is not what the target is made from
        return []
    shipped = [p for p in rule.prereqs if "%" not in p and p.endswith("_shipped")]
    linking = any(re.search(r"\b(cp|cat|ln|install|symlink)\b", r) for r in rule.recipe)
    # an object made from one prebuilt object (nv-kernel.o: nv-kernel.o_binary, made
    # by $(call if_changed,symlink)): a copy, whatever the recipe says
    prebuilt = [
        p
        for p in rule.prereqs
        if "%" not in p and OBJECT_LIKE.search(p) and not p.endswith(SOURCE_SUFFIXES)
    ]
    if all(t.endswith(".o") for t in rule.targets) and len(prebuilt) == 1:
        shipped = shipped or prebuilt
    if not shipped and not linking:
        return []
    sources = shipped or [p for p in rule.prereqs if "%" not in p][:1]
    out = []
    for target_word in rule.targets:
        if "%" in target_word:
            continue
        target = object_path(target_word)
        source = object_path(sources[0]) if sources else None
        if target is not None and source is not None:
            out.append(CopyRule(target, source, rule.evidence))
    return out


def linked_programs(
    rules: list[MakeRule],
    object_path: ObjectPath,
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


def _generator(rule: MakeRule, object_path: ObjectPath) -> list[CopyRule]:
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
