"""The when: vocabulary and the rules' fragments, on hand-built binaries: the cases the rule
fixtures do not reach (several closed objects, a policy that denies and does not allow, a
license string with text after a GPL-compatible name, a finding about the whole target)
read as the rule files word them."""

from __future__ import annotations

from pathlib import PurePosixPath as P

import pytest

from gplscan.findings import make_finding, render_message
from gplscan.model import Binary, Component, DeclaredLicense, Edge, Evidence, Gap, Location, Origin
from gplscan.policy import load_license_data
from gplscan.rules import load_rules
from gplscan.rules.context import Context
from gplscan.rules.engine import evaluate
from gplscan.rules.fragments import Text, render
from gplscan.rules.vocabulary import check

RULES = {r.id: r for r in load_rules()}
LICENSES = load_license_data()


def _component(name: str, origin: Origin, license: str | None = None) -> Component:
    linked = Evidence("makefile", f"m-y += {name}", P("Kbuild"), 1)
    sources = (P(name.replace(".o", ".c")),) if origin is Origin.SOURCE else ()
    return Component(P(name), origin, license, sources, P(name), linked, ())


def _module(*components: Component, declared: bytes | None = b"GPL") -> Binary:
    license = None
    if declared is not None:
        license = DeclaredLicense(declared, (), Location(P("m.c"), 9))
    return Binary(P("m.ko"), "m", "kernel-module", license, components, None)


def _messages(rule_id: str, binary: Binary, **context: object) -> list[str]:
    ctx = Context(LICENSES, binaries={str(binary.path): binary}, **context)  # type: ignore[arg-type]
    rule = RULES[rule_id]
    return [make_finding(r, b, m).message for r, b, m in evaluate([rule], [binary], ctx)]


def test_a_module_holding_several_closed_objects_and_incompatible_code() -> None:
    binary = _module(
        _component("a.o", Origin.CLOSED),
        _component("b.o", Origin.CLOSED),
        _component("c.o", Origin.SOURCE, "CDDL-1.0"),
    )
    assert _messages("GPL004", binary) == [
        'm.ko declares MODULE_LICENSE("GPL"), which the kernel takes as GPL-compatible, but '
        "it holds closed objects a.o, b.o and code under CDDL-1.0 (c.o)"
    ]


def test_a_closed_object_tied_both_ways_to_gpl_code() -> None:
    gpl = _component("core.o", Origin.SOURCE, "GPL-2.0-only")
    blob = _component("blob.o", Origin.CLOSED)
    edges = (
        Edge("imports-symbol", "core.o", "blob.o", (Evidence("symbol", "blob_fn U"),)),
        Edge("imports-symbol", "blob.o", "core.o", (Evidence("symbol", "core_fn U"),)),
    )
    assert _messages("GPL001", _module(gpl, blob), edges=edges) == [
        "m.ko links blob.o, which no source in the tree accounts for, into one binary with "
        "GPL code (GPL-2.0-only in core.c): GPL code calls blob_fn in it and it calls back "
        "core_fn"
    ]
    # no symbol between them, and GPL code only by the declaration
    assert _messages("GPL001", _module(blob)) == [
        "m.ko links blob.o, which no source in the tree accounts for, into one binary with "
        'GPL code (declared MODULE_LICENSE("GPL"))'
    ]


def test_a_policy_that_denies_and_does_not_allow() -> None:
    binary = _module(_component("x.o", Origin.SOURCE, "MIT AND CDDL-1.0"))
    assert _messages("GPL015", binary, allow=("GPL-2.0-only",), deny=("CDDL-1.0",)) == [
        "m.ko holds x.o under MIT AND CDDL-1.0, which the project's license policy does not "
        "allow (denied: CDDL-1.0, not allowed: CDDL-1.0, MIT)"
    ]
    assert _messages("GPL015", binary) == []  # no policy, no finding


def test_text_after_a_gpl_compatible_name() -> None:
    assert _messages("GPL005", _module(declared=b"GPL v2 plus a closed part")) == [
        'm.ko declares a license string that reads "GPL v2 plus a closed part" to the '
        "kernel but holds text after the GPL-compatible name 'GPL v2': ' plus a closed part'"
    ]


def test_a_finding_about_the_whole_target_words_its_binary_through_a_fragment() -> None:
    gap = Gap("the objects of x.ko", "no build record", Location(P("x/Kbuild"), 2))
    ctx = Context(LICENSES, gaps=(gap,))
    (finding,) = [make_finding(r, b, m) for r, b, m in evaluate([RULES["GPL016"]], [], ctx)]
    assert finding.message == "Not judged: the objects of x.ko: no build record"
    fragments = (("binary", (("none", "the target"),)),)
    text = render_message("{binary} is not judged", {"binary": Text("binary", "none")}, fragments)
    assert text == "the target is not judged"


def test_parts_join_as_their_fragment_says() -> None:
    words = {"calls": {"join": " and ", "into": "in {s}", "back": "back {s}"}}
    parts = (Text("calls", "into", {"s": "a"}), Text("calls", "back", {"s": "b"}))
    assert render(words, parts) == "in a and back b"
    assert render(words, ()) == ""


@pytest.mark.parametrize(
    ("when", "said"),
    [
        ({"each": "binary"}, "'each'"),
        ({"each": "component", "component": {"origin": "prebuilt"}}, "'prebuilt'"),
        ({"each": "component", "binary": {"holds_gpl": True}}, "'holds_gpl'"),
        ({"each": "component", "holding": []}, "'holding'"),
        ({"each": "module"}, "'holding'"),
        ({"each": "module", "holding": [{"origin": "closed"}]}, "needs a name"),
        ({"each": "component", "component": ["origin"]}, "must be a mapping"),
    ],
)
def test_a_when_that_is_not_the_vocabulary_is_named(when: dict[str, object], said: str) -> None:
    problem = check(when)
    assert problem is not None and said in problem, problem
