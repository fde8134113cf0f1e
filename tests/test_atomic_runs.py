"""Nothing half-written: a file-level error or a kill -9 mid-run leaves the last good warehouse and exports exactly
as they were, and the next run succeeds. Late-arriving decisions release held requests; reloads change nothing."""

import hashlib
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from pipeline import contract
from pipeline.atomic import SUMS_NAME
from pipeline.settings import resolve_settings
from pipeline.synthetic import generate_sample
from tests import reference as ref
from tests.conftest import TEST_KEY, PipelineRun, packs_in, write_csv
from tests.headless import leftovers, output, sha256sum_check, snapshot, start_runner

D = list(contract.DECISION_COLUMNS)
R = list(contract.REQUEST_COLUMNS)


def decision(decision_id, decision_date="2024-01-05", outcome="15"):
    return [
        decision_id,
        f"CR{decision_id}",
        "AA",
        "19C",
        decision_date,
        outcome,
        "police",
        "Y",
        decision_date,
        f"V{decision_id}",
        "30",
        "F",
        "W1",
        "N",
        "",
        "",
    ]


def request(request_id, decision_id, request_date="2024-02-01"):
    return [request_id, decision_id, request_date, "police", "review", "", ""]


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


def semaphores_of(group: int) -> set[Path]:
    """The named semaphores (multiprocessing's, files in /dev/shm) that the processes of a process group have open."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != group:
                continue
            maps = (proc / "maps").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        for line in maps.splitlines():
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/dev/shm/sem."):
                found.add(Path(fields[5]))
    return found


def kill_9_when(run: PipelineRun, moment, what: str, settle: float = 0.0, args: tuple[str, ...] = ()) -> None:
    """Start the runner (with `args`) and kill -9 its whole process group (dbt included) at the moment given.

    A SIGKILL runs no clean-up, the multiprocessing resource tracker's included (it is in the group), so the
    semaphores the group holds would stay in /dev/shm for good: the group is stopped first, its semaphores noted,
    and they are removed once it is dead."""
    process = start_runner(run, *args)
    semaphores: set[Path] = set()
    try:
        deadline = time.monotonic() + 300
        while not moment():
            assert process.poll() is None, f"the run ended before {what}: {output(process)[-30:]}"
            assert time.monotonic() < deadline, f"{what} never came"
            time.sleep(0.005)
        time.sleep(settle)
        assert process.poll() is None, f"the run ended before it could be killed {what}"
        os.killpg(process.pid, signal.SIGSTOP)  # nothing in the group opens a semaphore between the look and the kill
        semaphores = semaphores_of(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        for semaphore in semaphores:
            semaphore.unlink(missing_ok=True)
    assert process.returncode == -signal.SIGKILL


def folder_sums(run: PipelineRun) -> dict[str, str]:
    """Each quarter folder's SHA256SUMS, after checking that every file in it matches them (sha256sum -c)."""
    sums = {}
    for folder in packs_in(run.exports).values():
        check = sha256sum_check(folder)
        assert check.returncode == 0, f"{folder.name}: {check.stdout}{check.stderr}"
        listed = {line.split("  ", 1)[1] for line in (folder / SUMS_NAME).read_text().splitlines()}
        files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert listed == files - {SUMS_NAME}, f"{folder.name}: files not in SHA256SUMS"
        sums[folder.name] = (folder / SUMS_NAME).read_text()
    return sums


def openable(run: PipelineRun) -> int:
    return run.query("select count(*) as n from marts.fct_vrr_decisions")[0]["n"]


