"""The CI fuzz suite (issue 13): every parser gplscan feeds untrusted bytes to, given
damaged copies of real inputs. Each input must end as facts or as a reported issue,
within the time budget, never as a traceback and never dropped silently.

Each target (``tests/fuzz_targets/``) runs ``GPLSCAN_FUZZ_EXAMPLES`` inputs (default 50,
what the default test run affords; ``.ci/run`` runs 400; derandomized, so a CI failure
reproduces); ``bench/fuzz.py --minutes N`` is the long run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_targets import Target, all_targets, mutate

TARGETS = {t.name: t for t in all_targets()}
EXAMPLES = int(os.environ.get("GPLSCAN_FUZZ_EXAMPLES", "50"))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    out = {}
    for name, target in TARGETS.items():
        out[name] = target.seeds(tmp_path_factory.mktemp(f"seeds-{name}"))
    return out


def _run(target: Target, data: bytes, base: Path) -> None:
    scratch = Path(tempfile.mkdtemp(dir=base))
    try:
        target.run(data, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_there_are_targets_for_every_parser() -> None:
    assert len(TARGETS) >= 5, sorted(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz(name: str, seeds: dict[str, list[bytes]], tmp_path: Path) -> None:
    target, inputs = TARGETS[name], seeds[name]
    if not inputs:
        pytest.skip(f"{name}: no seed could be built here (a tool is missing)")
    for seed in inputs:  # the well-formed inputs themselves
        _run(target, seed, tmp_path)

    @settings(
        max_examples=EXAMPLES,
        deadline=timedelta(seconds=10),  # a hang, not a slow machine
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(rnd=st.randoms(use_true_random=False), which=st.integers(0, len(inputs) - 1))
    def damaged(rnd: object, which: int) -> None:
        import random

        assert isinstance(rnd, random.Random)
        _run(target, mutate(inputs[which], rnd, inputs), tmp_path)

    damaged()
