"""Publishing: disclosure control over the checked build, the swap that publishes it as the warehouse, and each
complete quarter's review pack (workbook, CSV files, HTML page, manifest), every pack folder swapped in whole."""

import contextlib
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

from pipeline import __version__, analysts, atomic, pack, publication, warehouse
from pipeline.partitions import BACKFILL_POLICY, export_label, quarterly, quarters_in_window
from pipeline.resources import VrrSettings
from pipeline.settings import Settings
from pipeline.transform import vrr_dbt_models

MART_TABLES = (
    "fct_vrr_decisions",
    "vrr_uptake",
    "vrr_uptake_rolling",
    "characteristics_completeness",
    "victim_withdrawal",
    "victim_withdrawal_rate",
    "nfa_notification_timeliness",
    "vrr_requests_by_period",
    "disclosure_log",
)
LOG_COLUMNS = {
    "source_mart": ("varchar", "The mart the withheld figure comes from."),
    "figure": (
        "varchar",
        "The figure (the mart's column, or reviews_stands = reviews_completed - reviews_overturned).",
    ),
    "period_label": ("varchar", "The quarter of the figure, e.g. 2024/25 Q1."),
    "breakdown": ("varchar", "The row of the figure in the pack's tables (force and categories)."),
    "rule": ("varchar", "primary, secondary, dependent or small_median."),
    "rule_description": ("varchar", "What the rule means."),
    "value": ("double", "The withheld value as in the warehouse (never published)."),
}


def mart_row_counts(con) -> dict[str, int]:
    return {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in MART_TABLES}


def marts_metadata(con) -> dict[str, dg.MetadataValue]:
    """What analysts find in schema marts of the published file: one table listing every mart with its rows and
    columns, then each mart's column schema (name, type and the column's comment)."""
    columns: dict[str, list[dg.TableColumn]] = {}
    for table, column, kind, comment in con.execute(
        """select table_name, column_name, data_type, comment from duckdb_columns()
           where database_name = current_database() and schema_name = 'marts' order by table_name, column_index"""
    ).fetchall():
        columns.setdefault(table, []).append(dg.TableColumn(column, kind.lower(), description=comment or None))
    rows = {table: con.execute(f'select count(*) from marts."{table}"').fetchone()[0] for table in columns}
    metadata: dict[str, dg.MetadataValue] = {
        "marts": dg.MetadataValue.table(
            records=[
                dg.TableRecord({"table": f"marts.{t}", "rows": rows[t], "columns": len(columns[t])}) for t in columns
            ],
            schema=dg.TableSchema(
                columns=[
                    dg.TableColumn("table", "string"),
                    dg.TableColumn("rows", "int"),
                    dg.TableColumn("columns", "int"),
                ]
            ),
        )
    }
    for table, cols in columns.items():
        metadata[f"marts.{table}"] = dg.MetadataValue.table_schema(dg.TableSchema(columns=cols))
    return metadata


def as_at_date(con):
    """The warehouse's as-at date: the newest extract date of the files read."""
    return con.execute("select max(extract_date) from raw.extract_files").fetchone()[0]


def disclosure_of(con, threshold: int) -> pack.Control:
    """Disclosure control over the marts of a warehouse (a build, or the published file), starting from the counts of
    the run that last wrote audit.disclosure_counts in it: in a build, the last issue's, whose decisions stand where
    their values do; in a published warehouse, its own run's, which give its decisions again."""
    previous = {}
    if warehouse.has_table(con, "audit.disclosure_counts"):  # an earlier version's warehouse has no issue to keep to
        previous = {
            key: (value, rule)
            for key, value, rule in con.execute("select count_key, value, rule from audit.disclosure_counts").fetchall()
        }
    return pack.control(pack.read_marts(con), threshold, previous)


