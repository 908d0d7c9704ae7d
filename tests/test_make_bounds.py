"""The make reader on hostile input: bounded in memory, time and depth; every limit met is
a gap (the not-judged finding) naming the file and line, and the scan goes on.

The inputs are generated here. Runs that would have exhausted memory or hung before the
bounds existed read in a child process with an address-space cap and a generous timeout,
so that a regression fails the test instead of the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gplscan.facts.kbuild import read_kbuild
from gplscan.facts.make import LIMITS, MakeLimits
from gplscan.model import Gap, ScanIssue
from gplscan.scan import Options, run
from tests.helpers import REPO, run_cli_here

CHILD = """
import json, resource, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from gplscan.facts.kbuild import read_kbuild
top = Path(sys.argv[1])
issues, gaps = [], []
start = time.perf_counter()
modules, _ = read_kbuild(top, top.parent, issues, gaps=gaps)
print(json.dumps({
    "seconds": time.perf_counter() - start,
    # VmHWM: this process's own peak; ru_maxrss is inherited from the parent across exec
    # (a pytest process that loaded scancode's index gave every child 1.4 GB)
    "peak_mb": next(
        int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")
    ) // 1024,
    "modules": {m.name: [str(p.path) for p in m.members] for m in modules},
    "gaps": [[g.subject, g.reason, str(g.at.path), g.at.line] for g in gaps],
    "issues": [i.message for i in issues],
}))
"""


def isolated(tmp_path: Path, text: str | bytes, name: str = "Makefile") -> dict:  # type: ignore[type-arg]
    """Read a build file in a child process (1 GiB of address space, 60 s at most)."""
    top = tmp_path / name
    if isinstance(text, str):
        text = text.encode()
    top.write_bytes(text)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(top)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def read(
    tmp_path: Path, text: str, name: str = "Makefile", limits: MakeLimits = LIMITS
) -> tuple[dict[str, list[str]], list[Gap], list[ScanIssue]]:
    (tmp_path / name).write_text(text)
    issues: list[ScanIssue] = []
    gaps: list[Gap] = []
    modules, _ = read_kbuild(tmp_path / name, tmp_path, issues, gaps=gaps, limits=limits)
    return {m.name: [str(p.path) for p in m.members] for m in modules}, gaps, issues


def doubling(op: str) -> str:
    """The issue's 847-byte Makefile: each variable twice the one before, 40 times."""
    lines = ["obj-m := first.o", "V1 := xx"]
    lines += [f"V{i} {op} $(V{i - 1})$(V{i - 1})" for i in range(2, 41)]
    lines += ["obj-m += $(V40).o", "obj-m += never.o"]
    return "\n".join(lines) + "\n"


def test_doubling_variables_are_bounded_while_they_grow(tmp_path: Path) -> None:
    """Before: the 100,000-word cap came after the value was built; 12.5 GB of memory."""
    out = isolated(tmp_path, doubling(":="))
    ((subject, reason, path, line),) = out["gaps"]
    assert subject == "the build file Makefile" and path == "Makefile"
    # V21 is the first value past 2**20 characters
    assert line == 22 and f"grows past {LIMITS.value_chars} characters" in reason
    assert out["modules"] == {"first": ["first.o"]}  # what came before the limit is kept
    assert out["peak_mb"] < 300, out


def test_lazy_doubling_stops_at_the_step_budget(tmp_path: Path) -> None:
    """Before: ``V2 = $(V1)$(V1)`` (expanded on use) ran past 120 s."""
    out = isolated(tmp_path, doubling("="))
    ((subject, reason, path, _),) = out["gaps"]
    assert subject == "the build file Makefile" and path == "Makefile"
    assert f"more than {LIMITS.steps} steps of work" in reason
    assert out["peak_mb"] < 300, out


def test_continued_lines_are_joined_in_linear_time(tmp_path: Path) -> None:
    """Before: each continuation copied the whole line so far (100,000 lines: 54-99 s;
    these 60,000 long ones: minutes)."""
    comment = "# a comment continued \\\n" + "".join(
        f"{'x' * 110} {i:07d} \\\n" for i in range(60_000)
    )
    out = isolated(tmp_path, comment + "\nobj-m := after.o\n")
    assert out["modules"] == {"after": ["after.o"]} and not out["gaps"], out


def test_a_long_continued_list_is_read_whole(tmp_path: Path) -> None:
    members = [f"part{i}.o" for i in range(20_000)]
    text = "obj-m := big.o\nbig-objs := \\\n" + " \\\n".join(f"\t{m}" for m in members) + "\n"
    modules, gaps, issues = read(tmp_path, text)
    assert modules["big"] == members and not gaps and not issues


