"""Facts about the target, from its sources, its build files and its objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    """Which functions each source of the tree defines, read only for whoever asks.

    Reading function definitions is the costliest source fact, and it matters only for
    objects that have no source of their own stem (does some other source account for
    them?) and for objects checked against the source they name; so files are read on
    demand (in batches, in parallel, through the cache) and kept.
    """

    def __init__(
        self,
        load: Callable[[list[PurePosixPath]], Mapping[PurePosixPath, frozenset[str]]],
        every_source: Callable[[], list[PurePosixPath]],
    ) -> None:
        self._load = load
        self._every_source = every_source
        self._per_file: dict[PurePosixPath, frozenset[str]] = {}
        self._definers: dict[str, tuple[PurePosixPath, ...]] | None = None

    def preload(self, paths: Iterable[PurePosixPath]) -> None:
        missing = sorted(set(paths) - self._per_file.keys())
        if missing:
            self._per_file.update(self._load(missing))

    def defined_in(self, path: PurePosixPath) -> frozenset[str]:
        self.preload([path])
        return self._per_file.get(path, frozenset())

    def definers(self, symbol: str) -> tuple[PurePosixPath, ...]:
        """Sources defining ``symbol`` (reads every source of the tree once)."""
        if self._definers is None:
            self.preload(self._every_source())
            index: dict[str, list[PurePosixPath]] = {}
            for path in sorted(self._per_file):
                for name in self._per_file[path]:
                    index.setdefault(name, []).append(path)
            self._definers = {k: tuple(v) for k, v in index.items()}
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
    symbols: SymbolIndex = field(default_factory=lambda: SymbolIndex(lambda paths: {}, list))
    source_names: frozenset[str] = frozenset()
    includes: Mapping[PurePosixPath, tuple[PurePosixPath, ...]] = field(
        default_factory=dict
    )  # base names of sources, for STT_FILE lookups
