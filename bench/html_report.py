"""Issue 6's benchmark: the HTML report of Debian's linux-image-6.1 module directory.

    .venv/bin/python -m bench.html_report

Audits every module of linux-image-6.1.0-*-amd64 (about 4,000 .ko; fetched and cached
under ~/.cache/gplscan-bench by bench/debian_archive.py, as bench/kernel_modules.py does)
with the headers' Module.symvers as the kernel, then prints:

1. seconds to render the report as JSON and as HTML, and the HTML file's size;
2. in headless Chromium (Debian's /usr/bin/chromium driven by playwright): seconds until
   the load event, then a scripted session (type in the search box, toggle a filter,
   expand and collapse everything) with the seconds each step takes before the page
   answers again, to show it does not freeze.

Figures only, no asserts: the machine's load decides the numbers.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.kernel_modules import module_tree
from bench.measure import print_rows
from gplscan.report import html as html_report
from gplscan.report import json as json_report
from gplscan.scan import Options, run

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _timed(label: str, rows: list[tuple[str, str]], action: Any) -> Any:
    start = time.perf_counter()
    value = action()
    rows.append((label, f"{time.perf_counter() - start:.2f} s"))
    return value


def browse(report: Path, rows: list[tuple[str, str]]) -> None:
    """Open the report in Chromium and time the load and a short scripted session."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        empty = report.with_name("empty.html")
        empty.write_text("<!DOCTYPE html><title>empty</title><p>empty</p>")
        page.goto(empty.as_uri())  # the browser's own start-up, out of the way
        start = time.perf_counter()
        page.goto(empty.as_uri())
        reference = time.perf_counter() - start
        rows.append(
            ("browser: an empty page, until the load event (reference)", f"{reference:.2f} s")
        )
        start = time.perf_counter()
        page.goto(report.as_uri(), timeout=300_000)
        opened = time.perf_counter() - start
        rows.append(("browser: open the report until the load event", f"{opened:.2f} s"))
        rows.append(("  ratio to the empty page", f"{opened / reference:.1f}x"))
        page.evaluate("document.body.getBoundingClientRect().height")  # first layout done
        rows.append(
            (
                "browser: open until first layout",
                f"{time.perf_counter() - start:.2f} s",
            )
        )
        elements = page.evaluate("document.getElementsByTagName('*').length")
        rows.append(("browser: DOM elements", f"{elements:,}"))
        first = page.evaluate(
            "(() => { const t = document.querySelector('table.declared-licenses');"
            " return t ? t.getBoundingClientRect().top < window.innerHeight : false; })()"
        )
        rows.append(("browser: declared-license histogram on the first screen", str(first)))
        height = page.evaluate("document.documentElement.scrollHeight")
        rows.append(("browser: page height", f"{height:,} px"))
        nav = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()"
        )
        rows.append(
            (
                "browser: DOMContentLoaded / load (page's own clock)",
                f"{nav[0] / 1000:.2f} s / {nav[1] / 1000:.2f} s",
            )
        )
        shown = page.locator("#shown")
        total = shown.text_content() or ""

        def search() -> None:
            page.fill("#q", "e1000")
            expect(shown).not_to_have_text(total, timeout=300_000)
            page.evaluate("1")  # the page answers again

        _timed("browser: type 'e1000' in search (incl. 120 ms debounce)", rows, search)
        rows.append(("browser: search result", shown.text_content() or ""))

        def clear() -> None:
            page.fill("#q", "")
            expect(shown).to_have_text(total, timeout=300_000)

        _timed("browser: clear the search", rows, clear)

        def toggle() -> None:
            page.check("#f-with-findings")
            page.evaluate("1")

        _timed("browser: toggle 'only binaries with findings'", rows, toggle)
        rows.append(("browser: after the toggle", shown.text_content() or ""))
        page.uncheck("#f-with-findings")
        page.select_option("#f-severity", "warning")
        _timed("browser: severity filter 'warning'", rows, lambda: page.evaluate("1"))
        page.select_option("#f-severity", "")

        def expand() -> None:
            page.click("#expand")
            page.evaluate("document.body.getBoundingClientRect().height")  # forces layout

        _timed("browser: expand all (every binary's graph laid out)", rows, expand)
        _timed("browser: collapse all", rows, lambda: page.click("#collapse"))
        browser.close()


def main() -> int:
    mods, symvers = module_tree()
    rows: list[tuple[str, str]] = []
    result = _timed(
        "audit (in-process, gplscan's cache as it is)",
        rows,
        lambda: run(mods, Options(kernel=symvers), display_target=str(mods)),
    )
    rows.append(("modules, findings", f"{len(result.binaries)}, {len(result.findings)}"))
    text = _timed("render JSON", rows, lambda: json_report.render(result))
    rows.append(("JSON size", f"{len(text.encode()):,} bytes"))
    page = _timed("render HTML", rows, lambda: html_report.render(result))
    data = page.encode("utf-8")
    rows.append(("HTML size", f"{len(data):,} bytes ({len(data) / 2**20:.1f} MiB)"))
    svg = sum(len(m) for m in re.findall(r'<svg class="graph".*?</svg>', page, re.S))
    rows.append(("  of which inline SVG graphs", f"{svg / 2**20:.1f} MiB"))
    with tempfile.TemporaryDirectory(prefix="gplscan-html-bench-") as tmp:
        report = Path(tmp) / "report.html"
        report.write_bytes(data)
        if not CHROMIUM.exists():
            rows.append(("browser", f"skipped: {CHROMIUM} is not installed"))
        else:
            browse(report, rows)
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
