"""The whole job, materialised with Dagster on the synthetic sample, checked against an independent computation."""

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
    rows = sample_run.query(
        "select table_schema, table_name from information_schema.tables where table_schema = 'marts'"
    )
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


def test_vrr_uptake_rolling_matches_independent_computation(sample_run):
    expected = ref.vrr_uptake_rolling(sample_run.landing)
    rows = sample_run.query("select * from marts.vrr_uptake_rolling")
    actual = {(r["period_start"], r["force_code"], r["cohort_dimension"], r["cohort_value"]): r for r in rows}
    assert len(expected) > 1000
    assert mismatches(expected, actual) == []


def test_every_quarterly_mart_says_as_at_and_provisional(sample_run):
    as_at = ref.load_latest(sample_run.landing)[2]
    for mart in (
        "vrr_uptake",
        "vrr_uptake_rolling",
        "characteristics_completeness",
        "victim_withdrawal",
        "victim_withdrawal_rate",
        "nfa_notification_timeliness",
        "vrr_requests_by_period",
    ):
        rows = sample_run.query(f"select period_start, as_at_date, is_provisional from marts.{mart}")
        assert rows, mart
        for row in rows:
            assert row["as_at_date"] == as_at
            assert row["is_provisional"] == (as_at < ref.add_months(row["period_start"], 6)), (mart, row)


def test_second_run_changes_nothing(sample_run):
    def snapshot():
        return (
            sample_run.query("select * from marts.vrr_uptake order by all"),
            sample_run.query("select * exclude (source_file, extract_date) from marts.fct_vrr_decisions order by all"),
            sample_run.query("select * from marts.disclosure_log order by all"),
        )

    before = snapshot()
    exported_before = {
        p.relative_to(sample_run.exports): p.read_bytes() for p in sample_run.exports.rglob("*") if p.is_file()
    }
    assert sample_run().success
    assert snapshot() == before
    exported_after = {
        p.relative_to(sample_run.exports): p.read_bytes() for p in sample_run.exports.rglob("*") if p.is_file()
    }
    assert exported_after == exported_before  # workbooks, pages, CSV files and manifests byte for byte


def test_landing_folder_is_not_written(sample_run):
    names = sorted(p.name for p in sample_run.landing.iterdir())
    assert all(n.startswith(("decisions_", "vrr_requests_")) and n.endswith(".csv") for n in names)


def test_one_quarter_can_be_rerun(sample_run):
    import shutil

    folder = sample_run.exports / "2024-25-Q1"
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    other = sample_run.exports / "2024-25-Q2"
    other_mtime = (other / "SHA256SUMS").stat().st_mtime_ns
    shutil.rmtree(folder)
    # the partition key of April to June 2024; with nothing new in the landing folder a run builds and exports
    # nothing, so the quarter is rebuilt by the full refresh
    assert sample_run(first="2024-04", last="2024-04", full_refresh=True).success
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert (other / "SHA256SUMS").stat().st_mtime_ns == other_mtime  # no other quarter rewritten
