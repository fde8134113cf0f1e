"""Ingest: landing extracts -> raw tables of a new warehouse build, every row loaded or quarantined with a reason."""


import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import dagster as dg
import duckdb
import pyarrow as pa

from pipeline import contract, warehouse
from pipeline.contract import ExtractError, ParsedExtract
from pipeline.resources import VrrSettings
from pipeline.settings import SEEDS_DIR, Settings

RAW_DECISIONS = dg.AssetKey("raw_decisions")
RAW_VRR_REQUESTS = dg.AssetKey("raw_vrr_requests")
RAW_EXTRACT_FILES = dg.AssetKey("raw_extract_files")
RAW_QUARANTINE = dg.AssetKey("raw_quarantine")
QUARANTINE_HISTORY = dg.AssetKey("quarantine_history")
ASSET_KEYS = {"decisions": RAW_DECISIONS, "vrr_requests": RAW_VRR_REQUESTS}
LINEAGE = ("source_file", "extract_date", "line_number")


@dataclass
class FileTally:
    """What became of each row of one file: rows_read = loaded + quarantined + duplicates_dropped."""

    parsed: ParsedExtract
    loaded: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    quarantined: list[tuple[int, dict[str, str], list[str]]] = field(default_factory=list)
    duplicates_dropped: int = 0
    # requests as received (pseudonymised), by line: what quarantine keeps if a later cross-check refuses them
    received: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return len(self.parsed.rows)


# --------------------------------------------------------------------------- validation (pure)

def screen_file(parsed: ParsedExtract, pseudonymise: contract.Pseudonymiser, outcome_codes: frozenset[str]) -> FileTally:
    """Pseudonymise, drop identical repeats, and sort each row into loaded or quarantined (row-level reasons)."""
    kind = parsed.extract.kind
    columns = contract.COLUMNS[kind]
    key_column = contract.KEYS[kind]
    tally = FileTally(parsed)
    seen: set[tuple[str, ...]] = set()
    rows = []
    for line, raw, field_count_ok in parsed.rows:
        if tuple(raw) in seen:
            tally.duplicates_dropped += 1
            continue
        seen.add(tuple(raw))
        values = dict(zip(columns, raw))
        for column in contract.IDENTIFIER_COLUMNS:
            if column in values:
                values[column] = pseudonymise(values[column])
        rows.append((line, values, field_count_ok))
    versions = Counter(values[key_column].strip() for _, values, _ in rows)
    for line, values, field_count_ok in rows:
        reasons = contract.row_reasons(kind, values, parsed.extract.extract_date, outcome_codes)
        if not field_count_ok:
            reasons.append("wrong_field_count")
        if values[key_column].strip() and versions[values[key_column].strip()] > 1:
            reasons.append("duplicate_key_conflict")
        if reasons:
            tally.quarantined.append((line, values, contract.ordered(reasons)))
        else:
            tally.loaded.append((line, clean(kind, values)))
            if kind == "vrr_requests":
                tally.received[line] = values
    return tally


def clean(kind: str, values: dict[str, str]) -> dict[str, str]:
    """Trimmed text with dates canonicalised to YYYY-MM-DD; typing and code lists are dbt staging's job."""
    out = {column: value.strip() for column, value in values.items()}
    for column in contract.DATE_COLUMNS[kind]:
        out[column] = contract.canonical_date(out[column])
    return out


def latest_decision_dates(decision_tallies: list[FileTally]) -> dict[str, dt.date]:
    """decision_id -> decision date of its newest loaded version (the newest extract wins)."""
    latest: dict[str, tuple[dt.date, dt.date]] = {}
    for tally in decision_tallies:
        extract_date = tally.parsed.extract.extract_date
        for _, values in tally.loaded:
            known = latest.get(values["decision_id"])
            if known is None or extract_date >= known[0]:
                latest[values["decision_id"]] = (extract_date, dt.date.fromisoformat(values["decision_date"]))
    return {decision_id: decision_date for decision_id, (_, decision_date) in latest.items()}


def screen_requests_against_decisions(request_tallies: list[FileTally], decisions: dict[str, dt.date]) -> None:
    """Hold requests whose decision is not known yet; refuse requests dated before their decision."""
    for tally in request_tallies:
        still_loaded = []
        for line, values in tally.loaded:
            decision_date = decisions.get(values["decision_id"])
            if decision_date is None:
                tally.quarantined.append((line, tally.received[line], ["unknown_decision"]))
            elif dt.date.fromisoformat(values["request_date"]) < decision_date:
                tally.quarantined.append((line, tally.received[line], ["request_before_decision"]))
            else:
                still_loaded.append((line, values))
        tally.loaded = still_loaded
        tally.quarantined.sort(key=lambda item: item[0])


