"""What unpacking may cost (:class:`Limits`), and sizes as messages show them. (The errors
unpacking raises, :class:`~gplscan.errors.UnpackError` and
:class:`~gplscan.errors.LimitReached`, are in :mod:`gplscan.errors`.)"""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
PiB = 1 << 50


@dataclass(frozen=True)
class Limits:
    """Caps on what unpacking may cost.

    ``max_total_bytes`` bounds everything one target unpacks to (a full kernel source
    tree is about 1.5 GiB; 8 GiB leaves room and still fits a scratch disk).
    ``max_member_bytes`` bounds one file (the largest kernel module with debug info is a
    few hundred MiB). ``max_ratio`` bounds decompressed : compressed size once more than
    ``ratio_grace_bytes`` came out: sources and modules compress 3-10:1, and even
    archives of tiny files stay far below 200:1, while a bomb of zeros reaches 1000:1
    and more. ``max_members`` bounds the number of archive members (a kernel source tree
    has about 90,000). ``max_depth`` bounds how many directories deep a path may lead,
    links followed (kernel sources nest about 12 deep; every check of a path costs as
    much as it is deep).
    """

    max_total_bytes: int = 8 * GiB
    max_member_bytes: int = 2 * GiB
    max_ratio: int = 200
    max_members: int = 500_000
    max_depth: int = 256
    ratio_grace_bytes: int = 64 * MiB


def human_size(n: int) -> str:
    """``n`` bytes as a message shows them (``1.5 GiB``, ``300 bytes``)."""
    if n >= 1024 * PiB:
        return f"{n / PiB:.3g} PiB"
    for unit, scale in (("PiB", PiB), ("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
