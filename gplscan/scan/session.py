"""One scan's access to the files' facts: the records of every file, the cache, the workers.

The stages after the first pass ask a :class:`FactSession` for more facts (full source facts,
the functions sources define, license detections, a file's text) instead of being handed
the root, the records, the cache, the job count, the progress callback and the list of
issues one by one. Problems reading a file land in :attr:`FactSession.issues`.

The session owns the scan's one symbol index (:attr:`FactSession.symbols`): which functions
each source defines, read through the session (its cache, its workers, its issues) only
when the graph first asks, and at most once per source. Each read's worker pool is closed
when the read returns, so nothing outlives the session and its cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gplscan.facts import TreeFacts
from gplscan.facts.cache import FactCache
from gplscan.facts.collect import (
    FileRecord,
    detect_licenses,
    read_defines,
    read_sources,
)
from gplscan.facts.detection import Detection
from gplscan.facts.source import read_text
from gplscan.facts.symbol_index import SymbolIndex
from gplscan.model import (
    CopyRule,
    FileKind,
    Location,
    ModuleSpec,
    ObjectFacts,
    ScanIssue,
    SourceFacts,
)
from gplscan.scan.options import Detector, Progress


@dataclass(frozen=True, slots=True)
class FactSession:
    """The files of one target (after the first pass) and the means to read more of them."""

    root: Path
    cache: FactCache
    jobs: int
    progress: Progress
    records: dict[PurePosixPath, FileRecord]
    objects: dict[PurePosixPath, ObjectFacts]
    issues: list[ScanIssue]  # every problem met so far; stages append theirs
    # which functions each source defines: read on demand, through this session
    symbols: SymbolIndex = field(init=False)

    def __post_init__(self) -> None:
        # a derived field of a frozen dataclass: set once, here (the index reads nothing yet)
        object.__setattr__(self, "symbols", SymbolIndex(self.read_defines, self.every_source))

    def kinds(self) -> dict[PurePosixPath, FileKind]:
        return {rel: r.entry.kind for rel, r in self.records.items()}

    def of_kind(self, *kinds: FileKind) -> list[PurePosixPath]:
        """The files of these kinds, in the order they were discovered."""
        return [p for p, r in self.records.items() if r.entry.kind in kinds]

    def read_sources(self, paths: Iterable[PurePosixPath]) -> dict[PurePosixPath, SourceFacts]:
        """Full source facts (pass 2), through the cache."""
        return read_sources(
            paths, self.records, self.cache, self.root, self.jobs, self.progress, self.issues
        )

    def read_defines(self, paths: Iterable[PurePosixPath]) -> dict[PurePosixPath, frozenset[str]]:
        """The functions each source defines, through the cache."""
        return read_defines(
            paths, self.records, self.cache, self.root, self.jobs, self.progress, self.issues
        )

    def every_source(self) -> list[PurePosixPath]:
        return self.of_kind(FileKind.SOURCE)

    def detect(
        self, paths: Iterable[PurePosixPath], detector: Detector
    ) -> dict[PurePosixPath, Detection]:
        """License detections (pass 3), through the cache."""
        return detect_licenses(
            paths,
            self.records,
            self.cache,
            self.root,
            detector,
            self.progress,
            self.issues,
            self.jobs,
        )

    def read_text(self, path: PurePosixPath) -> str | None:
        """A source's text, None when it cannot be read."""
        try:
            return read_text(self.root / path)
        except OSError:
            return None

    def tree_facts(
        self,
        sources: Mapping[PurePosixPath, SourceFacts],
        modules: tuple[ModuleSpec, ...],
        copies: Mapping[PurePosixPath, CopyRule],
    ) -> TreeFacts:
        """The facts the link graph is built from, with these sources' facts."""
        defines: dict[str, tuple[bytes, Location]] = {}
        for path in sorted(sources):
            for name, value in sources[path].string_defines:
                defines.setdefault(name, (value, Location(path)))
        return TreeFacts(
            root=self.root,
            files={rel: r.entry for rel, r in self.records.items()},
            sources=sources,
            string_defines=defines,
            objects=self.objects,
            object_errors={
                rel: r.object_error for rel, r in self.records.items() if r.object_error
            },
            modules=modules,
            copies={t: r for t, r in copies.items() if "%" not in str(t)},
            patterns=tuple(r for t, r in copies.items() if "%" in str(t)),
            source_names=frozenset(p.name for p in sources),
        )
