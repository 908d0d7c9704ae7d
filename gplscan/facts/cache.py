"""A cache of per-file facts, so that re-scanning an unchanged tree reads only metadata.

Two layers, in one SQLite database per gplscan version (facts of another version are
never reused):

- ``files``: absolute path -> (size, mtime, inode, ctime) and what discovery and the tag
  reader found, plus the content's sha256. A file whose stat is unchanged is not opened.
- ``facts``: (sha256, kind) -> the path-free facts computed from that content (source
  facts, object facts, license detections), shared by every file with that content.

Values are never pickled: each kind of fact has a type, and is stored as the plain values
(tuples, strings, numbers, bytes) marshal writes; reading a value back checks it against
that type and builds the facts from it (:mod:`gplscan.facts.rows`), so a row of another
shape is a miss, never a crash and never a changed verdict. Each value is sealed with a
CRC-32 under a random key of its database, so bytes this cache did not write (damaged, or
put there by something else) never reach marshal, which trusts the sizes it reads. (The
seal is no defence against someone who can write the cache directory: it is the user's
own, mode 0700.)
A database that is not one this code wrote (another format, a corrupt file) is set aside
and the scan goes on with a fresh one.

Concurrent runs: SQLite in WAL mode (readers never block, writers wait for each other up
to a busy timeout); every write is one ``BEGIN IMMEDIATE`` transaction, so a run that is
killed loses only its own unwritten rows. Runs that share the cache hold a shared lock on
``<database>.lock`` while they use it; a database is set aside only under the exclusive
lock, so never under a run still using it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import marshal
import os
import sqlite3
import sys
import time
import typing
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from gplscan import __version__
from gplscan.facts.rows import Mismatch, codec, fact_kinds
from gplscan.resources import rules_dir

# the layout of the tables and of the values in them; a database whose stamp differs
# (this, the gplscan version and the digest of the code) is not read
FORMAT = 3  # 3: rows compiled from the dataclasses' fields (gplscan.facts.rows)

_TABLES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE files (path BLOB PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
    "ino INTEGER, ctime_ns INTEGER, record BLOB)",
    "CREATE TABLE facts (sha256 TEXT, kind TEXT, value BLOB, PRIMARY KEY (sha256, kind))",
)
# SQLite's primary result codes for a file that is not a (sound) database
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_BUSY_SECONDS = 120.0  # how long a write waits for other runs' writes


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


def stamp() -> str:
    """What a database of this code says it is: format, gplscan version, code digest."""
    return f"gplscan-facts/{FORMAT} {__version__} {code_digest()}"


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


# --- the database ------------------------------------------------------------------------


class UnusableCacheError(Exception):
    """A database this code will not read: corrupt, or not written by this format."""


def _is_corrupt(exc: BaseException) -> bool:
    """Whether an error says the database file itself is bad (not busy, not unreadable)."""
    if isinstance(exc, (UnusableCacheError, UnicodeDecodeError)):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _connect(path: Path) -> tuple[sqlite3.Connection, int]:
    """The database at ``path``, made if it is new, and its seal key (see :func:`_unseal`);
    :class:`UnusableCacheError` when it holds tables of something else (another format,
    another program)."""
    db = sqlite3.connect(path, timeout=_BUSY_SECONDS, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL").fetchall()
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: safe against a killed run
        # read as bytes: the text of a damaged file need not be UTF-8
        tables = {row[0] for row in db.execute("SELECT CAST(name AS BLOB) FROM sqlite_master")}
        if not tables:
            db.execute("BEGIN IMMEDIATE")
            for create in _TABLES:
                db.execute(create)
            key = int.from_bytes(os.urandom(4), "big")
            db.execute("INSERT INTO meta VALUES ('stamp', ?), ('key', ?)", (stamp(), str(key)))
            db.execute("COMMIT")
            return db, key
        meta: dict[bytes, bytes] = {}
        if b"meta" in tables:
            rows = db.execute("SELECT CAST(key AS BLOB), CAST(value AS BLOB) FROM meta")
            meta = dict(rows.fetchall())
        found = meta.get(b"stamp")
        if found != stamp().encode() or not {b"files", b"facts"} <= tables:
            raise UnusableCacheError(
                f"was not written by this gplscan (its stamp: {found!r}, expected {stamp()!r})"
            )
        sealed_by = meta.get(b"key", b"")
        if not sealed_by.isdigit() or int(sealed_by) >= 1 << 32:
            raise UnusableCacheError("has no seal key")
    except BaseException:
        db.close()
        raise
    return db, int(sealed_by)


@contextlib.contextmanager
def _opening(directory: Path) -> typing.Iterator[None]:
    """One run at a time opens (and, when it must, sets aside) a database in ``directory``:
    making a new database and switching it to WAL are not safe to race."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class FactCache:
    """The cache of one gplscan version in ``directory``; a no-op when ``directory`` is None.

    Whatever goes wrong with the cache is a note (:attr:`error`), and the scan goes on
    without it: the cache only ever saves work, it never decides a verdict.
    """

    def __init__(self, directory: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        self._lock: int | None = None  # <database>.lock, held shared while in use
        self._path: Path | None = None
        self._key = 0
        self._notes: list[str] = []
        self._damaged = 0  # stored values that did not hold their seal or their type
        if directory is None:
            return
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self._path = directory / f"facts-{__version__}-{code_digest()}.sqlite3"
            _prune(directory, keep=path)
            with _opening(directory):
                self._lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(self._lock, fcntl.LOCK_SH)
                try:
                    self._db, self._key = _connect(path)
                except Exception as exc:
                    if not _is_corrupt(exc):
                        raise
                    if self._set_aside(_reason(exc), "scanning with a fresh cache"):
                        self._db, self._key = _connect(path)
        except Exception as exc:  # the cache only saves work: never a reason to stop a scan
            self._notes.append(f"cache in {directory} not usable, scanning without it: {exc}")
            self.close()

    @property
    def enabled(self) -> bool:
        return self._db is not None

    @property
    def error(self) -> str | None:
        """What went wrong with the cache in this run (a note for the report), if anything."""
        notes = list(self._notes)
        if self._damaged:
            notes.append(
                f"{self._damaged} cached value(s) were damaged or not this cache's (their "
                "seal or type did not hold): read again from the files"
            )
        return "; ".join(notes) or None

    def records(self, root: str, shape: Any) -> dict[str, tuple[Stat, Any]]:
        """Cached file records under the directory ``root`` (absolute): path -> (stat, record).

        A record is the plain value of type ``shape`` the caller stored; a row holding
        anything else is left out (a miss).
        """
        if self._db is None:
            return {}
        check = codec(shape).loads
        encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
        prefix = os.fsencode(root.rstrip("/") + "/")
        out: dict[str, tuple[Stat, Any]] = {}
        try:
            rows = self._db.execute(
                "SELECT path, size, mtime_ns, ino, ctime_ns, record FROM files "
                "WHERE path >= ? AND path < ?",
                (prefix, prefix[:-1] + b"0"),
            )
            # records are tuples of plain values: loading 80,000 of them takes tens of
            # milliseconds, where unpickling as many dataclasses took over a second
            for path, size, mtime, ino, ctime, blob in rows:
                try:
                    out[path.decode(encoding, errors)] = (
                        Stat(size, mtime, ino, ctime),
                        check(_unseal(blob, self._key)),
                    )
                except (Mismatch, AttributeError, UnicodeDecodeError):
                    self._damaged += 1  # a miss, read again; said once in the report
                    continue
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            self._fail(exc)
            return {}
        return out

    def put_records(self, items: Mapping[str, tuple[Stat, Any]]) -> None:
        """Store file records (plain values, as :meth:`records` gives them back)."""
        if self._db is None or not items:
            return
        rows = [
            (os.fsencode(p), s.size, s.mtime_ns, s.ino, s.ctime_ns, self._seal(marshal.dumps(r)))
            for p, (s, r) in items.items()
        ]
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)

    def facts(self, kind: str, digests: Iterable[str]) -> dict[str, Any]:
        """Cached facts of one kind (see :func:`fact_kinds`) for the given content digests.

        A stored value of another shape than the kind's is a miss.
        """
        if self._db is None:
            return {}
        loads = fact_kinds()[kind].loads
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
                    try:
                        out[digest] = loads(_unseal(blob, self._key))
                    except Mismatch:
                        self._damaged += 1
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            self._fail(exc)
            return {}
        return out

    def put_facts(self, kind: str, items: Mapping[str, Any]) -> None:
        """Store facts of one kind by content digest. A value the kind's type cannot hold
        is not stored (it is computed again next time): the cache never guesses."""
        if self._db is None or not items:
            return
        dumps = fact_kinds()[kind].dumps
        encoded: dict[str, bytes] = {}
        for digest, value in items.items():
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                encoded[digest] = dumps(value)
        self.put_encoded(kind, encoded)

    def remembered(self, kind: str, text: str, compute: Callable[[str], Any]) -> Any:
        """``compute(text)``, kept under the text's digest: a later call with the same text
        reads the value back instead (≈1 ms for gplscan's own rule files, where PyYAML
        takes ≈35 ms to import and parse them). For plain values only (what marshal
        stores); others, and errors, are never kept."""
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        found = self.facts(kind, [digest])
        if digest in found:
            return found[digest]
        value = compute(text)
        try:
            blob = fact_kinds()[kind].dumps(value)
        except ValueError:  # e.g. a YAML date: not a plain value
            return value
        self.put_encoded(kind, {digest: blob})
        return value

    def put_encoded(self, kind: str, items: Mapping[str, bytes]) -> None:
        """Facts already encoded as ``put_facts`` would (for "object": the marshalled
        ``OBJECT_ROW.encode`` of :mod:`gplscan.facts.rows`): workers encode them, the
        parent only stores them."""
        if self._db is None or not items:
            return
        rows = [(d, kind, self._seal(v)) for d, v in items.items()]
        self._write("INSERT OR REPLACE INTO facts VALUES (?, ?, ?)", rows)

    def _seal(self, blob: bytes) -> bytes:
        return zlib.crc32(blob, self._key).to_bytes(4, "big") + blob

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One transaction, taken for writing at once (``BEGIN IMMEDIATE``: in WAL mode a
        transaction that reads first and writes later may fail without waiting)."""
        assert self._db is not None
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")
        except (sqlite3.Error, UnicodeEncodeError) as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if _is_corrupt(exc) and self._path is not None and self._lock is not None:
            self._set_aside(_reason(exc), "scanning without it")
        else:
            self._notes.append(f"cache stopped working, scanning without it: {exc}")
        self.close()

    def _set_aside(self, why: str, then: str) -> bool:
        """Move a database this code cannot use out of the way, with its WAL and shared
        memory files, so the next run starts a fresh one; only when no other run uses it
        (under the exclusive lock). Says what it did either way."""
        assert self._path is not None and self._lock is not None
        if self._db is not None:
            self._db.close()
            self._db = None
        path = self._path
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._notes.append(
                f"cache {path} {why}; another gplscan run is using it, scanning without it"
            )
            self.close()
            return False
        aside = path.with_name(f"{path.name}.corrupt")
        try:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{aside}{suffix}")
            # the WAL first: a new database must never meet the old one's log
            for suffix in ("-wal", "-shm", ""):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{path}{suffix}", f"{aside}{suffix}")
            fcntl.flock(self._lock, fcntl.LOCK_SH)
        except OSError as exc:
            self._notes.append(
                f"cache {path} {why}; cannot set it aside ({exc}), scanning without it"
            )
            self.close()
            return False
        self._notes.append(f"cache {path} {why}: set aside as {aside.name}, {then}")
        return True

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> FactCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unseal(value: object, key: int) -> memoryview:
    """The marshalled blob of a stored value, when its seal (a CRC-32 under the database's
    random key) holds; :class:`Mismatch` otherwise. Bytes this cache did not write, or that
    were damaged since, never reach marshal (which trusts the sizes it reads: a damaged
    count would have it allocate gigabytes)."""
    if type(value) is not bytes or len(value) < 4:
        raise Mismatch("not a sealed value")
    blob = memoryview(value)[4:]
    if zlib.crc32(blob, key) != int.from_bytes(value[:4], "big"):
        raise Mismatch("its seal does not hold")
    return blob


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnusableCacheError):
        return str(exc)
    return f"is not a sound database ({exc})"


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