# --------------------------------------------------------------------------- writing

RAW_DDL = {
    kind: "create or replace table raw.{table} (source_file varchar, extract_date date, line_number integer, {cols})".format(
        table=kind, cols=", ".join(f"{c} varchar" for c in columns)
    )
    for kind, columns in contract.COLUMNS.items()
}
OTHER_DDL = (
    """create or replace table raw.extract_files (
        source_file varchar, extract_kind varchar, extract_date date, sha256 varchar, size_bytes bigint,
        encoding varchar, rows_read integer, rows_loaded integer, rows_quarantined integer,
        duplicates_dropped integer, extra_columns varchar, run_id varchar)""",
    """create or replace table raw.skipped_files (file_name varchar, reason varchar, run_id varchar)""",
    """create or replace table raw.quarantine (
        run_id varchar, source_file varchar, extract_kind varchar, extract_date date, line_number integer,
        record_key varchar, reason_code varchar, reason varchar, all_reasons varchar, raw_row json)""",
    """create table if not exists audit.quarantine_history (
        event varchar, run_id varchar, recorded_at timestamp, source_file varchar, file_sha256 varchar,
        line_number integer, record_key varchar, reason_code varchar)""",
)


def write_raw(con: duckdb.DuckDBPyConnection, kind: str, tallies: list[FileTally]) -> None:
    columns = contract.COLUMNS[kind]
    data: dict[str, list] = {c: [] for c in (*LINEAGE, *columns)}
    for tally in tallies:
        for line, values in tally.loaded:
            data["source_file"].append(tally.parsed.extract.name)
            data["extract_date"].append(tally.parsed.extract.extract_date)
            data["line_number"].append(line)
            for column in columns:
                data[column].append(values[column])
    batch = pa.table(
        {
            name: pa.array(values, type=pa.date32() if name == "extract_date" else pa.int32() if name == "line_number" else pa.string())
            for name, values in data.items()
        }
    )
    con.register("batch", batch)
    con.execute(f"insert into raw.{kind} select * from batch")
    con.unregister("batch")


def write_audit(con, tallies: list[FileTally], skipped: list[dict], run_id: str) -> None:
    files, quarantine = [], []
    for tally in tallies:
        extract = tally.parsed.extract
        files.append(
            (extract.name, extract.kind, extract.extract_date, tally.parsed.sha256, tally.parsed.size_bytes,
             tally.parsed.encoding, tally.rows_read, len(tally.loaded), len(tally.quarantined),
             tally.duplicates_dropped, ", ".join(tally.parsed.extra_columns), run_id)
        )
        key_column = contract.KEYS[extract.kind]
        for line, values, reasons in tally.quarantined:
            quarantine.append(
                (run_id, extract.name, extract.kind, extract.extract_date, line, values[key_column].strip(),
                 reasons[0], contract.REASONS[reasons[0]], ", ".join(reasons), json.dumps(values))
            )
    for table, rows in (
        ("raw.extract_files", files),
        ("raw.quarantine", quarantine),
        ("raw.skipped_files", [(s["file"], s["reason"], run_id) for s in skipped]),
    ):
        if rows:
            con.executemany(f"insert into {table} values ({', '.join('?' * len(rows[0]))})", rows)
    # History: an event when a row first enters quarantine and when it leaves it (late-arriving data);
    # reloading a folder that is already loaded adds nothing.
    con.execute(
        """
        insert into audit.quarantine_history
        with current as (
            select q.source_file, f.sha256 as file_sha256, q.line_number, q.record_key, q.reason_code
            from raw.quarantine q join raw.extract_files f using (source_file)
        ),
        last_event as (
            select * from audit.quarantine_history
            qualify row_number() over (
                partition by file_sha256, line_number, reason_code order by recorded_at desc, event) = 1
        ),
        open as (select * from last_event where event = 'quarantined')
        select 'quarantined', $run_id, now()::timestamp, c.*
        from current c anti join open o using (file_sha256, line_number, reason_code)
        union all
        select 'released', $run_id, now()::timestamp, o.source_file, o.file_sha256, o.line_number, o.record_key, o.reason_code
        from open o anti join current c using (file_sha256, line_number, reason_code)
        """,
        {"run_id": run_id},
    )


