"""The HTML report: escaping, the embedded JSON, no network, the graph layout, and the
report opened in headless Chromium (the Hyper-V reconstruction and a hostile tree)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from bench.html_report import ARGS as CHROMIUM_ARGS  # the flags chromium needs here
from bench.html_report import CHROMIUM
from gplscan.model import (
    Binary,
    Component,
    DeclaredLicense,
    Evidence,
    FileLicense,
    Finding,
    Import,
    Origin,
    ScanIssue,
    ScanResult,
    Severity,
    Waiver,
)
from gplscan.report import html as html_report
from gplscan.report import json as json_report
from gplscan.report.layout import MAX_PER_COLUMN, layout_binary
from gplscan.rules import load_rules
from tests.helpers import compile_object, modules_after, run_cli_here

EVIL = "</script><script>window.__pwned=1</script>"
SURROGATE = "bad\udcff\udc80name"  # bytes ff 80 of a path, kept by surrogateescape


# --- a hostile scan result, built by hand ---------------------------------------------------


def _hostile_result() -> ScanResult:
    line = Evidence("makefile", f"m-objs := a.o {EVIL}.o", PurePosixPath("Kbuild"), 2)
    closed = Component(
        path=PurePosixPath(f"{EVIL}.o"),
        origin=Origin.CLOSED,
        license="LicenseRef-closed",
        sources=(),
        file=PurePosixPath(f"{EVIL}.o_shipped"),
        linked_by=line,
        reasons=("no source <img src=x onerror=alert(1)> in the tree", "copies it"),
    )
    opened = Component(
        path=PurePosixPath(f"{SURROGATE}.o"),
        origin=Origin.SOURCE,
        license="GPL-2.0-only",
        sources=(PurePosixPath(f"{SURROGATE}.c"),),
        file=PurePosixPath(f"{SURROGATE}.c"),
        linked_by=line,
        reasons=("Kbuild compiles it",),
    )
    modinfo = Evidence("modinfo", 'license="GPL\0<!--"', PurePosixPath("m.ko"))
    binary = Binary(
        path=PurePosixPath(f'm"\u2028\u202e{SURROGATE}.ko'),
        name="m",
        kind="kernel-module",
        declared=DeclaredLicense(b"GPL\0<script>alert(2)</script>\xff", (modinfo,), None),
        components=(opened, closed),
        defined_at=line,
        imports=(
            Import("printk\0x", "unresolved", None, None, None),
            Import("gpl_sym", "vmlinux", True, None, Evidence("symvers", "x", PurePosixPath("S"))),
        ),
    )
    finding = Finding(
        rule="gpl-links-closed-object",
        rule_id="GPL001",
        severity=Severity.ERROR,
        binary=str(binary.path),
        object=str(closed.path),
        symbol="sym</script>",
        path="Kbuild",
        line=2,
        message=f"links {EVIL} & <!-- \0 \u2029 {SURROGATE}",
        evidence=(line, modinfo),
        fingerprint="f1",
    )
    waiver = Waiver(
        "closed-object", None, None, 'ok "</script>', "<b>me</b>", None, "cfg: waiver #1"
    )
    return ScanResult(
        target=f"/tmp/{EVIL}",
        tool_version="0.1.0",
        files=(),
        binaries=(binary,),
        findings=(finding,),
        issues=(ScanIssue(PurePosixPath(SURROGATE), "discover", "cannot read \0 <b>", True),),
        rules=load_rules(),
        inventory=(FileLicense(PurePosixPath(f"{SURROGATE}.c"), "tagged", "GPL-2.0-only", 1),),
        waived=((finding, waiver),),
    )


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def _embedded(page: str) -> Any:
    return html_report.embedded_report(page)


# --- unit tests -----------------------------------------------------------------------------


def test_visible_shows_nul_controls_bidi_and_surrogates() -> None:
    assert html_report.visible("plain text / ok") == "plain text / ok"
    assert html_report.visible("GPL\0trick") == "GPL\\0trick"
    assert html_report.visible("a\x1bb\x7f") == "a\\x1bb\\x7f"
    assert html_report.visible(SURROGATE) == "bad\\xff\\x80name"
    assert html_report.visible("\ud800") == "\ufffd"
    assert html_report.visible("evil\u202etxt.c") == "evil\\u202etxt.c"
    assert html_report.visible("tab\tand\nnewline") == "tab\tand\nnewline"
    html_report.visible(SURROGATE + "\ud800").encode("utf-8")  # encodable: no surrogate left


def test_script_json_cannot_end_the_block_and_round_trips() -> None:
    data = {"a": [EVIL, "<!--", "-->", "&amp;", "\u2028\u2029", "\0", SURROGATE, "é"]}
    text = html_report.script_json(data)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029", "\0"}
    assert text.isascii()
    assert json.loads(text) == data


def test_hostile_result_renders_escaped_and_json_round_trips() -> None:
    result = _hostile_result()
    page = html_report.render(result)
    page.encode("utf-8")  # no lone surrogate reached the output
    assert "\0" not in page and "\u2028" not in page and "\u202e" not in page
    tags = _tags(page)
    assert [t for t, _ in tags].count("script") == 2, "only the data block and the report's script"
    assert not [t for t, _ in tags if t in ("img", "iframe", "object", "embed", "link", "b")]
    assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")]
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "GPL\\0&lt;script&gt;alert(2)&lt;/script&gt;\\xff" in page  # the NUL shown as \0
    assert "bad\\xff\\x80name.c" in page
    assert _embedded(page) == json_report.as_dict(result)


def test_no_network_reference_of_any_kind() -> None:
    page = html_report.render(_hostile_result())
    for tag, attrs in _tags(page):
        for name in ("src", "srcset", "action", "formaction", "poster", "data", "xlink:href"):
            assert name not in attrs, (tag, attrs)
        href = attrs.get("href")
        if tag == "a" and attrs.get("class") == "ref":
            # a rule's reference: a link the reader may follow, never a load
            assert href is not None and href.startswith("https://"), href
            assert attrs.get("rel") == "noopener noreferrer", attrs
            continue
        assert href is None or href.startswith("#"), (tag, href)
    assert "@import" not in page
    assert not re.search(r"url\(\s*['\"]?(?!#)", page), "only url(#fragment) references"
    # the rules' references are the only place an address may appear
    outside_refs = re.sub(r'<a class="ref" href="[^"]*"[^>]*>[^<]*</a>', "", page)
    outside_refs = re.sub(r'<code class="ref">[^<]*</code>', "", outside_refs)
    assert "http:" not in outside_refs and "https:" not in outside_refs
    assert "//" not in re.sub(r"/\*.*?\*/", "", outside_refs, flags=re.S).replace("://", "")


def test_content_security_policy_allows_only_the_report_script() -> None:
    page = html_report.render(_hostile_result())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1)


def test_rendering_is_deterministic() -> None:
    result = _hostile_result()
    assert html_report.render(result) == html_report.render(result)


def _wide_binary(count: int, closed: set[int], flagged: set[int] = frozenset()) -> Binary:  # type: ignore[assignment]
    line = Evidence("makefile", "big-objs := ...", PurePosixPath("Kbuild"), 7)
    components = tuple(
        Component(
            path=PurePosixPath(f"obj{i:03}.o"),
            origin=Origin.CLOSED if i in closed else Origin.SOURCE,
            license="LicenseRef-closed" if i in closed else "GPL-2.0-only",
            sources=() if i in closed else (PurePosixPath(f"src/obj{i:03}.c"),),
            file=PurePosixPath(f"obj{i:03}.o_shipped" if i in closed else f"src/obj{i:03}.c"),
            linked_by=line,
            reasons=("why",),
        )
        for i in range(count)
    )
    imports = tuple(Import(f"sym{i}", "vmlinux", i % 3 == 0, None, None) for i in range(30))
    return Binary(
        PurePosixPath("big.ko"), "big", "kernel-module", None, components, line, imports=imports
    )


def test_layout_of_five_objects_draws_everything() -> None:
    graph = layout_binary(_wide_binary(5, closed={3}))
    kinds = [n.kind for n in graph.nodes]
    assert kinds.count("object") == 4 and kinds.count("closed") == 1
    assert kinds.count("source") == 4 and kinds.count("blob") == 1
    assert kinds.count("module") == 1 and kinds.count("kernel") == 1
    assert "more" not in kinds and graph.hidden == ()
    assert [title for title, _ in graph.columns] == ["sources", "objects", "module", "imports from"]
    ids = {n.id for n in graph.nodes}
    assert all(e.src in ids and e.dst in ids for e in graph.edges)
    links = [e for e in graph.edges if e.kind == "links"]
    assert len(links) == 5 and {e.label for e in links} == {"Kbuild:7 · ld -r"}
    (imports,) = [e for e in graph.edges if e.kind == "imports"]
    assert imports.label == "30 symbols, 10 GPL-only"
    for column in range(4):  # no two boxes of a column overlap, all inside the drawing
        ys = sorted(n.y for n in graph.nodes if n.column == column)
        assert all(b - a >= graph.node_h for a, b in itertools.pairwise(ys))
    assert all(n.x >= 0 and n.x + graph.node_w <= graph.width for n in graph.nodes)
    assert all(n.y >= 0 and n.y + graph.node_h <= graph.height for n in graph.nodes)


def test_layout_of_500_objects_folds_the_rest_but_never_a_closed_one() -> None:
    closed = {7, 250, 499}
    binary = _wide_binary(500, closed=closed)
    graph = layout_binary(binary)
    objects = [n for n in graph.nodes if n.column == 1]
    assert len(objects) <= MAX_PER_COLUMN
    assert {n.label for n in objects if n.kind == "closed"} == {f"obj{i:03}.o" for i in closed}
    (more,) = [n for n in objects if n.kind == "more"]
    hidden = dict(graph.hidden)["objects"]
    assert more.label == f"+{len(hidden)} more"
    drawn = {n.label for n in objects if n.kind != "more"}
    assert drawn | set(hidden) == {f"obj{i:03}.o" for i in range(500)}
    assert not drawn & set(hidden)
    assert len([n for n in graph.nodes if n.column == 0]) <= MAX_PER_COLUMN
    assert {n.label for n in graph.nodes if n.kind == "blob"} == {
        f"obj{i:03}.o_shipped" for i in closed
    }
    assert graph.height < 60 * MAX_PER_COLUMN, "the drawing stays the size of 40 rows"


def test_layout_marks_flagged_objects_incompatible_and_keeps_them() -> None:
    binary = _wide_binary(100, closed=set())
    graph = layout_binary(binary, flagged=frozenset({"obj090.o"}))
    (node,) = [n for n in graph.nodes if n.kind == "incompatible"]
    assert node.label == "obj090.o" and node.note.startswith("INCOMPATIBLE")


# --- the real report, from the command line -------------------------------------------------


@pytest.fixture(scope="module")
def hyperv_report(
    built_examples: dict[str, dict[str, Path]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("html") / "hyperv.html"
    proc = run_cli_here(
        "audit", str(built_examples["hyperv-2009"]["built"]), "--format", "html", "-o", str(out)
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return out


def test_report_holds_everything_without_javascript(hyperv_report: Path) -> None:
    page = hyperv_report.read_text(encoding="utf-8")
    report = _embedded(page)
    assert report["schema"] == "gplscan/1"
    assert "Verdict: Fails" in page and "exit code 1" in page
    for finding in report["findings"]:
        assert html_report.visible(finding["message"]).replace('"', "&#34;") in page
        for e in finding["evidence"]:
            assert html_report.visible(e["text"]).replace('"', "&#34;") in page
    assert "hv_vmbus-objs := vmbus_drv.o channel.o ring_buffer.o hv_core.o" in page
    assert "the 2009 Hyper-V drivers" in page, "the rule's explanation from rules/"
    assert 'data-closed="true"' in page and "CLOSED · no source" in page
    assert "Kbuild:3 · ld -r" in page
    assert "GPL-2.0-only" in page and "License → files → binaries" in page
    assert "vmbus_drv.c" in page and "Scan facts" in page
    assert '<div id="toolbar" class="toolbar" hidden>' in page, "controls only with JS"


def test_report_speaks_plainly_and_says_what_to_do(hyperv_report: Path) -> None:
    """Issue 14: a plain-language account on top, each finding's remedy, a glossary."""
    from gplscan.rules import load_rules

    page = hyperv_report.read_text(encoding="utf-8")
    top = page[page.index('<section id="verdict"') : page.index('<section id="findings"')]
    assert "In plain words" in top and "What to do:" in top
    report = _embedded(page)
    rules = {r.name: r for r in load_rules()}
    for finding in report["findings"]:
        rule = rules[finding["rule"]]
        assert rule.plain and rule.remedy
        assert html_report.visible(rule.remedy).replace("'", "&#39;") in page
    glossary = page[page.index('<section id="glossary">') :]
    for term in ("LicenseRef-closed", "ld -r", "taint P", "STT_FILE", "planned"):
        assert term in glossary, term


