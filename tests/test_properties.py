"""Properties (Hypothesis) of the readers and codecs a scan's facts go through (issue 16):
``.modinfo``, ``Module.symvers``, the make reader, the cache's codecs and the license
expression algebra. Each says what must hold for every input of a shape, not that one
input gives one answer: a round trip that loses nothing, two readings that agree, an
answer equal to a brute-force reference. (Damaged input, where the property is only
"facts or a reported problem", is tests/test_fuzz.py's.)

Derandomized, so that a failure in CI reproduces; ``GPLSCAN_PROPERTY_EXAMPLES`` sets how
many inputs each property is given (default 50, what the default test run affords;
``.ci/run`` gives 500).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import os
import types
import typing
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gplscan.facts.collect import RECORD
from gplscan.facts.elf import parse_modinfo
from gplscan.facts.kbuild import read_kbuild
from gplscan.facts.license_expr import combine_and
from gplscan.facts.rows import OBJECT_ROW, Mismatch, Row, codec, fact_kinds
from gplscan.facts.spdx import normalize
from gplscan.facts.symvers import parse_symvers
from gplscan.model import LicenseFinding, ObjectFacts, ScanIssue, SourceFacts
from gplscan.policy import LicenseData, load_license_data

EXAMPLES = int(os.environ.get("GPLSCAN_PROPERTY_EXAMPLES", "50"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a loaded machine is not a failure
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- .modinfo ----------------------------------------------------------------------------

# a key: printable ASCII without space or "=" (what a record's key is); a value's pieces
_KEYS = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="="),
    min_size=1,
    max_size=12,
)
_NO_NUL = st.binary(max_size=24).map(lambda b: b.replace(b"\0", b""))
_HIDDEN = _NO_NUL.map(lambda b: b.replace(b"=", b"")).filter(bool)


@st.composite
def _modinfo(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A section as the kernel's build lays one out (records ended by NULs, padded with
    more for alignment), with values that may hide text after a NUL, and its records."""
    entries = []
    data = b"\0" * draw(st.integers(0, 3))
    for _ in range(draw(st.integers(0, 8))):
        key = draw(_KEYS)
        value = b"\0".join([draw(_NO_NUL), *draw(st.lists(_HIDDEN, max_size=2))])
        entries.append((key, value))
        data += key.encode() + b"=" + value + b"\0" * draw(st.integers(1, 4))
    return data, entries


def _records(entries: tuple[tuple[str, bytes], ...]) -> bytes:
    """The records written back: ``key=value`` (a leading fragment with no key as it was),
    NUL-separated."""
    return b"\0".join(value if not key else key.encode() + b"=" + value for key, value in entries)


@PROPERTY
@given(_modinfo())
def test_modinfo_records_read_back_as_written(section: tuple[bytes, list[Any]]) -> None:
    data, entries = section
    assert list(parse_modinfo(data)) == entries


@PROPERTY
@given(st.binary(max_size=200) | _modinfo().map(lambda s: s[0]))
def test_modinfo_keeps_every_byte(data: bytes) -> None:
    """Whatever the bytes, the records hold every byte of every fragment in order: a NUL
    inside a value ("GPL\\0...") never drops the text after it."""
    assert _records(parse_modinfo(data)) == b"\0".join(f for f in data.split(b"\0") if f)


# -- Module.symvers ----------------------------------------------------------------------

_EXPORT_TYPES = {
    "EXPORT_SYMBOL": False,
    "EXPORT_SYMBOL_GPL": True,
    "EXPORT_SYMBOL_GPL_FUTURE": False,
    "EXPORT_UNUSED_SYMBOL": False,
    "EXPORT_UNUSED_SYMBOL_GPL": True,
}
_SYMBOL = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
_MODULE = st.just("vmlinux") | st.from_regex(r"(drivers|fs|net)/[a-z0-9_]{1,8}", fullmatch=True)
_NAMESPACE = st.just("") | st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)
_ROW = st.tuples(
    st.integers(0, 2**32 - 1).map(lambda c: f"0x{c:08x}"),
    _SYMBOL,
    _MODULE,
    st.sampled_from(sorted(_EXPORT_TYPES)),
    _NAMESPACE,
)
_JUNK = st.sampled_from(["", "garbage", "0x0\tonly\tthree", "# a comment line", "a b c d"])


