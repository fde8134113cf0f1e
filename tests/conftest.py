"""Shared fixtures: the dbt manifest, an isolated Dagster instance, and a helper that runs the whole job."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
TEST_KEY = "test-pseudonym-key"

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def pytest_sessionstart(session):
    """Prepare the dbt manifest before any test imports the definitions (nothing parses at import time)."""
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run([str(dbt if dbt.exists() else "dbt"), "parse", "--quiet"], cwd=DBT_DIR, check=True)


class PipelineRun:
    """Runs the whole job on a landing folder into a private warehouse and export folder."""

    def __init__(self, tmp: Path, landing: Path | None, key: str | None = TEST_KEY):
        self.tmp = tmp
        self.landing = landing
        self.warehouse = tmp / "warehouse" / "vrr.duckdb"
        self.exports = tmp / "exports"
        self.key = key

    def env(self) -> dict[str, str]:
        env = {"VRR_WAREHOUSE_PATH": str(self.warehouse), "VRR_EXPORT_DIR": str(self.exports)}
        if self.landing is not None:
            env["VRR_LANDING_DIR"] = str(self.landing)
        if self.key:
            env["VRR_PSEUDONYM_KEY"] = self.key
        return env

    @contextlib.contextmanager
    def environment(self):
        """The process environment of a run: this run's locations and key, nothing else of VRR_*."""
        names = ("VRR_LANDING_DIR", "VRR_WAREHOUSE_PATH", "VRR_EXPORT_DIR", "VRR_PUBLISHED_PATH", "VRR_PSEUDONYM_KEY")
        saved = {k: os.environ.pop(k, None) for k in names}
        os.environ.update(self.env())
        try:
            yield
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None)
                if v is not None:
                    os.environ[k] = v

    def instance(self):
        """A real Dagster instance in the test's folder, so its run storage and logs can be inspected afterwards."""
        import dagster as dg

        (self.tmp / "dagster_home").mkdir(exist_ok=True)
        return dg.DagsterInstance.local_temp(str(self.tmp / "dagster_home"))

    def __call__(self, first: str | None = None, last: str | None = None, full_refresh: bool = False):
        from pipeline.run import run_job

        with self.environment(), self.instance() as instance:
            return run_job(instance, first, last, full_refresh=full_refresh)

    def query(self, sql: str, params=None) -> list[dict]:
        import duckdb

        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The whole job once on the synthetic sample, shared by every test that only reads what it built."""
    from pipeline.synthetic import generate_sample

    tmp = tmp_path_factory.mktemp("sample")
    landing = tmp / "landing"
    generate_sample(landing)
    run = PipelineRun(tmp, landing)
    result = run()
    assert result.success
    return run


@pytest.fixture
def pipeline_run(tmp_path):
    def make(landing: Path | None, key: str | None = TEST_KEY) -> PipelineRun:
        return PipelineRun(tmp_path, landing, key)

    return make


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """Write a small extract by hand (tests build their landing folders with this)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)
    return path
