"""Many targets in one run (issue 17): each judged exactly as alone, on this process, a
local pool or a Dask LocalCluster; a killed worker's target retried; --resume redoes
only what changed; the aggregated reports; a single target unchanged."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_work import judge_or_die, judge_slowly, kill_marker, spread_forever, spread_squares
from helpers import compile_object, run_cli

from gplscan.facts.pool import CHUNK
from gplscan.fleet import engines
from gplscan.fleet import run as fleet
from gplscan.fleet.judge import Task
from gplscan.scan import Options

EPOCH = "1700000000"

MINI_C = """// SPDX-License-Identifier: GPL-2.0-only
#include "mini.h"
int mini_value(void) { return MINI; }
const char __UNIQUE_ID_license[] __attribute__((section(".modinfo"))) = "license=GPL";
"""


@pytest.fixture(scope="module")
def targets(
    built_examples: dict[str, dict[str, Path]], tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """Three small driver trees built with gcc: the 2009 Hyper-V shape (a closed blob
    linked into GPL code), its open twin, and a one-file module."""
    root = tmp_path_factory.mktemp("fleet")
    trees = []
    for name in ("hyperv-2009", "hyperv-2009-open"):
        copy = root / name
        shutil.copytree(built_examples[name]["built"], copy, symlinks=True)
        trees.append(copy)
    mini = root / "mini"
    mini.mkdir()
    (mini / "Kbuild").write_text("obj-m += mini.o\n")
    (mini / "mini.h").write_text("// SPDX-License-Identifier: GPL-2.0-only\n#define MINI 7\n")
    (mini / "mini.c").write_text(MINI_C)
    compile_object(mini / "mini.c", mini / "mini.o")
    trees.append(mini)
    return trees


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A Dask LocalCluster of 2 worker processes, one thread each, no dashboard."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="1.5GiB",
        dashboard_address=None,
    ) as local:
        yield local


def _cli_json(*args: str) -> tuple[int, dict[str, Any]]:
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        proc = run_cli(*args, "--format", "json", "-q")
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
    assert proc.returncode in (0, 1, 2), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _without_provenance(report: dict[str, Any]) -> str:
    """The report as text, byte for byte, apart from how and when it was made."""
    return json.dumps({k: v for k, v in report.items() if k != "provenance"}, indent=2)


@pytest.fixture(scope="module")
def alone(targets: list[Path]) -> list[tuple[int, dict[str, Any]]]:
    """Each target audited alone, as today: exit code and JSON report."""
    return [_cli_json("audit", str(t)) for t in targets]


def test_single_target_reports_as_before(targets: list[Path], alone: Any) -> None:
    code, report = alone[0]
    assert report["schema"] == "gplscan/1"  # not the fleet's aggregate
    assert code == 1
    assert report["provenance"]["command"][:2] == ["gplscan", "audit"]


# the Dask cluster's variants are in the slow group (a LocalCluster of two worker
# processes takes seconds to start and stop); the local pool's run by default
ON_A_CLUSTER = pytest.param("cluster", marks=pytest.mark.slow)


@pytest.mark.parametrize("where", ["in-process", "pool", ON_A_CLUSTER])
def test_fleet_judges_each_target_as_alone(
    where: str, targets: list[Path], alone: Any, request: pytest.FixtureRequest
) -> None:
    extra = {"in-process": ["-j", "1"], "pool": ["-j", "2"]}.get(where, [])
    if where == "cluster":
        extra = ["--scheduler", request.getfixturevalue("cluster").scheduler_address]
    code, data = _cli_json("audit", *map(str, targets), *extra, "--no-cache")
    assert data["schema"] == "gplscan-fleet/1"
    assert [r["target"] for r in data["targets"]] == [str(t) for t in targets]
    for (alone_code, alone_report), row, report in zip(
        alone, data["targets"], data["reports"], strict=True
    ):
        assert _without_provenance(report) == _without_provenance(alone_report)
        assert row["exit_code"] == alone_code
        assert row["verdict"] == alone_report["summary"]["verdict"]
    assert [r["closed"] for r in data["targets"]] == [1, 0, 0]
    assert code == max(c for c, _ in alone) == 1
    assert data["summary"]["exit_code"] == 1


def _tasks(targets: list[Path]) -> list[Task]:
    return fleet.plan(
        targets,
        Options(cache_dir=None),
        inventory=False,
        fail_on=None,
        allow_partial=False,
        command=("gplscan", "audit"),
    )


@pytest.mark.parametrize("where", ["pool", ON_A_CLUSTER])
def test_killed_worker_gives_the_same_result_after_its_retry(
    where: str, targets: list[Path], request: pytest.FixtureRequest
) -> None:
    """A worker killed in the middle of a target: the target is judged again (a cluster
    retries it; a local pool's broken pool is replaced), with the report of a run
    where nothing died."""
    tasks = _tasks(targets)
    expected = [json.loads(o.report or "null") for o in engines.InProcess().run(tasks)]
    marker = kill_marker(targets[0])
    marker.touch()
    if where == "cluster":
        address = request.getfixturevalue("cluster").scheduler_address
        engine: Any = engines.DaskCluster(address, work=judge_or_die)
    else:
        engine = engines.LocalPool(2, work=judge_or_die)
    outcomes = fleet.run(tasks, engine, None, resume=False)
    assert not marker.exists()  # the worker was killed once
    assert [o.exit_code for o in outcomes] == [1, 0, 0]
    for outcome, report in zip(outcomes, expected, strict=True):
        assert outcome.error is None
        got = json.loads(outcome.report or "null")
        assert _without_provenance(got) == _without_provenance(report)


@pytest.mark.parametrize("where", ["pool", ON_A_CLUSTER])
def test_a_target_past_its_time_is_reported_not_waited_on(
    where: str, targets: list[Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    slow = tmp_path / "slow"
    shutil.copytree(targets[2], slow)
    tasks = _tasks([targets[2], slow])
    if where == "cluster":
        address = request.getfixturevalue("cluster").scheduler_address
        engine: Any = engines.DaskCluster(address, timeout=1.5, work=judge_slowly)
    else:
        engine = engines.LocalPool(2, timeout=1.5, work=judge_slowly)
    fast, stuck = fleet.run(tasks, engine, None, resume=False)
    assert fast.error is None and fast.exit_code == 0
    assert stuck.exit_code == 2 and "not judged within 1.5 s" in (stuck.error or "")


def test_resume_redoes_only_what_changed(targets: list[Path], tmp_path: Path) -> None:
    trees = []
    for t in targets:
        shutil.copytree(t, tmp_path / t.name, symlinks=True)
        trees.append(tmp_path / t.name)
    cache = str(tmp_path / "cache")
    args = ("audit", *map(str, trees), "-j", "1", "--cache-dir", cache, "--resume")
    _, first = _cli_json(*args)
    assert [r["resumed"] for r in first["targets"]] == [False, False, False]
    _, again = _cli_json(*args)
    assert [r["resumed"] for r in again["targets"]] == [True, True, True]
    assert again["reports"] == first["reports"]
    with (trees[1] / "Kbuild").open("a") as fh:  # one package changes
        fh.write("# a comment\n")
    code, changed = _cli_json(*args)
    ran = [r["target"] for r in changed["targets"] if not r["resumed"]]
    assert ran == [str(trees[1])]
    assert code == 1 and changed["reports"][0] == first["reports"][0]
    _, fresh = _cli_json("audit", str(trees[1]), "--no-cache")
    assert _without_provenance(changed["reports"][1]) == _without_provenance(fresh)


def test_inventory_and_html_and_terminal(targets: list[Path], tmp_path: Path) -> None:
    mini = str(targets[2])  # tagged files only: no scancode index to load
    listed = tmp_path / "targets.txt"
    listed.write_text(f"# the same tree again\n\n{mini}\n")
    proc = run_cli("inventory", mini, "--from-file", str(listed), "-j", "1", "--no-cache", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "2 targets: 2 complete; exit code 0" in proc.stdout
    proc = run_cli("audit", *map(str, targets), "-j", "1", "--no-cache", "-q")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0].split() == [
        "TARGET", "VERDICT", "ERRORS", "WARNINGS", "INFO", "BINARIES", "CLOSED", "TIME"
    ]  # fmt: skip
    index = tmp_path / "fleet.html"
    proc = run_cli(
        "audit", *map(str, targets), "-j", "1", "--format", "html", "-o", str(index), "-q"
    )
    assert proc.returncode == 1, proc.stderr
    pages = sorted((tmp_path / "fleet-targets").iterdir())
    assert [p.name for p in pages] == ["001-hyperv-2009.html", "002-hyperv-2009-open.html",
                                       "003-mini.html"]  # fmt: skip
    html = index.read_text()
    for page in pages:
        assert f'href="fleet-targets/{page.name}"' in html


def test_fleet_usage_errors(targets: list[Path]) -> None:
    assert run_cli("audit").returncode == 2
    proc = run_cli("audit", *map(str, targets[:2]), "--format", "sarif")
    assert proc.returncode == 2 and "takes one target" in proc.stderr
    nobody = engines.DaskCluster("tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(engines.FleetError, match="cannot reach the Dask scheduler"):
        list(nobody.run(_tasks(targets[:1])))


class _Recording:
    """An engine that records the order it is given tasks in and judges none."""

    name = "recording"

    def __init__(self) -> None:
        self.order: list[str] = []

    def run(self, tasks: Any) -> Iterator[Any]:
        for task in tasks:
            self.order.append(task.shown)
            yield engines.failed(task, "not judged here")


def test_several_at_a_time_start_with_the_largest(targets: list[Path]) -> None:
    tasks = _tasks(targets[::-1])  # the one-file module first: the smallest
    sizes = {t.shown: t.size for t in tasks}
    expected = {
        str(p): sum(f.lstat().st_size for f in p.rglob("*") if not f.is_dir()) for p in targets
    }
    assert sizes == expected  # the walk that digests a tree also sizes it
    pool_like, one_by_one = _Recording(), _Recording()
    outcomes = fleet.run(tasks, pool_like, None, resume=False, one_core_each=True)
    fleet.run(tasks, one_by_one, None, resume=False)
    assert pool_like.order == sorted(sizes, key=lambda shown: -sizes[shown])
    assert pool_like.order != [t.shown for t in tasks]
    assert one_by_one.order == [t.shown for t in tasks]  # one at a time: as given
    assert [o.shown for o in outcomes] == [t.shown for t in tasks]  # reported as given


def test_resume_after_an_interrupted_run_gives_the_complete_report(
    targets: list[Path], tmp_path: Path
) -> None:
    """Ctrl-C in the middle of a fleet (one target stored, a large one being judged), then
    ``--resume``: it judges only what was not finished, and its report is the report of a
    run never interrupted."""
    large = tmp_path / "large"
    large.mkdir()
    for n in range(3000):
        (large / f"f{n}.c").write_text(
            f"// SPDX-License-Identifier: GPL-2.0-only\nint f{n}(void) {{ return {n}; }}\n"
        )
    order = [targets[2], large, targets[0]]
    cache = tmp_path / "cache"
    args = ("audit", *map(str, order), "-j", "1", "--cache-dir", str(cache), "--resume")
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    report = tmp_path / "fleet.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gplscan", *args, "--format", "json", "-q", "-o", str(report)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not list((cache / "fleet").rglob("*.json.gz")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not report.exists()  # no partial report
    assert len(list((cache / "fleet").rglob("*.json.gz"))) == 1
    code, resumed = _cli_json(*args)
    assert [r["resumed"] for r in resumed["targets"]] == [True, False, False]
    _, whole = _cli_json("audit", *map(str, order), "-j", "1", "--no-cache")
    assert code == whole["summary"]["exit_code"] == 1
    assert [_without_provenance(r) for r in resumed["reports"]] == [
        _without_provenance(r) for r in whole["reports"]
    ]
    rows = [{k: v for k, v in r.items() if k not in ("seconds", "worker", "resumed")}
            for r in resumed["targets"]]  # fmt: skip
    assert rows == [
        {k: v for k, v in r.items() if k not in ("seconds", "worker", "resumed")}
        for r in whole["targets"]
    ]


def test_fleet_json_is_the_json_module_s_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The aggregated JSON is written by orjson when it can (a Linux tree's report is 24 MB)
    and is the same text the json module writes; a string UTF-8 cannot hold (a file name
    that is not UTF-8, as a lone surrogate) falls back to the json module."""
    import builtins

    from gplscan.fleet.aggregate import render_json
    from gplscan.fleet.judge import Outcome

    plain = json.dumps({"summary": {"verdict": "fails", "files": 2}, "target": "ü", "x": 0.25})
    odd = json.dumps({"summary": {"verdict": "passes"}, "binaries": [{"path": "a\udcff.ko"}]})
    outcomes = [
        Outcome("k1", "pilote-ü", 1, plain),
        Outcome("k2", "odd", 0, odd),
        Outcome("k3", "gone", 2, None, error="not readable"),
    ]
    fast = render_json(outcomes[:1] + outcomes[2:], inventory=False)
    mixed = render_json(outcomes, inventory=False)
    real_import = builtins.__import__

    def no_orjson(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "orjson":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_orjson)
    assert fast == render_json(outcomes[:1] + outcomes[2:], inventory=False)
    assert mixed == render_json(outcomes, inventory=False)
    assert json.loads(mixed)["reports"][1]["binaries"][0]["path"] == "a\udcff.ko"


def _many_drivers(root: Path, drivers: int = 32, files: int = 6) -> Path:
    """A source tree of ``drivers`` modules of ``files`` sources each, half of them
    untagged with the GPL's notice: more files than one chunk at every per-file stage."""
    (root).mkdir()
    (root / "Kbuild").write_text("".join(f"obj-m += d{i}/\n" for i in range(drivers)))
    notice = "/*\n * This program is free software; you can redistribute it and/or modify it\n"
    notice += " * under the terms of the GNU General Public License version 2.\n */\n"
    for i in range(drivers):
        d = root / f"d{i}"
        d.mkdir()
        objs = " ".join(f"f{n}.o" for n in range(files))
        (d / "Kbuild").write_text(f"obj-m += d{i}.o\nd{i}-objs := {objs}\n")
        (d / "d.h").write_text("/* SPDX-License-Identifier: GPL-2.0 */\n#define D 1\n")
        for n in range(files):
            tag = "// SPDX-License-Identifier: GPL-2.0-only\n" if n % 2 else notice
            body = f'#include "d.h"\nint d{i}_{n}(int x) {{ return x + D; }}\n'
            (d / f"f{n}.c").write_text(tag + body + 'MODULE_LICENSE("GPL");\n')
    return root


@pytest.mark.slow
def test_a_spread_stage_takes_chunks_done_by_the_other_worker(cluster: Any) -> None:
    """A task's chunks are offered to the cluster from the last: the idle worker does some,
    the task the rest, and the results come back in order, each chunk once."""
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as client:
        out, chunks, helpers, here = client.submit(spread_squares, 12 * CHUNK).result()
    assert [square for square, _ in out] == [n * n for n in range(12 * CHUNK)]
    done_by = {name for _, name in out}
    assert chunks >= 1 and helpers and here not in helpers
    assert done_by == {here, *helpers}


@pytest.mark.slow
def test_large_trees_spread_over_the_cluster_are_judged_as_alone(
    targets: list[Path], tmp_path: Path, cluster: Any
) -> None:
    """Two large trees and the small targets on two workers of one thread each: every
    worker busy with a tree, none waits on another (their chunks are done where they are
    when no one is free), and each report is the one its target has alone."""
    big = _many_drivers(tmp_path / "big")
    other = tmp_path / "other"
    shutil.copytree(big, other)
    (other / "d3" / "f1.c").write_text("int closed(void) { return 1; }\n")
    tasks = _tasks([big, other, *targets])
    expected = [o.report for o in engines.InProcess().run(tasks)]
    engine = engines.DaskCluster(cluster.scheduler_address, spread_at=0)
    outcomes = fleet.run(tasks, engine, None, resume=False, one_core_each=True)
    for outcome, report in zip(outcomes, expected, strict=True):
        assert outcome.error is None
        got = json.loads(outcome.report or "null")
        assert _without_provenance(got) == _without_provenance(json.loads(report or "null"))
    assert [o.exit_code for o in outcomes] == [0, 0, 1, 0, 0]


def test_the_last_large_tree_borrows_the_idle_pool_workers(tmp_path: Path) -> None:
    """On a local pool, a large tree judged when no target is left to start borrows the
    idle workers for its per-file work; its report is the one it has alone."""
    big = _many_drivers(tmp_path / "big")
    tasks = _tasks([big])
    expected = [o.report for o in engines.InProcess().run(tasks)]
    pool = engines.LocalPool(2, spread_at=0)  # one target: the other worker is idle
    outcomes = fleet.run(tasks, pool, None, resume=False, one_core_each=True)
    for outcome, report in zip(outcomes, expected, strict=True):
        assert outcome.error is None
        got = json.loads(outcome.report or "null")
        assert _without_provenance(got) == _without_provenance(json.loads(report or "null"))
    (spread,) = outcomes
    assert spread.chunks >= 3  # reading, source facts, regions
    assert spread.helpers == (f"{spread.worker} and 1 forked",)
    whole = fleet.run(tasks, engines.LocalPool(2, spread_at=None), None, resume=False)
    assert whole[0].chunks == 0
    assert _without_provenance(json.loads(whole[0].report or "null")) == _without_provenance(
        json.loads(spread.report or "null")
    )


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_forked_helpers_end_with_the_pool_worker_that_forked_them(tmp_path: Path) -> None:
    """A pool worker killed (Ctrl-C stops the pool so) while it has lent helpers: they
    end with it rather than wait for chunks forever."""
    import multiprocessing

    worker = multiprocessing.get_context("spawn").Process(
        target=spread_forever, args=(str(tmp_path),)
    )
    worker.start()
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("helper-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    helpers = [int(f.name.split("-")[1]) for f in tmp_path.glob("helper-*")]
    assert len(helpers) == 2 and all(_running(pid) for pid in helpers)
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in helpers)
