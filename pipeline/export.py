"""Publishing: swap the checked build in as the warehouse, then write the quarterly export files."""


import csv
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from pipeline import __version__, warehouse
from pipeline.atomic import publish_folder, write_sha256sums
from pipeline.partitions import BACKFILL_POLICY, export_label, quarterly, quarters_in_window
from pipeline.resources import VrrSettings
from pipeline.transform import vrr_dbt_models

COHORT_BASIS = "cohort: decisions made in the quarter"
PERIOD_BASIS = "period: requests received and reviews completed in the quarter"
# Marts exported each quarter: name -> (order of rows in the files, stable so files are reproducible; counting basis).
EXPORTED_MARTS = {
    "vrr_uptake": ("force_code = 'ALL' desc, force_code, cohort_dimension, cohort_value", COHORT_BASIS),
    "characteristics_completeness": ("force_code = 'ALL' desc, force_code, population, characteristic", COHORT_BASIS),
    "victim_withdrawal": (
        "force_code = 'ALL' desc, force_code, offence_group, withdrawal_stage, withdrawal_reason", COHORT_BASIS),
    "victim_withdrawal_rate": ("force_code = 'ALL' desc, force_code, offence_group", COHORT_BASIS),
    "nfa_notification_timeliness": ("force_code = 'ALL' desc, force_code, scheme", COHORT_BASIS),
    "vrr_requests_by_period": ("force_code = 'ALL' desc, force_code, scheme", PERIOD_BASIS),
}
MART_TABLES = ("fct_vrr_decisions", *EXPORTED_MARTS)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A CSV cell: text that a spreadsheet would run as a formula is neutralised with a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dt.date, int)):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_csv(path: Path, columns: list[str], rows: list[tuple]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(columns)
        out.writerows([safe_cell(v) for v in row] for row in rows)


def replace_atomically(staged: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)


def export_quarter(con, quarter: dt.date, staging: Path) -> dict[str, dict]:
    """Write each exported mart's rows for one quarter as CSV and Parquet under staging/<label>/."""
    folder = staging / export_label(quarter)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for mart, (order, _) in EXPORTED_MARTS.items():
        relation = con.sql(f"select * from marts.{mart} where period_start = $q order by {order}", params={"q": quarter})
        table = relation.to_arrow_table()
        rows = list(zip(*(column.to_pylist() for column in table.columns)))
        write_csv(folder / f"{mart}.csv", table.column_names, rows)
        pq.write_table(table, folder / f"{mart}.parquet", compression="zstd")
        written[mart] = {"rows": len(rows)}
    return written


def mart_row_counts(con) -> dict[str, int]:
    return {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in MART_TABLES}


def as_at_date(con) -> dt.date:
    """The warehouse's as-at date: the newest extract date of the files read."""
    return con.execute("select max(extract_date) from raw.extract_files").fetchone()[0]


def quarters_with_data(con, quarters: list[dt.date]) -> list[dt.date]:
    """The quarters among `quarters` in which any exported mart has a row."""
    union = " union ".join(f"select period_start from marts.{mart}" for mart in MART_TABLES)
    have = {r[0] for r in con.execute(union).fetchall()}
    return [q for q in quarters if q in have]


@dg.asset(
    key="published_warehouse",
    deps=[vrr_dbt_models],
    group_name="publish",
    kinds={"duckdb"},
    owners=["team:vrr-data"],
    pool="warehouse",
    description="The warehouse file at VRR_WAREHOUSE_PATH, swapped in atomically once every blocking check of this "
    "run has passed. A failed or killed run leaves the previous warehouse untouched.",
)
def published_warehouse(context: dg.AssetExecutionContext, vrr: VrrSettings) -> dg.MaterializeResult:
    settings = vrr.resolve()
    build = warehouse.build_path(settings.warehouse_path, context.run_id)
    warehouse.publish(build, settings.warehouse_path)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        counts = mart_row_counts(con)
        as_at = as_at_date(con)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.warehouse_path)),
            "as_at_date": str(as_at),
            "mart_rows": dg.MetadataValue.json(counts),
        }
    )


def write_manifest(con, settings, run_id: str, exported: dict) -> dict:
    files = con.execute(
        """select source_file, extract_kind, extract_date::varchar, sha256, size_bytes, encoding, rows_read,
                  rows_loaded, rows_quarantined, duplicates_dropped
           from raw.extract_files order by extract_date, extract_kind, source_file"""
    ).fetchall()
    keys = ("file", "kind", "extract_date", "sha256", "size_bytes", "encoding", "rows_read", "rows_loaded",
            "rows_quarantined", "duplicates_dropped")
    return {
        "package": "vrr-uptake",
        "package_version": __version__,
        "run_id": run_id,
        "as_at_date": str(as_at_date(con)),
        "input_files": [dict(zip(keys, f)) for f in files],
        "mart_rows": mart_row_counts(con),
        "quarters_exported": exported,
        "counting_basis": {mart: basis for mart, (_, basis) in EXPORTED_MARTS.items()},
    }


@dg.asset(
    key="quarterly_export",
    deps=[published_warehouse],
    partitions_def=quarterly,
    backfill_policy=BACKFILL_POLICY,
    group_name="publish",
    kinds={"csv", "parquet"},
    owners=["team:vrr-data"],
    description="For each quarter of the partition (or range) in which any exported mart has rows: "
    "VRR_EXPORT_DIR/<label>/<mart>.csv and .parquet for every quarterly mart (label like 2024-25-Q1), plus "
    "VRR_EXPORT_DIR/manifest.json for the run.",
)
def quarterly_export(context: dg.AssetExecutionContext, vrr: VrrSettings) -> dg.MaterializeResult:
    settings = vrr.resolve()
    window = context.partition_time_window
    staging = settings.export_dir / f".staging-{context.run_id}"
    exported: dict[str, dict] = {}
    with warehouse.published_read_only(settings.warehouse_path) as con:
        if con is None:
            raise dg.Failure(f"No published warehouse at {settings.warehouse_path}: run the whole job first.")
        quarters = quarters_with_data(con, quarters_in_window(window.start, window.end))
        for quarter in quarters:
            exported[export_label(quarter)] = export_quarter(con, quarter, staging)
        manifest = write_manifest(con, settings, context.run_id, exported)
    # Each quarter's folder is finished in staging, given its SHA256SUMS last, and swapped in whole: a reader (or a
    # kill at any moment) sees the old folder or the new one, never a mix.
    for quarter in quarters:
        label = export_label(quarter)
        sums = write_sha256sums(staging / label)
        for mart in EXPORTED_MARTS:
            for suffix in (".csv", ".parquet"):
                exported[label][mart][f"{suffix[1:]}_sha256"] = sums[f"{mart}{suffix}"]
        publish_folder(staging / label, settings.export_dir / label)
    manifest_path = staging / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    replace_atomically(manifest_path, settings.export_dir / "manifest.json")
    shutil.rmtree(staging)
    return dg.MaterializeResult(
        metadata={
            "quarters_exported": dg.MetadataValue.json(sorted(exported)),
            "export_dir": dg.MetadataValue.path(str(settings.export_dir)),
            "rows": dg.MetadataValue.json({label: {m: v["rows"] for m, v in marts.items()} for label, marts in exported.items()}),
        }
    )