def _expected(rows: list[tuple[str, ...]], lines: list[int], columns: int) -> dict[str, Any]:
    """symbol -> (module, GPL-only, namespace, line, evidence text); the last row wins."""
    out = {}
    for (crc, symbol, module, kind, namespace), line in zip(rows, lines, strict=True):
        namespace = namespace if columns == 5 else ""
        text = " ".join(filter(None, (crc, symbol, module, kind, namespace)))
        out[symbol] = (module, _EXPORT_TYPES[kind], namespace or None, line, text)
    return out


def _read(text: str) -> dict[str, Any]:
    exports = parse_symvers(text, "Module.symvers")
    out = {}
    for symbol in exports:
        e = exports[symbol]
        assert e.symbol == symbol and exports.get(symbol) == e and symbol in exports
        assert e.evidence.kind == "symvers" and str(e.evidence.path) == "Module.symvers"
        out[symbol] = (e.module, e.gpl_only, e.namespace, e.evidence.line, e.evidence.text)
    assert len(exports) == len(out)
    return out


@PROPERTY
@given(st.lists(_ROW, max_size=12), st.booleans())
def test_symvers_rows_read_back(rows: list[tuple[str, ...]], final_newline: bool) -> None:
    """Every row, as written, with its line; a symbol listed twice is its last row."""
    text = "".join("\t".join(r) + "\n" for r in rows)
    if not final_newline:
        text = text.removesuffix("\n")
    assert _read(text) == _expected(rows, list(range(1, len(rows) + 1)), 5)


@PROPERTY
@given(st.lists(_ROW, min_size=1, max_size=12), st.data())
def test_symvers_fast_and_line_by_line_readings_agree(
    rows: list[tuple[str, ...]], data: st.DataObject
) -> None:
    """A well-formed file is read by slicing its columns; one odd line (or a file of four
    columns, as kernels before namespaces wrote) is read line by line. Both say the same
    of every row."""
    four = data.draw(st.booleans(), "four columns")
    lines = ["\t".join(r[:4] if four else r) for r in rows]
    at = data.draw(st.integers(0, len(lines)), "junk at")
    junk = data.draw(_JUNK, "junk")
    lines.insert(at, junk)
    numbers = [n + 1 + (n >= at) for n in range(len(rows))]
    assert _read("\n".join(lines) + "\n") == _expected(rows, numbers, 4 if four else 5)


# -- the make reader ----------------------------------------------------------------------

_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


@st.composite
def _kbuild(draw: st.DrawFn) -> tuple[str, dict[str, list[tuple[str, str, int | None]]]]:
    """A Kbuild file naming modules and their members in the ways real ones do (one line
    or several, continuation lines, ``:=`` then ``+=``, ``-objs`` or ``-y``, a helper
    variable, ``$(addprefix ...)``, comments and blank lines between), and what it says:
    module -> [(member, via, line)] (line None where a variable carried the words)."""
    names = draw(st.lists(_NAME, min_size=1, max_size=4, unique=True))
    lines: list[str] = []
    expected: dict[str, list[tuple[str, str, int | None]]] = {}

    def noise() -> None:
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# a comment", "ccflags-y += -DDEBUG"])))

    if draw(st.booleans()):
        lines.append("obj-m := " + " ".join(f"{n}.o" for n in names))
        declared = {n: len(lines) for n in names}
    else:
        declared = {}
        for n in names:
            noise()
            lines.append(f"obj-m += {n}.o")
            declared[n] = len(lines)
    for n in names:
        pool = [m for m in draw(st.lists(_NAME, max_size=6, unique=True)) if m != n]
        if not pool:
            expected[n] = [(f"{n}.o", "self", declared[n])]
            continue
        objs: list[tuple[str, str, int | None]] = []
        ys: list[tuple[str, str, int | None]] = []
        rest = pool
        while rest:
            size = draw(st.integers(1, len(rest)))
            chunk, rest = rest[:size], rest[size:]
            suffix = draw(st.sampled_from(["-objs", "-y"]))
            into = objs if suffix == "-objs" else ys
            var = f"{n}{suffix}"
            op = "+=" if any(line.startswith(f"{var} ") for line in lines) else ":="
            noise()
            form = draw(st.sampled_from(["line", "continued", "variable", "addprefix"]))
            start = len(lines) + 1
            paths = [f"{m}.o" for m in chunk]
            if form == "line":
                lines.append(f"{var} {op} " + " ".join(paths))
                into.extend((p, "objs", start) for p in paths)
            elif form == "continued":
                lines.append(f"{var} {op} \\")
                lines.extend(f"\t{p} \\" for p in paths[:-1])
                lines.append(f"\t{paths[-1]}")
                into.extend((p, "objs", start) for p in paths)
            elif form == "variable":
                helper = f"HELPER_{n}_{len(lines)}"
                lines.append(f"{helper} := " + " ".join(paths))
                lines.append(f"{var} {op} $({helper})")
                into.extend((p, "objs", None) for p in paths)
            else:
                lines.append(f"{var} {op} $(addprefix sub/,{' '.join(paths)})")
                into.extend((f"sub/{p}", "objs", None) for p in paths)
        expected[n] = objs + ys
    return "\n".join(lines) + "\n", expected


