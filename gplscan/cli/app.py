"""The command line: wiring only. The one place that prints, and knows exit codes.

Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 usage or input error, or a
scan that could not read everything (unless ``--allow-partial``). Each command is a module
of this package; this one is the group that holds them and the process around it.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from gplscan import __version__
from gplscan.cli.audit import audit
from gplscan.cli.baseline import baseline
from gplscan.cli.demo import demo
from gplscan.cli.inventory import inventory
from gplscan.cli.rules import rules
from gplscan.model import EXIT_CLEAN, EXIT_ERROR

_DEBUG: list[bool] = [bool(os.environ.get("GPLSCAN_DEBUG"))]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="gplscan")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the Python traceback of an internal error (also GPLSCAN_DEBUG=1).",
)
def cli(debug: bool) -> None:
    """Find GPL-mixing in Linux drivers: GPL code statically linked with closed objects.

    gplscan reads a driver tree (sources, Kbuild files, built objects), works out which
    objects are linked into which module, finds the parts no source accounts for, and
    reports each violation with its evidence: the Makefile line, the symbols, the
    MODULE_LICENSE text.

    \b
    Start here:
      gplscan demo                      audit the bundled 2009 Hyper-V reconstruction
      gplscan audit path/to/driver      audit a driver tree (source-only or built)
      gplscan audit DIR --format json -o report.json
      gplscan inventory path/to/tree    license -> files for every file of a tree
      gplscan rules list                what gplscan checks

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error
    (including a scan that could not read every file, unless --allow-partial, and any
    internal error), 130/143/129 stopped by Ctrl-C/SIGTERM/SIGHUP, 141 output pipe
    closed. A stopped run removes its scratch files and writes no partial report.
    """
    _DEBUG[0] = _DEBUG[0] or debug


for _command in (audit, baseline, demo, inventory, rules):
    cli.add_command(_command)


def main() -> None:
    import gc

    from gplscan.tuning import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)  # for the whole command: the scan and its report
    from gplscan.errors import Interrupted, PipeClosed
    from gplscan.process import (
        GuardedStdout,
        private_scancode_temp,
        signals_end_the_scan,
        silence_stdout,
    )

    sys.stdout = GuardedStdout(sys.stdout)
    code = EXIT_ERROR
    with private_scancode_temp():
        try:
            with signals_end_the_scan():
                code = _invoke()
        except Interrupted as stop:
            click.echo(f"\ngplscan: stopped by {stop}; no report was written", err=True)
            code = stop.code
        except PipeClosed as closed:
            silence_stdout()
            code = closed.code
    _leave(code)


def _invoke() -> int:
    """Run the command line; the exit code it ends with. Usage errors are 2; an error
    gplscan did not anticipate is 2 with one line (its traceback with --debug)."""
    try:
        cli.main(standalone_mode=False)
    except SystemExit as done:
        if done.code is not None and not isinstance(done.code, int):
            click.echo(str(done.code), err=True)
            return EXIT_ERROR
        return done.code or EXIT_CLEAN
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("gplscan: aborted", err=True)
        return EXIT_ERROR
    except Exception as exc:  # a bug: said in one line, never as "findings"
        if _DEBUG[0]:
            import traceback

            traceback.print_exc()
        else:
            click.echo(
                f"gplscan: internal error: {type(exc).__name__}: {exc}\n"
                "gplscan: this is a bug in gplscan, not a finding; run again with --debug "
                "for the traceback and report it",
                err=True,
            )
        return EXIT_ERROR
    return EXIT_CLEAN


def _leave(code: int) -> NoReturn:
    """Exit with ``code`` once everything is written, without the interpreter's teardown.

    The command has finished its work by now: its report is written, files and the cache
    are closed, scratch areas removed and worker pools joined (all by ``with`` blocks).
    What the teardown would add is freeing every object one by one, ≈40 ms after an audit
    of 4,000 modules. While a child process is still running, the ordinary exit is taken
    (multiprocessing ends daemonic children there).
    """
    processes = sys.modules.get("multiprocessing")
    if processes is not None and processes.active_children():
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said
        pass
    os._exit(code)