def write_disclosure_counts(con, control: pack.Control, run_id: str) -> None:
    """Every count this run publishes, with its value and rule (null where shown), for the next run to keep to."""
    record = control.record()
    counts = pa.table(
        {
            "count_key": pa.array(list(record), type=pa.string()),
            "value": pa.array([value for value, _ in record.values()], type=pa.int64()),
            "rule": pa.array([rule for _, rule in record.values()], type=pa.string()),
            "run_id": pa.array([run_id] * len(record), type=pa.string()),
        }
    )
    con.execute("delete from audit.disclosure_counts")
    insert_arrow(con, "audit.disclosure_counts", counts)


def insert_arrow(con, table: str, rows: pa.Table) -> None:
    """Insert an Arrow table's rows into `table`, column by name, in one statement (executemany runs one statement
    per row: over two minutes for 100 thousand rows)."""
    columns = ", ".join(rows.column_names)
    con.register("arrow_rows", rows)
    try:
        con.execute(f"insert into {table} ({columns}) select {columns} from arrow_rows")
    finally:
        con.unregister("arrow_rows")


def write_disclosure_log(con, rows: list[dict]) -> None:
    columns = ", ".join(f"{name} {kind}" for name, (kind, _) in LOG_COLUMNS.items())
    con.execute(f"create or replace table marts.disclosure_log ({columns})")
    if rows:
        arrow_types = {"varchar": pa.string(), "double": pa.float64()}
        log = pa.table(
            {
                name: pa.array([row[name] for row in rows], type=arrow_types[kind])
                for name, (kind, _) in LOG_COLUMNS.items()
            }
        )
        insert_arrow(con, "marts.disclosure_log", log)
    con.execute(
        "comment on table marts.disclosure_log is 'Every figure the review packs withhold, with its rule: "
        "primary (a count from 1 to the threshold minus 1), secondary (so that no withheld count can be "
        "worked out by subtraction), dependent (a rate, interval or median that depends on a withheld count) "
        "or small_median (a median over fewer values than the threshold). One row per figure over every "
        "complete quarter.'"
    )
    for name, (_, text) in LOG_COLUMNS.items():
        con.execute(f"comment on column marts.disclosure_log.{name} is '{text.replace(chr(39), chr(39) * 2)}'")


@dg.asset(
    key="disclosure_control",
    deps=[vrr_dbt_models],
    group_name="publish",
    kinds={"duckdb", "python"},
    owners=["team:vrr-data"],
    pool="warehouse",
    description="Statistical disclosure control over every figure the review packs publish, for every complete "
    "quarter at once (primary, secondary across tables and quarters, dependent rates and medians), keeping to the "
    "last issue (audit.disclosure_counts): what it withheld stays withheld while its value stands. Every decision "
    "is written to marts.disclosure_log in this run's build, before the warehouse is published. Meanwhile, when "
    "the analysts' copy is to be written whole, its large table (fct_vrr_decisions) is written from the build.",
)
def disclosure_control(context: dg.AssetExecutionContext, vrr: VrrSettings) -> dg.MaterializeResult:
    settings = vrr.resolve()
    # the review packs' writers load beside this step, which runs on one core, rather than when the packs are due
    publication.start_workers(settings.pack_processes)
    build = warehouse.build_path(settings.warehouse_path, context.run_id)
    if not build.exists():
        raise dg.Failure("There is no warehouse build for this run: materialise the whole job in one run.")
    replaced = warehouse.warehouse_identity(settings.warehouse_path) if settings.warehouse_path.exists() else None
    with duckdb.connect(str(build)) as con:
        # an analysts' copy to be written whole: its large table is written meanwhile, on the other core
        ahead = contextlib.nullcontext()
        if not analysts.updatable(settings.analysts_path, analysts.built_on(con, replaced)):
            ahead = analysts.copied_ahead(con, settings.analysts_path, context.run_id, settings.duckdb_settings())
        with ahead:
            control = disclosure_of(con, settings.disclosure_threshold)
            rows = control.log_rows()
            write_disclosure_log(con, rows)
            write_disclosure_counts(con, control, context.run_id)
    by_rule = {rule: sum(1 for r in rows if r["rule"] == rule) for rule in sorted({r["rule"] for r in rows})}
    return dg.MaterializeResult(
        metadata={
            "threshold": settings.disclosure_threshold,
            "figures_withheld": len(rows),
            "withheld_by_rule": dg.MetadataValue.json(by_rule),
            "counts_published": len(control.counts.values),
            "counts_withheld": len(control.withheld),
            "kept_from_last_issue": control.kept,
            "relations": len(control.counts.relations),
        }
    )


