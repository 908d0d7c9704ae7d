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