def carry_history(con, settings: Settings) -> None:
    """Copy the append-only history of the published warehouse into the new build."""
    if not settings.warehouse_path.exists():
        return
    con.execute("attach ? as published (read_only)", [str(settings.warehouse_path)])
    try:
        for table in warehouse.HISTORY_TABLES:
            exists = con.execute(
                "select count(*) from duckdb_tables() where database_name = 'published' and schema_name || '.' || table_name = ?",
                [table],
            ).fetchone()[0]
            if exists:
                con.execute(f"insert into {table} select * from published.{table}")
    finally:
        con.execute("detach published")


# --------------------------------------------------------------------------- the asset

def reconcile(con, kind: str) -> list[dict]:
    """Per file: rows read against rows found loaded in raw, in quarantine, and dropped as identical repeats."""
    rows = con.execute(
        f"""
        select f.source_file, f.rows_read,
               (select count(*) from raw.{kind} r where r.source_file = f.source_file) as loaded,
               (select count(*) from raw.quarantine q where q.source_file = f.source_file) as quarantined,
               f.duplicates_dropped
        from raw.extract_files f where f.extract_kind = ? order by f.source_file
        """,
        [kind],
    ).fetchall()
    return [
        {"file": r[0], "rows_read": r[1], "loaded": r[2], "quarantined": r[3], "duplicates_dropped": r[4],
         "balanced": r[1] == r[2] + r[3] + r[4]}
        for r in rows
    ]


def files_markdown(tallies: list[FileTally]) -> str:
    lines = ["| file | as at | encoding | read | loaded | quarantined | identical repeats dropped |", "|---|---|---|---:|---:|---:|---:|"]
    for t in tallies:
        lines.append(
            f"| {t.parsed.extract.name} | {t.parsed.extract.extract_date} | {t.parsed.encoding} | {t.rows_read} "
            f"| {len(t.loaded)} | {len(t.quarantined)} | {t.duplicates_dropped} |"
        )
    return "\n".join(lines)


def ingest_landing(settings: Settings, run_id: str, log=None) -> tuple[dict, dict]:
    """Read the landing folder into a new build of the warehouse. Returns (tallies by kind, folder info)."""
    if settings.uses_sample:
        from pipeline import synthetic

        synthetic.generate_sample(settings.landing_dir)
        if log:
            log.info(
                f"No VRR_LANDING_DIR: running on the built-in SYNTHETIC sample in {settings.landing_dir.name}/ "
                "with the demo pseudonym key (not for real data)."
            )
    folder = contract.scan_landing(settings.landing_dir)
    if not folder.extracts:
        raise ExtractError(f"landing folder {settings.landing_dir} holds no decisions_*.csv or vrr_requests_*.csv extracts")
    # Every file is read and checked before anything is written.
    parsed = [contract.read_extract(extract) for extract in folder.extracts]
    outcome_codes = contract.load_outcome_codes(SEEDS_DIR / "outcome_codes.csv")
    pseudonymiser = contract.Pseudonymiser(settings.pseudonym_key)
    tallies: dict[str, list[FileTally]] = defaultdict(list)
    for p in parsed:
        tallies[p.extract.kind].append(screen_file(p, pseudonymiser, outcome_codes))
    screen_requests_against_decisions(tallies["vrr_requests"], latest_decision_dates(tallies["decisions"]))

    build = warehouse.start_build(settings.warehouse_path, run_id)
    with duckdb.connect(str(build)) as con:
        for ddl in (*RAW_DDL.values(), *OTHER_DDL):
            con.execute(ddl)
        carry_history(con, settings)
        for kind in contract.COLUMNS:
            write_raw(con, kind, tallies[kind])
        write_audit(con, [t for kind in contract.COLUMNS for t in tallies[kind]], folder.skipped, run_id)
    return tallies, {"as_at_date": folder.as_at_date, "skipped": folder.skipped, "build": build}


def ingest_spec(key: dg.AssetKey, description: str, *kinds: str) -> dg.AssetSpec:
    return dg.AssetSpec(key, description=description, group_name="ingest", kinds={"python", "duckdb", *kinds},
                        owners=["team:vrr-data"])


