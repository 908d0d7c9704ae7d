"""Where a report goes and how it looks there: colour, width, standard output or a file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    from gplscan.model import ScanResult


def use_color(flag: bool | None, stream: TextIO | None) -> bool:
    """Whether to colour what goes to ``stream``: --color/--no-color when given; else no
    when NO_COLOR is set to anything, yes when FORCE_COLOR is (no-color.org,
    force-color.org); else when ``stream`` is a terminal. A report written to a file
    (``stream`` None) is coloured only with --color."""
    if flag is not None or stream is None:
        return bool(flag)
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream is not None and stream.isatty()


def report_width(to_terminal: bool) -> int:
    """The width text is wrapped at: the terminal's; else $COLUMNS, else 80.

    Output that goes to a pipe or a file is wrapped too, at a fixed width, rather than
    left as lines of any length: it ends up in a pager, an editor, a CI log or a ticket,
    all of which either wrap long lines back to column 0 or make them scroll sideways,
    and the hanging indents are what keep findings and their evidence apart. Nothing
    worth grepping is split: a finding's head line (severity, rule, place) and paths are
    never broken.
    """
    import shutil

    if to_terminal:
        return max(shutil.get_terminal_size().columns, 40)
    columns = os.environ.get("COLUMNS", "")
    return max(int(columns), 40) if columns.isdigit() else 80


def write_report(text: str, output: Path | None, quiet: bool, result: ScanResult | None) -> bool:
    """Write ``text`` to ``output`` (whole or not at all) or standard output; with a file
    and not ``quiet``, say where it went (and ``result``'s summary). False when it could
    not be written (said on standard error)."""
    if output is None:
        sys.stdout.write(text)
        return True
    from gplscan.process import write_atomically

    try:
        write_atomically(output, text)
    except OSError as exc:
        click.echo(f"gplscan: cannot write {output}: {exc.strerror}", err=True)
        return False
    if not quiet:
        summary = ""
        if result is not None:
            from gplscan.report.terminal import summary_line

            summary = ": " + summary_line(result)
        click.echo(f"Report written to {output}{summary}", err=True)
    return True
