"""Run history survives a restart of `make dev`: the instance keeps it in SQLite under $DAGSTER_HOME."""

import os
import subprocess

import dagster as dg

from tests.conftest import ROOT, PipelineRun


@dg.asset
def trivial() -> int:
    return 1


def instance_at(home):
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return dg.DagsterInstance.from_config(str(home))


def test_run_history_is_kept_under_dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with instance_at(home) as instance:
        assert not instance.is_ephemeral
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        run_id = dg.materialize([trivial], instance=instance).run_id
    assert (home / "history" / "runs.db").is_file()
    # a fresh instance on the same home (the next `make dev`) sees the run and its events
    with instance_at(home) as again:
        run = again.get_run_by_id(run_id)
        assert run is not None and run.is_success
        assert again.get_latest_materialization_event(dg.AssetKey("trivial")).run_id == run_id


def test_make_dev_uses_the_project_instance(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "dev", f"DAGSTER_HOME={home}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"cp dagster.yaml {home}/dagster.yaml" in out
    assert "dagster dev -w workspace.yaml" in out
    # without DAGSTER_HOME, make sets it to a folder in the project (never a temporary one) and copies dagster.yaml
    # there
    env.pop("DAGSTER_HOME", None)
    out = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", "dev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"cp dagster.yaml {ROOT}/.dagster_home/dagster.yaml" in out


def test_telemetry_is_off_in_the_project_instance_and_in_the_tests(tmp_path, monkeypatch):
    """Dagster records each step's telemetry events in $DAGSTER_HOME/logs/event.log when its instance has telemetry
    on: neither the project's instance (dagster.yaml) nor the one every test's pipeline run uses records any."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with instance_at(home) as instance:
        assert not instance.telemetry_enabled
        assert dg.materialize([trivial], instance=instance).success
    (tmp_path / "tests").mkdir()
    with PipelineRun(tmp_path / "tests", None).instance() as instance:
        assert not instance.telemetry_enabled
        assert dg.materialize([trivial], instance=instance).success
    assert not (home / "logs").exists()
    # (the check itself: an instance with telemetry on does record the events there)
    (tmp_path / "other").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "other")) as instance:
        assert dg.materialize([trivial], instance=instance).success
    assert (home / "logs" / "event.log").is_file()
