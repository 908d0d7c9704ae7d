"""The terminal report and the terminal side of the command line (issue 14): a verdict word
at the end, hanging indents, scan facts one a line, clean binaries counted in one line, a
declared-license histogram, plurals, tabs and control characters, NO_COLOR/FORCE_COLOR
(checked under a pseudo-terminal), the progress line after the bars, `rules list` wrapped
at the width, `rules show`."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

from gplscan.model import (
    Binary,
    Component,
    DeclaredLicense,
    Evidence,
    Finding,
    Origin,
    ScanIssue,
    ScanResult,
    ScanStats,
    Severity,
)
from gplscan.report.terminal import plural, render
from gplscan.rules import load_rules
from tests.helpers import REPO, run_cli

ESC = "\x1b"
LONG = (
    "hv_vmbus.ko links hv_core.o, which no source in the tree accounts for, into one binary "
    "with GPL code (GPL-2.0-only in vmbus_drv.c, channel.c, ring_buffer.c): GPL code calls "
    "hv_cleanup, hv_init, hv_post_message and hv_signal_event in it"
)


def _module(name: str, license: bytes = b"GPL", origin: Origin = Origin.SOURCE) -> Binary:
    part = Component(
        path=PurePosixPath(f"{name}.o"),
        origin=origin,
        license="GPL-2.0-only" if origin is Origin.SOURCE else "LicenseRef-closed",
        sources=(PurePosixPath(f"{name}.c"),) if origin is Origin.SOURCE else (),
        file=None if origin is Origin.SOURCE else PurePosixPath(f"{name}.o_shipped"),
        linked_by=Evidence("makefile", f"obj-m += {name}.o", PurePosixPath("Kbuild"), 1),
        reasons=() if origin is Origin.SOURCE else (f"no {name}.c in the tree",),
    )
    return Binary(
        path=PurePosixPath(f"{name}.ko"),
        name=name,
        kind="kernel-module",
        declared=DeclaredLicense(license, (), None),
        components=(part,),
        defined_at=None,
    )


def _finding(binary: str, severity: Severity = Severity.ERROR, **extra: object) -> Finding:
    fields: dict[str, object] = {
        "rule": "gpl-links-closed-object",
        "rule_id": "GPL001",
        "severity": severity,
        "binary": binary,
        "object": "hv_core.o",
        "symbol": None,
        "path": "Kbuild",
        "line": 3,
        "message": LONG,
        "evidence": (
            Evidence(
                "makefile",
                "hv_vmbus-objs := vmbus_drv.o channel.o ring_buffer.o hv_core.o more_objects.o",
                PurePosixPath("Kbuild"),
                3,
            ),
            Evidence("modinfo", 'license="GPL\tv2"', PurePosixPath("hv_vmbus.ko")),
        ),
        "fingerprint": "f" * 32,
    }
    fields.update(extra)
    return Finding(**fields)  # type: ignore[arg-type]


def _result(
    binaries: tuple[Binary, ...], findings: tuple[Finding, ...] = (), **extra: object
) -> ScanResult:
    fields: dict[str, object] = {
        "target": "tree",
        "tool_version": "0.1.0",
        "files": (),
        "binaries": binaries,
        "findings": findings,
        "issues": (),
        "rules": load_rules(),
        "stats": ScanStats(
            jobs=2,
            files=66,
            files_read=66,
            detected=0,
            scancode_loaded=False,
            symbol_index_read=False,
            kernel_exports=0,
            kernel_source="no kernel exports: none given with --kernel, none in the "
            "target, none for the running kernel; imports of kernel symbols are left "
            "unresolved",
            seconds=0.40,
        ),
    }
    fields.update(extra)
    return ScanResult(**fields)  # type: ignore[arg-type]


def _failing() -> ScanResult:
    clean = tuple(_module(f"clean{i}") for i in range(7))
    closed = _module("hv_vmbus", origin=Origin.CLOSED)
    return _result((*clean, closed), (_finding("hv_vmbus.ko"),))


# -- the report ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "word"),
    [
        (_failing(), "FAIL"),
        (_result((_module("a"),)), "PASS"),
        (
            _result(
                (_module("a"),),
                issues=(ScanIssue(PurePosixPath("b.o"), "object", "not read: truncated"),),
            ),
            "INCOMPLETE",
        ),
    ],
)
def test_last_line_is_the_verdict_with_its_counts(result: ScanResult, word: str) -> None:
    text = render(result, width=80)
    last = text.rstrip("\n").split("\n\n")[-1]
    assert last.startswith(f"{word}: ")
    assert re.search(r"\d+ errors?, \d+ warnings?, \d+ info", last)
    assert "\n\n" + last in text, "set apart by a blank line"


def test_verdict_word_is_highlighted_in_colour() -> None:
    text = render(_failing(), color=True, width=80)
    last = text.rstrip("\n").splitlines()[-1]
    assert ESC in last and "FAIL" in last
    heading = next(line for line in text.splitlines() if "Findings" in line)
    assert heading.startswith(ESC), "a heading's own style is drawn too"


def test_long_lines_wrap_with_hanging_indents() -> None:
    text = render(_failing(), width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), [ln for ln in lines if len(ln) > 80]
    message = next(i for i, ln in enumerate(lines) if ln.startswith("  hv_vmbus.ko links"))
    assert lines[message + 1].startswith("  ") and not lines[message + 1].startswith("   ")
    makefile = next(i for i, ln in enumerate(lines) if ln.startswith("    makefile "))
    assert lines[makefile + 1].startswith(" " * 13), "evidence continues under its text"
    assert lines[makefile + 1].strip()
    # nothing goes back to column 0 but headings, trees and the last lines
    for line in lines:
        assert not line.startswith(("hv_core", "GPL code", "with GPL")), line


def test_a_word_longer_than_the_line_is_kept_whole() -> None:
    path = "a/" + "very-long-directory/" * 6 + "module.ko"
    text = render(_result((_module("a"),), target=path), width=60)
    assert path in text.replace("\n  ", "")
    assert path in text, "a path is never broken across lines"


def test_no_wrapping_without_a_width() -> None:
    text = render(_failing())
    assert any(LONG in line for line in text.splitlines())


def test_scan_facts_are_a_labelled_block_one_a_line() -> None:
    text = render(_failing(), width=80)
    block = text.split("\nScan\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert block[0].split() == ["files", "read:", "66"]
    assert block[-1].split() == ["seconds:", "0.40"]
    assert not any(";" in line and "files read" in line for line in block)
    assert "jobs:" not in text, "the tool's own workings only with --verbose"
    assert "jobs:" in render(_failing(), width=80, verbose=True)
    column = block[0].index("66")
    kernel = next(i for i, ln in enumerate(block) if "kernel exports:" in ln)
    assert block[kernel + 1].index(block[kernel + 1].strip()) == column


def test_clean_binaries_collapse_into_one_line_and_a_histogram() -> None:
    binaries = tuple(_module(f"m{i:04}", b"GPL" if i % 3 else b"Dual BSD/GPL") for i in range(300))
    text = render(_result(binaries), width=80)
    assert len(text.splitlines()) < 20
    assert "300 binaries with nothing to report" in text
    assert re.search(r"^\s+200  MODULE_LICENSE\(\"GPL\"\)$", text, re.M)
    assert re.search(r"^\s+100  MODULE_LICENSE\(\"Dual BSD/GPL\"\)$", text, re.M)
    assert "m0001.ko" not in text
    verbose = render(_result(binaries), width=80, verbose=True)
    assert all(f"m{i:04}.ko" in verbose for i in range(300))


def test_binaries_with_findings_or_closed_parts_come_first_as_trees() -> None:
    text = render(_failing(), width=80)
    assert text.index("Findings") < text.index("What to do") < text.index("Binaries")
    tree = text.split("\nBinaries", 1)[1]
    assert tree.splitlines()[1].startswith("hv_vmbus.ko")
    assert "CLOSED" in tree and "no hv_vmbus.c in the tree" in tree
    assert "7 other binaries with nothing to report" in tree
    assert "clean0.ko" not in tree, "more than a few clean binaries are only counted"


def test_a_few_clean_binaries_are_named() -> None:
    text = render(_result((_module("a"), _module("b"))), width=80)
    assert "2 binaries with nothing to report, every part built from source: a.ko, b.ko" in text


def test_each_fired_rule_says_what_to_do() -> None:
    text = render(_failing(), width=100)
    section = text.split("What to do\n", 1)[1].split("\n\n", 1)[0]
    assert section.startswith("  GPL001 gpl-links-closed-object: Publish")


def test_plurals() -> None:
    assert plural(1, "binary") == "1 binary"
    assert plural(4022, "binary") == "4,022 binaries"
    assert plural(2, "info") == "2 info"
    assert plural(1, "file or part") == "1 file or part"
    assert plural(3, "file or part") == "3 files or parts"
    one = render(_result((_module("a"),), findings=(_finding("a.ko"),)), width=100)
    last = one.rstrip().splitlines()[-1]
    assert "1 binary judged" in last and "1 error, 0 warnings, 0 info" in last
    assert "1 binaries" not in one and "(s)" not in last


def test_tabs_become_spaces_and_control_characters_stay_escaped() -> None:
    hostile = _finding(
        "a.ko",
        message="evil\x1b]0;owned\x07 name\u202ereversed",
        evidence=(Evidence("makefile", "obj-m\t+= a.o", PurePosixPath("Kbuild"), 1),),
    )
    binary = _module("a", license=b"GPL\tv2\x00hidden")
    for color in (False, True):
        text = render(_result((binary,), findings=(hostile,)), width=100, color=color)
        assert "\x07" not in text and "\u202e" not in text and "\\x09" not in text
        assert ESC not in text.replace("\x1b[", "") if color else ESC not in text
        assert "\\x1b]0;owned\\x07" in text and "\\u202e" in text
        assert "obj-m   += a.o" in text, "a tab in evidence is shown as spaces"
        assert 'MODULE_LICENSE("GPL\\tv2\\x00hidden")' in text, "a license string: \\t"
    modinfo = render(_failing(), width=200)
    assert 'license="GPL\\tv2"' in modinfo


def test_no_escape_sequence_without_colour() -> None:
    assert ESC not in render(_failing(), width=80)
    assert ESC in render(_failing(), width=80, color=True)


# -- the command line: rules ------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(extra)
    return env


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command line run in-process (click's runner), its output going to something
    that is not a terminal, as a pipe is; NO_COLOR and FORCE_COLOR unset unless given."""
    from gplscan.cli import cli

    unset: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None}
    ran = CliRunner().invoke(cli, list(args), env={**unset, **env})
    return subprocess.CompletedProcess(list(args), ran.exit_code, ran.stdout, ran.stderr)


