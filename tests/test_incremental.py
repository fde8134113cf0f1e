"""Incremental runs: only new or changed extracts are read, the incremental models rebuild exactly the quarters the
new rows touch (also a quarter a correction moves a record out of), and the marts equal those of a full refresh,
both ways. A run with nothing new builds nothing and changes nothing."""

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest

from pipeline import contract
from tests.conftest import PipelineRun, copy_contents, write_csv

D = list(contract.DECISION_COLUMNS)
R = list(contract.REQUEST_COLUMNS)


def decision(decision_id, decision_date, outcome="15", force="AA"):
    return [
        decision_id,
        f"CR{decision_id}",
        force,
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


def request(request_id, decision_id, request_date):
    return [request_id, decision_id, request_date, "police", "review", "", ""]


FIRST = [
    decision("D1", "2024-01-05"),
    decision("D2", "2023-11-10"),
    decision("D3", "2023-12-20", force="BB"),
    decision("D4", "2024-02-01"),
    decision("D7", "2023-08-01"),
]  # D7: the only decision of July-September 2023
SECOND = [
    decision("D1", "2024-01-05"),
    decision("D2", "2024-04-10"),  # corrected: October-December 2023 -> April-June 2024
    decision("D4", "2024-02-01", outcome="14"),
    decision("D5", "2024-05-02"),  # new
    decision("D7", "2024-05-01"),
]  # corrected: its old quarter is left empty


def marts_and_raw(run: PipelineRun) -> dict[str, list]:
    """Every mart and raw table, rows sorted, without the columns that name the run or the time."""
    tables = run.query(
        "select table_schema as s, table_name as t from information_schema.tables "
        "where table_schema in ('marts', 'raw') "
        "and table_name not in ('quarantine_history', 'affected_quarters', 'touched_decisions', 'build_origin') "
        "order by 1, 2"
    )
    out = {}
    for table in tables:
        columns = [
            c["column_name"]
            for c in run.query(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [table["s"], table["t"]],
            )
            if c["column_name"] not in ("run_id", "recorded_at")
        ]
        out[f"{table['s']}.{table['t']}"] = run.query(
            f"select {', '.join(columns)} from {table['s']}.{table['t']} order by all"
        )
    return out


def build_kind(result) -> str:
    """Whether the run's ingest made a full or an incremental build, as its materialisation says."""
    files = next(
        m
        for m in result.asset_materializations_for_node("landing_extracts")
        if m.asset_key.path == ["raw_extract_files"]
    ).metadata
    return files["build"].value


def digest(run: PipelineRun) -> dict[str, str]:
    files = [run.warehouse, *sorted(p for p in run.exports.rglob("*") if p.is_file())]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    landing = tmp / "landing"
    write_csv(landing / "decisions_2024-03-01.csv", D, FIRST)
    write_csv(landing / "vrr_requests_2024-03-01.csv", R, [request("R1", "D1", "2024-02-01")])
    run = PipelineRun(tmp, landing)
    assert run().success
    first_copy = tmp / "first_copy.duckdb"  # the analysts' copy of the first warehouse, kept for a test below
    shutil.copyfile(run.analysts_copy, first_copy)
    # a new extract of each kind, and a changed file: the first extract re-sent with one more decision
    write_csv(landing / "decisions_2024-06-01.csv", D, SECOND)
    write_csv(
        landing / "vrr_requests_2024-06-01.csv",
        R,
        [
            request("R1", "D4", "2024-02-02"),  # R1 moves to D4
            request("R2", "D5", "2024-05-20"),
        ],
    )
    write_csv(landing / "decisions_2024-03-01.csv", D, [*FIRST, decision("D8", "2022-05-05")])
    second = run()
    assert second.success
    return run, second


def test_only_the_affected_quarters_are_rebuilt(runs):
    run, second = runs
    assert build_kind(second) == "incremental"
    metadata = second.asset_materializations_for_node("landing_extracts")
    read = next(m for m in metadata if m.asset_key.path == ["raw_decisions"]).metadata["files_read_this_run"].value
    assert read == ["decisions_2024-03-01.csv", "decisions_2024-06-01.csv"]
    quarters = [r["period_start"] for r in run.query("select period_start from raw.affected_quarters")]
    # every decision of the changed first file and the new second one; D7's and D2's old quarters included
    assert quarters == [
        dt.date(2022, 4, 1),
        dt.date(2023, 7, 1),
        dt.date(2023, 10, 1),
        dt.date(2024, 1, 1),
        dt.date(2024, 4, 1),
    ]
    fct = {
        r["decision_id"]: r
        for r in run.query("select decision_id, period_start, requests, outcome_code from marts.fct_vrr_decisions")
    }
    assert {k: (v["period_start"], v["requests"]) for k, v in fct.items()} == {
        "D1": (dt.date(2024, 1, 1), 0),
        "D2": (dt.date(2024, 4, 1), 0),
        "D3": (dt.date(2023, 10, 1), 0),
        "D4": (dt.date(2024, 1, 1), 1),
        "D5": (dt.date(2024, 4, 1), 1),
        "D7": (dt.date(2024, 4, 1), 0),
        "D8": (dt.date(2022, 4, 1), 0),
    }
    assert fct["D4"]["outcome_code"] == "14"
    assert run.query("select * from marts.vrr_uptake where period_start = '2023-07-01'") == []


def up_to_date_and_whole(run: PipelineRun, published_before: Path, tmp_path: Path):
    """The analysts' copy of the warehouse the last build started from (`published_before`), brought up to date from
    that build, and a whole copy of it: checked equal. Returns their paths, the origin and the about rows."""
    from pipeline import analysts, warehouse

    origin = run.query("select warehouse_identity from raw.build_origin")[0]["warehouse_identity"]
    about = [("item", "value")]
    updated, whole = tmp_path / "updated.duckdb", tmp_path / "whole.duckdb"
    shutil.copyfile(published_before, updated)
    note = f"{origin} {analysts.code_fingerprint()} {warehouse.warehouse_identity(updated)}\n"
    analysts.marker_path(updated).write_text(note)  # as the run that made the copy left it
    _, how = analysts.write_copy(run.warehouse, updated, "r1", about, built_on=origin, compact_free_share=1.0)
    assert how == "brought up to date"
    _, how = analysts.write_copy(run.warehouse, whole, "r2", about)
    assert how == "written whole"
    assert copy_contents(updated) == copy_contents(whole)
    return updated, whole, origin, about


def test_the_analysts_copy_is_brought_up_to_date_to_what_a_whole_copy_holds(runs, tmp_path):
    """After an incremental build, the copy of the warehouse it was built on is brought up to date (only the
    rebuilt decisions of fct_vrr_decisions rewritten) and then holds exactly what a whole copy holds."""
    import duckdb

    from pipeline import analysts, warehouse

    run, second = runs
    made = second.asset_materializations_for_node("published_warehouse")[0].metadata["analysts_copy_made"].value
    assert made.startswith(("brought up to date", "written whole"))
    updated, whole, origin, about = up_to_date_and_whole(run, run.tmp / "first_copy.duckdb", tmp_path)
    assert ("marts", "fct_vrr_decisions", 7) in copy_contents(updated)["rows"]
    fingerprint = analysts.code_fingerprint()

    def note(source=origin, code=fingerprint):  # what the copy's note says after a run that copied `source`
        analysts.marker_path(updated).write_text(f"{source} {code} {warehouse.warehouse_identity(updated)}\n")

    # a copy made from another warehouse, or by other code, or changed since, is written whole
    note(source="0:0")
    assert analysts.write_copy(run.warehouse, updated, "r3", about, built_on=origin)[1] == "written whole"
    assert copy_contents(updated) == copy_contents(whole)
    note(code="0" * 64)
    assert analysts.write_copy(run.warehouse, updated, "r4", about, built_on=origin)[1] == "written whole"
    note()
    with duckdb.connect(str(updated)) as con:
        con.execute("delete from marts.fct_vrr_decisions where decision_id = 'D3'")  # an analyst's change
    assert analysts.write_copy(run.warehouse, updated, "r5", about, built_on=origin)[1] == "written whole"
    assert copy_contents(updated) == copy_contents(whole)


def test_a_run_with_nothing_new_builds_nothing(runs):
    run, _ = runs
    before = digest(run)
    history = run.query("select count(*) as n from audit.quarantine_history")
    result = run()
    assert result.success
    assert result.asset_materializations_for_node("landing_extracts") == []
    skipped = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert {"vrr_dbt_models", "published_warehouse", "quarterly_export"} <= skipped
    assert digest(run) == before
    assert run.query("select count(*) as n from audit.quarantine_history") == history


def test_incremental_and_full_builds_give_identical_marts(runs, tmp_path):
    """The warehouse built incrementally, then rebuilt by the documented full refresh from every extract: every
    mart and raw table is the same. The last incremental run brings only a requests extract, which moves a request
    between two decisions that no decisions extract of the run holds and adds one to an old decision: only the
    decisions its requests name are rebuilt, and the rest keep their rows."""
    run, _ = runs
    published_before = tmp_path / "published_before.duckdb"
    shutil.copyfile(run.analysts_copy, published_before)
    write_csv(
        run.landing / "vrr_requests_2024-09-01.csv",
        R,
        [
            request("R1", "D3", "2024-01-10"),  # R1 moves again: from D4 to D3
            request("R3", "D8", "2022-06-01"),  # a first request on a decision of 2022
        ],
    )
    assert run().success
    # R1 named D1, then D4, now D3: all three are touched, with D8; D2, D5 and D7 keep the rows they had
    assert {r["decision_id"] for r in run.query("select decision_id from raw.touched_decisions")} == {
        "D1",
        "D3",
        "D4",
        "D8",
    }
    requests = {r["decision_id"]: r["requests"] for r in run.query("select * from marts.fct_vrr_decisions")}
    assert requests == {"D1": 0, "D2": 0, "D3": 1, "D4": 0, "D5": 1, "D7": 0, "D8": 1}
    up_to_date_and_whole(run, published_before, tmp_path)
    incremental = marts_and_raw(run)
    assert incremental["marts.fct_vrr_decisions"] and incremental["marts.vrr_uptake"]
    result = run(full_refresh=True)
    assert result.success
    assert build_kind(result) == "full"
    assert marts_and_raw(run) == incremental
