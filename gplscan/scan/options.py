"""How a scan is asked for: :class:`Options`, the progress callback and the license detector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gplscan.facts.cache import default_cache_dir
from gplscan.facts.detection import Detection

Progress = Callable[[str, int, int], None]  # (stage, done, total)
Detector = Callable[[Path], Detection]
DEFAULT_CACHE = Path("<default>")  # Options.cache_dir: the user's cache directory


def no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Options:
    """How to scan: parallelism, cache, scope."""

    jobs: int | None = None  # None: all cores
    cache_dir: Path | None = DEFAULT_CACHE  # None: no cache
    inventory: bool = False  # also license-scan every file, not only what reaches a binary
    rules: bool = True  # evaluate rules (an inventory alone does not need them)
    arch: str | None = None  # kernel architecture for <asm/...> includes; None: the host's
    kernel: Path | None = None  # Module.symvers, a kernel build/headers tree or source tree
    changed: frozenset[PurePosixPath] | None = None  # judge only modules these files touch
    changed_since: str | None = None  # the revision ``changed`` is from (for the report)
    license_allow: tuple[str, ...] | None = None  # policy: SPDX ids allowed in binaries
    license_deny: tuple[str, ...] = ()  # policy: SPDX ids denied in binaries
    rules_dir: Path | None = None

    @property
    def cache_directory(self) -> Path | None:
        """Where the fact cache lives (None: no cache)."""
        return default_cache_dir() if self.cache_dir == DEFAULT_CACHE else self.cache_dir
