"""A failing error-severity dbt test stops the run before anything is published or exported."""

import hashlib
import shutil
import uuid

import duckdb

from pipeline import contract, ingest
from pipeline.run import partition_range_tags
from pipeline.settings import DBT_PROJECT_DIR, resolve_settings
from tests.conftest import TEST_KEY, PipelineRun, write_csv

D = list(contract.DECISION_COLUMNS)


def decision(decision_id):
    return [
        decision_id,
        "CR",
        "AA",
        "19C",
        "2024-01-05",
        "15",
        "police",
        "Y",
        "2024-01-06",
        "V",
        "30",
        "F",
        "W1",
        "N",
        "",
        "",
    ]


def test_a_failing_dbt_test_stops_publish_and_export(tmp_path):
    from pipeline.definitions import defs

    landing = tmp_path / "landing"
    write_csv(landing / "decisions_2024-03-01.csv", D, [decision("D1"), decision("D2")])
    run = PipelineRun(tmp_path, landing)
    first = run()
    assert first.success
    published = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in [run.warehouse, *run.exports.rglob("*.*")]}

    # Build this run's warehouse file, then spoil it the way no extract can (a decision without a date), so the
    # error-severity not_null test on staging fails during the dbt build.
    run_id = str(uuid.uuid4())
    with run.environment():
        _, info = ingest.ingest_landing(resolve_settings(), run_id, full_refresh=True)
    with duckdb.connect(str(info["build"])) as con:
        con.execute("update raw.decisions set decision_date = null where decision_id = 'D1'")

    job = defs.resolve_job_def("vrr_pipeline")
    downstream = [
        k
        for k in defs.resolve_asset_graph().get_all_asset_keys()
        if k not in ingest.ASSET_KEYS.values()
        and k.path[0] not in ("raw_extract_files", "raw_quarantine", "quarantine_history")
    ]
    with run.environment(), run.instance() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            asset_selection=downstream,
            tags=partition_range_tags(),
            raise_on_error=False,
        )
    assert not result.success
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert failed == ["vrr_dbt_models"]
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert any(c.check_name == "not_null_stg_landing__decisions_decision_date" and not c.passed for c in checks)
    materialized = {e.asset_key.path[-1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert "published_warehouse" not in materialized and "quarterly_export" not in materialized
    assert {
        p: hashlib.sha256(p.read_bytes()).hexdigest() for p in [run.warehouse, *run.exports.rglob("*.*")]
    } == published
    # dbt's own files of the failed build stay, for its error names the debug log among them; those of the build
    # that passed are gone
    kept = list((DBT_PROJECT_DIR / "target").glob(f"vrr_dbt_models-{run_id[:7]}-*"))
    assert len(kept) == 1 and (kept[0] / "dbt.log").exists()
    (failure,) = [e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure]
    assert str(kept[0] / "dbt.log") in failure
    assert not list((DBT_PROJECT_DIR / "target").glob(f"vrr_dbt_models-{first.run_id[:7]}-*"))
    # nothing dbt kept (its manifest, compiled SQL, run results and debug log), nor anything the two runs wrote
    # (warehouse, builds, Dagster's storage, event and compute logs), holds the pseudonym key
    artefacts = [p for p in kept[0].rglob("*") if p.is_file()]
    assert {"manifest.json", "run_results.json", "dbt.log"} <= {p.name for p in artefacts}
    assert any(p.suffix == ".sql" and "compiled" in p.parts for p in artefacts)
    written = artefacts + [p for p in tmp_path.rglob("*") if p.is_file() and landing not in p.parents]
    assert [p for p in written if TEST_KEY.encode() in p.read_bytes()] == []
    shutil.rmtree(kept[0])
