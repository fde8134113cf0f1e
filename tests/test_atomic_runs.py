"""Nothing half-written: a file-level error or a kill -9 mid-run leaves the last good warehouse and exports exactly
as they were, and the next run succeeds. Late-arriving decisions release held requests; reloads change nothing."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import contract
from pipeline.settings import resolve_settings
from tests.conftest import ROOT, TEST_KEY, PipelineRun, write_csv

D = list(contract.DECISION_COLUMNS)
R = list(contract.REQUEST_COLUMNS)


def decision(decision_id, decision_date="2024-01-05", outcome="15"):
    return [decision_id, f"CR{decision_id}", "AA", "19C", decision_date, outcome, "police", "Y", decision_date,
            f"V{decision_id}", "30", "F", "W1", "N", "", ""]


def request(request_id, decision_id, request_date="2024-02-01"):
    return [request_id, decision_id, request_date, "police", "review", "", ""]


def snapshot(run: PipelineRun) -> dict[str, str]:
    files = [run.warehouse, *sorted(run.exports.rglob("*"))]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("atomic")
    landing = tmp / "landing"
    write_csv(landing / "decisions_2024-03-01.csv", D, [decision(f"D{i}") for i in range(1, 30)])
    write_csv(landing / "vrr_requests_2024-03-01.csv", R, [request("R1", "D1"), request("R2", "D2")])
    run = PipelineRun(tmp, landing)
    assert run().success
    return run


def test_a_file_level_error_publishes_nothing(good_run):
    before = snapshot(good_run)
    bad = good_run.landing / "decisions_2024-04-01.csv"
    bad.write_bytes(b"")
    try:
        result = good_run()
    finally:
        bad.unlink()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "landing_extracts"
    assert "decisions_2024-04-01.csv: the file is empty (zero bytes)" in str(failure.step_failure_data.error)
    assert snapshot(good_run) == before
    assert not list(good_run.warehouse.parent.glob(".*.build-*"))  # nothing was built for the failed run


def dbt_build_running(build_dir: Path) -> bool:
    """True while a dbt build into a warehouse build file of build_dir is running."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "dbt" in cmdline and " build " in cmdline and str(build_dir) in cmdline:
            return True
    return False


def test_kill_9_in_the_middle_of_the_dbt_build_changes_nothing(good_run):
    before = snapshot(good_run)
    # a new extract (a correction of D1), so the killed run is an incremental one: a run with nothing new builds nothing
    write_csv(good_run.landing / "decisions_2024-03-15.csv", D, [decision("D1", "2024-01-06")])
    env = {**os.environ, **good_run.env(), "DAGSTER_HOME": str(good_run.tmp / "dagster_home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.run"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not dbt_build_running(good_run.warehouse.parent):
            assert process.poll() is None, "the run ended before dbt started"
            assert time.monotonic() < deadline, "dbt never started"
            time.sleep(0.1)
        time.sleep(1.0)  # well into the build: seeds and models are being written into the build file
        assert dbt_build_running(good_run.warehouse.parent)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert list(good_run.warehouse.parent.glob(".*.build-*")), "the killed run left its half-built file"
    assert snapshot(good_run) == before
    # the next run succeeds and removes what the killed run left behind
    assert good_run().success
    assert not list(good_run.warehouse.parent.glob(".*.build-*"))
    assert good_run.query("select count(*) as n from marts.fct_vrr_decisions")[0]["n"] == 29


def test_a_real_folder_without_a_key_refuses_to_start(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "VRR_PSEUDONYM_KEY"}
    env.update(VRR_LANDING_DIR=str(landing), VRR_WAREHOUSE_PATH=str(tmp_path / "w.duckdb"),
               DAGSTER_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "pipeline.run"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "VRR_PSEUDONYM_KEY is not set" in done.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_the_sample_uses_a_demo_key_and_says_so():
    settings = resolve_settings({})
    assert settings.uses_sample and settings.uses_demo_key
    with pytest.raises(RuntimeError, match="VRR_PSEUDONYM_KEY is not set"):
        resolve_settings({"VRR_LANDING_DIR": "/somewhere"})
    assert not resolve_settings({"VRR_LANDING_DIR": "/somewhere", "VRR_PSEUDONYM_KEY": TEST_KEY}).uses_demo_key


def test_late_arriving_decision_releases_the_held_request(tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing / "decisions_2024-03-01.csv", D, [decision("D1")])
    write_csv(landing / "vrr_requests_2024-03-01.csv", R, [request("R1", "D1"), request("R2", "D2")])
    run = PipelineRun(tmp_path, landing)
    assert run().success
    held = run.query("select record_key, reason_code from marts.quarantine")
    assert held == [{"record_key": "R2", "reason_code": "unknown_decision"}]

    # the decision arrives in a later extract: the request loads and leaves quarantine
    write_csv(landing / "decisions_2024-04-01.csv", D, [decision("D1"), decision("D2", "2024-01-20")])
    assert run().success
    assert run.query("select * from marts.quarantine") == []
    fct = {r["decision_id"]: r for r in run.query("select decision_id, requests from marts.fct_vrr_decisions")}
    assert fct["D2"]["requests"] == 1
    history = run.query("select event, record_key, reason_code from marts.quarantine_history order by recorded_at, event")
    assert history == [
        {"event": "quarantined", "record_key": "R2", "reason_code": "unknown_decision"},
        {"event": "released", "record_key": "R2", "reason_code": "unknown_decision"},
    ]

    # reloading the same folder changes nothing: same marts, no new history
    marts = run.query("select * from marts.vrr_uptake order by all"), run.query("select * from marts.fct_vrr_decisions order by all")
    assert run().success
    assert (run.query("select * from marts.vrr_uptake order by all"),
            run.query("select * from marts.fct_vrr_decisions order by all")) == marts
    assert len(run.query("select * from marts.quarantine_history")) == 2
