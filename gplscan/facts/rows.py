"""How the cache stores values: as the plain values marshal writes, checked on the way back.

Values are never pickled: each kind of value has a type, and is stored as tuples,
strings, numbers and bytes built from it (:func:`codec`: dataclasses as the tuple of
their fields); reading a value back checks it against that type and builds it again, so
a value of another shape is a :class:`Mismatch` (a miss), never a crash and never a
changed verdict. (The cache seals every stored value with a keyed CRC-32 before marshal
sees it: see :mod:`gplscan.facts.cache`.)

The values read most, per file and per object, are flat rows (:func:`flat_row`): one
tuple of plain values compiled from the dataclass's fields, checked by the types of its
columns at once. :data:`OBJECT_ROW` is the row of :class:`ObjectFacts`; the file record's
row is made where the record is (:mod:`gplscan.facts.collect`).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import marshal
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar

from gplscan.model import LicenseFinding, ObjectFacts, SourceFacts

T = TypeVar("T")


# --- values: typed, plain, checked on the way back ----------------------------------------


class Mismatch(Exception):
    """A stored value that is not of the type its kind says (the row is a miss)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Codec:
    """How values of one type are stored and read back.

    ``encode`` makes the plain value marshal stores (None: the value is stored as it is);
    ``decode`` checks a plain value read back and builds the typed value from it, raising
    :class:`Mismatch` when it is of another shape.
    """

    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any]
    # a tuple of scalars: the types its items may have, position by position
    columns: tuple[frozenset[type], ...] | None = None

    def dumps(self, value: Any) -> bytes:
        return marshal.dumps(value if self.encode is None else self.encode(value))

    def loads(self, blob: bytes | memoryview) -> Any:
        """The value a marshalled blob holds; :class:`Mismatch` for anything else."""
        try:
            plain = marshal.loads(blob)
        except (ValueError, EOFError, TypeError) as exc:
            raise Mismatch(str(exc)) from exc
        return self.decode(plain)


_SCALARS = frozenset({str, int, bool, bytes, float, type(None)})


def _is(kind: type) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        if type(value) is not kind:
            raise Mismatch(f"{type(value).__name__}, not {kind.__name__}")
        return value

    return decode


def _options(tp: Any) -> frozenset[type] | None:
    """The scalar types a value of ``tp`` may have, when it is a scalar or a union of them."""
    if tp is None:
        return frozenset({type(None)})
    if tp in _SCALARS:
        return frozenset({tp})
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        found: set[type] = set()
        for arg in typing.get_args(tp):
            more = _options(arg)
            if more is None:
                return None
            found |= more
        return frozenset(found)
    return None


