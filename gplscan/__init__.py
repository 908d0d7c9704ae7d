"""gplscan: find GPL-mixing in Linux drivers and the objects built from them.

The library API is :func:`gplscan.audit`, and :func:`gplscan.render` for its reports::

    import gplscan

    report = gplscan.audit("path/to/driver")  # a gplscan.Report (gplscan.model.ScanResult)
    for finding in report.findings:
        print(finding.severity, finding.rule, finding.binary, finding.message)
    text = gplscan.render(report, "sarif")  # any of the command's --format reports

``import gplscan`` stays light: the scanner is imported on the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gplscan.api import Report, audit, render

__all__ = ["Report", "__version__", "audit", "render"]

__version__ = "0.1.0"
__url__ = "https://github.com/gplscan/gplscan"  # [project.urls] Homepage in pyproject.toml


def __getattr__(name: str) -> Any:
    """``gplscan.audit``, ``gplscan.render`` and ``gplscan.Report``, imported when first
    used."""
    if name in ("audit", "render", "Report"):
        # imported by name, so that the package itself (which every layer imports for
        # __version__) does not sit above the stages in the import-layer contract
        from importlib import import_module

        return getattr(import_module("gplscan.api"), name)
    raise AttributeError(f"module 'gplscan' has no attribute {name!r}")