@dg.asset(
    key="published_warehouse",
    deps=[disclosure_control],
    group_name="publish",
    kinds={"duckdb"},
    owners=["team:vrr-data"],
    pool="warehouse",
    description="The warehouse file at VRR_WAREHOUSE_PATH, swapped in atomically once every blocking check of this "
    "run has passed (a compacted copy of the build when more than VRR_COMPACT_FREE_SHARE of it is freed space). A "
    "failed or killed run leaves the previous warehouse untouched. Then the analysts' copy at VRR_PUBLISHED_PATH "
    "(marts, reference tables and marts.about, in a storage format DuckDB 1.2 and later read), swapped in the same "
    "way: after an incremental build, brought up to date from the copy of the warehouse it built on (only the "
    "rebuilt decisions of fct_vrr_decisions rewritten); else written whole, fct_vrr_decisions already written "
    "by the disclosure step. Its metadata, read back from the published file after the "
    "swap, lists every mart in schema marts with its row count, and each mart's columns with their types and "
    "comments.",
)
def published_warehouse(context: dg.AssetExecutionContext, vrr: VrrSettings) -> dg.MaterializeResult:
    settings = vrr.resolve()
    build = warehouse.build_path(settings.warehouse_path, context.run_id)
    replaced = warehouse.warehouse_identity(settings.warehouse_path) if settings.warehouse_path.exists() else None
    done = warehouse.publish(build, settings.warehouse_path, settings.compact_free_share, settings.duckdb_settings())
    if done["compacted"]:
        context.log.info(
            f"The build was {done['free_share_before']:.0%} free blocks: published a compacted copy "
            f"({done['size_before']:,} bytes down to {done['size_after']:,})."
        )
    # read back from the published file itself, after the swap: what analysts now see
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        counts = mart_row_counts(con)
        as_at = as_at_date(con)
        marts = marts_metadata(con)
        about = analysts.about_rows(con, context.run_id, settings.disclosure_threshold)
        # an incremental build of the warehouse just replaced: the copy made from that one is brought up to date
        built_on = analysts.built_on(con, replaced)
    copied, how = analysts.write_copy(
        settings.warehouse_path,
        settings.analysts_path,
        context.run_id,
        about,
        settings.duckdb_settings(),
        built_on=built_on,
        compact_free_share=settings.compact_free_share,
    )
    context.log.info(f"The analysts' copy at {settings.analysts_path}: {how}.")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.warehouse_path)),
            "as_at_date": str(as_at),
            "mart_rows": dg.MetadataValue.json(counts),
            "file_bytes": done["size_after"],
            "compacted": done["compacted"],
            "free_share_of_build": done["free_share_before"],
            "analysts_copy": dg.MetadataValue.path(str(settings.analysts_path)),
            "analysts_copy_tables": len(copied),
            "analysts_copy_made": how,
            **marts,
        }
    )


def input_files(con) -> list[dict]:
    files = con.execute(
        """select source_file, extract_kind, extract_date::varchar, sha256, size_bytes, encoding, rows_read,
                  rows_loaded, rows_quarantined, duplicates_dropped
           from raw.extract_files order by extract_date, extract_kind, source_file"""
    ).fetchall()
    keys = (
        "file",
        "kind",
        "extract_date",
        "sha256",
        "size_bytes",
        "encoding",
        "rows_read",
        "rows_loaded",
        "rows_quarantined",
        "duplicates_dropped",
    )
    return [dict(zip(keys, f, strict=True)) for f in files]