def test_html_to_stdout_gives_a_hint(built_examples: dict[str, dict[str, Path]]) -> None:
    proc = run_cli_here(
        "audit", str(built_examples["hyperv-2009-open"]["built"]), "--format", "html"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("<!DOCTYPE html>")
    assert "--output report.html" in proc.stderr


def test_help_names_the_format_and_start_up_stays_light() -> None:
    proc = run_cli_here("audit", "--help")
    assert "html" in proc.stdout and "self-contained" in proc.stdout
    for args in (["--help"], ["audit", "--help"], ["--version"]):
        assert modules_after(args, ("jinja2", "markupsafe")) == [], args


# --- a hostile tree, built at test time -----------------------------------------------------

MODULE_INFO = """\
static const char l[] __attribute__((used, section(".modinfo"), aligned(1))) =
    "license=GPL\\0</script><script>alert(6)</script>";
static const char n[] __attribute__((used, section(".modinfo"), aligned(1))) =
    "name=<img src=x onerror=alert(7)>";
int evil_init(void) { return 0; }
"""
HOSTILE_KO = "<img src=x onerror=alert(5)>.ko"
HOSTILE_OBJECT = "<script>window.__pwned=1</script>.o"  # the directory "<script>...<"


def _hostile_tree(tmp_path: Path) -> Path:
    """Kbuild object names, file names, an SPDX tag and MODULE_LICENSE strings (in source
    and in a built module's .modinfo, with NULs) that try to inject markup and script."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Kbuild").write_text(f'obj-m += evil.o\nevil-objs := main.o "q".o {HOSTILE_OBJECT}\n')
    (tree / "main.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0-only\nint main_fn(void) { return 0; }\n"
        'MODULE_LICENSE("GPL\\0<script>window.__pwned=2</script>");\n'
    )
    (tree / '"q".c').write_text(
        '// SPDX-License-Identifier: "><script>alert(3)</script>\nint q_fn(void) { return 1; }\n'
    )
    (tmp_path / "blob.c").write_text("int blob_fn(void) { return 7; }\n")
    (tree / HOSTILE_OBJECT).parent.mkdir()
    compile_object(tmp_path / "blob.c", tree / HOSTILE_OBJECT)
    (tmp_path / "mod.c").write_text(MODULE_INFO)
    compile_object(tmp_path / "mod.c", tree / HOSTILE_KO)
    return tree


@pytest.fixture()
def hostile_report(tmp_path: Path) -> Path:
    out = tmp_path / "hostile.html"
    proc = run_cli_here("audit", str(_hostile_tree(tmp_path)), "--format", "html", "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    return out


def test_hostile_tree_report_is_escaped(hostile_report: Path) -> None:
    page = hostile_report.read_text(encoding="utf-8")
    tags = _tags(page)
    assert [t for t, _ in tags].count("script") == 2
    assert not [t for t, _ in tags if t == "img"]
    assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")]
    report = _embedded(page)
    assert HOSTILE_KO in {b["path"] for b in report["binaries"]}
    evil = next(b for b in report["binaries"] if b["path"] == "evil.ko")
    assert evil["declared_license"] == "GPL\0<script>window.__pwned=2</script>"
    assert HOSTILE_OBJECT in {c["path"] for c in evil["components"]}


# --- in the browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's chromium driven by playwright, or a skip that says what is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium; .ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Opened:
    """A report open in a fresh browser context, with what the page tried to do."""

    def __init__(self, browser: Any, path: Path, *, javascript: bool = True) -> None:
        self.context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": 1300, "height": 900}
        )
        self.context.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def open_report(chromium: Any) -> Iterator[Any]:
    opened: list[Opened] = []

    def open_(path: Path, *, javascript: bool = True) -> Opened:
        opened.append(Opened(chromium, path, javascript=javascript))
        return opened[-1]

    yield open_
    for o in opened:
        o.close()


@pytest.mark.browser
def test_browser_shows_the_closed_object_and_evidence_on_click(
    hyperv_report: Path, open_report: Any, tmp_path: Path
) -> None:
    view = open_report(hyperv_report)
    page = view.page
    vmbus = page.locator('details.binary[data-binary="hv_vmbus.ko"]')
    closed = vmbus.locator('svg.graph g[data-closed="true"]')
    assert closed.count() == 1
    assert closed.is_visible()
    label = closed.text_content() or ""  # an SVG group: its text, title included
    assert "hv_core.o" in label and "CLOSED" in label
    others = page.locator('details.binary:not([data-binary="hv_vmbus.ko"]) g[data-closed]')
    assert others.count() == 0

    finding = page.locator('details.finding[data-rule="gpl-links-closed-object"]')
    evidence = finding.locator("table.evidence")
    assert not evidence.is_visible()
    finding.locator("summary").click()
    assert evidence.is_visible()
    assert "hv_vmbus-objs := vmbus_drv.o channel.o ring_buffer.o hv_core.o" in evidence.inner_text()

    shot = tmp_path / "hyperv-report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert all(url.startswith("file://") for url in view.requests), view.requests
    assert view.errors == [] and page.evaluate("window.__csp") == []


@pytest.mark.browser
def test_browser_filters_and_search(hyperv_report: Path, open_report: Any) -> None:
    from playwright.sync_api import expect

    page = open_report(hyperv_report).page
    findings = page.locator("details.finding")
    assert page.locator("#toolbar").is_visible(), "the script ran (its CSP hash matches)"
    assert findings.count() == 3
    page.select_option("#f-severity", "error")
    assert page.locator("details.finding:visible").count() == 2
    page.select_option("#f-severity", "")
    page.fill("#q", "hv_netvsc")
    expect(page.locator("details.binary:visible")).to_have_count(1)  # after the debounce
    assert page.locator("details.binary:visible").get_attribute("data-binary") == "hv_netvsc.ko"
    assert page.locator("details.finding:visible").count() == 0
    page.fill("#q", "")
    page.click("#collapse")
    assert not page.locator("table.evidence").first.is_visible()
    page.click("#expand")
    assert page.locator("table.evidence").first.is_visible()


@pytest.mark.browser
def test_browser_runs_no_injected_script(hostile_report: Path, open_report: Any) -> None:
    view = open_report(hostile_report)
    page = view.page
    page.click("#expand")
    assert page.evaluate("window.__pwned") is None
    assert view.dialogs == []
    assert page.title().startswith("gplscan report")
    assert page.evaluate("window.__csp") == [], "no injected script even tried to run"
    assert page.locator("img").count() == 0
    text = page.locator("body").inner_text()
    assert "<script>window.__pwned=1</script>.o" in text
    assert 'MODULE_LICENSE "GPL\\0<script>window.__pwned=2</script>"' in text
    assert "GPL\\0</script><script>alert(6)</script>" in text
    assert HOSTILE_KO in text and '"q".c' in text
    paths = page.evaluate(
        "JSON.parse(document.getElementById('gplscan-data').textContent).binaries.map(b => b.path)"
    )
    assert HOSTILE_KO in paths
    assert all(url.startswith("file://") for url in view.requests), view.requests


@pytest.mark.browser
def test_browser_without_javascript_shows_findings(hyperv_report: Path, open_report: Any) -> None:
    page = open_report(hyperv_report, javascript=False).page
    assert not page.locator("#toolbar").is_visible()
    finding = page.locator('details.finding[data-rule="module-license-misdeclared"]')
    assert "hv_vmbus.ko declares MODULE_LICENSE" in finding.inner_text()
    evidence = finding.locator("table.evidence")
    assert not evidence.is_visible()
    finding.locator("summary").click()  # <details> opens without any script
    assert evidence.is_visible()
    assert page.locator('g[data-closed="true"]').first.is_visible()


@pytest.mark.browser
def test_print_carries_every_finding_and_nothing_crosses_the_page_edge(
    hyperv_report: Path, open_report: Any
) -> None:
    """Issue 14: Chromium's print of the report holds every finding's explanation and
    evidence (found in the PDF's text), and, laid out for an A4 page, no graph or table
    is wider than the page."""
    import io

    import pypdf

    view = open_report(hyperv_report)
    page = view.page
    pdf = page.pdf(format="A4", print_background=True)
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    flat = re.sub(r"\s+", "", text)
    report = _embedded(hyperv_report.read_text(encoding="utf-8"))
    assert text.count("Why this matters") == len(report["findings"])
    assert text.count("What to do") >= len(report["findings"])
    for finding in report["findings"]:
        for e in finding["evidence"]:
            # the PDF's text breaks lines where the page does: compare without spaces
            assert re.sub(r"\s+", "", e["text"])[:60] in flat, e["text"]
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 711, "height": 1000})  # A4 less the margins, at 96 dpi
    wider = page.evaluate(
        """() => { const w = document.documentElement.clientWidth; const out = [];
        for (const el of document.querySelectorAll('svg.graph, table, dl, pre')) {
          const r = el.getBoundingClientRect();
          if (r.width && r.right > w + 1) out.push(el.tagName + ' ' + Math.round(r.right));
        } return out; }"""
    )
    assert wider == [], f"wider than the page ({page.viewport_size}): {wider}"


def test_the_print_header_cannot_break_out_of_its_css_string() -> None:
    hostile = 'x"; } body { display: none } </style><script>alert(1)</script>\n\\'
    literal = str(html_report.css_string(hostile))
    assert literal.startswith('"') and literal.endswith('"')
    inner = literal[1:-1]
    assert not set(inner) & set('"<>;{}\n'), inner
    assert "\\22 " in inner and "\\3c " in inner


def test_a_large_target_gets_an_overview_and_compact_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: above COMPACT_ABOVE binaries, the clean ones are rows (no graph), the
    ones with findings come first in full, an overview counts the declared licenses, and
    the embedded JSON is packed (and reads back the same)."""
    import dataclasses

    base = _hostile_result()
    (flagged,) = base.binaries
    clean = [
        Binary(
            path=PurePosixPath(f"kernel/drivers/m{n:04}.ko"),
            name=f"m{n:04}",
            kind="kernel-module",
            declared=DeclaredLicense(b"Dual BSD/GPL" if n % 3 else b"GPL", (), None),
            components=(),
            defined_at=None,
            composition_known=False,
            imports=(Import("printk", "vmlinux", False, None, None),),
        )
        for n in range(html_report.COMPACT_ABOVE + 50)
    ]
    result = dataclasses.replace(base, binaries=(*clean, flagged))
    monkeypatch.setattr(html_report, "EMBED_RAW_BELOW", 10_000)
    page = html_report.render(result)
    assert page.count('<details class="binary"') == 1, "only the binary with a finding in full"
    assert page.count('<tr class="binary-row"') == len(clean)
    assert page.count('<svg class="graph"') == 1
    overview = page[page.index('<section id="overview">') : page.index('<div id="toolbar"')]
    assert "<code>Dual BSD/GPL</code></td><td>166</td>" in overview
    assert 'data-encoding="gzip+base64"' in page
    assert _embedded(page) == json.loads(html_report.script_json(json_report.as_dict(result)))
    binaries = page[page.index('<section id="binaries">') :]
    assert binaries.index('<details class="binary"') < binaries.index("m0000.ko")


@pytest.mark.browser
def test_a_phone_gets_no_sideways_scroll_and_anchors_clear_the_toolbar(
    hyperv_report: Path, open_report: Any
) -> None:
    """Issue 14: at 390 px the page is no wider than the screen (tables scroll inside
    themselves, graphs scale), and at 1400 px a jump to a finding is not hidden under the
    sticky toolbar."""
    view = open_report(hyperv_report)
    page = view.page
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    graph = page.locator("svg.graph").first
    assert graph.bounding_box()["width"] <= 390  # type: ignore[index]
    page.set_viewport_size({"width": 1400, "height": 900})
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")  # the toolbar sticks
    page.goto(hyperv_report.as_uri() + "#f-1")
    page.wait_for_timeout(100)
    bar = page.locator("#toolbar").bounding_box()
    target = page.locator("#f-1").bounding_box()
    assert bar is not None and target is not None
    assert target["y"] >= bar["y"] + bar["height"] - 1, (bar, target)
