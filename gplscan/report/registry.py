"""Every report format by name, each a function of one signature: ``(result, options) ->
text``. The command line, the fleet's tasks and the library API choose a reporter here.

A reporter is imported when its format is first asked for, so that naming the formats (the
command line's ``--format`` choices) loads none of them, nor what they need (rich, jinja2).
The HTML page's verdict is the result's own: ``result.fail_on``, ``result.allow_partial``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gplscan.model import ScanResult


@dataclass(frozen=True)
class RenderOptions:
    """How a report is laid out where its format has a choice; the other formats ignore it."""

    color: bool = False  # terminal: ANSI styles
    width: int | None = None  # terminal: wrap at this width (None: do not wrap)
    verbose: bool = False  # terminal: every binary as a tree, and every scan fact
    list_files: bool = False  # inventory: name every file under its license


Reporter = Callable[["ScanResult", RenderOptions], str]


def _terminal(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import terminal

    return terminal.render(
        result, color=options.color, width=options.width, verbose=options.verbose
    )


def _json(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import json

    return json.render(result)


def _sarif(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import sarif

    return sarif.render(result)


def _gitlab(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import gitlab

    return gitlab.render(result)


def _html(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import html

    return html.render(result, fail_on=result.fail_on, allow_partial=result.allow_partial)


def _spdx(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import spdx

    return spdx.render(result)


def _cyclonedx(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import cyclonedx

    return cyclonedx.render(result)


def _inventory(result: ScanResult, options: RenderOptions) -> str:
    from gplscan.report import inventory

    return inventory.render(result, list_files=options.list_files)


#: The reports of one scan, in the order ``gplscan audit --format`` lists them.
REPORTERS: Mapping[str, Reporter] = {
    "terminal": _terminal,
    "json": _json,
    "sarif": _sarif,
    "gitlab": _gitlab,
    "html": _html,
    "spdx": _spdx,
    "cyclonedx": _cyclonedx,
}

#: The license listing of ``gplscan inventory`` (its JSON is the ``json`` report).
INVENTORY_REPORTERS: Mapping[str, Reporter] = {"terminal": _inventory, "json": _json}


def render(
    fmt: str,
    result: ScanResult,
    options: RenderOptions | None = None,
    *,
    reporters: Mapping[str, Reporter] = REPORTERS,
) -> str:
    """``result`` as a report in format ``fmt`` (a name in ``reporters``)."""
    try:
        reporter = reporters[fmt]
    except KeyError:
        raise ValueError(f"no report format {fmt!r} (formats: {', '.join(reporters)})") from None
    return reporter(result, options or RenderOptions())
