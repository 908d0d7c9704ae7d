"""Removing the scratch area, however deep and however its permissions were left."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def remove_tree(path: Path) -> None:
    """Remove the scratch area, making read-only directories writable on the way.

    Iterative and relative to one open directory at a time (:func:`shutil.rmtree` recurses
    in Python 3.11: 2,100 nested directories made it fail with RecursionError and leave
    the area behind; paths that deep are also longer than the system allows). Never
    follows a symbolic link; never raises: what cannot be removed stays.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    names: list[str] = []  # the directories descended into, from ``path`` down
    stuck: set[tuple[int, int]] = set()  # directories that could not be removed
    try:
        while True:
            sub = _empty_but_directories(fd, stuck)
            if sub is not None:
                try:
                    child = os.open(sub, flags, dir_fd=fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.chmod(sub, 0o700, dir_fd=fd)
                    try:
                        child = os.open(sub, flags, dir_fd=fd)
                    except OSError:
                        with contextlib.suppress(OSError):
                            st = os.stat(sub, dir_fd=fd, follow_symlinks=False)
                            stuck.add((st.st_dev, st.st_ino))
                        continue
                os.close(fd)
                fd = child
                names.append(sub)
                continue
            if not names:
                break
            here = os.fstat(fd)
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            name = names.pop()
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.chmod(fd, 0o700)  # a read-only directory holds it
                    os.rmdir(name, dir_fd=fd)
                    continue
                stuck.add((here.st_dev, here.st_ino))
    except OSError:
        pass
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _empty_but_directories(fd: int, stuck: set[tuple[int, int]]) -> str | None:
    """Remove everything but directories in the open directory ``fd``; the name of a
    directory left in it to descend into, or None."""
    try:
        entries = list(os.scandir(fd))
    except OSError:
        return None
    found = None
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if found is None and (st.st_dev, st.st_ino) not in stuck:
                found = entry.name
            continue
        try:
            os.unlink(entry.name, dir_fd=fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.chmod(fd, 0o700)
                os.unlink(entry.name, dir_fd=fd)
    return found
