"""Fuzz targets for the configuration file and the fact cache's rows.

- ``config``: bytes as ``.gplscan.toml`` (and as a ``pyproject.toml``) end as a Config or
  as a ConfigError naming the file; nothing else.
- ``cache-row``: bytes stored as a row's payload in a cache database, as another program
  or a damaged disk might leave it, end as a miss or as facts of the kind's type; the
  cache goes on working. The first byte picks the kind of row, the rest is the stored
  value (seeds: values as the cache seals them, with the key the target's databases use).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import marshal
import os
import shutil
import sqlite3
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from gplscan import __version__
from gplscan.config import Config, ConfigError, find_config, load_config
from gplscan.facts.cache import FactCache, Stat, code_digest
from gplscan.facts.collect import RECORD, FileRecord
from gplscan.facts.rows import OBJECT_ROW, fact_kinds
from gplscan.facts.source import rebind
from gplscan.model import (
    ExportDecl,
    FileEntry,
    FileKind,
    LicenseFinding,
    Location,
    ModuleInfoDecl,
    ObjectFacts,
    SourceFacts,
    SpdxTag,
)
from tests.fuzz_targets import Target

CONFIGS = (
    'fail-on = "warning"\n',
    '[severity]\nproprietary-module = "error"\nGPL001 = "info"\n',
    '[licenses]\ndeny = ["CDDL-1.0"]\nallow = ["GPL-2.0-only", "MIT", "LicenseRef-closed"]\n',
    '[[waiver]]\nrule = "gpl-links-closed-object"\npath = "drivers/foo/*"\n'
    'justification = "Firmware loader stub"\napproved_by = "legal@example.com"\n'
    "expires = 2027-06-30\n",
    '[[waiver]]\nrule = "*"\nfingerprint = "abc"\njustification = "reviewed"\n'
    'expires = "2030-01-01"\n',
)


def _config_seeds(scratch: Path) -> list[bytes]:
    return [text.encode() for text in CONFIGS]


def _run_config(data: bytes, scratch: Path) -> None:
    """A .gplscan.toml, then the same bytes as a pyproject.toml's [tool.gplscan]."""
    path = scratch / ".gplscan.toml"
    path.write_bytes(data)
    _load(path)
    project = scratch / "project"
    project.mkdir()
    (project / "pyproject.toml").write_bytes(b"[tool.gplscan]\n" + data)
    try:
        found = find_config(project)
    except ConfigError as exc:
        assert "pyproject.toml" in str(exc), exc
        return
    if found is not None and found.parent == project:
        _load(found)


def _load(path: Path) -> None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        # the file, named as the user gave it or relative to the repository it is in
        named = (f"{path}: ", f"{path.name}: ")
        assert str(exc).startswith(named), f"the error does not name the file: {exc}"
        return
    assert isinstance(config, Config) and config.path == path


# --- cache rows ---------------------------------------------------------------------------

_OBJECT = ObjectFacts(
    PurePosixPath("m.ko"),
    "REL",
    "x86_64",
    ("helper", "init_module"),
    ("debugfs_create_dir",),
    ("m.c",),
    (("license", b"GPL"), ("name", b"m")),
    (("helper", True),),
    ("GCC: (Debian 12.2.0-14) 12.2.0",),
    "0" * 64,
    (("helper", "NS"),),
    (("m.c", "/build", "GNU C17"), (None, None, None)),
    None,
)
_AT = Location(PurePosixPath("m.c"), 3)
_SOURCE = SourceFacts(
    PurePosixPath("m.c"),
    SpdxTag("GPL-2.0-only", "GPL-2.0", Location(PurePosixPath("m.c"), 1)),
    None,
    (LicenseFinding("MIT", 4, 20, "mit_1.RULE"),),
    "MIT",
    (ModuleInfoDecl("license", b"GPL", '"GPL"', _AT),),
    (ExportDecl("helper", True, None, _AT),),
    frozenset({"helper"}),
    (("DRV_LICENSE", b"GPL"),),
    ("<linux/module.h>",),
    (("symbol_get_me", 9),),
)
_RECORD = FileRecord(
    FileEntry(PurePosixPath("f.c"), FileKind.SOURCE, 12, None),
    "1" * 64,
    SpdxTag("GPL-2.0-only", "GPL-2.0-only", Location(PurePosixPath("f.c"), 1)),
)
# the kinds of row, in the order the first byte of an input picks them
_KINDS = ("record", "object", "source", "defines", "license", "yaml")


