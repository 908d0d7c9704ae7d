"""Facts about the target, from its sources, its build files and its objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gplscan.model import (
    CopyRule,
    FileEntry,
    Location,
    ModuleSpec,
    ObjectFacts,
    SourceFacts,
)


class SymbolIndex:
    """Which sources of the tree define which functions, read only if someone asks.

    Reading every function definition of a large tree is the costliest source fact, and it
    matters only for objects that have no source of their own stem (to tell whether some
    other source accounts for them), so it is loaded on first use and then kept.
    """

    def __init__(self, load: Callable[[], Mapping[str, tuple[PurePosixPath, ...]]]) -> None:
        self._load = load
        self._definers: Mapping[str, tuple[PurePosixPath, ...]] | None = None

    def definers(self, symbol: str) -> tuple[PurePosixPath, ...]:
        if self._definers is None:
            self._definers = self._load()
        return self._definers.get(symbol, ())

    @property
    def loaded(self) -> bool:
        return self._definers is not None


@dataclass(frozen=True, slots=True)
class TreeFacts:
    """Every fact read from one target, indexed for the link graph."""

    root: Path
    files: Mapping[PurePosixPath, FileEntry]
    sources: Mapping[PurePosixPath, SourceFacts]
    string_defines: Mapping[str, tuple[bytes, Location]]
    objects: Mapping[PurePosixPath, ObjectFacts]
    object_errors: Mapping[PurePosixPath, str]
    modules: tuple[ModuleSpec, ...]
    copies: Mapping[PurePosixPath, CopyRule]  # exact targets
    patterns: tuple[CopyRule, ...] = ()  # rules whose target is a % pattern
    symbols: SymbolIndex = field(default_factory=lambda: SymbolIndex(dict))
    source_names: frozenset[str] = frozenset()
    includes: Mapping[PurePosixPath, tuple[PurePosixPath, ...]] = field(
        default_factory=dict
    )  # base names of sources, for STT_FILE lookups
