"""A cache of per-file facts, so that re-scanning an unchanged tree reads only metadata.

Two layers, in one SQLite database per gplscan version (facts of another version are
never reused):

- ``files``: absolute path -> (size, mtime, inode, ctime) and what discovery and the tag
  reader found, plus the content's sha256. A file whose stat is unchanged is not opened.
- ``facts``: (sha256, kind) -> the path-free facts computed from that content (source
  facts, object facts, license detections), shared by every file with that content.

SQLite in WAL mode with a busy timeout makes concurrent runs safe: readers never block,
writers wait for each other, and a run that is killed loses only its own unwritten rows.
Values are pickled; the database lives in the user's own cache directory (mode 0700).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import os
import pickle
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from gplscan import __version__
from gplscan.resources import rules_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ino INTEGER, ctime_ns INTEGER,
    record BLOB
);
CREATE TABLE IF NOT EXISTS facts (
    sha256 TEXT, kind TEXT, value BLOB, PRIMARY KEY (sha256, kind)
);
"""


@functools.cache
def code_digest() -> str:
    """A digest of the code that produces facts, so a changed reader never reuses old facts.

    The version alone is not enough during development (and for patched installs): the
    digest covers discovery, the model the facts are made of, and every fact reader.
    """
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    readers = [package / "discover.py", package / "model.py", *(package / "facts").glob("*.py")]
    for path in sorted(readers):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(repr(sys.version_info[:2]).encode())  # marshal's format is Python's own
    notices = rules_dir() / "notices.yml"  # known notices decide detections too
    if notices.is_file():
        h.update(notices.read_bytes())
    return h.hexdigest()[:12]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gplscan`` (``~/.cache/gplscan``), as users of Linux tools expect."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gplscan"


class Stat(NamedTuple):
    """The metadata that decides whether a file changed (a named tuple: one is made for
    every file of the target and one for its cached row, and compared as tuples)."""

    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class FactCache:
    """The cache of one gplscan version in ``directory``; a no-op when ``directory`` is None."""

    def __init__(self, directory: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        self.error: str | None = None
        if directory is None:
            return
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = directory / f"facts-{__version__}-{code_digest()}.sqlite3"
            _prune(directory, keep=path)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self.error = f"cache in {directory} not usable, scanning without it: {exc}"
            self._db = None

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def records(self, root: str) -> dict[str, tuple[Stat, Any]]:
        """Cached file records under the directory ``root`` (absolute): path -> (stat, record).

        A record is whatever plain value (lists, strings, numbers) the caller stored.
        """
        if self._db is None:
            return {}
        prefix = root.rstrip("/") + "/"
        out: dict[str, tuple[Stat, Any]] = {}
        try:
            rows = self._db.execute(
                "SELECT path, size, mtime_ns, ino, ctime_ns, record FROM files "
                "WHERE path >= ? AND path < ?",
                (prefix, prefix[:-1] + "0"),
            )
            # records are lists of plain values: loading 80,000 of them takes tens of
            # milliseconds, where unpickling as many dataclasses took over a second
            for path, size, mtime, ino, ctime, blob in rows:
                out[path] = (Stat(size, mtime, ino, ctime), pickle.loads(blob))
        except (sqlite3.Error, pickle.UnpicklingError, EOFError, ValueError) as exc:
            self._fail(exc)
            return {}
        return out

    def put_records(self, items: Mapping[str, tuple[Stat, Any]]) -> None:
        if self._db is None or not items:
            return
        rows = [
            (p, s.size, s.mtime_ns, s.ino, s.ctime_ns, pickle.dumps(r, 5))
            for p, (s, r) in items.items()
        ]
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)

    def facts(self, kind: str, digests: Iterable[str], *, plain: bool = False) -> dict[str, Any]:
        """Cached facts of one kind for the given content digests.

        ``plain``: the facts were stored as plain values (tuples, strings, numbers, sets)
        with ``put_facts(..., plain=True)``, which marshal reads ≈3x faster than pickle.
        """
        loads = marshal.loads if plain else _loads
        if self._db is None:
            return {}
        wanted = sorted(set(digests))
        out: dict[str, Any] = {}
        try:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT sha256, value FROM facts WHERE kind = ? AND sha256 IN ({marks})",
                    (kind, *chunk),
                )
                for digest, blob in rows:
                    out[digest] = loads(blob)
        except (
            sqlite3.Error,
            pickle.UnpicklingError,
            EOFError,
            AttributeError,
            ValueError,
            TypeError,
        ) as exc:
            self._fail(exc)
            return {}
        return out

    def put_facts(self, kind: str, items: Mapping[str, Any], *, plain: bool = False) -> None:
        if self._db is None or not items:
            return
        dumps = marshal.dumps if plain else partial(pickle.dumps, protocol=5)
        self.put_encoded(kind, {d: dumps(v) for d, v in items.items()})

    def remembered(self, kind: str, text: str, compute: Callable[[str], Any]) -> Any:
        """``compute(text)``, kept under the text's digest: a later call with the same text
        reads the value back instead (≈1 ms for gplscan's own rule files, where PyYAML
        takes ≈35 ms to import and parse them). For plain values only (what marshal
        stores); others, and errors, are never kept."""
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        found = self.facts(kind, [digest], plain=True)
        if digest in found:
            return found[digest]
        value = compute(text)
        try:
            blob = marshal.dumps(value)
        except ValueError:  # e.g. a YAML date: not a plain value
            return value
        self.put_encoded(kind, {digest: blob})
        return value

    def put_encoded(self, kind: str, items: Mapping[str, bytes]) -> None:
        """Facts already encoded as ``put_facts`` would (marshalled plain values when read
        back with ``plain=True``): workers encode them, the parent only stores them."""
        if self._db is None or not items:
            return
        rows = [(d, kind, v) for d, v in items.items()]
        self._write("INSERT OR REPLACE INTO facts VALUES (?, ?, ?)", rows)

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        assert self._db is not None
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.error = f"cache stopped working, scanning without it: {exc}"
        if self._db is not None:
            self._db.close()
        self._db = None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _loads(blob: bytes) -> Any:
    return pickle.loads(blob)


def _prune(directory: Path, keep: Path, age: float = 3600.0) -> None:
    """Remove caches of other gplscan versions or code, once nobody has used them for a while."""
    now = time.time()
    for old in directory.glob("facts-*.sqlite3*"):
        if old.name.startswith(keep.name):
            continue
        try:
            if now - old.stat().st_mtime > age:
                old.unlink()
        except OSError:
            pass