def test_long_lines_are_read_in_linear_time(tmp_path: Path) -> None:
    """Rule-like lines, quoted conditions and nested conditionals that took quadratic time
    (each of these ran for minutes before)."""
    text = (
        "a:" * 200_000  # many colons and no '='
        + "\nb"
        + " " * 400_000  # a long run of blanks
        + "c\n"
        + 'ifeq "'
        + '" "' * 200_000  # quotes the old pattern tried every split of
        + "x\nendif\n"
        + "ifeq (a,a)\n" * 40_000  # every line re-checked every enclosing conditional
        + "obj-m := deep.o\n"
        + "endif\n" * 40_000
    )
    out = isolated(tmp_path, text)
    assert out["modules"] == {"deep": ["deep.o"]} and not out["gaps"], out


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # a function that calls itself and never stops
        ("f = $(call f,$(1)x)\nobj-m := $(call f,a).o\n", 2),
        # $(eval) text that evaluates itself again
        ("E = $(eval $(value E))\n$(E)\nobj-m := m.o\n", 2),
        ("E = $$(eval X := $$(E))\n$(eval X := $(E))\n", 2),
        # references nested 2,000 deep
        ("obj-m := " + "$(if x," * 2_000 + "m.o" + ")" * 2_000 + "\n", 1),
        ("obj-m := " + "$(" * 2_000 + "x" + ")" * 2_000 + " m.o\n", 1),
        # a chain of recursive variables longer than the depth limit
        ("".join(f"V{i} = $(V{i + 1})\n" for i in range(100)) + "obj-m := $(V0)m.o\n", 101),
    ],
)
def test_recursion_ends_with_a_gap(tmp_path: Path, text: str, line: int) -> None:
    """Before: cut silently at depth 40, or (through $(eval)) a RecursionError."""
    _, gaps, _ = read(tmp_path, text)
    ((gap,),) = [gaps]
    assert gap.at.line == line and "nested deeper than 40" in gap.reason, gap
    assert str(gap.at.path) == "Makefile" and gap.subject == "the build file Makefile"


def test_a_recursive_function_that_stops_is_evaluated(tmp_path: Path) -> None:
    """As make does it: recursion is allowed; only the depth limit stops it."""
    text = (
        "count = $(if $(word 3,$(1)),$(1),$(call count,$(1) x))\n"
        "obj-m := $(addsuffix .o,$(call count,a))\n"
    )
    modules, gaps, _ = read(tmp_path, text)
    assert set(modules) == {"a", "x"} and not gaps


def test_self_references_and_include_loops_are_cut_and_noted(tmp_path: Path) -> None:
    (tmp_path / "loop.mk").write_text("include Makefile\nobj-m += inner.o\n")
    modules, gaps, issues = read(
        tmp_path, "A = $(A) x\nobj-m := $(A) m.o\ninclude loop.mk\ninclude Makefile\n"
    )
    assert set(modules) == {"m", "inner"} and not gaps
    messages = " ".join(i.message for i in issues)
    assert "refers to itself" in messages and messages.count("would loop") == 2


def test_includes_nested_too_deep_are_a_gap(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"inc{i}.mk").write_text(f"include inc{i + 1}.mk\nobj-m += m{i}.o\n")
    modules, gaps, _ = read(tmp_path, "include inc0.mk\n")
    ((gap,),) = [gaps]
    assert str(gap.at.path) == "inc15.mk" and gap.at.line == 1
    assert "includes nested deeper than 16" in gap.reason
    assert gap.subject == "the build file Makefile"
    assert not modules  # the files stopped before their obj-m lines


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # each replacement is the whole text: 10^10 characters
        ("A := " + "a" * 100_000 + "\nB := $(subst a,$(A),$(A))\n", "characters"),
        ("A := " + "a" * 100_000 + "\nB := $(addprefix $(A),$(subst a,a ,$(A)))\n", "characters"),
        # 300 x 300 x 300 iterations
        (
            "L := "
            + " ".join(str(i) for i in range(300))
            + "\nX := $(foreach a,$(L),$(foreach b,$(L),$(foreach c,$(L),$(a)$(b)$(c))))\n",
            "steps",
        ),
        # every word against every pattern
        (
            "A := " + " ".join(f"w{i}" for i in range(60_000)) + "\nB := $(filter $(A),$(A))\n",
            "steps",
        ),
        # one 500,000-character word, referred to 1,000 times
        ("A := " + "x" * 500_000 + "\nB = " + "$(A) " * 1_000 + "\nobj-m := $(B)\n", "steps"),
        # 100,000 words, doubled by appending
        ("A := " + "w " * 100_000 + "\nA += $(A)\n", "words"),
    ],
)
def test_functions_that_multiply_text_meet_a_limit(tmp_path: Path, body: str, reason: str) -> None:
    out = isolated(tmp_path, "obj-m := kept.o\n" + body)
    ((_, why, path, line),) = out["gaps"]
    assert path == "Makefile" and line >= 2 and reason in why, why
    assert out["modules"] == {"kept": ["kept.o"]}
    assert out["peak_mb"] < 300, out


