"""Which functions the sources of the tree define: the costliest source fact, read on demand.

:class:`SourceDefinitions` is what provenance asks (through the graph stage, which is given
it); :class:`SymbolIndex` answers it by reading sources only when asked. A scan's
:class:`~gplscan.scan.session.FactSession` owns the one index of the scan, reading through
the session's cache and workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import Protocol


class SourceDefinitions(Protocol):
    """Which functions sources define: what one source defines, and which sources define
    a symbol."""

    def defined_in(self, path: PurePosixPath, /) -> frozenset[str]:
        """The functions ``path`` defines (none when it cannot be read)."""
        ...

    def definers(self, symbol: str, /) -> tuple[PurePosixPath, ...]:
        """The sources that define ``symbol``, sorted."""
        ...


class SymbolIndex:
    """Which functions each source of the tree defines, read only for whoever asks.

    Reading function definitions is the costliest source fact, and it matters only for
    objects that have no source of their own stem (does some other source account for
    them?) and for objects checked against the source they name; so files are read on
    demand (in batches, by ``load``) and kept. The first :meth:`definers` reads every
    source ``every_source`` names, once.
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
        """Read these sources now, in one batch, those not read yet."""
        missing = sorted(set(paths) - self._per_file.keys())
        if missing:
            self._per_file.update(self._load(missing))

    def defined_in(self, path: PurePosixPath, /) -> frozenset[str]:
        self.preload([path])
        return self._per_file.get(path, frozenset())

    def definers(self, symbol: str, /) -> tuple[PurePosixPath, ...]:
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
        """Whether every source's definitions were read (someone asked for definers)."""
        return self._definers is not None