@functools.cache
def codec(tp: Any) -> Codec:
    """The codec of a type: scalars, ``X | None``, tuples (fixed or ``...``), frozensets,
    ``PurePosixPath``, enums and dataclasses of these (by their type hints)."""
    scalar = _options(tp)
    if scalar is not None:
        if len(scalar) == 1:
            return Codec(None, _is(next(iter(scalar))))
        return Codec(None, _one_of(scalar))
    if tp is PurePosixPath:
        return Codec(str, _path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return Codec(_enum_value, _enum(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return _optional(codec(rest[0]))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _homogeneous(codec(args[0]), args[0], tuple)
    if origin is tuple:
        return _fixed([codec(a) for a in args], [_options(a) for a in args])
    if origin is frozenset and len(args) == 1:
        return _homogeneous(codec(args[0]), args[0], frozenset)
    raise TypeError(f"the cache cannot store values of type {tp!r}")


def _one_of(kinds: frozenset[type]) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        if type(value) not in kinds:
            raise Mismatch(f"unexpected {type(value).__name__}")
        return value

    return decode


def _path(value: Any) -> PurePosixPath:
    if type(value) is not str:
        raise Mismatch(f"{type(value).__name__}, not a path")
    return PurePosixPath(value)


def _enum_value(value: enum.Enum) -> Any:
    return value.value


def _enum(kind: type[enum.Enum]) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        if type(value) not in _SCALARS:
            raise Mismatch(f"{type(value).__name__}, not a {kind.__name__}")
        try:
            return kind(value)
        except ValueError as exc:
            raise Mismatch(str(exc)) from exc

    return decode


def _optional(inner: Codec) -> Codec:
    encode = inner.encode

    def decode(value: Any) -> Any:
        return None if value is None else inner.decode(value)

    if encode is None:
        return Codec(None, decode)
    return Codec(lambda v: None if v is None else encode(v), decode)


def _homogeneous(inner: Codec, element: Any, container: Callable[[Any], Any]) -> Codec:
    """``tuple[X, ...]`` or ``frozenset[X]`` (``container``: the type itself)."""
    encode, check, columns = inner.encode, inner.decode, inner.columns
    join: Callable[[Any], Any] | None = None
    if element is str:
        join = "".join
    elif element is bytes:
        join = b"".join

    def decode(value: Any) -> Any:
        if type(value) is not container:
            raise Mismatch(f"{type(value).__name__}, not a {container}")
        if join is not None:  # strings and bytes: checked at C speed
            try:
                join(value)
            except TypeError as exc:
                raise Mismatch(str(exc)) from exc
            return value
        if columns is not None:  # tuples of scalars: checked column by column, in C
            if value and not (
                set(map(type, value)) <= {tuple}
                and set(map(len, value)) == {len(columns)}
                and all(
                    set(map(type, column)) <= kinds
                    for column, kinds in zip(zip(*value, strict=True), columns, strict=True)
                )
            ):
                raise Mismatch("tuples of other values")
            return value
        if encode is None:  # stored as it is: check each element, keep the container
            for item in value:
                check(item)
            return value
        return container(map(check, value))

    if encode is None:
        return Codec(None, decode)
    return Codec(lambda v: container(map(encode, v)), decode)


def _fixed(items: list[Codec], scalars: list[frozenset[type] | None]) -> Codec:
    """``tuple[A, B, ...]``; a tuple of scalars is checked by the types of its items at once."""
    size = len(items)
    if all(s is not None for s in scalars):
        signatures: set[tuple[type, ...]] = {()}
        for options in scalars:
            assert options is not None
            signatures = {(*sig, t) for sig in signatures for t in options}
        if len(signatures) <= 4096:
            allowed = frozenset(signatures)

            def by_signature(value: Any) -> Any:
                if type(value) is not tuple or tuple(map(type, value)) not in allowed:
                    raise Mismatch("a tuple of other values")
                return value

            return Codec(None, by_signature, tuple(typing.cast(list[frozenset[type]], scalars)))
    decoders = [c.decode for c in items]
    encoders = [c.encode for c in items]

    def decode(value: Any) -> Any:
        if type(value) is not tuple or len(value) != size:
            raise Mismatch(f"not a tuple of {size}")
        return tuple([d(v) for d, v in zip(decoders, value, strict=True)])

    if all(e is None for e in encoders):
        return Codec(None, decode)

    def encode(value: Any) -> Any:
        return tuple([v if e is None else e(v) for e, v in zip(encoders, value, strict=True)])

    return Codec(encode, decode)


def _dataclass(kind: type) -> Codec:
    """A dataclass as the tuple of its fields, in order; built again by its constructor."""
    hints = typing.get_type_hints(kind)
    names = [f.name for f in dataclasses.fields(kind)]
    fields = _fixed([codec(hints[n]) for n in names], [None] * len(names))
    check = fields.decode
    encode = fields.encode or (lambda v: v)

    def decode(value: Any) -> Any:
        return kind(*check(value))

    return Codec(lambda obj: encode(tuple([getattr(obj, n) for n in names])), decode)


def _document(value: Any) -> Any:
    """A parsed YAML document: a mapping of plain values (dicts, lists, scalars), as
    gplscan's rule and license files are; checked without recursion."""
    if type(value) is not dict:
        raise Mismatch(f"a {type(value).__name__}, not a mapping")
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is dict:
            todo.extend(item.keys())
            todo.extend(item.values())
        elif kind is list:
            todo.extend(item)
        else:
            raise Mismatch(f"a {kind.__name__} in a YAML document")
    return value


DOCUMENT = Codec(None, _document)


# --- flat rows: a dataclass as one tuple of plain values, compiled from its fields -------


@dataclasses.dataclass(frozen=True, slots=True)
class Row(Generic[T]):
    """How the cache stores one dataclass as a flat tuple of plain values (a row).

    ``shape`` is the row's type (what :func:`codec` checks a stored row against);
    ``encode`` makes the row of a value; ``decode`` builds the value again from a row of
    that shape and the path it is stored for (a row of another length: ``ValueError``).
    """

    kind: type[T]
    shape: Any
    encode: Callable[[T], tuple[Any, ...]]
    decode: Callable[[PurePosixPath, Sequence[Any]], T]


def flat_row(kind: type[T]) -> Row[T]:
    """The row of dataclass ``kind``, built from its fields in order: a ``PurePosixPath``
    field is not stored (it is the path the row is stored for, given back to ``decode``);
    a dataclass field is stored as its own fields, in its place (one that may be None, as
    Nones: it is None when its first field that may not be None is); an enum as its
    value; anything else as it is.

    ``encode`` and ``decode`` are compiled from the fields, as :mod:`dataclasses` compiles
    ``__init__``: a warm audit of a kernel tree decodes ≈80,000 file records, and walking
    the fields for every row costs several times the straight-line code.
    """
    plan = _RowPlan()
    built, _ = plan.walk(kind, "o", ())
    encoders = ", ".join(column.encoder() for column in plan.columns)
    size = len(plan.columns)
    names = {**plan.names, "_wrong": _wrong_length}
    # the code is made from the names of fields and classes, never from stored data
    encode = eval(f"lambda o: ({encoders},)", names)
    decode = eval(f"lambda path, row: {built} if len(row) == {size} else _wrong(row)", names)
    return Row(kind, tuple.__class_getitem__(tuple(c.type for c in plan.columns)), encode, decode)


def _wrong_length(row: Sequence[Any]) -> Any:
    raise ValueError(f"a row of {len(row)} values, not of this shape")


@dataclasses.dataclass(frozen=True, slots=True)
class _Column:
    type: Any  # of the stored value
    attr: str  # the expression that reads it from the value ``o``
    guards: tuple[str, ...]  # expressions that, when one is None, make it None
    enum: bool  # stored as the enum member's value

    def encoder(self) -> str:
        value = f"{self.attr}.value" if self.enum else self.attr
        if not self.guards:
            return value
        return f"(None if {' or '.join(f'{g} is None' for g in self.guards)} else {value})"


class _RowPlan:
    """The columns of a flat row, and the classes its code names."""

    def __init__(self) -> None:
        self.columns: list[_Column] = []
        self.names: dict[str, Any] = {}

    def name(self, obj: Any) -> str:
        key = f"_c{len(self.names)}"
        self.names[key] = obj
        return key

    def walk(self, kind: type, get: str, guards: tuple[str, ...]) -> tuple[str, int | None]:
        """Add the columns of dataclass ``kind`` (read as ``get``; None when one of
        ``guards`` is). The expression that builds it from ``row`` and ``path``, and the
        column of its first field that may not be None (if it has one)."""
        if not dataclasses.is_dataclass(kind):
            raise TypeError(f"a flat row holds dataclasses, not {kind!r}")
        hints = typing.get_type_hints(kind)
        args: list[str] = []
        required: int | None = None
        for field in dataclasses.fields(kind):
            tp, attr = hints[field.name], f"{get}.{field.name}"
            inner, nullable = _without_none(tp)
            if tp is PurePosixPath:
                args.append("path")
            elif isinstance(inner, type) and dataclasses.is_dataclass(inner):
                built, test = self.walk(inner, attr, (*guards, attr) if nullable else guards)
                if nullable:
                    if test is None:
                        raise TypeError(f"{inner.__name__}: no field says it is there")
                    built = f"(None if row[{test}] is None else {built})"
                elif required is None:
                    required = test
                args.append(built)
            elif isinstance(inner, type) and issubclass(inner, enum.Enum):
                values = {type(member.value) for member in inner}
                if nullable or len(values) != 1:
                    raise TypeError(f"{kind.__name__}.{field.name}: not one kind of value")
                value_type = values.pop()
                at = self.add(
                    _Column(value_type | None if guards else value_type, attr, guards, True)
                )
                args.append(f"{self.name(inner)}(row[{at}])")
                if required is None:
                    required = at
            else:
                at = self.add(_Column(tp | None if guards else tp, attr, guards, False))
                args.append(f"row[{at}]")
                if required is None and not nullable:
                    required = at
        return f"{self.name(kind)}({', '.join(args)})", required

    def add(self, column: _Column) -> int:
        self.columns.append(column)
        return len(self.columns) - 1


def _without_none(tp: Any) -> tuple[Any, bool]:
    """``X`` of ``X | None`` and True; any other type and False."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0], True
    return tp, False


# The row of an object's facts: every field but the path, in order (workers send it
# marshalled, and the cache stores it as they sent it)
OBJECT_ROW = flat_row(ObjectFacts)


@functools.cache
def fact_kinds() -> dict[str, Codec]:
    """The kinds of facts the cache keeps, each with its type."""
    return {
        "object": codec(OBJECT_ROW.shape),
        "source": codec(SourceFacts),
        "defines": codec(frozenset[str]),
        "license": codec(tuple[str | None, tuple[LicenseFinding, ...]]),
        "yaml": DOCUMENT,
    }
