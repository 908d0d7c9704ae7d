"""Session-wide fixtures shared by the test modules."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gplscan.examples import BUILD_TOOLS, example_names, prepare_example

_SCANCODE: dict[str, str | None] = {}  # "missing": why scancode-toolkit cannot be imported


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``scancode`` skips, saying why, when scancode-toolkit cannot be
    imported (checked once, when the first such test runs: never in the default run)."""
    if item.get_closest_marker("scancode") is None:
        return
    if "missing" not in _SCANCODE:
        try:
            importlib.import_module("licensedcode.cache")
            _SCANCODE["missing"] = None
        except Exception as exc:  # ImportError, or ValueError from plugincode under pluggy 1.7
            _SCANCODE["missing"] = (
                f"scancode-toolkit cannot be imported ({type(exc).__name__}: {exc}); "
                "install 'scancode-toolkit>=32.3' 'pluggy<1.7'"
            )
    if _SCANCODE["missing"] is not None:
        pytest.skip(_SCANCODE["missing"])


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir() -> Iterator[Path]:
    """Every scan in the tests (in-process or CLI) caches into a fresh directory of its own,
    never into the user's ~/.cache."""
    with tempfile.TemporaryDirectory(prefix="gplscan-test-cache-") as tmp:
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = tmp
        try:
            yield Path(tmp)
        finally:
            if old is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session")
def built_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Every bundled example, prepared once per session in two forms.

    ``{"hyperv-2009": {"source": Path, "built": Path}, "hyperv-2009-open": {...}}``:
    ``source`` is the tree as shipped (sources plus its closed objects), ``built`` the
    same tree after a build with ``fixtures/minikbuild.mk``. Treat both as read-only.
    """
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"building the example trees needs {', '.join(missing)} on PATH")
    root = tmp_path_factory.mktemp("examples")
    return {
        name: {
            "source": prepare_example(name, root / "source"),
            "built": prepare_example(name, root / "built", built=True),
        }
        for name in example_names()
    }
