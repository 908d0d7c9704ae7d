"""The cache's flat rows (gplscan.facts.rows): compiled from the dataclasses' fields, every
value comes back equal through marshal and the typed check, and a row of another shape
is a miss."""

from __future__ import annotations

import marshal
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gplscan.facts.collect import RECORD, FileRecord
from gplscan.facts.rows import OBJECT_ROW, Mismatch, codec, flat_row
from gplscan.model import FileEntry, FileKind, Location, ObjectFacts, SpdxTag

PATH = PurePosixPath("drivers/x/m.c")
text = st.text(max_size=8)
maybe_text = st.none() | text
tags = st.builds(SpdxTag, text, text, st.builds(Location, st.just(PATH), st.none() | st.integers()))
records = st.builds(
    FileRecord,
    st.builds(FileEntry, st.just(PATH), st.sampled_from(FileKind), st.integers(0), maybe_text),
    text,
    st.none() | tags,
    maybe_text,
    maybe_text,
)
names = st.lists(text, max_size=4).map(tuple)
objects = st.builds(
    ObjectFacts,
    st.just(PATH),
    text,
    text,
    names,
    names,
    names,
    st.lists(st.tuples(text, st.binary(max_size=8)), max_size=3).map(tuple),
    st.lists(st.tuples(text, st.booleans()), max_size=3).map(tuple),
    names,
    text,
    st.lists(st.tuples(text, text), max_size=3).map(tuple),
    st.lists(st.tuples(maybe_text, maybe_text, maybe_text), max_size=3).map(tuple),
    maybe_text,
    names,
)


def _through_cache(row: tuple[Any, ...], shape: object) -> Any:
    return codec(shape).loads(marshal.dumps(row))


@given(records)
def test_a_file_record_comes_back_equal(record: FileRecord) -> None:
    row = RECORD.encode(record)
    assert RECORD.decode(PATH, _through_cache(row, RECORD.shape)) == record


@given(objects)
def test_object_facts_come_back_equal(facts: ObjectFacts) -> None:
    row = OBJECT_ROW.encode(facts)
    back = OBJECT_ROW.decode(PATH, _through_cache(row, OBJECT_ROW.shape))
    assert back == facts


def test_rows_hold_no_path_and_flatten_what_a_record_holds() -> None:
    tag = SpdxTag("MIT", "MIT", Location(PATH, 1))
    record = FileRecord(FileEntry(PATH, FileKind.SOURCE, 3), "ab", tag)
    assert RECORD.encode(record) == ("source", 3, None, None, "ab", "MIT", "MIT", 1, None, None)
    untagged = FileRecord(FileEntry(PATH, FileKind.OBJECT, 3), "ab", None, None, "broken")
    assert RECORD.encode(untagged)[5:] == (None, None, None, None, "broken")
    assert RECORD.decode(PATH, RECORD.encode(untagged)) == untagged


def test_a_row_of_another_shape_is_a_miss() -> None:
    row = RECORD.encode(FileRecord(FileEntry(PATH, FileKind.SOURCE, 3), "ab"))
    with pytest.raises(Mismatch):
        _through_cache(row[:-1], RECORD.shape)
    with pytest.raises(Mismatch):
        _through_cache((3, *row[1:]), RECORD.shape)
    with pytest.raises(ValueError):  # read_all takes these as misses
        RECORD.decode(PATH, row[:-1])
    with pytest.raises(ValueError):
        RECORD.decode(PATH, ("no such kind", *row[1:]))


@dataclass(frozen=True)
class _Loose:
    note: str | None


@dataclass(frozen=True)
class _Holder:
    loose: _Loose | None


def test_an_optional_part_must_say_whether_it_is_there() -> None:
    with pytest.raises(TypeError, match="no field says it is there"):
        flat_row(_Holder)
