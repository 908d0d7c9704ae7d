"""What reading one build file may cost, and the budget that counts it as reading goes.

``MakeLimits`` holds the bounds (one place for all of them); ``Budget`` is the part of the
reader that counts work, sizes and stored words against them and stops the reading
(``Exhausted``) where one is met, remembering the file, line and limit for the gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class MakeLimits:
    """What reading one build file may cost, with all it includes and ``$(eval)``s.

    Each is far above what real trees use: the most any build file of Linux 6.1 or of the
    40 DKMS packages of Debian 12's census uses is 95k steps (zfs), 431k characters of
    work and 26k in one value (nvidia), 3,163 stored words (nvidia), 2,612 lines (Linux's
    top Makefile), 1,516 words in one variable, 55 included files (nouveau) and depth 13.

    A build file that meets one is read no further: what it defined up to there is kept,
    and the limit becomes a gap (the ``not-judged`` finding) naming the file, the line and
    the limit; the scan goes on with the rest of the tree. Sizes are checked while a value
    is built, before it is held, so memory stays small (tens of MB); the step budget
    bounds the time (hostile input meets it in 0.3 to 1.5 s here).
    """

    file_bytes: int = 8 << 20  # one file read (Linux's largest Makefile: ~70 KB)
    lines: int = 100_000  # logical lines read, those of includes and $(eval) text too
    files: int = 1_000  # files read through include (an include inside a loop reads again)
    include_depth: int = 16  # includes within includes
    expansion_depth: int = 40  # references within references; $(eval) text counts on
    value_chars: int = 1 << 20  # one expansion's text, checked as it grows
    words: int = 100_000  # one variable's words
    stored_words: int = 1_000_000  # the words all variables hold together
    work_chars: int = 32 << 20  # the text all expansions produce together
    steps: int = 500_000  # units of work, a few microseconds each (the costs below)


LIMITS = MakeLimits()

# What each kind of work costs, in steps: a reference expanded or a word gone through is
# one; the others are weighed by the time they take
STEP_LINE = 4  # a line read
STEP_FILE = 200  # a file read, a name an include looks up in the file system
STEP_PATTERN = 50  # a $(wildcard) pattern: a directory listed
STEP_SCAN = 64  # characters scanned for references and commas, per step


class Exhausted(Exception):
    """A limit of ``MakeLimits`` was met: reading stops; the reader reports it as a gap."""


class Budget:
    """What reading has cost so far (see ``MakeLimits``), and why it stopped, once it has."""

    def __init__(self, limits: MakeLimits, here: tuple[Path, int, int]) -> None:
        self.limits = limits
        self.steps = 0
        self.produced = 0
        self.stored = 0
        self.files_read = 0
        self.stopped: tuple[Path, int, str] | None = None
        self.here = here  # file, line, include depth: where reading is

    def exceed(self, reason: str, path: Path | None = None, line: int | None = None) -> None:
        """Stop reading: a limit is met (``reason`` says which). Raises ``Exhausted``."""
        if self.stopped is None:
            here, at, _ = self.here
            self.stopped = (path or here, at if line is None else line, reason)
        raise Exhausted(self.stopped[2])

    def charge(self, steps: int, chars: int = 0) -> None:
        """Count work done; past the step or work budget, stop reading."""
        self.steps += steps
        self.produced += chars
        if self.stopped is not None:
            raise Exhausted(self.stopped[2])
        if self.steps > self.limits.steps:
            self.exceed(
                f"reading it takes more than {self.limits.steps} steps of work (references "
                "expanded, words, lines and files gone through)"
            )
        if self.produced > self.limits.work_chars:
            self.exceed(f"expanding it produces more than {self.limits.work_chars} characters")

    def check_size(self, size: int) -> None:
        """Stop reading before a value longer than the limit is built."""
        if size > self.limits.value_chars:
            self.exceed(f"a value grows past {self.limits.value_chars} characters")

    def join(self, pieces: Iterable[str]) -> str:
        """Words joined by spaces, the size checked as it grows."""
        out: list[str] = []
        size = 0
        for piece in pieces:
            size += len(piece) + 1
            self.check_size(size)
            out.append(piece)
        self.charge(len(out), size)
        return " ".join(out)

    def store(self, name: str, count: int, added: int) -> None:
        """Check a variable's size (``count`` words, ``added`` of them new) before it is held."""
        if count > self.limits.words:
            self.exceed(f"variable {name[:80]} grows past {self.limits.words} words")
        self.stored += added
        if self.stored > self.limits.stored_words:
            self.exceed(f"its variables hold more than {self.limits.stored_words} words")

    def too_deep(self) -> None:
        """Stop reading: references nest past the limit."""
        self.exceed(
            f"references nested deeper than {self.limits.expansion_depth} (with the "
            "$(eval)s they are in)"
        )
