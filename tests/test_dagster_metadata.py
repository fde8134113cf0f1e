"""What the Dagster UI shows without reading code: every asset described, grouped, owned and of a kind; checks in
words with the blocking ones marked; the published marts with their rows and columns; never the pseudonym key."""

import dagster as dg

from pipeline.definitions import defs
from tests.conftest import TEST_KEY


def test_every_asset_has_a_description_group_owner_and_kinds():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.group_name and node.owners and node.kinds, key.to_user_string()


def test_every_check_says_what_it_checks_and_whether_it_blocks():
    graph = defs.resolve_asset_graph()
    specs = {(c.asset_key.to_user_string(), c.name): graph.get_check_spec(c) for c in graph.asset_check_keys}
    assert all(spec.description for spec in specs.values())
    assert specs[("raw_decisions", "rows_reconcile")].blocking
    unique = specs[("marts/fct_vrr_decisions", "unique_fct_vrr_decisions_decision_id")]
    assert unique.blocking and unique.description.startswith("dbt test: decision_id is unique. Blocking")
    warn = specs[("intermediate/int_working_days", "assert_working_day_dates_in_calendar")]
    assert not warn.blocking and "Warning only" in warn.description


def test_published_warehouse_shows_the_marts_rows_and_columns(sample_run):
    with sample_run.instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("published_warehouse"))
        metadata = event.asset_materialization.metadata
        ingest = instance.get_latest_materialization_event(dg.AssetKey("raw_decisions")).asset_materialization.metadata
        records = instance.get_records_for_run(event.run_id, limit=100000).records
    marts = {r.data["table"]: r.data for r in metadata["marts"].value.records}
    counts = {t: sample_run.query(f"select count(*) as n from {t}")[0]["n"] for t in marts}
    assert {t: m["rows"] for t, m in marts.items()} == counts
    assert {"marts.vrr_uptake", "marts.fct_vrr_decisions", "marts.disclosure_log"} <= set(marts)
    uptake = {c.name: c for c in metadata["marts.vrr_uptake"].value.columns}
    assert uptake["uptake_rate"].type == "double" and uptake["uptake_rate"].description
    assert len(uptake) == marts["marts.vrr_uptake"]["columns"]
    # the ingest asset: files read, rows loaded and quarantined, the as-at date
    assert {"files_read", "rows_loaded", "rows_quarantined", "as_at_date", "dagster/row_count"} <= set(ingest)
    # the secret key is nowhere in the run's events (metadata, logs, run config)
    assert records and not any(TEST_KEY in dg.serialize_value(r.event_log_entry) for r in records)


def test_the_key_cannot_be_given_as_run_config():
    """Dagster keeps every run's config in its storage and shows it in the UI: a run whose config carries the key
    is refused before it starts. The key comes from VRR_PSEUDONYM_KEY alone."""
    job = defs.resolve_job_def("vrr_pipeline")
    config = {"resources": {"vrr": {"config": {"pseudonym_key": TEST_KEY}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        try:
            job.execute_in_process(run_config=config, instance=instance)
        except dg.DagsterInvalidConfigError as error:
            assert "pseudonym_key" in str(error)
        else:
            raise AssertionError("a run with the key in its config was not refused")
        assert instance.get_runs() == []  # nothing stored