def test_every_limit_is_a_gap_naming_file_and_line(tmp_path: Path) -> None:
    """The limits live in one place (MakeLimits); a smaller set applies as given."""
    text = "obj-m := a.o\n" + "".join(f"X{i} := {i}\n" for i in range(50)) + "obj-m += b.o\n"
    modules, gaps, _ = read(tmp_path, text, limits=MakeLimits(lines=20))
    ((gap,),) = [gaps]
    assert (str(gap.at.path), gap.at.line) == ("Makefile", 21)
    assert "more than 20 lines" in gap.reason and set(modules) == {"a"}
    modules, gaps, _ = read(tmp_path, text, limits=MakeLimits(file_bytes=100))
    ((gap,),) = [gaps]
    assert "larger than 100 bytes" in gap.reason and not modules


def test_the_outer_makefile_meeting_a_limit_is_a_gap(tmp_path: Path) -> None:
    """A variable Kbuild leaves unset is read from the Makefile's other half: a bomb
    there is reported too, under the Makefile's name."""
    (tmp_path / "Makefile").write_text(doubling("="))
    modules, gaps, _ = read(tmp_path, "obj-m := $(NAME)m.o\n", name="Kbuild")
    assert set(modules) == {"m"}
    ((gap,),) = [gaps]
    assert gap.subject == "the build file Makefile" and "steps" in gap.reason


def test_odd_bytes_and_numbers_are_read_or_noted(tmp_path: Path) -> None:
    """A NUL (also gplscan's own marker) ends the line, as in make; $(word) with a huge or
    non-ASCII number is no word. Before: IndexError and ValueError."""
    text = "obj-m := \x00999\x00 lost.o\nobj-m += $(word " + "9" * 5_000 + ",a b)"
    text += " $(word \u00b2,a b) kept.o\n-include $(shell ls)\n-include / ../../../..\n"
    modules, gaps, issues = read(tmp_path, text)
    assert set(modules) == {"kept"} and not gaps
    assert [i.message for i in issues] == [
        "line 1: NUL character: the rest of the line ignored, as make does"
    ]


def test_assignments_without_spaces(tmp_path: Path) -> None:
    """``obj-m+=x.o`` appends and ``KDIR?=x`` sets if unset, as in make. Before: read as
    variables named ``obj-m+`` and ``KDIR?`` (Linux 6.1 lost amdgpu, radeon and 27 more)."""
    modules, _, _ = read(
        tmp_path, "obj-m := a.o\nobj-m+=b.o\nX?=c\nX?=d\nobj-$(CONFIG_Y)+= $(X).o\n"
    )
    assert set(modules) == {"a", "b", "c"}


def _no_detection(path: Path) -> tuple[None, tuple[()]]:
    return None, ()


def test_a_limit_is_not_judged_and_the_scan_goes_on(tmp_path: Path) -> None:
    (tmp_path / "bomb").mkdir()
    (tmp_path / "bomb" / "Makefile").write_text(doubling(":="))
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "Kbuild").write_text("obj-m += good.o\n")
    (tmp_path / "good" / "good.c").write_text(
        '// SPDX-License-Identifier: GPL-2.0-only\nMODULE_LICENSE("GPL");\n'
    )
    result = run(tmp_path, Options(cache_dir=None), detector=_no_detection)
    assert "good" in {b.name for b in result.binaries}
    (finding,) = [f for f in result.findings if "limit" in f.message]
    assert finding.rule == "not-judged" and "grows past" in finding.message
    assert (str(finding.path), finding.line) == ("bomb/Makefile", 22)


def test_a_module_name_that_reads_empty_is_a_gap(tmp_path: Path) -> None:
    """``obj-m := $(TARGET).o`` with TARGET set only on make's command line: which module
    is built is not known. Before: a module named '' (found by the make fuzz target)."""
    modules, gaps, _ = read(tmp_path, "obj-m := $(TARGET).o\n")
    assert not modules
    ((gap,),) = [gaps]
    assert gap.at.line == 1 and "TARGET" in gap.reason and "'.o'" in gap.reason


def test_a_limit_met_makes_the_scan_incomplete_exit_2(tmp_path: Path) -> None:
    """Issue 13: each limit is reported naming the file, exit 2 unless --allow-partial."""

    tree = tmp_path / "bomb"
    tree.mkdir()
    lines = ["obj-m := kept.o", "V0 := xxxxxxxxxxxxxxxx"]
    lines += [f"V{n} := $(V{n - 1})$(V{n - 1})" for n in range(1, 41)]
    (tree / "Makefile").write_text("\n".join(lines) + "\n")
    (tree / "kept.c").write_text(
        '// SPDX-License-Identifier: GPL-2.0-only\nMODULE_LICENSE("GPL");\n'
    )
    proc = run_cli_here("audit", str(tree), "--format", "json", "--no-cache")
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert any(i["path"] == "Makefile" and i["skipped"] for i in report["issues"])
    assert run_cli_here("audit", str(tree), "--no-cache", "--allow-partial").returncode == 0
