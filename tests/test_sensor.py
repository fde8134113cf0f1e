"""The landing-folder sensor: a run for a new, changed or removed extract; nothing for an identical re-delivery."""

import os
import time

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipeline.definitions import defs
from pipeline.schedules import RUN_QUEUE_TAG
from pipeline.sensors import SETTLE_SECONDS, landing_folder_sensor
from tests.conftest import TEST_KEY, write_csv

HEADER = [
    "decision_id",
    "crime_reference",
    "force_code",
    "decision_date",
    "outcome_code",
    "decision_maker",
    "victim_id",
]


def deliver(folder, name, rows, age=SETTLE_SECONDS + 5):
    """Write an extract as if it had been delivered `age` seconds ago (settled)."""
    path = write_csv(folder / name, HEADER, rows)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def tick(monkeypatch, folder, cursor):
    """One evaluation of the sensor with the landing folder at `folder`; returns (result, new cursor)."""
    monkeypatch.setenv("VRR_LANDING_DIR", str(folder))
    monkeypatch.setenv("VRR_PSEUDONYM_KEY", TEST_KEY)
    with dg.build_sensor_context(cursor=cursor, definitions=defs) as context:
        result = landing_folder_sensor.evaluate_tick(context)
        return result, result.cursor


def test_sensor_is_in_the_code_location():
    sensor = defs.resolve_sensor_def("landing_folder_sensor")
    assert sensor.job_name == "vrr_pipeline"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert "VRR_LANDING_DIR" in sensor.description


def test_new_changed_and_repeated_extracts(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    landing.mkdir()
    deliver(landing, "decisions_2024-07-10.csv", [["D1", "C1", "AA", "2024-05-01", "16", "police", "V1"]])
    (landing / "notes.txt").write_text("not an extract")

    # a new extract: one run over every quarter, queued like any run launched through Dagster
    result, cursor = tick(monkeypatch, landing, None)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags[RUN_QUEUE_TAG] == "dagster"
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2013-04"
    assert ASSET_PARTITION_RANGE_END_TAG in request.tags
    assert "new: decisions_2024-07-10.csv" in request.tags["vrr/landing_change"]

    # the same files again (and the same bytes re-delivered under the same name, touched): nothing
    result, cursor = tick(monkeypatch, landing, cursor)
    assert not result.run_requests and result.skip_message
    deliver(landing, "decisions_2024-07-10.csv", [["D1", "C1", "AA", "2024-05-01", "16", "police", "V1"]], age=600)
    result, cursor = tick(monkeypatch, landing, cursor)
    assert not result.run_requests

    # changed content under the same name: a run
    deliver(landing, "decisions_2024-07-10.csv", [["D1", "C1", "AA", "2024-05-02", "16", "police", "V1"]], age=300)
    result, cursor = tick(monkeypatch, landing, cursor)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags["vrr/landing_change"] == "changed: decisions_2024-07-10.csv"
    first_key = result.run_requests[0].run_key

    # a second extract arrives: a run, with a run key of its own
    deliver(landing, "vrr_requests_2024-07-10.csv", [["R1", "D1", "2024-06-01", "police"]])
    result, cursor = tick(monkeypatch, landing, cursor)
    assert len(result.run_requests) == 1 and result.run_requests[0].run_key != first_key

    # an extract removed: a run (its rows leave the warehouse)
    (landing / "vrr_requests_2024-07-10.csv").unlink()
    result, cursor = tick(monkeypatch, landing, cursor)
    assert result.run_requests[0].tags["vrr/landing_change"] == "removed: vrr_requests_2024-07-10.csv"


def test_a_file_still_being_written_is_waited_for(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_csv(landing / "decisions_2024-07-10.csv", HEADER, [["D1", "C1", "AA", "2024-05-01", "16", "police", "V1"]])
    result, cursor = tick(monkeypatch, landing, None)
    assert not result.run_requests and "Waiting for decisions_2024-07-10.csv" in result.skip_message
    assert cursor is None  # nothing recorded: the next tick sees it as new
    then = time.time() - SETTLE_SECONDS - 5
    os.utime(landing / "decisions_2024-07-10.csv", (then, then))
    result, cursor = tick(monkeypatch, landing, cursor)
    assert len(result.run_requests) == 1


def test_nothing_to_watch_without_a_landing_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("VRR_LANDING_DIR", raising=False)
    with dg.build_sensor_context(definitions=defs) as context:
        result = landing_folder_sensor.evaluate_tick(context)
    assert not result.run_requests and "synthetic sample" in result.skip_message
    # a real folder without the key: the run would refuse to start, so the sensor says why and waits
    monkeypatch.setenv("VRR_LANDING_DIR", str(tmp_path))
    monkeypatch.delenv("VRR_PSEUDONYM_KEY", raising=False)
    with dg.build_sensor_context(definitions=defs) as context:
        result = landing_folder_sensor.evaluate_tick(context)
    assert not result.run_requests and "VRR_PSEUDONYM_KEY" in result.skip_message
