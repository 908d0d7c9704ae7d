"""Facts about the target, from its sources, its build files and its objects."""

from __future__ import annotations

from collections.abc import Mapping
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


@dataclass(frozen=True, slots=True)
class TreeFacts:
    """Every fact read from one target, indexed for the link graph: plain data. Which
    functions each source defines is read on demand, by the scan's
    :class:`~gplscan.facts.symbol_index.SymbolIndex`, given to the graph beside these."""

    root: Path
    files: Mapping[PurePosixPath, FileEntry]
    sources: Mapping[PurePosixPath, SourceFacts]
    string_defines: Mapping[str, tuple[bytes, Location]]
    objects: Mapping[PurePosixPath, ObjectFacts]
    object_errors: Mapping[PurePosixPath, str]
    modules: tuple[ModuleSpec, ...]
    copies: Mapping[PurePosixPath, CopyRule]  # exact targets
    patterns: tuple[CopyRule, ...] = ()  # rules whose target is a % pattern
    source_names: frozenset[str] = frozenset()  # base names of sources, for STT_FILE lookups
    # file -> the files it includes
    includes: Mapping[PurePosixPath, tuple[PurePosixPath, ...]] = field(default_factory=dict)
