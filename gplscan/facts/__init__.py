"""Facts about the target, from its sources, its build files and its objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    """Every fact read from one target, indexed for the link graph."""

    root: Path
    files: Mapping[PurePosixPath, FileEntry]
    sources: Mapping[PurePosixPath, SourceFacts]
    string_defines: Mapping[str, tuple[bytes, Location]]
    objects: Mapping[PurePosixPath, ObjectFacts]
    object_errors: Mapping[PurePosixPath, str]
    modules: tuple[ModuleSpec, ...]
    copies: Mapping[PurePosixPath, CopyRule]
    definers: Mapping[str, tuple[PurePosixPath, ...]]  # symbol -> sources defining it
    source_names: frozenset[str]  # base names of every source file, for STT_FILE lookups
