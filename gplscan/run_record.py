"""The run's provenance: when it ran, what it was asked, with which rules, on what input.

``scanned_at`` honours ``SOURCE_DATE_EPOCH`` (reproducible-builds.org), so that two runs
with the same value give byte-identical reports. The rules' digest covers every rule and
license data file the run loads, so a report says exactly which judgement it applied.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gplscan.model import Provenance
from gplscan.resources import rules_dir

_CHUNK = 1 << 20


def scanned_at(now: datetime | None = None) -> str:
    """The time of the run in UTC, or the time ``SOURCE_DATE_EPOCH`` gives."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        moment = datetime.fromtimestamp(int(epoch), UTC)
    else:
        moment = now or datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def rules_digest(directory: Path | None = None) -> str:
    """sha256 over the names and contents of the rule and license data files."""
    digest = hashlib.sha256()
    folder = directory or rules_dir()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def file_digest(path: Path) -> tuple[str, int] | None:
    """sha256 and size of a file target; None for a directory or what cannot be read."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError:
        return None
    return digest.hexdigest(), size


def record(target: Path, command: Sequence[str], rules: Path | None = None) -> Provenance:
    """The provenance of a run of ``command`` on ``target``."""
    content = file_digest(target)
    return Provenance(
        scanned_at=scanned_at(),
        command=tuple(command),
        rules_digest=rules_digest(rules),
        input_sha256=content[0] if content else None,
        input_size=content[1] if content else None,
    )


def repository_root(path: Path) -> Path | None:
    """The root of the git work tree holding ``path`` (its top level: the nearest directory
    upwards with a ``.git`` directory or file), or None outside one."""
    start = path.resolve()
    for d in [start, *start.parents]:
        if (d / ".git").exists():
            return d
    return None


def repository_path(directory: Path) -> str:
    """``directory`` relative to its repository's root, POSIX ("" at the root, or when it
    is in no repository): what makes a report's paths relative to the repository."""
    top = repository_root(directory)
    if top is None:
        return ""
    rel = directory.resolve().relative_to(top).as_posix()
    return "" if rel == "." else rel


def shown_path(path: Path) -> str:
    """How a report names a file of the project (a configuration file): relative to the
    root of the repository holding it, else to the working directory, else by its name
    alone. Never an absolute path."""
    real = path.resolve()
    for base in (repository_root(real.parent), Path.cwd().resolve()):
        if base is not None and real.is_relative_to(base):
            return real.relative_to(base).as_posix()
    return path.name
