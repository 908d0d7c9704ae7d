"""Outcomes kept between runs, so that a re-run redoes only the targets that changed.

An outcome is stored under a key (:func:`task_key`) made of everything its judgement
depends on: the target's content (:func:`content_digest`), the name it is shown by, what
was asked (audit or inventory, the options, the threshold, the config file's bytes, the
baseline's fingerprints), gplscan's version and a digest of its code, and the digest of
the rule and license data. A re-run after a crash, or after one package of many changed,
finds every other outcome under the same key.

**How a target's content is digested.** A file (a .deb, a tarball, one object): the
sha256 of its bytes, the same digest its report's provenance records. A directory: a
sha256 over the sorted list of its entries, each with its path, type, size,
modification time and change time (a symlink with its target), read from ``lstat``
without opening a file. Hashing the contents of a Linux-sized tree (≈80,000 files,
≈1.5 GB) would take the coordinator longer than a worker's warm re-scan of it, for every
tree of the fleet on every run; the change time is set by the kernel on every write and
cannot be set back by ``touch`` or ``cp -p``, so an edit is never missed, and a tree
merely copied or checked out again is judged again (never a wrong reuse, only extra work).

Entries are files ``<dir>/<key[:2]>/<key>.json.gz``, written whole by way of a temporary
name: a run killed mid-write leaves the old entry or none. A damaged entry is a miss.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import stat
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gplscan import __version__
from gplscan.fleet.judge import Outcome, Task

FORMAT = "gplscan-fleet-store/1"
_CHUNK = 1 << 20


def content_digest(path: Path) -> tuple[str, int]:
    """The sha256 of a file target's bytes, or of a directory's entry list (see above), and
    the target's size in bytes (the engines start the largest targets first)."""
    if path.is_dir():
        return _tree_digest(path)
    digest = hashlib.sha256(b"file\0")
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _tree_digest(root: Path) -> tuple[str, int]:
    digest = hashlib.sha256(b"tree\0")
    sizes = [0]
    for line in sorted(_entries(root, "", sizes)):
        digest.update(line)
    return digest.hexdigest(), sizes[0]


def _entries(directory: Path, prefix: str, sizes: list[int]) -> Iterable[bytes]:
    """One line per entry below ``directory``: path, type, size, mtime, ctime (the sizes of
    its files added up in ``sizes[0]``)."""
    pending = [(os.fsencode(directory), os.fsencode(prefix))]
    while pending:
        folder, rel = pending.pop()
        try:
            scanned = list(os.scandir(folder))
        except OSError as exc:  # an unreadable folder is part of what the scan will see
            yield rel + b"\0unreadable " + str(exc.errno).encode() + b"\n"
            continue
        for entry in scanned:
            name = rel + b"/" + entry.name if rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                yield name + b"\0gone\n"
                continue
            if stat.S_ISDIR(st.st_mode):
                pending.append((entry.path, name))
                yield name + b"\0dir\n"
                continue
            extra = os.readlink(entry.path) if stat.S_ISLNK(st.st_mode) else b""
            sizes[0] += st.st_size
            yield (
                b"\0".join(
                    (
                        name,
                        b"%o" % st.st_mode,
                        b"%d" % st.st_size,
                        b"%d" % st.st_mtime_ns,
                        b"%d" % st.st_ctime_ns,
                        extra,
                    )
                )
                + b"\n"
            )


@functools.cache
def code_digest() -> str:
    """A digest of gplscan's own code: during development (and for a patched install) the
    version alone does not say that a judgement would come out the same."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def task_key(task: Task, content: str, config: bytes | None) -> str:
    """The key of ``task``'s outcome: see the module's description for what goes in."""
    o = task.opts
    kernel = str(o.kernel) if o.kernel is not None else f"running {os.uname().release}"
    asked = {
        "format": FORMAT,
        "version": __version__,
        "code": code_digest(),
        "rules": task.rules,
        "content": content,
        "shown": task.shown,
        "inventory": task.inventory,
        "rules_on": o.rules,
        "scope": o.inventory,
        "arch": o.arch,
        "kernel": kernel,
        "cache": o.cache_dir is not None,
        "fail_on": task.fail_on,
        "allow_partial": task.allow_partial,
        "config": hashlib.sha256(config).hexdigest() if config is not None else None,
        "held": sorted(task.held),
        "rules_dir": str(o.rules_dir) if o.rules_dir else None,
    }
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


class Store:
    """Outcomes by key, in a folder (``<cache dir>/fleet``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json.gz"

    def get(self, key: str, *, html: bool) -> Outcome | None:
        """The stored outcome of ``key`` (with an HTML report when ``html``), or None."""
        try:
            data: Any = json.loads(gzip.decompress(self._path(key).read_bytes()))
            if data.get("format") != FORMAT or data.get("key") != key:
                return None
            if html and data.get("html") is None and data.get("report") is not None:
                return None
            return Outcome(
                key=key,
                shown=str(data["shown"]),
                exit_code=int(data["exit_code"]),
                report=data["report"],
                html=data.get("html"),
                error=data.get("error"),
                seconds=float(data["seconds"]),
                worker=str(data["worker"]),
                resumed=True,
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError, zlib.error, AttributeError):
            return None

    def put(self, outcome: Outcome) -> None:
        """Keep ``outcome`` (a judged target; an error that may pass is never kept)."""
        if outcome.report is None:
            return
        data = {
            "format": FORMAT,
            "key": outcome.key,
            "shown": outcome.shown,
            "exit_code": outcome.exit_code,
            "report": outcome.report,
            "html": outcome.html,
            "error": outcome.error,
            "seconds": outcome.seconds,
            "worker": outcome.worker,
        }
        path = self._path(outcome.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(gzip.compress(json.dumps(data).encode(), compresslevel=3))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
