"""The reporter registry: every format by name, one signature, the same text as each
reporter gives; the command line offers exactly its formats."""

from __future__ import annotations

from pathlib import Path

import pytest

import gplscan
from gplscan.report import html, inventory, sarif, terminal
from gplscan.report import json as json_report
from gplscan.report.registry import (
    INVENTORY_REPORTERS,
    REPORTERS,
    RenderOptions,
    render,
)


def test_the_command_offers_the_registrys_formats() -> None:
    import click

    from gplscan.cli.app import cli

    audit = cli.commands["audit"]
    (fmt,) = (p for p in audit.params if p.name == "fmt")
    assert isinstance(fmt.type, click.Choice)
    assert tuple(fmt.type.choices) == tuple(REPORTERS)
    assert tuple(REPORTERS) == ("terminal", "json", "sarif", "gitlab", "html", "spdx", "cyclonedx")
    (listing,) = (p for p in cli.commands["inventory"].params if p.name == "fmt")
    assert isinstance(listing.type, click.Choice)
    assert tuple(listing.type.choices) == tuple(INVENTORY_REPORTERS) == ("terminal", "json")


def test_each_format_is_its_reporters_text(built_examples: dict[str, dict[str, Path]]) -> None:
    report = gplscan.audit(built_examples["hyperv-2009"]["built"], cache=False)
    assert gplscan.render(report) == json_report.render(report)
    assert gplscan.render(report, "sarif") == sarif.render(report)
    assert render("html", report) == html.render(
        report, fail_on=report.fail_on, allow_partial=report.allow_partial
    )
    layout = RenderOptions(color=True, width=60, verbose=True)
    assert render("terminal", report, layout) == terminal.render(
        report, color=True, width=60, verbose=True
    )
    listing = render(
        "terminal", report, RenderOptions(list_files=True), reporters=INVENTORY_REPORTERS
    )
    assert listing == inventory.render(report, list_files=True)
    with pytest.raises(ValueError, match="no report format 'pdf'"):
        gplscan.render(report, "pdf")