def test_rules_list_wraps_at_word_boundaries() -> None:
    rules = load_rules()
    narrow = _cli("rules", "list", COLUMNS="80").stdout
    assert all(len(line) <= 80 for line in narrow.splitlines())
    words = " ".join(line.strip() for line in narrow.splitlines())
    for rule in rules:
        assert rule.title in words, rule.id  # no word broken in two
        assert re.search(rf"^{rule.id}  {rule.name}  {rule.severity.value}$", narrow, re.M)
    wide = _cli("rules", "list", COLUMNS="200").stdout.splitlines()
    assert len(wide) == len(rules)
    assert all(line.endswith(rule.title) for line, rule in zip(wide, rules, strict=True))


@pytest.mark.parametrize("name", ["GPL001", "gpl001", "gpl-links-closed-object"])
def test_rules_show(name: str) -> None:
    rule = next(r for r in load_rules() if r.id == "GPL001")
    proc = _cli("rules", "show", name, COLUMNS="80")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("GPL001  gpl-links-closed-object\n")
    assert all(len(line) <= 80 for line in out.splitlines())
    flat = " ".join(out.split())
    for section in ("Severity: error", "What it means", "Why it matters", "What to do"):
        assert section in out
    for text in (rule.title, rule.plain, rule.why, rule.remedy):
        assert " ".join(text.split()) in flat
    assert all(ref in out for ref in rule.references)


