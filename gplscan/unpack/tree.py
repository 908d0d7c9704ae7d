"""Writing archive members into the scratch tree, never outside it.

:class:`TreeWriter` checks each member (absolute paths, ``..``, links that lead outside,
device files, FIFOs, sparse files, depth) and writes it with safe modes; links are
resolved one component at a time against the tree as it stands. What it refuses raises
:class:`Refused`; the reader of the archive turns that into a note on the member.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gplscan.errors import LimitReached
from gplscan.model import ScanIssue, Stage
from gplscan.unpack.decompress import OUT_STEP
from gplscan.unpack.limits import Limits, human_size

_STAGE = Stage.UNPACK
_MAX_LINK_HOPS = 40  # as the kernel's own limit on nested symbolic links


class Refused(Exception):
    """A member that must not be written; the message says why."""


class TooDeep(Refused):
    """A path that leads deeper than ``Limits.max_depth``."""


_Trie = dict[str, "_Trie"]
_END = "\0"  # marks a path's end in a _Trie (a NUL is never in a member's name)


def _shown(name: str) -> PurePosixPath:
    """A member name for a note: undecodable bytes made visible, not dropped."""
    return PurePosixPath(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


@dataclass
class TreeWriter:
    """Writes archive members into ``tree`` and keeps the notes and the running totals."""

    tree: Path
    display: str
    limits: Limits
    notes: list[ScanIssue] = field(default_factory=list)
    members: int = 0
    written: int = 0
    _root: str = ""
    _dirs: dict[tuple[str, ...], str] = field(default_factory=dict)
    _links: list[tuple[str, ...]] = field(default_factory=list)
    _refused_links: _Trie = field(default_factory=dict)  # refused links' paths

    def __post_init__(self) -> None:
        self._root = os.path.realpath(self.tree)
        self._dirs[()] = self._root

    def note(self, name: str, message: str, *, skipped: bool) -> None:
        self.notes.append(ScanIssue(_shown(name), _STAGE, message, skipped=skipped))

    def member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """Check one member and write it; raise :class:`Refused` with the reason.

        Our own checks come first (their messages name the problem in the archive's
        terms); :func:`tarfile.data_filter` then checks again before anything is written.
        """
        name = member.name
        if "\0" in name or "\0" in member.linkname:
            raise Refused("has a NUL byte in its name or link target; refused")
        if name.startswith("/"):
            raise Refused("has an absolute path, outside the scratch area; refused")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if ".." in parts:
            raise Refused("escapes the scratch area (a '..' in its path); refused")
        if not parts:
            return  # the archive's top directory itself: "./"
        if len(parts) > self.limits.max_depth:
            raise TooDeep(
                f"lies {len(parts)} directories deep, more than {self.limits.max_depth} "
                "(limit max_depth); refused"
            )
        node = self._refused_links
        for i, part in enumerate(parts[:-1]):
            if part not in node:
                break
            node = node[part]
            if _END in node:
                refused = "/".join(parts[: i + 1])
                raise Refused(f"lies under the refused link {refused}; refused")
        if member.ischr() or member.isblk():
            raise Refused("a device file; not created")
        if member.isfifo():
            raise Refused("a FIFO; not created")
        if member.issparse():
            # a few bytes of archive that write up to max_member_bytes of zeros each
            raise Refused(f"a sparse file of {human_size(member.size)}; not unpacked")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise Refused(f"member type {member.type!r} is not supported; skipped")
        is_link = member.issym() or member.islnk()
        try:
            hardlink_target = self._check_link(parts, member) if is_link else None
            try:
                tarfile.data_filter(member, self._root)
            except tarfile.FilterError as exc:
                raise Refused(f"refused by tarfile's data filter: {exc}") from None
        except Refused:
            if is_link:  # members meant to go through it are refused too
                node = self._refused_links
                for part in parts:
                    node = node.setdefault(part, {})
                node[_END] = {}
            raise

        if member.isdir():
            self._make_dir(parts)
        elif member.issym():
            path = self._replaceable(parts)
            os.symlink(member.linkname, path)
            self._links.append(parts)
        elif hardlink_target is not None:
            self._make_hardlink(parts, hardlink_target)
        else:
            self._make_file(archive, member, parts)

    def _check_link(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> str | None:
        """Refuse a link that leads outside the tree; a hard link's target file when fine.

        A symbolic link's target is relative to the link's directory, a hard link's to the
        archive's top; either must resolve inside the tree as it stands.
        """
        linkname = member.linkname
        kind = "symbolic" if member.issym() else "hard"
        if linkname.startswith("/"):
            raise Refused(f"{kind} link to {linkname} points outside the archive; not created")
        link_parts = tuple(linkname.split("/"))
        try:
            if member.issym():
                self._resolve(parts[:-1] + link_parts)
                return None
            target = self._resolve(link_parts)
        except TooDeep as exc:
            raise Refused(f"{kind} link to {linkname}: {exc}") from None
        except Refused:
            raise Refused(
                f"{kind} link to {linkname} points outside the archive; not created"
            ) from None
        try:
            st = os.lstat(target)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise Refused(f"hard link to {linkname}, which is not a file unpacked before it")
        return target

    def _make_dir(self, parts: tuple[str, ...]) -> None:
        parent = self._parent(parts)
        path = os.path.join(parent, parts[-1])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            self._dirs[parts] = path  # never replaced: a directory is never removed
            return
        if stat.S_ISDIR(st.st_mode):
            return
        if stat.S_ISLNK(st.st_mode) and os.path.isdir(self._resolve(parts)):
            return  # a link to a directory inside the tree: its members go there
        raise Refused("a directory where the archive already put a file; skipped")

    def _make_hardlink(self, parts: tuple[str, ...], target: str) -> None:
        path = self._replaceable(parts)
        try:
            os.link(target, path, follow_symlinks=False)
        except OSError:  # a file system without hard links: copy
            self._charge(parts, os.lstat(target).st_size)
            shutil.copyfile(target, path, follow_symlinks=False)

    def _make_file(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, parts: tuple[str, ...]
    ) -> None:
        if member.size > self.limits.max_member_bytes:
            raise Refused(
                f"holds {human_size(member.size)}, more than the "
                f"{human_size(self.limits.max_member_bytes)} one file may hold "
                "(limit max_member_bytes); skipped"
            )
        self._charge(parts, member.size)
        content = archive.extractfile(member)
        if content is None:  # pragma: no cover - isreg() members always have content
            raise Refused("has no content to read; skipped")
        path = self._replaceable(parts)
        mode = 0o755 if member.mode & 0o111 else 0o644
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode
        )
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := content.read(OUT_STEP):
                    out.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    def _charge(self, parts: tuple[str, ...], size: int) -> None:
        self.written += size
        if self.written > self.limits.max_total_bytes:
            raise LimitReached(
                f"{self.display}: unpacks to more than {human_size(self.limits.max_total_bytes)} "
                f"(reached at {'/'.join(parts)}); refused (limit max_total_bytes)"
            )

    # paths inside the tree ------------------------------------------------------------

    def _parent(self, parts: tuple[str, ...]) -> str:
        """The real directory that will hold ``parts``, made where missing."""
        key = parts[:-1]
        known = self._dirs.get(key)
        if known is not None:
            return known
        path = self._resolve(key, mkdirs=True)
        if not os.path.isdir(path) or os.path.islink(path):
            raise Refused(f"its directory {'/'.join(key)} is not a directory; skipped")
        return path

    def _replaceable(self, parts: tuple[str, ...]) -> str:
        """The path for a new non-directory entry; an older one there is replaced, as tar
        does, but never a directory."""
        path = os.path.join(self._parent(parts), parts[-1])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return path
        if stat.S_ISDIR(st.st_mode):
            raise Refused("the archive already put a directory there; skipped")
        os.unlink(path)
        return path

    def _resolve(self, parts: tuple[str, ...], *, mkdirs: bool = False) -> str:
        """The real path ``parts`` names inside the tree, following the tree's own links.

        Links are read one at a time (never ``realpath``, whose answers degrade on long
        paths), so a ``..`` or a link that would leave the tree is caught wherever it
        occurs. Missing components are taken literally, or made as directories when
        ``mkdirs``. Real directories met on the way are remembered for :meth:`_parent`
        (a directory is never replaced, so the memory stays true). Raises :class:`Refused`.
        """
        pending = list(reversed(parts))
        resolved: list[str] = []  # a real path: links are expanded as they are met
        hops = 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if not resolved:
                    raise Refused("escapes the scratch area through a link; refused")
                resolved.pop()
                continue
            if len(resolved) >= self.limits.max_depth:
                raise TooDeep(
                    f"leads more than {self.limits.max_depth} directories deep "
                    "(limit max_depth); refused"
                )
            path = os.path.join(self._root, *resolved, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if mkdirs:
                    os.mkdir(path, 0o755)
                resolved.append(name)
                if mkdirs:
                    self._dirs[tuple(resolved)] = path
                continue
            except NotADirectoryError:
                raise Refused(f"{'/'.join(resolved)} is not a directory; skipped") from None
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise Refused("too many levels of symbolic links; refused")
                target = os.readlink(path)
                if target.startswith("/"):
                    raise Refused("escapes the scratch area through an absolute link; refused")
                pending.extend(reversed(target.split("/")))
                continue
            resolved.append(name)
            if stat.S_ISDIR(st.st_mode):
                self._dirs[tuple(resolved)] = path
        return os.path.join(self._root, *resolved)

    def drop_outward_links(self) -> None:
        """Remove links that a later member turned outward (``a -> b/../c``, then ``b -> .``)
        or into a loop, so that nothing that reads the tree is led outside it."""
        for parts in self._links:
            path = os.path.join(self._root, *parts)
            if not os.path.islink(path):
                continue  # replaced by a later member
            try:
                self._resolve(parts)
            except Refused:
                os.unlink(path)
                self.note(
                    "/".join(parts),
                    "symbolic link removed after unpacking: later members made it lead "
                    "outside the tree (or into a loop)",
                    skipped=False,
                )
