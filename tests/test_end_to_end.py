"""The whole job, materialised with Dagster on the synthetic sample, checked against an independent computation."""

import csv
import json
import math

from tests import reference as ref


def same(expected, actual) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        if expected is None or actual is None:
            return expected is None and actual is None
        return math.isclose(expected, actual, rel_tol=1e-12, abs_tol=1e-12)
    return expected == actual


def mismatches(expected: dict, actual: dict) -> list:
    out = []
    for key in expected.keys() | actual.keys():
        if key not in expected or key not in actual:
            out.append((key, "missing on one side"))
            continue
        for column, value in expected[key].items():
            if not same(value, actual[key].get(column)):
                out.append((key, column, value, actual[key].get(column)))
    return out


def test_every_asset_materialised(sample_run):
    rows = sample_run.query("select table_schema, table_name from information_schema.tables where table_schema = 'marts'")
    assert {r["table_name"] for r in rows} >= {"fct_vrr_decisions", "vrr_uptake"}


def test_fct_vrr_decisions_matches_independent_computation(sample_run):
    expected = ref.fct_vrr_decisions(sample_run.landing)
    actual = {r["decision_id"]: r for r in sample_run.query("select * from marts.fct_vrr_decisions")}
    assert len(expected) > 5000
    assert mismatches(expected, actual) == []


def test_vrr_uptake_matches_independent_computation(sample_run):
    expected = ref.vrr_uptake(sample_run.landing)
    rows = sample_run.query("select * from marts.vrr_uptake")
    actual = {(r["period_start"], r["force_code"], r["cohort_dimension"], r["cohort_value"]): r for r in rows}
    assert len(expected) > 1000
    assert mismatches(expected, actual) == []


def test_exports_hold_each_quarter_with_data(sample_run):
    quarters = sample_run.query("select distinct period_start, period_label from marts.fct_vrr_decisions order by 1")
    for q in quarters:
        label = q["period_label"].replace("/", "-").replace(" ", "-")
        folder = sample_run.exports / label
        assert (folder / "vrr_uptake.parquet").exists()
        with (folder / "vrr_uptake.csv").open(newline="", encoding="utf-8") as handle:
            exported = list(csv.DictReader(handle))
        in_mart = sample_run.query("select count(*) as n from marts.vrr_uptake where period_start = ?", [q["period_start"]])
        assert len(exported) == in_mart[0]["n"]
        assert all(r["period_label"] == q["period_label"] for r in exported)


def test_export_csv_values_equal_the_mart(sample_run):
    row = sample_run.query(
        "select * from marts.vrr_uptake where force_code = 'ALL' and cohort_dimension = 'all' order by period_start limit 1"
    )[0]
    label = row["period_label"].replace("/", "-").replace(" ", "-")
    with (sample_run.exports / label / "vrr_uptake.csv").open(newline="", encoding="utf-8") as handle:
        exported = next(r for r in csv.DictReader(handle) if r["force_code"] == "ALL" and r["cohort_dimension"] == "all")
    assert int(exported["eligible_decisions"]) == row["eligible_decisions"]
    assert float(exported["uptake_rate"]) == row["uptake_rate"]  # written at full precision


def test_manifest_lists_inputs_with_hashes(sample_run):
    import hashlib

    manifest = json.loads((sample_run.exports / "manifest.json").read_text())
    files = sorted(sample_run.landing.iterdir())
    assert [f["file"] for f in manifest["input_files"]] == sorted(
        (f.name for f in files), key=lambda n: (n.split("_")[-1], n)
    )
    for entry in manifest["input_files"]:
        data = (sample_run.landing / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["rows_read"] == len(data.decode().splitlines()) - 1
    assert manifest["as_at_date"] == "2025-10-06"
    assert manifest["package_version"] == "0.1.0"
    assert manifest["mart_rows"]["fct_vrr_decisions"] == len(ref.fct_vrr_decisions(sample_run.landing))


def test_second_run_changes_nothing(sample_run):
    def snapshot():
        return (
            sample_run.query("select * from marts.vrr_uptake order by all"),
            sample_run.query("select * exclude (source_file, extract_date) from marts.fct_vrr_decisions order by all"),
        )

    before = snapshot()
    exported_before = {p.relative_to(sample_run.exports): p.read_bytes() for p in sample_run.exports.rglob("*.csv")}
    assert sample_run().success
    assert snapshot() == before
    exported_after = {p.relative_to(sample_run.exports): p.read_bytes() for p in sample_run.exports.rglob("*.csv")}
    assert exported_after == exported_before


def test_landing_folder_is_not_written(sample_run):
    names = sorted(p.name for p in sample_run.landing.iterdir())
    assert all(n.startswith(("decisions_", "vrr_requests_")) and n.endswith(".csv") for n in names)


def test_one_quarter_can_be_rerun(sample_run):
    import shutil

    folder = sample_run.exports / "2024-25-Q1"
    before = (folder / "vrr_uptake.csv").read_bytes()
    shutil.rmtree(folder)
    # the partition key of April to June 2024; with nothing new in the landing folder a run builds and exports
    # nothing, so the quarter is rebuilt by the full refresh
    assert sample_run(first="2024-04", last="2024-04", full_refresh=True).success
    assert (folder / "vrr_uptake.csv").read_bytes() == before
    manifest = json.loads((sample_run.exports / "manifest.json").read_text())
    assert sorted(manifest["quarters_exported"]) == ["2024-25-Q1"]
