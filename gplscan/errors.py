"""gplscan's exception family: one base class, raised at stage boundaries.

Third-party exceptions (pyelftools' ELFError, OSError, YAML errors) are caught in the
stage that met them and turned into one of these, or into a ScanIssue on the result.

Every exception that crosses from one module or stage to another is here. A few signals
stay with the one stage that raises and catches them, private to it: a make budget spent
(``facts.make.limits.Exhausted``), a cache row of the wrong shape (``facts.rows.Mismatch``,
a miss), a cache database this code will not read (``facts.cache.UnusableCacheError``),
an archive member refused or damaged (``unpack.tree.Refused``,
``unpack.decompress.Damaged``), a narrow scan that must widen (``scan.pipeline.Widen``).
"""

from __future__ import annotations

import signal


class GplscanError(Exception):
    """Base class: a problem gplscan can explain to its user."""


class TargetError(GplscanError):
    """The scan target cannot be used at all (missing, not a directory or file we read)."""


class ObjectParseError(GplscanError):
    """An ELF file that cannot be read; says which file and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class RuleError(GplscanError):
    """A rule file that does not load or does not match the rule schema."""


class LicenseDataError(GplscanError):
    """``rules/licenses.yml`` is missing or malformed."""


class ConfigError(GplscanError):
    """A configuration file that gplscan will not guess about."""


class ExampleError(GplscanError):
    """An example tree cannot be found, copied or built; the message says why and what to do."""


class KernelSymbolsError(GplscanError):
    """``--kernel`` names something gplscan cannot read exports from."""


class YamlTextError(ValueError):
    """Text that is not a YAML document; the message is PyYAML's."""


class SpdxError(ValueError):
    """A tag whose expression does not parse; the message says why."""


class FleetError(GplscanError):
    """The fleet cannot run at all: no Dask installed, no scheduler at the address."""


class LicenseDetectionUnavailable(GplscanError):
    """scancode-toolkit cannot be imported or its license index cannot be loaded.

    The message says why and how to fix it. Nothing per file: the whole license stage is off.
    """


class UnpackError(GplscanError):
    """A target that cannot be unpacked: a limit reached, damaged data, not an archive."""


class LimitReached(UnpackError):
    """An unpacking limit reached; inside an archive, a note that ends that archive."""


class ArchiveError(GplscanError):
    """An archive whose members cannot be read, and why."""


class Interrupted(BaseException):
    """A signal asked the scan to stop; ``code`` is the exit code that says which.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way
    out mistakes it for a problem with one file and carries on.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.code = 128 + signum


class PipeClosed(BaseException):
    """Standard output was closed under the report (``gplscan audit . | head``).

    A BaseException, so that click's own handling of a broken pipe (exit 1, which reads as
    "findings") never sees it."""

    code = 128 + signal.SIGPIPE  # 141, as a shell reports it
