"""``gplscan rules``: what gplscan checks, listed (as text, JSON or the reference page) or
explained one rule at a time."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from gplscan.cli.output import report_width
from gplscan.model import EXIT_ERROR

if TYPE_CHECKING:
    from gplscan.model import Rule


@click.group()
def rules() -> None:
    """What gplscan checks: the rules in rules/ and their default severities.

    'gplscan rules list' names them; 'gplscan rules show GPL001' (or a rule's name) says
    what one means, why it matters and what to do about a finding.
    """


def _load_rules_or_exit() -> tuple[Rule, ...]:
    from gplscan.errors import GplscanError
    from gplscan.rules import load_rules

    try:
        return load_rules()
    except GplscanError as exc:
        click.echo(f"gplscan: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def _rule_json(r: Rule) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "severity": str(r.severity),
        "title": r.title,
        "plain": r.plain,
        "why": r.why,
        "remedy": r.remedy,
        "references": list(r.references),
        "source": str(r.source),
    }


@rules.command("list")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "md"]),
    default="text",
    show_default=True,
    help="md: the rule reference page (docs/rules.md is made with it).",
)
def rules_list(fmt: str) -> None:
    """List every rule: id, name, severity and title ('gplscan rules show ID' for one)."""
    import json

    loaded = _load_rules_or_exit()
    if fmt == "json":
        click.echo(json.dumps([_rule_json(r) for r in loaded], indent=2))
        return
    if fmt == "md":
        click.echo(rules_markdown(loaded), nl=False)
        return
    click.echo(rules_table(loaded, report_width(sys.stdout.isatty())), nl=False)


def rules_markdown(loaded: Iterable[Rule]) -> str:
    """The rule reference page, from the rule files alone."""
    out = [
        "# gplscan rules\n\n",
        "Generated from `rules/*.yaml` by `gplscan rules list --format md`; do not edit.\n\n",
        "| id | name | severity | title |\n|---|---|---|---|\n",
    ]
    from gplscan.rules.vocabulary import fragment_text, reference, when_text

    rows = list(loaded)
    out.extend(
        f"| [{r.id}](#{r.id.lower()}) | `{r.name}` | {r.severity} | {r.title} |\n" for r in rows
    )
    out.append("\n" + reference())
    for r in rows:
        out.append(f"\n## {r.id}\n\n**`{r.name}`** ({r.severity}): {r.title}\n\n")
        out.append(f"**In plain words.** {r.plain}\n\n**What to do.** {r.remedy}\n\n")
        out.append(f"**Why.** {r.why}\n\n**Message.** `{r.message}`\n\n")
        out.append(f"**When.** {when_text(r)}; defined in `{r.source}`.\n")
        out.extend(
            f"\n**Fragment `{n}`.** " + fragment_text(cases) + "\n" for n, cases in r.fragments
        )
        if r.references:
            out.append("\n**References.**\n\n" + "".join(f"- <{u}>\n" for u in r.references))
    return "".join(out)


def rules_table(loaded: Iterable[Rule], width: int) -> str:
    """One rule a line (id, name, severity, title) when that fits ``width``; else the
    title on the lines below, wrapped at word boundaries under a hanging indent."""
    import textwrap

    rows = list(loaded)
    if not rows:
        return ""
    name_width = max(len(r.name) for r in rows)
    lead = 8 + name_width + 2 + 9
    if lead + max(len(r.title) for r in rows) <= width:
        return "".join(
            f"{r.id:<6}  {r.name:<{name_width}}  {r.severity.value:<8} {r.title}\n" for r in rows
        )
    out: list[str] = []
    for r in rows:
        out.append(f"{r.id:<6}  {r.name}  {r.severity.value}\n")
        out.extend(
            line + "\n"
            for line in textwrap.wrap(
                r.title,
                width,
                initial_indent=" " * 8,
                subsequent_indent=" " * 8,
                break_on_hyphens=False,
            )
        )
    return "".join(out)


@rules.command("show")
@click.argument("rule_id", metavar="ID")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def rules_show(rule_id: str, fmt: str) -> None:
    """Explain one rule, by id (GPL001) or name (gpl-links-closed-object): its title,
    severity, what it means, why it matters, what to do about a finding, references."""
    import json

    loaded = _load_rules_or_exit()
    wanted = rule_id.strip().casefold()
    rule = next((r for r in loaded if wanted in (r.id.casefold(), r.name.casefold())), None)
    if rule is None:
        import difflib

        names = [r.id for r in loaded] + [r.name for r in loaded]
        close = difflib.get_close_matches(rule_id, names, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        click.echo(
            f"gplscan: no rule {rule_id!r}{hint} ('gplscan rules list' names them all)", err=True
        )
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        click.echo(json.dumps(_rule_json(rule), indent=2))
        return
    click.echo(rule_text(rule, report_width(sys.stdout.isatty())), nl=False)


def rule_text(rule: Rule, width: int) -> str:
    """A rule explained in plain text, each paragraph wrapped at ``width``."""
    import textwrap

    def block(title: str, text: str) -> list[str]:
        body = (
            textwrap.wrap(" ".join(text.split()), width - 2, break_on_hyphens=False)
            if text.strip()
            else []
        )
        return ["", title, *(f"  {line}" for line in body)] if body else []

    lines = [
        f"{rule.id}  {rule.name}",
        *textwrap.wrap(rule.title, width, break_on_hyphens=False),
        "",
        f"Severity: {rule.severity.value} (a config's [severity] table can change it)",
        *block("What it means", rule.plain),
        *block("Why it matters", rule.why),
        *block("What to do", rule.remedy),
    ]
    if rule.references:
        lines += ["", "References", *(f"  {ref}" for ref in rule.references)]
    lines += ["", f"Defined in {rule.source}"]
    return "\n".join(lines) + "\n"
