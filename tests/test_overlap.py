"""One writer at a time: overlapping runs wait for each other (or stop cleanly after the wait), whether a run's
steps share one process (`make run`) or each have their own (Dagster's multiprocess executor); the lock of a
killed run lapses with it; stale builds are removed only when no live run owns them."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from pipeline import lock, warehouse
from pipeline.schedules import RUN_QUEUE_TAG
from tests import reference as ref
from tests.conftest import ROOT, PipelineRun, write_csv
from tests.headless import UNCHANGED, last_lines, leftovers, output, start_command, start_runner
from tests.test_atomic_runs import D, R, decision, request
from tests.test_end_to_end import mismatches


def holding_process(warehouse_path: Path, run_id: str) -> subprocess.Popen:
    """Another process that takes the lock for run_id (as a run would) and then just stays alive."""
    code = (
        "import os, sys, time; from pathlib import Path; from pipeline import lock; "
        "lock.try_acquire(Path(sys.argv[1]), sys.argv[2], os.getpid()); print('held', flush=True); "
        "time.sleep(600)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(warehouse_path), run_id], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_live_holder_is_named_once_and_waited_for_then_a_dead_one_is_taken_over(tmp_path):
    wh = tmp_path / "warehouse" / "vrr.duckdb"
    holder = holding_process(wh, "run-A")
    try:
        said: list[str] = []
        started = time.monotonic()
        with pytest.raises(lock.LockNotObtained) as refused:
            lock.acquire(wh, "run-B", wait_seconds=1.5, say=said.append, owner_pid=os.getpid())
        assert 1.5 <= time.monotonic() - started < 10
        assert len(said) == 1
        assert said[0].startswith(
            f"the warehouse is in use by run run-A (process {holder.pid}, holding the warehouse since "
        )
        assert str(refused.value).startswith(f"the warehouse is still in use by run run-A (process {holder.pid}")
        assert "after waiting 1.5 seconds; this run stopped without changing anything." in str(refused.value)
        assert lock.live_holder(wh).run_id == "run-A"
    finally:
        holder.kill()
        holder.wait()
    # killed: its lock lapses with it, and the next run takes it over at once
    assert lock.live_holder(wh) is None
    dead = lock.acquire(wh, "run-B", wait_seconds=0, say=pytest.fail, owner_pid=os.getpid())
    assert dead.run_id == "run-A" and dead.pid == holder.pid
    assert lock.live_holder(wh).run_id == "run-B"
    lock.release(wh, "run-A")  # not the holder: no effect
    assert lock.live_holder(wh).run_id == "run-B"
    lock.release(wh, "run-B")
    assert lock.live_holder(wh) is None


def test_a_reused_process_id_does_not_hold_the_lock():
    me = os.getpid()
    started = lock.started_at(me)
    assert lock.alive(lock.Holder("r", me, started, me, started, "now"))
    assert not lock.alive(lock.Holder("r", me, started - 60, me, started - 60, "now"))


def test_stale_builds_are_removed_only_when_no_live_run_owns_them(tmp_path):
    wh = tmp_path / "warehouse" / "vrr.duckdb"
    exports = tmp_path / "exports"
    (exports / ".staging-run-dead" / "2024-25-Q1").mkdir(parents=True)
    (exports / ".staging-run-live").mkdir()
    holder = holding_process(wh, "run-live")
    try:
        names = [
            "run-dead",
            "run-dead.wal",
            "run-dead.compact",
            "run-dead.compact.wal",
            "run-live",
            "run-live.wal",
            "run-live.compact",
            "run-mine",
            "run-mine.compact",
        ]
        for name in names:
            warehouse.build_path(wh, name).write_bytes(b"x")
        removed = warehouse.remove_stale(wh, exports, "run-mine")
        assert sorted(p.name for p in removed) == [
            ".staging-run-dead",
            ".vrr.duckdb.build-run-dead",
            ".vrr.duckdb.build-run-dead.compact",
            ".vrr.duckdb.build-run-dead.compact.wal",
            ".vrr.duckdb.build-run-dead.wal",
        ]
        assert sorted(p.name for p in wh.parent.iterdir()) == [
            ".vrr.duckdb.build-run-live",
            ".vrr.duckdb.build-run-live.compact",
            ".vrr.duckdb.build-run-live.wal",
            ".vrr.duckdb.build-run-mine",
            ".vrr.duckdb.build-run-mine.compact",
            ".vrr.duckdb.lock",
        ]
        assert [p.name for p in exports.iterdir()] == [".staging-run-live"]
    finally:
        holder.kill()
        holder.wait()
    # once its process is gone, the same builds are stale
    warehouse.remove_stale(wh, exports, "run-mine")
    assert sorted(p.name for p in wh.parent.iterdir()) == [
        ".vrr.duckdb.build-run-mine",
        ".vrr.duckdb.build-run-mine.compact",
        ".vrr.duckdb.lock",
    ]
    assert list(exports.iterdir()) == []


# --------------------------------------------------------------------------- whole runs side by side


@pytest.fixture
def landing(tmp_path):
    folder = tmp_path / "landing"
    write_csv(
        folder / "decisions_2024-03-01.csv",
        D,
        [decision(f"D{i}", f"2024-0{1 + i % 2}-{1 + i % 27:02d}", "15" if i % 3 else "9") for i in range(1, 40)],
    )
    write_csv(folder / "vrr_requests_2024-03-01.csv", R, [request(f"R{i}", f"D{i}", "2024-02-28") for i in range(1, 9)])
    return folder


def wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {output(process)[-30:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def build_files(run: PipelineRun) -> list[Path]:
    return sorted(run.warehouse.parent.glob(f".{run.warehouse.name}.build-*"))


def assert_figures_exact(run: PipelineRun) -> None:
    expected = ref.fct_vrr_decisions(run.landing)
    actual = {r["decision_id"]: r for r in run.query("select * from marts.fct_vrr_decisions")}
    assert len(expected) == 39
    assert mismatches(expected, actual) == []


def test_overlapping_headless_runs_wait_or_stop_cleanly(tmp_path, landing):
    """A second `make run` started while the first is building waits for it and then runs; a third with a short
    wait stops with exit status 2, having changed nothing."""
    run = PipelineRun(tmp_path, landing)
    first = start_runner(run)
    wait_for(lambda: build_files(run), "the first run's build", first)
    holder = lock.live_holder(run.warehouse)
    assert holder is not None and holder.pid == first.pid
    second = start_runner(run)
    third = start_runner(run, VRR_LOCK_WAIT_SECONDS="2")
    third_out = output(third, timeout=300)
    assert third.returncode == 2
    assert first.poll() is None, "the first run finished before the third gave up: the test proves nothing"
    assert last_lines(third_out, 2) == [
        f"vrr: the warehouse is still in use by {holder.describe()} after waiting 2 seconds; this run stopped "
        "without changing anything. Run again when that run has finished (or set VRR_LOCK_WAIT_SECONDS to wait "
        "longer).",
        f"vrr: the run did not start; {UNCHANGED}",
    ]
    # the third built nothing: every build file is the first run's (its build, and the build's write-ahead log
    # while DuckDB has one open)
    own = warehouse.build_path(run.warehouse, holder.run_id)
    files = build_files(run)
    assert own in files and all(p.name.startswith(own.name) for p in files), files
    first_out, second_out = output(first), output(second)
    assert (first.returncode, second.returncode) == (0, 0), first_out[-20:] + second_out[-20:]
    waiting = [line for line in second_out if "the warehouse is in use by" in line]
    assert waiting == [
        f"vrr: the warehouse is in use by {holder.describe()}; waiting for it to finish (at most "
        "30 minutes, VRR_LOCK_WAIT_SECONDS)."
    ]
    assert_figures_exact(run)
    assert leftovers(run) == []
    with dg.DagsterInstance.from_config(str(run.tmp / "dagster_home")) as instance:
        tags = [r.dagster_run.tags.get(RUN_QUEUE_TAG) for r in instance.get_run_records()]
    assert tags == ["headless", "headless"]  # never counted by the daemon's queue: the lock keeps them apart


def test_a_multiprocess_run_holds_the_lock_from_its_first_step_to_its_last(tmp_path, landing):
    """Under Dagster's multiprocess executor (the project's job runs its steps in the run's own process; a
    deployment may choose otherwise: tests/multiprocess_definitions.py) each step has its own process: the lock
    names the run worker for the whole run, and a `make run` started meanwhile waits for it."""
    run = PipelineRun(tmp_path, landing)
    tags = {"dagster/asset_partition_range_start": "2013-04", "dagster/asset_partition_range_end": "2026-10"}
    worker = start_command(
        run,
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "tests.multiprocess_definitions",
            "-j",
            "vrr_pipeline",
            "--tags",
            json.dumps(tags),
        ],
    )
    wait_for(lambda: lock.live_holder(run.warehouse) is not None, "the lock", worker)
    holder = lock.live_holder(run.warehouse)
    assert holder.pid == worker.pid and holder.step_pid != worker.pid  # a step's own process took it for the run
    headless = start_runner(run)
    samples = 0
    with dg.DagsterInstance.from_config(str(run.tmp / "dagster_home")) as instance:
        while worker.poll() is None:
            current = lock.live_holder(run.warehouse)
            if current is not None and current.run_id != holder.run_id:  # only once the run is over
                assert instance.get_run_by_id(holder.run_id).is_finished, f"{current} held it during the run"
            samples += 1
            time.sleep(0.05)
    assert samples > 100
    worker_out = output(worker)
    assert worker.returncode == 0, worker_out[-30:]
    steps = {line.split(" - STEP_START - ")[0].rsplit(" - ", 1)[1] for line in worker_out if " - STEP_START - " in line}
    assert steps == {
        "landing_extracts",
        "vrr_dbt_models",
        "disclosure_control",
        "published_warehouse",
        "quarterly_export",
    }
    headless_out = output(headless)
    assert headless.returncode == 0, headless_out[-30:]
    assert sum("the warehouse is in use by run " + holder.run_id in line for line in headless_out) == 1
    assert_figures_exact(run)
    assert leftovers(run) == []


def test_dagster_queues_vrr_pipeline_runs_one_at_a_time(tmp_path):
    """dagster.yaml (as make installs it) lets one run tagged as Dagster's vrr_pipeline run be in progress; the
    job's runs (schedule, sensor, UI) carry that tag (the headless runner's runs another value: see above)."""
    from pipeline.definitions import defs

    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.tag_concurrency_limits == [{"key": RUN_QUEUE_TAG, "value": "dagster", "limit": 1}]
        assert instance.get_concurrency_config().pool_config.default_pool_limit is None
    assert defs.resolve_job_def("vrr_pipeline").tags[RUN_QUEUE_TAG] == "dagster"