_KEY = 0x5EA1  # the seal key of the target's databases (a real one is random)


def _seal(blob: bytes) -> bytes:
    return zlib.crc32(blob, _KEY).to_bytes(4, "big") + blob


def _row_seeds(scratch: Path) -> list[bytes]:
    kinds = fact_kinds()
    payloads = [
        marshal.dumps(RECORD.encode(_RECORD)),
        marshal.dumps(OBJECT_ROW.encode(_OBJECT)),
        kinds["source"].dumps(_SOURCE),
        kinds["defines"].dumps(frozenset({"a", "b"})),
        kinds["license"].dumps(("MIT", (LicenseFinding("MIT", 1, 2, "r"),))),
        kinds["yaml"].dumps({"id": "GPL001", "when": {"predicate": "x"}, "list": [1, 2.5, None]}),
    ]
    return [bytes([i]) + _seal(payload) for i, payload in enumerate(payloads)]


@functools.cache
def _template() -> Path:
    """An empty cache database with a known seal key, made once per process (making one
    takes tens of milliseconds; copying it, a fraction of one)."""
    directory = Path(tempfile.mkdtemp(prefix="gplscan-fuzz-cache-"))
    atexit.register(shutil.rmtree, directory, True)
    FactCache(directory).close()
    db = directory / _DATABASE
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'key'", (str(_KEY),))
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


_DATABASE = f"facts-{__version__}-{code_digest()}.sqlite3"


def _run_row(data: bytes, scratch: Path) -> None:
    if not data:
        return
    kind, payload = _KINDS[data[0] % len(_KINDS)], data[1:]
    cache_dir = scratch / "cache"
    cache_dir.mkdir()
    shutil.copyfile(_template(), cache_dir / _DATABASE)
    digest = "2" * 64
    path = scratch / "f.c"
    path.write_bytes(b"int x;\n")
    with contextlib.closing(sqlite3.connect(cache_dir / _DATABASE)) as db:
        db.execute("PRAGMA synchronous=OFF")  # a scratch database: no need to wait for disk
        if kind == "record":
            row = (os.fsencode(path), *Stat.of(path.stat()), payload)
            db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)", row)
        else:
            db.execute("INSERT INTO facts VALUES (?, ?, ?)", (digest, kind, payload))
        db.commit()
    cache = FactCache(cache_dir)
    try:
        assert cache.enabled, cache.error
        cache._db.execute("PRAGMA synchronous=OFF")  # type: ignore[union-attr]  # as above
        if kind == "record":
            rows = cache.records(str(scratch), RECORD.shape)
            for stat, row in rows.values():
                assert isinstance(stat, Stat)
                _check_record(row)
        else:
            found = cache.facts(kind, [digest])
            if digest in found:
                _check_fact(kind, found[digest])
        # a damaged value is a miss, said in one note; anything else is a failure
        assert cache.enabled, cache.error
        assert cache.error is None or "were damaged or not this cache's" in cache.error, cache.error
    finally:
        cache.close()


def _check_record(row: Any) -> None:
    try:
        record = RECORD.decode(PurePosixPath("f.c"), row)
    except ValueError:  # a kind no FileKind names: read_all takes it as a miss
        return
    assert isinstance(record.sha256, str) and isinstance(record.entry.size, int)


def _check_fact(kind: str, value: Any) -> None:
    if kind == "object":
        facts = OBJECT_ROW.decode(PurePosixPath("x.o"), value)
        assert all(isinstance(s, str) for s in facts.defined + facts.undefined)
        assert all(isinstance(v, bytes) for _, v in facts.modinfo)
        facts.is_module  # noqa: B018 - reads every modinfo key
    elif kind == "source":
        assert isinstance(value, SourceFacts)
        moved = rebind(value, PurePosixPath("other.c"))
        assert moved.path == PurePosixPath("other.c")
        assert all(isinstance(d.value, bytes | None) for d in moved.module_licenses())
    elif kind == "defines":
        assert type(value) is frozenset and all(type(s) is str for s in value)
    elif kind == "license":
        expression, matches = value
        assert expression is None or isinstance(expression, str)
        assert all(isinstance(m, LicenseFinding) for m in matches)
    else:
        assert type(value) is dict


TARGETS = [
    Target("config", _config_seeds, _run_config),
    Target("cache-row", _row_seeds, _run_row),
]
