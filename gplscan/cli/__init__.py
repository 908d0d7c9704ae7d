"""The command line, one module per command (audit, inventory, demo, rules, baseline) and
the small parts they share (options, progress, output, git, baselines). ``main`` is the
console script's entry point (``gplscan``, ``python -m gplscan``); ``cli`` the click group
(for click's test runner)."""

from gplscan.cli.app import cli, main

__all__ = ["cli", "main"]
