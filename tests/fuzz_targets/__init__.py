"""Fuzz targets: one per parser gplscan feeds untrusted bytes to.

A target builds a few well-formed seed inputs (real files made with gcc, ar, tar … where it
can) and feeds one input to the parser the way a scan would. The property every target
checks: the input ends as facts or as a reported issue, never as a traceback and never
dropped silently. ``run`` raises ``AssertionError`` when that property fails; any other
exception escaping ``run`` is a bug in gplscan.

The CI suite (``tests/test_fuzz.py``) mutates the seeds with Hypothesis; the long run
(``bench/fuzz.py --minutes N``) mutates them at random in worker processes with a time
and memory budget per input. Each area's targets live in a module of this package named
for the area, as a module-level ``TARGETS: list[Target]``.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    name: str  # e.g. "elf-ko", "tar", "make"
    seeds: Callable[[Path], list[bytes]]  # well-formed inputs, built in the given scratch dir
    run: Callable[[bytes, Path], None]  # feed one input; the Path is a fresh scratch dir


def all_targets() -> list[Target]:
    """Every target of every module in this package, in name order."""
    found: list[Target] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "TARGETS", []))
    return sorted(found, key=lambda t: t.name)


# --- mutation ------------------------------------------------------------------------------

# values that break parsers: sizes and offsets at the edges
_INTERESTING = (
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0xFFFF,
    0x7FFFFFFF,
    0xFFFFFFFF,
    2**63 - 1,
    2**64 - 1,
)


def mutate(seed: bytes, rnd: random.Random, others: list[bytes] | None = None) -> bytes:
    """A damaged copy of ``seed``: 1 to 4 of bit flips, interesting bytes and words
    written over fields, truncation, insertion, deletion, duplication, and splicing
    with another seed. Deterministic for a given ``rnd`` state."""
    data = bytearray(seed)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(8)
        size = len(data)
        at = rnd.randrange(size) if size else 0
        if op == 0 and size:  # flip bits
            for _ in range(rnd.randint(1, 8)):
                data[rnd.randrange(size)] ^= 1 << rnd.randrange(8)
        elif op == 1 and size:  # an interesting byte
            data[at] = rnd.choice(_INTERESTING) & 0xFF
        elif op == 2 and size >= 8:  # an interesting aligned word, either byte order
            width = rnd.choice((2, 4, 8))
            at -= at % width
            if at + width <= size:
                value = rnd.choice((*_INTERESTING, size, size + 1, rnd.randrange(1 << 32)))
                order = rnd.choice(("little", "big"))
                data[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, order)
        elif op == 3:  # truncate
            del data[at:]
        elif op == 4:  # insert random bytes
            data[at:at] = rnd.randbytes(rnd.choice((1, 2, 4, 16, 512)))
        elif op == 5 and size:  # delete a run
            del data[at : at + rnd.choice((1, 4, 16, 256))]
        elif op == 6 and size:  # repeat a run
            run = bytes(data[at : at + rnd.choice((4, 64, 1024))])
            data[at:at] = run * rnd.randint(1, 8)
        elif op == 7 and others:  # splice: our head, another seed's tail
            other = rnd.choice(others)
            data = data[:at] + other[rnd.randrange(len(other) + 1) :]
    return bytes(data)