@dg.multi_asset(
    specs=[
        ingest_spec(RAW_DECISIONS, "Police and CPS decisions from every decisions_YYYY-MM-DD.csv extract in the "
                    "landing folder: one row per loaded row (all versions), identifiers pseudonymised, dates as "
                    "YYYY-MM-DD.", "csv"),
        ingest_spec(RAW_VRR_REQUESTS, "VRR requests from every vrr_requests_YYYY-MM-DD.csv extract: one row per "
                    "loaded row (all versions). Requests whose decision is unknown or later are held in quarantine.",
                    "csv"),
        ingest_spec(RAW_EXTRACT_FILES, "One row per extract file read by the run: kind, as-at date, SHA-256, "
                    "encoding, and what became of its rows. Also raw.skipped_files (names that do not match the "
                    "contract)."),
        ingest_spec(RAW_QUARANTINE, "This run's quarantine: one row per refused row with its reason code, file, "
                    "line, run id and the row as received (identifiers pseudonymised)."),
        ingest_spec(QUARANTINE_HISTORY, "Append-only history (audit.quarantine_history): an event when a row enters "
                    "quarantine and when it leaves (e.g. a request whose decision arrived later). Carried from build "
                    "to build."),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "rows_reconcile",
            asset=key,
            blocking=True,
            description="Every row read is loaded, quarantined with a reason, or dropped as an identical repeat.",
        )
        for key in ASSET_KEYS.values()
    ],
    pool="warehouse",
)
def landing_extracts(context: dg.AssetExecutionContext, vrr: VrrSettings):
    """Read every extract of the landing folder into a new build of the warehouse."""
    settings = vrr.resolve()
    tallies, info = ingest_landing(settings, context.run_id, context.log)
    with duckdb.connect(str(info["build"]), read_only=True) as con:
        for kind, key in ASSET_KEYS.items():
            files = tallies[kind]
            reasons = Counter(r[0] for t in files for _, _, r in t.quarantined)
            extra = sorted({c for t in files for c in t.parsed.extra_columns})
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "files_read": len(files),
                    "rows_read": sum(t.rows_read for t in files),
                    "rows_loaded": sum(len(t.loaded) for t in files),
                    "rows_quarantined": sum(len(t.quarantined) for t in files),
                    "duplicates_dropped": sum(t.duplicates_dropped for t in files),
                    "as_at_date": str(info["as_at_date"]),
                    "files": dg.MetadataValue.md(files_markdown(files)),
                    "quarantine_by_reason": dg.MetadataValue.json(dict(sorted(reasons.items()))),
                    "non_utf8_files": dg.MetadataValue.json(
                        [t.parsed.extract.name for t in files if t.parsed.encoding != "utf-8"]
                    ),
                    "extra_columns_ignored": dg.MetadataValue.json(extra),
                    "skipped_files": dg.MetadataValue.json(info["skipped"]),
                    "dagster/row_count": sum(len(t.loaded) for t in files),
                },
            )
            balance = reconcile(con, kind)
            passed = all(b["balanced"] for b in balance)
            if not passed:
                context.log.error(f"{kind}: rows do not reconcile: {balance}")
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name="rows_reconcile",
                passed=passed,
                metadata={"files": dg.MetadataValue.json(balance)},
            )
        by_reason = con.execute("select reason_code, count(*) from raw.quarantine group by 1 order by 1").fetchall()
        events = con.execute(
            "select event, count(*) from audit.quarantine_history where run_id = ? group by 1 order by 1", [context.run_id]
        ).fetchall()
        history_rows = con.execute("select count(*) from audit.quarantine_history").fetchone()[0]
    all_files = [t for kind in contract.COLUMNS for t in tallies[kind]]
    yield dg.MaterializeResult(
        asset_key=RAW_EXTRACT_FILES,
        metadata={
            "as_at_date": str(info["as_at_date"]),
            "files_read": len(all_files),
            "files": dg.MetadataValue.md(files_markdown(all_files)),
            "skipped_files": dg.MetadataValue.json(info["skipped"]),
            "landing_dir": dg.MetadataValue.path(str(settings.landing_dir)),
            "synthetic_sample": settings.uses_sample,
            "dagster/row_count": len(all_files),
        },
    )
    yield dg.MaterializeResult(
        asset_key=RAW_QUARANTINE,
        metadata={
            "rows_quarantined": sum(n for _, n in by_reason),
            "by_reason": dg.MetadataValue.json(dict(by_reason)),
            "dagster/row_count": sum(n for _, n in by_reason),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE_HISTORY,
        metadata={"events_this_run": dg.MetadataValue.json(dict(events)), "dagster/row_count": history_rows},
    )