@pytest.fixture(scope="module")
def make_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each example's Kbuild file is written (over the last one)."""
    return tmp_path_factory.mktemp("make-property")


@PROPERTY
@given(case=_kbuild())
def test_make_reader_finds_every_module_and_member(
    make_dir: Path, case: tuple[str, dict[str, list[tuple[str, str, int | None]]]]
) -> None:
    text, expected = case
    (make_dir / "Kbuild").write_text(text)
    issues: list[ScanIssue] = []
    modules, copies = read_kbuild(make_dir / "Kbuild", make_dir, issues)
    assert not issues and not copies, text
    found = {m.name: [(str(r.path), r.via, r.evidence.line) for r in m.members] for m in modules}
    assert set(found) == set(expected), text
    for name, members in expected.items():
        got = found[name]
        assert [m[:2] for m in got] == [m[:2] for m in members], text
        for (_, _, line), (_, _, want) in zip(got, members, strict=True):
            assert want is None or line == want, text


# -- the cache's codecs -------------------------------------------------------------------

_FLOAT = st.floats(allow_nan=False)
_PATH = st.lists(
    st.sampled_from(["a", "b.c", "drivers", "x.o", "é", "..", " "]), min_size=1, max_size=3
).map(lambda parts: PurePosixPath(*parts))


