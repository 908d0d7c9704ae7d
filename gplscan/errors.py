"""gplscan's exception family: one base class, raised at stage boundaries.

Third-party exceptions (pyelftools' ELFError, OSError, YAML errors) are caught in the
stage that met them and turned into one of these, or into a ScanIssue on the result.
"""

from __future__ import annotations


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
