"""Fetch packages from Debian's archive (main, contrib, non-free) into a local cache.

Uses a private apt configuration so that the system's own apt state is never touched:
the archive's address is read from the system's sources file (never written into this
repository), the suites and components are ours. Used by benchmarks and by tests marked
``network`` (which skip, with the reason, when :func:`archive_reachable` says no).

    python -m bench.debian_archive linux-source-6.1      # prints the unpacked directory
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

SYSTEM_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
COMPONENTS = "main contrib non-free non-free-firmware"


class ArchiveError(Exception):
    """The archive cannot be reached or a package cannot be fetched; says why."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("GPLSCAN_BENCH_CACHE", Path(base) / "gplscan-bench"))


def archive_uri() -> tuple[str, str]:
    """(URI, suite) of the system's Debian archive, read from its sources file."""
    for path in SYSTEM_SOURCES:
        if not path.is_file():
            continue
        text = path.read_text()
        for block in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(\S+)", block, re.MULTILINE)
            if uris and suites and "security" not in uris.group(1):
                return uris.group(1), suites.group(1)
        for line in text.splitlines():
            m = re.match(r"deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and "security" not in m.group(1):
                return m.group(1), m.group(2)
    raise ArchiveError("no Debian archive in the system's apt sources")


def archive_reachable(timeout: float = 5.0) -> str | None:
    """None when the archive answers, else the reason it does not."""
    try:
        uri, suite = archive_uri()
    except ArchiveError as exc:
        return str(exc)
    try:
        with urllib.request.urlopen(f"{uri}/dists/{suite}/Release", timeout=timeout) as r:
            r.read(64)
    except OSError as exc:
        return f"Debian archive {uri} not reachable: {exc}"
    return None


def _apt_options(state: Path) -> list[str]:
    return [
        "-o",
        f"Dir::Etc::SourceList={state / 'sources.list'}",
        "-o",
        "Dir::Etc::SourceParts=-",
        "-o",
        f"Dir::State::Lists={state / 'lists'}",
        "-o",
        f"Dir::Cache={state / 'cache'}",
        # no installed packages: a version this machine has (CI installs the kernel
        # headers) would otherwise be the candidate, maybe one the private lists lack
        "-o",
        f"Dir::State::status={state / 'status'}",
        "-o",
        "Debug::NoLocking=1",
        "-o",
        "APT::Sandbox::User=root",
    ]


def _prepare_apt(state: Path) -> list[str]:
    uri, suite = archive_uri()
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    (state / "sources.list").write_text(
        f"deb {uri} {suite} {COMPONENTS}\ndeb {uri} {suite}-updates {COMPONENTS}\n"
    )
    options = _apt_options(state)
    stamp = state / "lists" / ".updated"
    if not stamp.exists():
        proc = subprocess.run(["apt-get", *options, "update"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ArchiveError(f"apt-get update failed: {proc.stderr.strip()[-500:]}")
        stamp.touch()
    return options


def fetch_deb(package: str) -> Path:
    """The newest ``package`` .deb, downloaded once into the cache."""
    debs = cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    existing = sorted(debs.glob(f"{package}_*.deb"))
    if existing:
        return existing[-1]
    options = _prepare_apt(cache_dir() / "apt")
    proc = subprocess.run(
        ["apt-get", *options, "download", package], capture_output=True, text=True, cwd=debs
    )
    if proc.returncode != 0:
        raise ArchiveError(f"apt-get download {package} failed: {proc.stderr.strip()[-500:]}")
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise ArchiveError(f"apt-get download {package} wrote no .deb")
    return found[-1]


def depends(package: str) -> list[str]:
    """The direct dependencies of ``package`` (names only), from the private apt state."""
    options = _prepare_apt(cache_dir() / "apt")
    proc = subprocess.run(
        ["apt-cache", *options, "depends", package], capture_output=True, text=True
    )
    return re.findall(r"^\s+Depends:\s+(\S+)", proc.stdout, re.MULTILINE)


def unpacked(package: str) -> Path:
    """The package's files, unpacked once into the cache (``dpkg-deb -x``)."""
    deb = fetch_deb(package)
    target = cache_dir() / "unpacked" / deb.stem
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
        (target / ".complete").touch()
    return target


def linux_source_tree(version: str = "6.1") -> Path:
    """Debian's linux-source-<version> tarball, unpacked once; returns the tree's root."""
    root = unpacked(f"linux-source-{version}")
    tree = cache_dir() / "trees" / f"linux-source-{version}"
    marker = tree.parent / f"{tree.name}.complete"
    if not marker.exists():
        tarballs = sorted((root / "usr" / "src").glob(f"linux-source-{version}.tar.*"))
        if not tarballs:
            raise ArchiveError(f"no linux-source-{version} tarball in the package")
        shutil.rmtree(tree, ignore_errors=True)
        tree.parent.mkdir(parents=True, exist_ok=True)
        tmp = tree.with_suffix(".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        subprocess.run(["tar", "-xf", str(tarballs[-1]), "-C", str(tmp)], check=True)
        (inner,) = list(tmp.iterdir())
        inner.rename(tree)
        tmp.rmdir()
        marker.touch()
    return tree


if __name__ == "__main__":
    for name in sys.argv[1:]:
        if name == "linux-source-6.1":
            print(linux_source_tree("6.1"))
        else:
            print(unpacked(name))
