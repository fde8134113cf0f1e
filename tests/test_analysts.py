"""The analysts' copy of the warehouse: an older DuckDB opens it and reads every mart, the marts are listed by a
newcomer's first command, comments survive, and marts.about says what the file is. Its large table, written while
disclosure control runs, gives the same copy as one written whole after the publish, and a failure leaves nothing."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROOT, PipelineRun, copy_contents
from tests.headless import leftovers

CLIENT = Path(sys.executable).parent / "duckdb"  # the duckdb-cli package: DuckDB's own shell, an older release
MARTS = (
    "characteristics_completeness",
    "fct_vrr_decisions",
    "nfa_notification_timeliness",
    "victim_withdrawal",
    "victim_withdrawal_rate",
    "vrr_requests_by_period",
    "vrr_uptake",
    "vrr_uptake_rolling",
    "disclosure_log",
)


def cli(path: Path, sql: str) -> list[dict]:
    """Run SQL in the command-line client on the file, read-only; rows as dicts."""
    done = subprocess.run(
        [str(CLIENT), "-readonly", "-json", str(path), "-c", sql], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "[]")


@pytest.fixture(scope="module")
def copy(sample_run) -> Path:
    path = sample_run.analysts_copy
    assert path.exists()
    return path


def test_the_client_is_older_than_the_project_duckdb(copy):
    older = cli(copy, "select version() as v")[0]["v"]
    own = duckdb.__version__
    assert tuple(int(p) for p in older.lstrip("v").split(".")[:2]) < tuple(int(p) for p in own.split(".")[:2])
    # the warehouse itself is in the newer format, which the older client refuses: hence the copy
    done = subprocess.run(
        [str(CLIENT), "-readonly", str(copy.with_name("vrr.duckdb")), "-c", "select 1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0


def test_an_older_duckdb_reads_every_mart_as_the_warehouse_holds_it(sample_run, copy):
    for mart in MARTS:
        expected = sample_run.query(f"select * from marts.{mart} order by all")
        got = cli(copy, f"select * from marts.{mart} order by all")
        assert len(got) == len(expected) > 0, mart
        columns = list(expected[0])
        assert list(got[0]) == columns, mart
        # JSON carries dates as text and numbers as numbers: compare on the text of each value
        for mine, theirs in zip(expected, got, strict=True):
            for column in columns:
                value, other = mine[column], theirs[column]
                if isinstance(value, float):
                    assert other == pytest.approx(value, rel=1e-12), (mart, column)
                else:
                    assert (None if value is None else str(value).lower()) == (
                        None if other is None else str(other).lower()
                    ), (mart, column)


def test_show_tables_lists_the_marts(copy):
    listed = {row["name"] for row in cli(copy, "show tables")}
    assert set(MARTS) <= listed
    assert cli(copy, "select count(*) as n from vrr_uptake")[0]["n"] > 0


def test_comments_survive(sample_run, copy):
    expected = {
        (r["table_name"], r["column_name"]): r["comment"]
        for r in sample_run.query(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts' "
            "and comment is not null"
        )
    }
    got = {
        (r["table_name"], r["column_name"]): r["comment"]
        for r in cli(
            copy,
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts' "
            "and comment is not null",
        )
    }
    assert len(expected) > 100
    assert {k: v for k, v in got.items() if k[0] != "about"} == expected
    tables = {
        r["table_name"]: r["comment"]
        for r in sample_run.query("select table_name, comment from duckdb_tables() where schema_name = 'marts'")
    }
    got_tables = {
        r["table_name"]: r["comment"]
        for r in cli(copy, "select table_name, comment from duckdb_tables() where schema_name = 'marts'")
    }
    assert {k: v for k, v in got_tables.items() if k != "about"} == tables


def test_about_says_what_the_file_is(sample_run, copy):
    about = {r["item"]: r["value"] for r in cli(copy, "select item, value from marts.about")}
    as_at = sample_run.query("select max(extract_date)::varchar as d from raw.extract_files")[0]["d"]
    assert about["as_at_date"] == as_at
    assert about["disclosure.threshold"] == "5"
    assert about["run_id"] and about["code_version"]
    rules = sample_run.query("select count(*) as n from reference.vrr_eligibility_rules")[0]["n"]
    assert sum(k.startswith("eligibility_rule.") for k in about) == rules
    assert {"counting_basis.cohort", "counting_basis.rolling", "counting_basis.period"} <= set(about)


def test_make_sql_opens_the_copy_read_only(sample_run, copy):
    env = {**os.environ, "VRR_WAREHOUSE_PATH": str(sample_run.warehouse)}
    env.pop("VRR_PUBLISHED_PATH", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.sql", "-c", "show tables"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "vrr_uptake_rolling" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.sql", "-c", "create table marts.x (a int)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "read-only" in (done.stdout + done.stderr).lower()


def test_make_sql_finds_the_copy_where_a_run_writes_it(tmp_path, monkeypatch):
    """Without the key (reading the copy needs none), from the same variables a run reads."""
    from pipeline.settings import analysts_path, resolve_settings

    monkeypatch.chdir(tmp_path)
    cases = [
        ({"VRR_WAREHOUSE_PATH": "/srv/vrr/vrr.duckdb"}, Path("/srv/vrr/vrr_published.duckdb")),
        ({"VRR_WAREHOUSE_PATH": "w/vrr.duckdb"}, tmp_path / "w" / "vrr_published.duckdb"),
        (
            {"VRR_WAREHOUSE_PATH": "/srv/vrr/vrr.duckdb", "VRR_PUBLISHED_PATH": "share/marts.duckdb"},
            tmp_path / "share" / "marts.duckdb",
        ),
        ({}, ROOT / "data" / "warehouse" / "vrr_published.duckdb"),
    ]
    for env, expected in cases:
        assert analysts_path(env) == expected
        assert resolve_settings(env).analysts_path == expected


AHEAD = "written whole (marts.fct_vrr_decisions while disclosure control ran)"


def test_a_full_run_writes_the_large_table_while_disclosure_control_runs(sample_run):
    import dagster as dg

    with sample_run.instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("published_warehouse"))
    assert event.asset_materialization.metadata["analysts_copy_made"].value == AHEAD


def test_the_large_table_written_ahead_gives_the_copy_a_whole_copy_gives(sample_run, tmp_path):
    """copied_ahead on the build's connection while the body works on the same database, then write_copy: the same
    catalogue, comments and rows as a copy written whole, and the older client reads it. A body that fails, a write
    that fails, and a staged file holding anything else leave nothing of it, or a copy written whole afresh."""
    from pipeline import analysts

    build = tmp_path / "build.duckdb"
    shutil.copyfile(sample_run.warehouse, build)
    about = [("item", "value")]
    whole = tmp_path / "whole.duckdb"
    assert analysts.write_copy(build, whole, "r0", about)[1] == "written whole"
    expected = copy_contents(whole)
    decisions = sample_run.query("select count(*) as n from marts.fct_vrr_decisions")[0]["n"]
    assert ("marts", "fct_vrr_decisions", decisions) in expected["rows"] and decisions > 1000

    ahead = tmp_path / "ahead.duckdb"
    with duckdb.connect(str(build)) as con, analysts.copied_ahead(con, ahead, "r1"):
        # the body's own work on the same database meanwhile, as disclosure control's, in a transaction that writes
        # and looks at the catalogue, open until the write is done (DuckDB will not checkpoint the copy then)
        con.execute("begin")
        con.execute("create table marts.written_meanwhile as select * from marts.vrr_uptake")
        assert con.execute("select count(*) from duckdb_tables()").fetchone()[0] > 10
        while any(thread.name == "analysts-copy-ahead" for thread in threading.enumerate()):
            time.sleep(0.01)
        con.execute("rollback")
    staged = analysts.staging_path(ahead, "r1")
    assert staged.exists() and not ahead.exists()
    rows, how = analysts.write_copy(build, ahead, "r1", about)
    assert how == AHEAD and rows["marts.fct_vrr_decisions"] == decisions
    assert not staged.exists()
    assert copy_contents(ahead) == expected
    assert cli(ahead, "select count(*) as n from fct_vrr_decisions")[0]["n"] == decisions

    # the body fails: the write is stopped, the staged file removed, the body's error raised
    failing = pytest.raises(RuntimeError, match="disclosure control failed")
    with failing, duckdb.connect(str(build)) as con, analysts.copied_ahead(con, ahead, "r2"):
        raise RuntimeError("disclosure control failed")
    assert not list(tmp_path.glob(".ahead.duckdb.build-*"))
    # the write fails (a database without the mart): its error raised after the body, the staged file removed
    failing = pytest.raises(duckdb.CatalogException, match="fct_vrr_decisions")
    with failing, duckdb.connect(str(tmp_path / "empty.duckdb")) as con, analysts.copied_ahead(con, ahead, "r3"):
        pass
    assert not list(tmp_path.glob(".ahead.duckdb.build-*"))
    # a staged file holding more than the large table (say, a write of the rest that failed part way)
    with duckdb.connect(str(build)) as con, analysts.copied_ahead(con, ahead, "r4"):
        pass
    with duckdb.connect(str(analysts.staging_path(ahead, "r4"))) as con:
        con.execute("create table marts.partial as select 1 as x")
    assert analysts.write_copy(build, ahead, "r4", about)[1] == "written whole"
    assert copy_contents(ahead) == expected


def test_a_run_that_fails_after_the_large_table_was_written_leaves_nothing(sample_run, tmp_path, monkeypatch):
    from pipeline import warehouse

    def fail(*args, **kwargs):
        raise RuntimeError("the publish failed")

    monkeypatch.setattr(warehouse, "publish", fail)
    run = PipelineRun(tmp_path, sample_run.landing)
    result = run()
    assert not result.success
    assert not run.warehouse.exists() and not run.analysts_copy.exists()
    assert leftovers(run) == []
