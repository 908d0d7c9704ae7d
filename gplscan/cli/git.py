"""What git says changed in a work tree (``--changed-since REV``)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import click


def changed_files(target: Path, rev: str) -> frozenset[PurePosixPath] | None:
    """Files changed since ``rev`` (committed, staged, unstaged, untracked), relative to
    the scanned directory; None in a repository with no commit yet (HEAD names nothing:
    every file is new, the whole target is judged)."""
    import subprocess

    root = target if target.is_dir() else target.parent

    def git(*args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        if proc.returncode != 0 and not check:
            return ""
        if proc.returncode != 0:
            raise click.UsageError(
                f"--changed-since {rev}: git {' '.join(args)}: {proc.stderr.strip() or 'failed'}"
            )
        return proc.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    if rev == "HEAD" and not git("rev-parse", "--verify", "-q", "HEAD", check=False).strip():
        return None
    # --no-renames: a renamed file is its old path deleted and its new path added
    names = git("diff", "--name-only", "--no-renames", rev, "--").splitlines()
    names += git("ls-files", "--others", "--exclude-standard", "--full-name").splitlines()
    base = PurePosixPath(root.resolve().relative_to(top.resolve()).as_posix())
    paths = [PurePosixPath(name) for name in names]
    inside = {p.relative_to(base) for p in paths if p.is_relative_to(base)}
    # a configuration above the target (the repository's pyproject.toml) applies to it too
    configs = {".gplscan.toml", "gplscan.toml", "pyproject.toml"}
    inside |= {PurePosixPath(p.name) for p in paths if p.name in configs and p not in inside}
    return frozenset(inside)