def test_rules_show_json_and_unknown_rule() -> None:
    import json

    shown = json.loads(_cli("rules", "show", "GPL004", "--format", "json").stdout)
    assert shown["name"] == "module-license-misdeclared" and shown["remedy"]
    wrong = _cli("rules", "show", "GPL01")
    assert wrong.returncode == 2 and "did you mean" in wrong.stderr and not wrong.stdout


# -- the command line: colour, width, progress -------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small source tree: one module with a part no source accounts for."""
    root = tmp_path_factory.mktemp("terminal")
    (root / "Kbuild").write_text("obj-m += mod.o\nmod-objs := main.o blob.o\n")
    for name in ("main.c",):
        (root / name).write_text(
            (REPO / "fixtures" / "rules" / "GPL001" / "violates" / name).read_text()
        )
    return root


def _under_pty(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run the command line with stdout and stderr on a pseudo-terminal, 80 columns."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in env.items() if k != "COLUMNS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gplscan", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=300), out


def test_colour_on_a_terminal_by_default(tree: Path) -> None:
    code, out = _under_pty(["audit", str(tree)], _env())
    assert code == 0 and b"INCOMPLETE" in out  # a not-judged warning; --fail-on error
    assert out.count(ESC.encode()) > 0


@pytest.mark.parametrize(
    ("env", "flags"),
    [({"NO_COLOR": "1"}, []), ({}, ["--no-color"]), ({"FORCE_COLOR": "1"}, ["--no-color"])],
)
def test_no_color_means_no_escape_sequence_at_all(
    tree: Path, env: dict[str, str], flags: list[str]
) -> None:
    """NO_COLOR (no-color.org) and --no-color: none on stdout nor stderr, progress included."""
    code, out = _under_pty(["audit", str(tree), *flags], _env(**env))
    assert code == 0 and b"INCOMPLETE" in out  # a not-judged warning; --fail-on error
    assert out.count(ESC.encode()) == 0, out[:400]
    assert b"writing the report ..." in out, "the plain progress line says what follows"
    lines = out.decode().replace("\r\n", "\n").split("\n")
    assert all(len(line) <= 80 for line in lines if "\r" not in line)


def test_color_flag_overrides_no_color(tree: Path) -> None:
    _, out = _under_pty(["audit", str(tree), "--color", "--quiet"], _env(NO_COLOR="1"))
    assert ESC.encode() in out


def test_force_color_colours_a_pipe(tree: Path) -> None:
    assert ESC in _cli("audit", str(tree), FORCE_COLOR="1").stdout
    assert ESC not in _cli("audit", str(tree), FORCE_COLOR="1", NO_COLOR="1").stdout
    assert ESC not in _cli("audit", str(tree)).stdout
    assert ESC in _cli("audit", str(tree), "--color").stdout


def test_a_pipe_is_wrapped_at_columns_or_80(tree: Path) -> None:
    default = _cli("audit", str(tree)).stdout.splitlines()
    assert max(len(line) for line in default) <= 80
    assert any(len(line) > 70 for line in default)
    wide = _cli("audit", str(tree), COLUMNS="200").stdout.splitlines()
    assert max(len(line) for line in wide) > 80


def test_report_to_a_file_names_the_verdict(tree: Path, tmp_path: Path) -> None:
    proc = run_cli("audit", str(tree), "--format", "json", "-o", str(tmp_path / "r.json"))
    assert "INCOMPLETE: 0 errors, 1 warning, 0 info; 1 thing not judged; 1 binary judged" in (
        proc.stderr
    )
