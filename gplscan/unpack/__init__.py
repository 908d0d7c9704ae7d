"""Turn a scan target as users have it into a directory to scan.

A directory is scanned where it is. A Debian package (``.deb``) or a tarball (``.tar``,
``.tar.gz``/``.tgz``, ``.tar.xz``, ``.tar.bz2``, ``.tar.zst``) is unpacked into a scratch
area that :func:`prepare` removes on exit, whatever happens. Compressed kernel modules
(``.ko.xz``, ``.ko.zst``, ``.ko.gz``) are never unpacked on disk: the object reader asks
:func:`decompress_module` for their ELF bytes in memory.

Archives are untrusted input. Nothing is ever written outside the scratch area:

* A member with an absolute path, a ``..`` component, or a path that reaches outside
  through a symbolic link is refused, and so is everything under a refused link.
* Symbolic links are kept when they resolve inside the tree (DKMS trees and kernel
  sources use them); links that are absolute or lead outside are not created. Links are
  resolved by reading them one component at a time, never with ``realpath``, and every
  write re-resolves its parent against the tree as it is at that moment; a last pass
  removes any link that later members turned outward.
* Hard links are made only to regular files already unpacked inside the tree.
* Device files, FIFOs and sparse files are never created. Files get 0644 or 0755, directories 0755:
  no setuid, setgid or sticky bits, no ownership from the archive.
* Every member is also checked by :func:`tarfile.data_filter` (belt and braces).
* Decompression is streamed in bounded steps with a ratio check, and the total size,
  the size of one member and the number of members are capped (:class:`Limits`), so a
  decompression bomb stops early instead of filling memory or the disk. Every size an
  archive declares (an ``ar`` member, a tar member, a pax or GNU long-name header) is
  checked against the limits and against what the input holds before a byte of it is
  read or skipped: a 1 PiB declaration in a 3 KiB file is refused at once.

What is refused becomes a :class:`~gplscan.model.ScanIssue` on :attr:`Prepared.notes`
(``skipped=True`` when content was lost): a member refused, a limit reached (what came
before is kept, the rest of that archive is not unpacked), an archive damaged or cut
short after its first member, data after an archive's end. Nothing read is dropped
without a note. An input that is not the archive it claims to be, an archive damaged
before its first member, and a scratch area that cannot be written raise
:class:`UnpackError`.

One module for each job: :mod:`~gplscan.unpack.target` (recognizing the target;
:func:`prepare`, :func:`decompress_module`), :mod:`~gplscan.unpack.decompress` (compressed
streams, metered), :mod:`~gplscan.unpack.ar` and :mod:`~gplscan.unpack.deb` (a Debian
package), :mod:`~gplscan.unpack.tar` (tar streams and their headers),
:mod:`~gplscan.unpack.tree` (writing members safely), :mod:`~gplscan.unpack.scratch`
(removing the scratch area) and :mod:`~gplscan.unpack.limits` (:class:`Limits`; the
errors are in :mod:`gplscan.errors`).
"""

from gplscan.errors import UnpackError as UnpackError  # also importable from here, as before
from gplscan.unpack.limits import Limits
from gplscan.unpack.target import Prepared, decompress_module, prepare

__all__ = ["Limits", "Prepared", "UnpackError", "decompress_module", "prepare"]
