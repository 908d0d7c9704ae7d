"""Configuration files gplscan cannot use are usage errors (exit 2) naming the file and the
reason, never a traceback and never silently passed over (issue 13)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gplscan.config import ConfigError, find_config, load_config
from tests.helpers import run_cli_here


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok.c").write_text("// SPDX-License-Identifier: GPL-2.0-only\nint x;\n")
    return tree


def _audit(tree: Path) -> tuple[int, str]:
    done = run_cli_here("audit", "--no-cache", "-q", str(tree), cwd=tree)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"fail-on = 'error'\n\xff\xfe\x00\x01",  # not UTF-8
        bytes(random.Random(13).randrange(256) for _ in range(512)),  # binary noise
        b"\x7fELF\x02\x01\x01" + b"\x00" * 57,  # an ELF header
        b"fail-on = 'error'\n\x00\n",  # UTF-8, but a NUL byte
    ],
)
def test_binary_or_non_utf8_config_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    tree = _tree(tmp_path)
    (tree / ".gplscan.toml").write_bytes(content)
    code, output = _audit(tree)
    assert code == 2, output
    assert ".gplscan.toml" in output and "Traceback" not in output
    assert "not UTF-8 text" in output or "not valid TOML" in output


def test_deeply_nested_toml_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / ".gplscan.toml"
    path.write_text("fail-on = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ConfigError, match=r"\.gplscan\.toml: not valid TOML"):
        load_config(path)


def test_pyproject_that_is_not_toml_is_an_error_not_ignored(tmp_path: Path) -> None:
    """A pyproject.toml gplscan cannot read may hold the project's [tool.gplscan] waivers:
    passing over it would judge the project by another policy. It is an error (exit 2)."""
    tree = _tree(tmp_path)
    (tree / "pyproject.toml").write_text('[tool.gplscan\nfail-on = "never"\n')
    with pytest.raises(ConfigError, match=r"pyproject\.toml: not valid TOML"):
        find_config(tree)
    code, output = _audit(tree)
    assert code == 2 and "pyproject.toml: not valid TOML" in output, output
    (tree / "pyproject.toml").write_bytes(b"[tool.gplscan]\n\xff\n")
    code, output = _audit(tree)
    assert code == 2 and "pyproject.toml: not UTF-8 text" in output, output


def test_pyproject_without_a_gplscan_section_is_passed_over(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(tree) != tree / "pyproject.toml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[severity]\nno-such-rule = "error"\n', r"severity\.no-such-rule: no rule has the id"),
        (
            '[severity]\nproprietary-modul = "error"\n',
            r"severity\.proprietary-modul: .*did you mean proprietary-module\?",
        ),
        ('[severity]\nGPL999 = "info"\n', r"severity\.GPL999: no rule"),
        ('[licenses]\ndeny = ["GPL2"]\n', r"licenses\.deny: 'GPL2' .*did you mean GPL-2\.0-only\?"),
        (
            '[licenses]\nallow = ["MIT", "GPLv2+"]\n',
            r"licenses\.allow: 'GPLv2\+' .*did you mean GPL-2\.0-or-later\?",
        ),
        ('[licenses]\ndeny = ["GPL-2.0"]\n', r"'GPL-2\.0' .*did you mean GPL-2\.0-only\?"),
        ('[licenses]\ndeny = ["cddl-1.0"]\n', r"'cddl-1\.0' .*did you mean CDDL-1\.0\?"),
        ('[licenses]\ndeny = ["Apache2"]\n', r"did you mean Apache-2\.0\?"),
        ('[licenses]\ndeny = ["Linux-syscall-note"]\n', r"is not an SPDX license id"),
        ('severity = "error"\n', r"severity must be a table"),
        ('licenses = ["MIT"]\n', r"licenses must be a table"),
        ("waiver = 3\n", r"waiver must be an array of tables"),
        ('[severity]\nGPL001 = ["error"]\n', r"severity\.GPL001: \['error'\] is not error"),
        (
            '[[waiver]]\nrule = "GPL001"\npath = 3\njustification = "x"\n',
            r"waiver #1: path must be a string",
        ),
    ],
)
def test_unknown_rules_and_license_ids_are_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / ".gplscan.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_valid_ids_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / ".gplscan.toml"
    path.write_text(
        '[severity]\nproprietary-module = "warning"\nGPL001 = "info"\n'
        '[licenses]\ndeny = ["CDDL-1.0", "LicenseRef-closed"]\n'
        'allow = ["GPL-2.0-only", "GPL-2.0-or-later", "MIT", "BSD-3-Clause"]\n'
    )
    config = load_config(path)
    assert config.deny == ("CDDL-1.0", "LicenseRef-closed")
    assert dict(config.severity) == {"proprietary-module": "warning", "GPL001": "info"}


def test_unknown_rule_in_config_exits_2_through_the_cli(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree / ".gplscan.toml").write_text('[licenses]\ndeny = ["GPL2"]\n')
    code, output = _audit(tree)
    assert code == 2 and "did you mean GPL-2.0-only?" in output, output