def test_kill_9_at_any_point_leaves_every_pack_verifiable(tmp_path):
    """Killed in the ingest, in the dbt build, in disclosure control and in the export, on inputs that differ from
    the last good run's: the published warehouse and the analysts' copy stay openable and every quarter folder
    passes sha256sum -c, each wholly from the last good run or the new one; the next run succeeds and leaves nothing
    behind."""
    sample = tmp_path / "sample"
    generate_sample(sample)
    landing = tmp_path / "landing"
    landing.mkdir()
    newer = [p for p in sorted(sample.iterdir()) if p.stem.rsplit("_", 1)[1] > "2025-04-06"]
    for path in sorted(sample.iterdir()):
        if path not in newer:
            shutil.copy(path, landing / path.name)
    assert len(newer) == 4  # two later extract dates: the new input differs from the good run's
    run = PipelineRun(tmp_path, landing)
    assert run().success
    good_warehouse = snapshot(run)[str(run.warehouse)]
    good = folder_sums(run)
    assert len(good) > 20
    for path in newer:
        shutil.copy(path, landing / path.name)

    def building() -> bool:
        return bool(list(run.warehouse.parent.glob(".*.build-*")))

    kill_9_when(run, lambda: building() and not dbt_build_running(run.warehouse.parent), "in the ingest")
    assert snapshot(run)[str(run.warehouse)] == good_warehouse and folder_sums(run) == good and openable(run)

    # (the build file first: a cheap look that spares the scan of every process's command line until the ingest
    # has begun, while the run it watches needs the machine)
    kill_9_when(run, lambda: building() and dbt_build_running(run.warehouse.parent), "in the dbt build", settle=1.0)
    assert snapshot(run)[str(run.warehouse)] == good_warehouse and folder_sums(run) == good and openable(run)

    # in disclosure control, while the analysts' copy's large table is written beside the published copy: a full
    # refresh, whose copy is written whole (an incremental run's is brought up to date after the publish)
    analysts_copy = run.analysts_copy
    good_copy = hashlib.sha256(analysts_copy.read_bytes()).hexdigest()

    def staged(published: Path) -> list[Path]:  # a run's build of the file, beside it
        return list(published.parent.glob(f".{published.name}.build-*"))

    def copying_ahead() -> bool:  # the warehouse not yet published, the analysts' copy staged
        return bool(staged(run.warehouse)) and bool(staged(analysts_copy))

    kill_9_when(run, copying_ahead, "in disclosure control", args=("--full-refresh",))
    assert snapshot(run)[str(run.warehouse)] == good_warehouse and folder_sums(run) == good and openable(run)
    assert hashlib.sha256(analysts_copy.read_bytes()).hexdigest() == good_copy
    assert staged(analysts_copy)  # for the next run to remove

    kill_9_when(run, lambda: bool(list(run.exports.glob(".staging-*/*/SHA256SUMS"))), "in the export")
    assert snapshot(run)[str(run.warehouse)] != good_warehouse and openable(run)  # published before the export
    mixed = folder_sums(run)

    assert run().success
    assert leftovers(run) == []
    new = folder_sums(run)
    changed = [q for q in good if new[q] != good[q]]
    # the new extracts revise the latest quarters and complete two more (a pack whose figures they leave as they
    # were is not issued again)
    assert good.keys() <= new.keys() and len(changed) >= 3 and len(new.keys() - good.keys()) == 2
    assert all(mixed[q] in (good.get(q), new[q]) for q in mixed), "a quarter folder mixed files of two runs"
    assert openable(run) == len(ref.fct_vrr_decisions(landing))


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
    history = run.query(
        "select event, record_key, reason_code from marts.quarantine_history order by recorded_at, event"
    )
    assert history == [
        {"event": "quarantined", "record_key": "R2", "reason_code": "unknown_decision"},
        {"event": "released", "record_key": "R2", "reason_code": "unknown_decision"},
    ]

    # reloading the same folder changes nothing: same marts, no new history
    marts = (
        run.query("select * from marts.vrr_uptake order by all"),
        run.query("select * from marts.fct_vrr_decisions order by all"),
    )
    assert run().success
    assert (
        run.query("select * from marts.vrr_uptake order by all"),
        run.query("select * from marts.fct_vrr_decisions order by all"),
    ) == marts
    assert len(run.query("select * from marts.quarantine_history")) == 2