def pack_jobs(
    control: pack.Control, quarters: list, settings: Settings, staging: Path, inputs: list[dict]
) -> list[publication.PackJob]:
    """The pack of each quarter, to be written in `staging`/<label> and to replace the published pack, if any."""
    jobs = []
    for quarter in quarters:
        label = export_label(quarter)
        info = publication.PackInfo(
            quarter,
            label,
            control.data.as_at,
            control.threshold,
            settings.pack_contact,
            __version__,
            control.data.eligibility_rules,
        )
        final = settings.export_dir / label
        previous = final if final.is_dir() else None
        jobs.append(publication.PackJob(info, control.tables(quarter), staging / label, previous, inputs))
    return jobs


@dg.asset(
    key="quarterly_export",
    deps=[published_warehouse],
    partitions_def=quarterly,
    backfill_policy=BACKFILL_POLICY,
    group_name="publish",
    kinds={"xlsx", "csv", "html"},
    owners=["team:vrr-data"],
    description="The review pack of each complete quarter of the partition (or range): VRR_EXPORT_DIR/<label>/ "
    "(label like 2024-25-Q1) with the accessible workbook, tidy CSV files and a data dictionary, the HTML page, "
    "manifest.json and SHA256SUMS, all disclosure-controlled. Each folder is built beside and swapped in whole. "
    "The quarter in progress is never packed.",
)
def quarterly_export(context: dg.AssetExecutionContext, vrr: VrrSettings) -> dg.MaterializeResult:
    settings = vrr.resolve()
    window = context.partition_time_window
    staging = settings.export_dir / f".staging-{context.run_id}"
    written: dict[str, dict] = {}
    unchanged: list[str] = []
    with warehouse.published_read_only(settings.warehouse_path) as con:
        if con is None:
            raise dg.Failure(f"No published warehouse at {settings.warehouse_path}: run the whole job first.")
        control = disclosure_of(con, settings.disclosure_threshold)
        logged = con.execute("select count(*) from marts.disclosure_log").fetchone()[0]
        inputs = input_files(con)
    if logged != len(control.log_rows()):
        raise dg.Failure(
            "The published warehouse's disclosure log does not match the disclosure control of this "
            "export: rerun the whole job so that both come from one version."
        )
    requested = quarters_in_window(window.start, window.end)
    complete = [q for q in requested if q in set(control.data.quarters)]
    jobs = pack_jobs(control, complete, settings, staging, inputs)
    for job, manifest in zip(jobs, publication.write_packs(jobs, settings.pack_processes), strict=True):
        if manifest is None:
            unchanged.append(job.info.label)
            continue
        written[job.info.label] = manifest
        atomic.publish_folder(job.folder, settings.export_dir / job.info.label)
    removed = []
    for quarter in requested:
        folder = settings.export_dir / export_label(quarter)
        if quarter not in complete and folder.is_dir():
            shutil.rmtree(folder)  # never a pack: the quarter is in progress or has no data
            removed.append(folder.name)
    if set(control.data.quarters) <= set(requested):
        # every complete quarter is exported from this warehouse: a later run with nothing new need not export
        settings.export_dir.mkdir(parents=True, exist_ok=True)
        warehouse.mark_exports_current(settings.warehouse_path, settings.export_dir)
    stale_manifest = settings.export_dir / "manifest.json"
    if stale_manifest.exists():
        stale_manifest.unlink()  # written by earlier versions; each pack has its own manifest now
    if staging.exists():
        shutil.rmtree(staging)
    return dg.MaterializeResult(
        metadata={
            "quarters_exported": dg.MetadataValue.json(sorted(written)),
            "quarters_unchanged": dg.MetadataValue.json(unchanged),
            "export_dir": dg.MetadataValue.path(str(settings.export_dir)),
            "folders_removed": dg.MetadataValue.json(removed),
            "files": dg.MetadataValue.json({label: sorted(m["files"]) for label, m in written.items()}),
            "cells_withheld": dg.MetadataValue.json(
                {label: m["disclosure"]["cells_withheld_by_rule"] for label, m in written.items()}
            ),
        }
    )
