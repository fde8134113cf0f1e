"""Every failure path of the headless runner ends with a readable message and the documented exit status:
1 for a failed run, 2 for a run refused before it starts. No traceback reaches the console for an expected error;
an unexpected one is written in full to the run's log, whose path is printed."""

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from pipeline import contract
from tests.conftest import ROOT, PipelineRun, write_csv
from tests.headless import UNCHANGED, last_lines, leftovers, run_runner, runner_env, snapshot
from tests.test_atomic_runs import D, R, decision, request

FAILED = f"vrr: the run failed; {UNCHANGED}"
REFUSED = f"vrr: the run did not start; {UNCHANGED}"


def no_traceback(lines: list[str]) -> bool:
    return not any(
        line.startswith("Traceback") or "Stack Trace" in line or line.lstrip().startswith('File "') for line in lines
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A landing folder whose run succeeded: each failure below must leave its warehouse and exports as they are."""
    tmp = tmp_path_factory.mktemp("failures")
    landing = tmp / "landing"
    write_csv(landing / "decisions_2024-03-01.csv", D, [decision(f"D{i}") for i in range(1, 8)])
    write_csv(landing / "vrr_requests_2024-03-01.csv", R, [request("R1", "D1")])
    run = PipelineRun(tmp, landing)
    status, lines = run_runner(run)
    assert status == 0, lines
    assert lines[-1].startswith("vrr: done.")
    return run


BAD_FILES = {
    "missing column": (
        "decisions_2024-04-01.csv",
        [c for c in D if c != "outcome_code"],
        "decisions_2024-04-01.csv: missing required column(s) outcome_code; expected columns: ",
    ),
    "repeated column": (
        "decisions_2024-04-01.csv",
        [*D, "decision_id"],
        "decisions_2024-04-01.csv: the header names column(s) decision_id more than once",
    ),
    "file dated after today": (
        "decisions_2031-01-01.csv",
        D,
        "decisions_2031-01-01.csv: the date in its name, 2031-01-01, is after today (",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_file_level_error_names_the_file_and_the_problem(published, case):
    name, header, message = BAD_FILES[case]
    before = snapshot(published)
    bad = write_csv(published.landing / name, header, [decision("D9")[: len(header)]])
    try:
        status, lines = run_runner(published)
    finally:
        bad.unlink()
    assert status == 1
    step, unchanged = last_lines(lines, 2)
    assert step.startswith(f"vrr: step landing_extracts failed: {message}")
    assert unchanged == FAILED
    assert no_traceback(lines)
    assert snapshot(published) == before
    assert leftovers(published) == []


def test_an_empty_landing_folder_fails_the_run(published, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = snapshot(published)
    status, lines = run_runner(published, VRR_LANDING_DIR=str(empty))
    assert status == 1
    assert last_lines(lines, 2) == [
        f"vrr: step landing_extracts failed: landing folder {empty} holds no decisions_*.csv or vrr_requests_*.csv "
        "extracts",
        FAILED,
    ]
    assert no_traceback(lines)
    assert snapshot(published) == before


def test_a_missing_landing_folder_refuses_to_start(published, tmp_path):
    before = snapshot(published)
    status, lines = run_runner(published, VRR_LANDING_DIR=str(tmp_path / "nowhere"))
    assert status == 2
    assert last_lines(lines, 2) == [
        f"vrr: the landing folder {tmp_path / 'nowhere'} (VRR_LANDING_DIR) does not exist or is not a folder.",
        REFUSED,
    ]
    assert no_traceback(lines)
    assert snapshot(published) == before


def test_a_real_folder_without_a_key_refuses_to_start(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    run = PipelineRun(tmp_path, landing, key=None)
    status, lines = run_runner(run)
    assert status == 2
    reason, refused = last_lines(lines, 2)
    assert reason.startswith("vrr: VRR_PSEUDONYM_KEY is not set")
    assert refused == REFUSED
    assert not run.warehouse.exists() and not run.warehouse.parent.exists()


def test_a_wrong_lock_wait_setting_refuses_to_start(published):
    status, lines = run_runner(published, VRR_LOCK_WAIT_SECONDS="half an hour")
    assert status == 2
    assert last_lines(lines, 2) == [
        "vrr: VRR_LOCK_WAIT_SECONDS must be a number of seconds (0 or more), not 'half an hour'.",
        REFUSED,
    ]


def test_an_unexpected_error_goes_to_the_log_with_its_traceback(tmp_path, published):
    """Something at VRR_WAREHOUSE_PATH that is not a DuckDB file: nothing the pipeline expects, so the console gets
    the error's own message and the log's path, the log the whole traceback, and the file is left as it was."""
    run = PipelineRun(tmp_path, published.landing)
    run.warehouse.parent.mkdir(parents=True)
    run.warehouse.write_bytes(b"this is not a DuckDB database\n" * 200)
    before = snapshot(run)
    status, lines = run_runner(run)
    assert status == 1
    found = last_lines(lines, 3)
    assert len(found) == 3, "\n".join(lines)
    where, step, unchanged = found
    prefix = "vrr: an unexpected error: its full traceback is in the run's log, "
    assert where.startswith(prefix)
    log = where.removeprefix(prefix)
    assert log.startswith(str(tmp_path / "dagster_home" / "logs"))
    assert step.startswith("vrr: step landing_extracts failed: ") and "Exception" in step
    assert unchanged == FAILED
    assert no_traceback(lines)
    text = Path(log).read_text(encoding="utf-8")
    assert "Stack Trace" in text and 'File "' in text and "pipeline/ingest.py" in text
    assert snapshot(run) == before
    assert leftovers(run) == []


def test_make_run_ends_with_the_same_readable_lines(published, tmp_path):
    """`make run` itself: a non-zero exit, and the runner's last lines just before make's own report."""
    empty = tmp_path / "empty"
    empty.mkdir()
    # as a person types it, not as a make started by `make test` (which would report itself as make[1])
    env = {
        k: v
        for k, v in runner_env(published, VRR_LANDING_DIR=str(empty)).items()
        if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    }
    done = subprocess.run(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode != 0
    lines = last_lines((done.stdout + done.stderr).splitlines(), 3)
    assert lines[0].startswith("vrr: step landing_extracts failed: landing folder ")
    assert lines[1] == FAILED
    assert lines[2].startswith("make: *** [Makefile:") and lines[2].endswith("Error 1")
    assert no_traceback(done.stdout.splitlines() + done.stderr.splitlines())


# --------------------------------------------------------------------------- the two file-level checks, directly


def test_a_file_dated_after_the_day_of_the_run_is_refused(tmp_path):
    write_csv(tmp_path / "decisions_2025-01-06.csv", D, [])
    write_csv(tmp_path / "vrr_requests_2031-01-01.csv", R, [])
    assert [e.name for e in contract.scan_landing(tmp_path, today=dt.date(2031, 1, 1)).extracts] == [
        "decisions_2025-01-06.csv",
        "vrr_requests_2031-01-01.csv",
    ]
    with pytest.raises(contract.ExtractError) as refused:
        contract.scan_landing(tmp_path, today=dt.date(2030, 12, 31))
    assert str(refused.value) == (
        "vrr_requests_2031-01-01.csv: the date in its name, 2031-01-01, is after today (2030-12-31). "
        "Correct the file name (a mistyped year?) and run again."
    )


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    # the same name after trimming and case-folding counts as the same column, extra columns included
    path = write_csv(
        tmp_path / "vrr_requests_2025-01-06.csv",
        [*R[:2], " Decision_ID", *R[2:], "note", "NOTE"],
        [["R1", "D1", "D1", "2025-01-01", "police", "", "", "", "x", "y"]],
    )
    extract = contract.scan_landing(tmp_path, today=dt.date(2025, 1, 6)).extracts[0]
    with pytest.raises(contract.ExtractError) as refused:
        contract.read_extract(extract)
    assert (
        str(refused.value) == "vrr_requests_2025-01-06.csv: the header names column(s) decision_id, note more than once"
    )
    path.write_text(",".join(R) + "\nR1,D1,2025-01-01,police,,,\n", encoding="utf-8")
    parsed = contract.read_extract(extract)
    assert parsed.header == list(R) and len(parsed.record_lines) == 1
