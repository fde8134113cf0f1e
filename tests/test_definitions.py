"""The code location loads, with its assets, checks, partitions, job and schedule."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from pipeline.definitions import defs
from pipeline.partitions import export_label, quarter_just_ended, quarterly, quarters_in_window
from pipeline.transform import dbt_build_args


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_asset_graph_is_one_connected_chain():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    # dbt assets are keyed by schema and name, as analysts query them: marts/vrr_uptake is marts.vrr_uptake
    assert {
        "raw_decisions",
        "raw_vrr_requests",
        "raw_extract_files",
        "marts/fct_vrr_decisions",
        "marts/vrr_uptake",
        "published_warehouse",
        "quarterly_export",
        "reference/vrr_eligibility_rules",
    } <= keys
    staging = graph.get(dg.AssetKey(["staging", "stg_landing__decisions"]))
    assert dg.AssetKey("raw_decisions") in staging.parent_keys
    assert dg.AssetKey("published_warehouse") in graph.get(dg.AssetKey("quarterly_export")).parent_keys
    assert graph.get(dg.AssetKey(["marts", "vrr_uptake"])).group_name == "marts"


def test_dbt_tests_and_reconciliation_are_asset_checks():
    graph = defs.resolve_asset_graph()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("raw_decisions", "rows_reconcile") in checks
    assert ("raw_vrr_requests", "rows_reconcile") in checks
    assert any(a == "marts/vrr_uptake" and "unique_combination" in n for a, n in checks)
    assert any(a == "marts/fct_vrr_decisions" and n.startswith("unique_") for a, n in checks)


def test_quarterly_partitions():
    assert quarterly.timezone == "Europe/London"
    keys = quarterly.get_partition_keys(current_time=dt.datetime(2025, 5, 1, tzinfo=ZoneInfo("Europe/London")))
    assert keys[0] == "2013-04"
    assert keys[-1] == "2025-04"  # end_offset=1: the quarter in progress is a partition too
    assert keys[-2:] == ["2025-01", "2025-04"]


def test_export_is_partitioned_and_the_job_covers_everything():
    job = defs.resolve_job_def("vrr_pipeline")
    assert job.partitions_def == quarterly
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("quarterly_export")).partitions_def == quarterly


def test_every_run_has_its_steps_in_the_run_process():
    """The chain is linear: the steps share the run's process, in the job and in any other materialisation of the
    assets (the UI test sees it in a real run)."""
    assert defs.resolve_job_def("vrr_pipeline").executor_def is dg.in_process_executor
    assert defs.resolve_implicit_global_asset_job_def().executor_def is dg.in_process_executor


def test_schedule_exports_the_quarter_just_ended():
    schedule = defs.resolve_schedule_def("quarterly_schedule")
    assert schedule.cron_schedule == "0 6 1 1,4,7,10 *"
    assert schedule.execution_timezone == "Europe/London"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    moment = dt.datetime(2025, 4, 1, 6, 0, tzinfo=ZoneInfo("Europe/London"))
    with dg.build_schedule_context(scheduled_execution_time=moment) as context:
        request = schedule(context)
    assert request.partition_key == "2025-01"  # January to March 2025 = 2024/25 Q4


def test_quarter_helpers():
    assert quarter_just_ended(dt.datetime(2025, 1, 1, 6)) == "2024-10"
    assert quarter_just_ended(dt.datetime(2024, 7, 1, 6)) == "2024-04"
    assert export_label(dt.date(2024, 4, 1)) == "2024-25-Q1"
    assert export_label(dt.date(2025, 1, 1)) == "2024-25-Q4"
    assert export_label(dt.date(2099, 10, 1)) == "2099-00-Q3"
    assert quarters_in_window(dt.datetime(2024, 10, 1), dt.datetime(2025, 7, 1)) == [
        dt.date(2024, 10, 1),
        dt.date(2025, 1, 1),
        dt.date(2025, 4, 1),
    ]
    assert quarters_in_window(dt.datetime(2025, 4, 1), dt.datetime(2025, 4, 1)) == []


def test_dbt_build_args():
    from pathlib import Path

    assert dbt_build_args(Path("/w/.vrr.duckdb.build-x")) == [
        "build",
        "--vars",
        '{"warehouse_path": "/w/.vrr.duckdb.build-x"}',
    ]
    assert dbt_build_args(Path("/w/b"), full_refresh=True)[-1] == "--full-refresh"
    # DuckDB's resources reach dbt's profile as vars
    assert dbt_build_args(
        Path("/w/b"), duckdb_settings={"memory_limit": "3GB", "threads": 2, "temp_directory": "/t"}
    ) == [
        "build",
        "--vars",
        '{"warehouse_path": "/w/b", "duckdb_memory_limit": "3GB", "duckdb_threads": 2, "duckdb_temp_directory": "/t"}',
    ]


def test_dbt_resource_knows_its_version_and_opens_no_adapter():
    """dagster-dbt would run `dbt --version` and load every macro into an adapter at each build; the pipeline's
    resource answers from the installed dbt-core and uses no adapter (no row counts or column metadata fetched)."""
    import importlib.metadata

    from pipeline.resources import dbt_resource

    resource = dbt_resource()
    assert str(resource._cli_version) == importlib.metadata.version("dbt-core")
    assert resource._initialize_dbt_core_adapter(["build"]) is None