def values_of(tp: Any, paths: st.SearchStrategy[PurePosixPath] = _PATH) -> st.SearchStrategy[Any]:
    """Values of a type the cache stores, built from its type hints as the codecs are:
    scalars, unions, tuples, frozensets, paths (drawn from ``paths``), enums and
    dataclasses of these."""

    def of(inner: Any) -> st.SearchStrategy[Any]:
        return values_of(inner, paths)

    if tp is type(None) or tp is None:
        return st.none()
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=8),
        bytes: st.binary(max_size=8),
        int: st.integers(-(2**70), 2**70),
        bool: st.booleans(),
        float: _FLOAT,
        PurePosixPath: paths,
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: of(hints[f.name]) for f in dataclasses.fields(tp)}
        return st.builds(tp, **fields)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([of(a) for a in args])
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(of(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*[of(a) for a in args])
    if origin is frozenset:
        return st.frozensets(of(args[0]), max_size=3)
    raise TypeError(f"no strategy for {tp!r}")


_KIND_TYPES: dict[str, Any] = {
    "source": SourceFacts,
    "defines": frozenset[str],
    "license": tuple[str | None, tuple[LicenseFinding, ...]],
}
_YAML = st.recursive(
    st.none() | st.booleans() | st.integers() | _FLOAT | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
).map(lambda v: {"doc": v})


def _kind_values(kind: str) -> st.SearchStrategy[Any]:
    if kind == "object":  # the row of an object's facts: every field but the path
        return values_of(ObjectFacts).map(OBJECT_ROW.encode)
    if kind == "yaml":
        return _YAML
    return values_of(_KIND_TYPES[kind])


def _plain(kind: str, value: Any) -> Any:
    codec = fact_kinds()[kind]
    return value if codec.encode is None else codec.encode(value)


def test_every_kind_the_cache_keeps_has_a_property() -> None:
    assert set(fact_kinds()) == {"object", "yaml", *_KIND_TYPES}


@pytest.mark.parametrize("kind", sorted(fact_kinds()))
def test_cache_values_read_back_equal(kind: str) -> None:
    """What is stored is what is read back: equal, and of the same types all the way down
    (a tuple stays a tuple, a path a path, an enum an enum)."""
    codec = fact_kinds()[kind]

    @PROPERTY
    @given(_kind_values(kind))
    def round_trip(value: Any) -> None:
        back = codec.loads(codec.dumps(value))
        assert back == value and _shape(back) == _shape(value)

    round_trip()


@pytest.mark.parametrize("row", [OBJECT_ROW, RECORD], ids=lambda r: r.kind.__name__)
def test_flat_rows_read_back_into_the_same_facts(row: Row[Any]) -> None:
    """A dataclass stored as a flat row (its paths left out: they are the path the row is
    stored under; a nested dataclass that may be None, as Nones) is built again equal."""
    stored = codec(row.shape)

    @PROPERTY
    @given(_PATH.flatmap(lambda p: st.tuples(st.just(p), values_of(row.kind, st.just(p)))))
    def round_trip(case: tuple[PurePosixPath, Any]) -> None:
        path, value = case
        assert row.decode(path, stored.loads(stored.dumps(row.encode(value)))) == value

    round_trip()


def _shape(value: Any) -> Any:
    """The value with the type of every part beside it."""
    if isinstance(value, (tuple, list, frozenset)):
        items = (
            sorted(map(repr, map(_shape, value)))
            if isinstance(value, frozenset)
            else [_shape(v) for v in value]
        )
        return (type(value), items)
    if isinstance(value, dict):
        return (dict, sorted((repr(k), repr(_shape(v))) for k, v in value.items()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), [_shape(getattr(value, f.name)) for f in dataclasses.fields(value)])
    return (type(value), value)


def _damaged(plain: Any, draw: Callable[..., Any]) -> Any:
    """``plain`` with one part replaced by a value of another shape."""
    other = draw(
        st.none()
        | st.integers()
        | st.text(max_size=3)
        | st.binary(max_size=3)
        | st.just(())
        | st.just([])
        | st.booleans()
        | _FLOAT
    )
    if isinstance(plain, (tuple, list)) and plain and draw(st.booleans()):
        at = draw(st.integers(0, len(plain) - 1))
        parts = list(plain)
        parts[at] = _damaged(parts[at], draw)
        return type(plain)(parts)
    if isinstance(plain, tuple) and draw(st.booleans()):
        return list(plain)  # what a JSON round trip would have made of it
    return other


@pytest.mark.parametrize("kind", sorted(fact_kinds()))
def test_cache_reads_back_only_values_of_the_type(kind: str) -> None:
    """A stored value of another shape is a miss (Mismatch), never a value of the wrong
    type and never another exception; what a damaged value still decodes to is a value
    of the kind (it reads back the same when stored again)."""
    codec = fact_kinds()[kind]

    @PROPERTY
    @given(_kind_values(kind), st.data())
    def damaged(value: Any, data: st.DataObject) -> None:
        junk = _damaged(_plain(kind, value), data.draw)
        try:
            back = codec.decode(junk)
        except Mismatch:
            return
        assert codec.loads(codec.dumps(back)) == back

    damaged()


# -- the license expression algebra ------------------------------------------------------


@pytest.fixture(scope="module")
def licenses() -> LicenseData:
    return load_license_data()


def _leaves(data: LicenseData) -> list[tuple[str, str]]:
    """(as written, the license it names): GPL, permissive, incompatible, proprietary
    ids, and a GPL id WITH an exception (which names the GPL id)."""
    ids = [
        *sorted(data.gpl)[:3],
        "MIT",
        "BSD-3-Clause",
        *sorted(data.gpl_incompatible)[:2],
        *sorted(data.gpl2_only_incompatible)[:1],
        *sorted(data.proprietary)[:2],
    ]
    gpl = sorted(data.gpl)[0]
    return [(i, i) for i in ids] + [(f"{gpl} WITH Linux-syscall-note", gpl)]


Tree = Any  # (text, key) for a license, (op, [Tree, ...]) for AND / OR


def _trees(data: LicenseData) -> st.SearchStrategy[Tree]:
    return st.recursive(
        st.sampled_from(_leaves(data)),
        lambda kids: st.tuples(
            st.sampled_from(["AND", "OR"]), st.lists(kids, min_size=2, max_size=3)
        ),
        max_leaves=7,
    )


def _text(tree: Tree, top: bool = True) -> str:
    if tree[0] not in ("AND", "OR"):
        return str(tree[0])
    inner = f" {tree[0]} ".join(_text(k, False) for k in tree[1])
    return inner if top else f"({inner})"


def _flat(tree: Tree) -> Tree:
    """The tree with an AND directly inside an AND (an OR inside an OR) merged into it, as
    an expression is written without redundant parentheses."""
    if tree[0] not in ("AND", "OR"):
        return tree
    kids = [_flat(k) for k in tree[1]]
    return (tree[0], [g for k in kids for g in (k[1] if k[0] == tree[0] else [k])])


def _alternatives(tree: Tree) -> list[frozenset[str]]:
    """The ways the code may be taken (the expression's disjunctive normal form): each a
    set of licenses that all apply."""
    if tree[0] == "OR":
        return [a for k in tree[1] for a in _alternatives(k)]
    if tree[0] == "AND":
        combos = itertools.product(*[_alternatives(k) for k in tree[1]])
        return [frozenset().union(*c) for c in combos]
    return [frozenset({tree[1]})]


def test_requires_gpl_withholds_and_conflicts_as_every_alternative_says(
    licenses: LicenseData,
) -> None:
    """An expression requires the GPL (withholds source, conflicts with GPL code) when
    every way it may be taken does: checked against the expression's alternatives."""
    proprietary = licenses.proprietary
    bad = licenses.gpl_incompatible | proprietary

    @PROPERTY
    @given(_trees(licenses))
    def check(tree: Tree) -> None:
        text, alts = _text(tree), _alternatives(tree)
        assert licenses.requires_gpl(text) == all(a & licenses.gpl for a in alts), text
        assert licenses.withholds_source(text) == all(a & proprietary for a in alts), text
        v3 = frozenset({"GPL-3.0-only"})
        assert licenses.conflicts_with_gpl(text, v3) == all(a & bad for a in alts), text
        v2 = frozenset({"GPL-2.0-only"})
        worse = bad | licenses.gpl2_only_incompatible
        assert licenses.conflicts_with_gpl(text, v2) == all(a & worse for a in alts), text
        assert licenses.gpl_ids(text) == frozenset().union(*alts) & licenses.gpl, text

    check()


def test_allow_and_deny_lists_as_every_alternative_says(licenses: LicenseData) -> None:
    """Denied: every alternative holds a denied license. Not allowed: no alternative is
    made only of allowed ones."""
    names = sorted({key for _, key in _leaves(licenses)})

    @PROPERTY
    @given(
        _trees(licenses),
        st.none() | st.lists(st.sampled_from(names), unique=True).map(tuple),
        st.lists(st.sampled_from(names), unique=True).map(tuple),
    )
    def check(tree: Tree, allow: tuple[str, ...] | None, deny: tuple[str, ...]) -> None:
        text, alts = _text(tree), _alternatives(tree)
        said = dict(licenses.policy_violations(text, allow, deny))
        named = frozenset().union(*alts)
        if bool(deny) and all(a & set(deny) for a in alts):
            assert said.pop("denied") == tuple(sorted(named & set(deny))), text
        if allow is not None and not any(a <= set(allow) for a in alts):
            assert said.pop("not_allowed") == tuple(sorted(named - set(allow))), text
        assert not said, (text, allow, deny)

    check()


def test_normalizing_is_idempotent_and_keeps_the_judgement(licenses: LicenseData) -> None:
    @PROPERTY
    @given(_trees(licenses))
    def check(tree: Tree) -> None:
        text = _text(tree)
        once = normalize(text)
        assert normalize(once) == once, text
        assert licenses.requires_gpl(once) == licenses.requires_gpl(text), (text, once)
        assert licenses.withholds_source(once) == licenses.withholds_source(text), (text, once)

    check()


def test_combine_and_keeps_each_term_once_in_first_seen_order(licenses: LicenseData) -> None:
    """The AND of several files' expressions: None for none; each distinct top-level AND
    term once, in the order first seen; the same again when combined with itself or
    its own inputs; and a GPL requirement in any input is one in the whole. (Expressions
    written without redundant parentheses: see the next test.)"""

    @PROPERTY
    @given(st.lists(_trees(licenses).map(_flat), max_size=4))
    def check(trees: list[Tree]) -> None:
        texts = [_text(t) for t in trees]
        combined = combine_and(texts)
        if not texts:
            assert combined is None
            return
        assert combined is not None
        assert combine_and([combined]) == combined, texts
        assert combine_and(texts + texts) == combined, texts
        assert combine_and([combined, *texts]) == combined, texts
        assert licenses.requires_gpl(combined) == any(licenses.requires_gpl(t) for t in texts)

    check()


def test_combine_and_flattens_an_and_in_parentheses() -> None:
    """Found by the property above before its inputs were flattened: an AND written in
    parentheses stayed a term of its own, so a license could be listed twice."""
    assert combine_and(["(GPL-2.0-only AND MIT) AND GPL-2.0-only"]) == "GPL-2.0-only AND MIT"
    assert combine_and(["MIT AND (BSD-3-Clause AND (MIT OR Apache-2.0))", "MIT"]) == (
        "MIT AND BSD-3-Clause AND (MIT OR Apache-2.0)"
    )
