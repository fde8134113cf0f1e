"""Ingest: landing extracts -> raw tables of a new warehouse build, every row loaded or quarantined with a reason.

Rows are read, pseudonymised, normalised and checked in DuckDB SQL, streaming (no Python object per row). Only
extracts that are new or changed since the published warehouse (by name and SHA-256) are read: the build starts as
a copy of the published warehouse, the rows of changed or removed files are replaced, and raw.affected_quarters
tells the incremental dbt models which quarters to rebuild. A run with nothing new builds nothing.
"""

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa

from pipeline import contract, warehouse
from pipeline.contract import ExtractError, ExtractFile, ParsedExtract
from pipeline.resources import VrrSettings
from pipeline.settings import DBT_PROJECT_DIR, SEEDS_DIR, Settings

RAW_DECISIONS = dg.AssetKey("raw_decisions")
RAW_VRR_REQUESTS = dg.AssetKey("raw_vrr_requests")
RAW_EXTRACT_FILES = dg.AssetKey("raw_extract_files")
RAW_QUARANTINE = dg.AssetKey("raw_quarantine")
QUARANTINE_HISTORY = dg.AssetKey("quarantine_history")
ASSET_KEYS = {"decisions": RAW_DECISIONS, "vrr_requests": RAW_VRR_REQUESTS}
CROSS_RECORD_REASONS = ("unknown_decision", "request_before_decision")
# Bumped when the raw layout changes: a published warehouse of another layout is rebuilt in full.
RAW_LAYOUT = 4
# Where a kind's rows go once they pass the row checks (requests then meet the cross-record checks).
LOADED = {"decisions": "raw.decisions", "vrr_requests": "raw.vrr_requests_received"}
# The in-memory database, attached to ingest's connection while it loads files, that holds each file's keys and lines.
NUMBERED = "numbered"

# --------------------------------------------------------------------------- tables


def _contract_columns(kind: str) -> str:
    return ", ".join(f"{c} varchar" for c in contract.COLUMNS[kind])


RAW_DDL = (
    f"create table if not exists raw.decisions (source_file varchar, extract_date date, line_number integer, "
    f"{_contract_columns('decisions')})",
    f"create table if not exists raw.vrr_requests (source_file varchar, extract_date date, line_number integer, "
    f"{_contract_columns('vrr_requests')})",
    # Requests that passed the row checks, before the cross-record checks against the decisions (re-run each time).
    f"create table if not exists raw.vrr_requests_received (source_file varchar, extract_date date, "
    f"line_number integer, {_contract_columns('vrr_requests')}, raw_row json)",
    """create table if not exists raw.extract_files (
        source_file varchar, extract_kind varchar, extract_date date, sha256 varchar, size_bytes bigint,
        encoding varchar, rows_read integer, rows_loaded integer, rows_quarantined integer,
        duplicates_dropped integer, extra_columns varchar, run_id varchar)""",
    "create table if not exists raw.skipped_files (file_name varchar, reason varchar, run_id varchar)",
    """create table if not exists raw.quarantine (
        run_id varchar, source_file varchar, extract_kind varchar, extract_date date, line_number integer,
        record_key varchar, reason_code varchar, reason varchar, all_reasons varchar, raw_row json)""",
    "create table if not exists raw.affected_quarters (period_start date)",
    "create table if not exists raw.touched_decisions (decision_id varchar)",
    "create table if not exists raw.ingest_state (raw_layout integer, key_check varchar, models_check varchar)",
    # The published warehouse this build started as a copy of (warehouse.warehouse_identity); none when the build
    # started empty (a full build). The analysts' copy is brought up to date from it, not rewritten whole.
    "create table if not exists raw.build_origin (warehouse_identity varchar)",
    """create table if not exists audit.quarantine_history (
        event varchar, run_id varchar, recorded_at timestamp, source_file varchar, file_sha256 varchar,
        line_number integer, record_key varchar, reason_code varchar)""",
    # Every count the last run published (pack.key_text, its value, the rule that withheld it or null): the next
    # run withholds again what it withheld and shows again what it showed, while their values stand.
    """create table if not exists audit.disclosure_counts (
        count_key varchar, value bigint, rule varchar, run_id varchar)""",
)

# Values as the contract reads them, for comparing two rows with the same key: codes case-folded, Yes/No read
# as Y/N, as dbt staging reads them. Rows equal on every one are identical repeats, whatever their spelling.
CASE_FOLDED = {
    "force_code": "upper",
    "offence_code": "upper",
    "outcome_code": "upper",
    "victim_sex": "upper",
    "victim_ethnicity": "upper",
    "decision_maker": "lower",
    "withdrawal_stage": "lower",
    "withdrawal_reason": "lower",
    "suspect_interviewed": "yes_no",
    "victim_disability": "yes_no",
    "scheme": "lower",
    "review_stage": "lower",
    "review_result": "lower",
}


def clean_sql(kind: str, column: str) -> str:
    """A value as raw stores it: trimmed, dates as YYYY-MM-DD where they parse (identifiers are pseudonyms)."""
    return f"canonical_date({column})" if column in contract.DATE_COLUMNS[kind] else f"py_strip({column})"


# --------------------------------------------------------------------------- one file


def reader_sql(parsed: ParsedExtract, path_parameter: str = "$path", numbered: bool = True) -> str:
    """DuckDB's CSV reader over one extract: every field as text (one more than the header names, to tell a long
    row), numbered in file order (`ordinality`) when asked. Numbering runs on one thread (DuckDB numbers the rows
    of a scan in a serial step), so the heavy work is done in statements that do not number."""
    width = len(parsed.header)
    columns = "{" + ", ".join(f"'c{i}': 'varchar'" for i in range(width + 1)) + "}"
    return f"""read_csv(
            {path_parameter}, header = false, skip = 1, columns = {columns}, auto_detect = false, delim = ',',
            quote = '"', escape = '"', comment = '', nullstr = '\\x00\\x01', null_padding = true,
            strict_mode = false, parallel = {str(not parsed.spans_lines).lower()}
        ) {"with ordinality " if numbered else ""}as r"""


def field_sql(parsed: ParsedExtract, column: str) -> str:
    """A contract column of the row as received (blank when the row is too short)."""
    return f"coalesce(r.c{parsed.positions[contract.COLUMNS[parsed.extract.kind].index(column)]}, '')"


def wrong_field_count_sql(parsed: ParsedExtract) -> str:
    width = len(parsed.header)
    return f"r.c{width} is not null or r.c{width - 1} is null"


def key_sql(parsed: ParsedExtract) -> str:
    """The row's record key, trimmed: what repeats and conflicts are judged on."""
    return f"py_strip({field_sql(parsed, contract.KEYS[parsed.extract.kind])})"


def received_values_sql(parsed: ParsedExtract) -> list[str]:
    """The contract columns of a row as received, the identifiers already pseudonymised."""
    values = []
    for column in contract.COLUMNS[parsed.extract.kind]:
        value = field_sql(parsed, column)
        values.append(
            f"{contract.pseudonym_sql(value) if column in contract.IDENTIFIER_COLUMNS else value} as {column}"
        )
    return values


def line_number_sql(parsed: ParsedExtract, ordinality: str) -> tuple[str, str]:
    """(the physical line number of the record numbered `ordinality`, the join it needs): the line after the
    header's plus the record's number when each record is one line, else looked up in record_lines."""
    if parsed.one_line_per_record:
        return f"cast({ordinality} + 1 as integer)", ""
    return "lines.line_number", f"left join record_lines as lines on lines.ordinal = {ordinality}"


def read_csv_sql(parsed: ParsedExtract, path_parameter: str = "$path", only_keys: str | None = None) -> str:
    """The rows of one extract as received, each with its physical line number and field-count flag, the
    identifiers already pseudonymised (no raw identifier is ever stored, not even in a temporary table). With
    `only_keys` (a table of record keys), only the rows with those keys."""
    every_field = ", ".join(f"r.c{i}" for i in range(len(parsed.header) + 1))
    where = (
        f"where {key_sql(parsed)} in (select record_key from {only_keys} where record_key is not null)"
        if only_keys
        else ""
    )
    line_number, join = line_number_sql(parsed, "r.ordinality")
    return f"""
        select
            {line_number} as line_number,
            {wrong_field_count_sql(parsed)} as wrong_field_count,
            py_strip(concat({every_field})) = '' as is_blank,
            {", ".join(received_values_sql(parsed))}
        from {reader_sql(parsed, path_parameter)}
        {join}
        {where}
    """


def key_lines_sql(parsed: ParsedExtract) -> str:
    """The record key and physical line number of every row: the one numbered (serial) read of the whole file,
    reading nothing but keys. A key found once in the file finds its row's line."""
    line_number, join = line_number_sql(parsed, "r.ordinality")
    return f"""
        select {key_sql(parsed)} as record_key, {line_number} as line_number
        from {reader_sql(parsed)}
        {join}
    """


def load_direct_sql(parsed: ParsedExtract, key_lines: str) -> str:
    """Every row with no reason to be refused and whose key is not repeated in the file (special_keys), straight
    into raw as raw stores it (line numbers from key_lines): the pseudonyms computed as the rows stream by, on
    every core, nothing else staged. The row checks run here too, on every row; the rows they refuse are found
    after (see load_file)."""
    kind = parsed.extract.kind
    cleaned = ", ".join(clean_sql(kind, c) for c in contract.COLUMNS[kind])
    raw_row = (
        ", json_object(" + ", ".join(f"'{c}', {c}" for c in contract.COLUMNS[kind]) + ")"
        if kind == "vrr_requests"
        else ""
    )
    return f"""
        insert into {LOADED[kind]}
        with

        received as (
            select
                {key_sql(parsed)} as record_key,
                {wrong_field_count_sql(parsed)} as wrong_field_count,
                false as is_conflict,
                {", ".join(received_values_sql(parsed))}
            from {reader_sql(parsed, numbered=False)}
        ),

        final as (
            select $source_file, $extract_date, key_lines.line_number, {cleaned}{raw_row}
            from received
            inner join {key_lines} as key_lines on received.record_key = key_lines.record_key
            where
                received.record_key not in (select record_key from special_keys)
                and not {contract.refused_sql(kind)}
        )

        select * from final
    """


def refused_keys_sql(kind: str, key_lines: str) -> str:
    """The keys, found once in the file, whose row load_direct_sql refused: in key_lines, not loaded."""
    return f"""
        select record_key from {key_lines}
        where
            record_key not in (select record_key from special_keys)
            and record_key not in (
                select {contract.KEYS[kind]} from {LOADED[kind]}
                where source_file = $source_file and {contract.KEYS[kind]} is not null
            )
    """


def screen_sql(kind: str) -> str:
    """Identical repeats dropped, conflicting versions of a key flagged, and each row's reasons (in order)."""
    columns = contract.COLUMNS[kind]
    key = contract.KEYS[kind]
    norm = ", ".join(
        f"{CASE_FOLDED[c]}({clean_sql(kind, c)})" if c in CASE_FOLDED else clean_sql(kind, c) for c in columns
    )
    raw_row = ", ".join(f"'{c}', {c}" for c in columns)
    cleaned = ", ".join(f"{clean_sql(kind, c)} as {c}" for c in columns)
    return f"""
        with

        repeated_keys as (
            select py_strip({key}) as record_key from received where not is_blank group by 1 having count(*) > 1
        ),

        candidates as (
            -- the few rows whose key is repeated, with the values as the contract reads them
            select line_number, py_strip({key}) as record_key, [{norm}] as norm
            from received
            where not is_blank and py_strip({key}) in (select record_key from repeated_keys)
        ),

        repeats as (
            select
                line_number,
                row_number() over (partition by record_key, norm order by line_number) > 1 as is_repeat
            from candidates
        ),

        conflicting as (
            select record_key
            from (select distinct record_key, norm from candidates)
            where record_key <> ''
            group by record_key
            having count(*) > 1
        ),

        flagged as (
            select
                received.*,
                py_strip(received.{key}) as record_key,
                coalesce(repeats.is_repeat, false) as is_repeat,
                conflicting.record_key is not null as is_conflict
            from received
            left join repeats on received.line_number = repeats.line_number
            left join conflicting on py_strip(received.{key}) = conflicting.record_key
            where not received.is_blank
        ),

        checked as (
            select *, {contract.reasons_sql(kind)} as reasons from flagged
        ),

        final as (
            select
                line_number,
                record_key,
                is_repeat,
                reasons,
                -- the row as received: what quarantine keeps (requests keep it until the cross-record checks)
                case when len(reasons) > 0 or {str(kind == "vrr_requests").lower()} then json_object({raw_row}) end
                    as raw_row,
                {cleaned}
            from checked
        )

        select * from final
    """


@dataclass
class FileLoad:
    """What became of the rows of one file read by this run."""

    parsed: ParsedExtract
    rows_read: int = 0
    duplicates_dropped: int = 0


def utf8_copy(parsed: ParsedExtract, folder: Path) -> Path:
    """A Windows-1252 extract re-encoded as UTF-8 for the database's reader (a private file, removed after)."""
    target = folder / f".{parsed.extract.name}.utf8"
    with (
        parsed.extract.path.open("r", encoding="cp1252", newline="") as source,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        while block := source.read(contract.CHUNK_BYTES):
            out.write(block)
    return target


@contextlib.contextmanager
def source_path(parsed: ParsedExtract, scratch: Path) -> Iterator[Path]:
    """The file DuckDB's reader reads: the extract, or a private UTF-8 copy of a Windows-1252 extract, removed after."""
    copy = utf8_copy(parsed, scratch) if parsed.encoding != "utf-8" else None
    try:
        yield copy or parsed.extract.path
    finally:
        if copy:
            copy.unlink()


@contextlib.contextmanager
def reading(con, parsed: ParsedExtract):
    """The line number of each record (the table record_lines) for the statements on `con` that read one extract,
    and DuckDB's refusal of the file as the extract's error."""
    lines = pa.table(
        {
            "ordinal": np.arange(1, len(parsed.record_lines) + 1, dtype=np.int64),
            "line_number": parsed.record_lines.astype(np.int32),
        }
    )
    con.register("record_lines", lines)
    done = False
    try:
        yield
        done = True
    except duckdb.InvalidInputException as exc:
        raise ExtractError(f"{parsed.extract.name}: not a readable CSV file ({str(exc).splitlines()[0]})") from exc
    finally:
        # DuckDB refuses to unregister on a connection whose last result is unfinished (read by fetchone): it is
        # run to its end, or cancelled when the statements failed
        if done:
            con.complete()
        else:
            con.abort()
        con.unregister("record_lines")


@contextlib.contextmanager
def readable(con, parsed: ParsedExtract, scratch: Path):
    """The file DuckDB's reader reads (see source_path), for statements on `con` that read it (see reading)."""
    with source_path(parsed, scratch) as path, reading(con, parsed):
        yield path


def not_readable(parsed: ParsedExtract) -> ExtractError:
    return ExtractError(f"{parsed.extract.name}: not a readable CSV file (a quote character inside an unquoted field)")


def check_every_record_read(con, parsed: ParsedExtract, table: str) -> None:
    """DuckDB's reader found every record of the file, each with its line, as the file check did (`table` holds
    a line_number per row read); else the file is not readable."""
    records, numbered = con.execute(f"select count(*), count(line_number) from {table}").fetchone()
    if records != numbered or records != len(parsed.record_lines):
        raise not_readable(parsed)


def stage_rows(con, parsed: ParsedExtract, parameters: dict, path: Path, only_keys: str | None = None) -> None:
    """Rows of one extract into the temporary tables received (rows as received, with line numbers) and screened
    (each row's reasons, whether it repeats an earlier row, its values as raw stores them): every row, or only
    those whose key is in the table `only_keys`."""
    extract = parsed.extract
    sql = "create or replace temp table received as " + read_csv_sql(parsed, only_keys=only_keys)
    con.execute(sql, {**contract.used_parameters(sql, parameters), "path": str(path)})
    if only_keys is None:
        check_every_record_read(con, parsed, "received")
    sql = "create or replace temp table screened as " + screen_sql(extract.kind)
    con.execute(sql, contract.used_parameters(sql, {**parameters, "extract_date": extract.extract_date}))


def stage(con, parsed: ParsedExtract, parameters: dict, scratch: Path) -> None:
    """Every row of one extract into the temporary tables received and screened (see stage_rows)."""
    with readable(con, parsed, scratch) as path:
        stage_rows(con, parsed, parameters, path)


def number_file(con, parsed: ParsedExtract, path: Path, table: str) -> None:
    """The record key and physical line number of every row of one extract into `table` (see key_lines_sql), on
    the cursor `con`. The read is numbered, so it runs on one thread: files are numbered side by side, each on a
    cursor of its own (see load_files)."""
    contract.create_macros(con)
    with reading(con, parsed):
        con.execute(f"create or replace table {table} as " + key_lines_sql(parsed), {"path": str(path)})
        check_every_record_read(con, parsed, table)


def load_files(
    con, parsed: list[ParsedExtract], parameters: dict, run_id: str, scratch: Path, threads: int
) -> list[FileLoad]:
    """Read extracts into raw and raw.quarantine, in the order given (see load_file). The numbered read of each file
    runs on one thread, so up to `threads` files at a time are numbered side by side first, on cursors of their own,
    into an in-memory database of the connection (NUMBERED: every cursor sees it, as it does not see another's
    temporary tables); then each is loaded on every core. Only those files' keys and lines are held at once."""
    con.execute(f"attach if not exists ':memory:' as {NUMBERED}")
    loads = []
    batch = max(1, threads)
    for start in range(0, len(parsed), batch):
        files = parsed[start : start + batch]
        tables = [f"{NUMBERED}.key_lines_{i}" for i in range(len(files))]
        cursors = [con.cursor() for _ in files]
        with contextlib.ExitStack() as stack:
            paths = [stack.enter_context(source_path(p, scratch)) for p in files]
            try:
                each_file(lambda job: number_file(*job), list(zip(cursors, files, paths, tables, strict=True)), batch)
            finally:
                for cursor in cursors:
                    cursor.close()
            for p, path, table in zip(files, paths, tables, strict=True):
                loads.append(load_file(con, p, parameters, run_id, path, table))
                con.execute(f"drop table {table}")
    con.execute(f"detach {NUMBERED}")
    return loads


def load_file(con, parsed: ParsedExtract, parameters: dict, run_id: str, path: Path, key_lines: str) -> FileLoad:
    """Read one extract (the file at `path`, see source_path) into raw (loaded rows; requests that passed the row
    checks) and raw.quarantine, given the key and line of its every row in the table `key_lines` (number_file).

    One or two more reads of the file, neither of which keeps the whole file anywhere: every row whose key is found
    once and that passes the row checks, straight into raw, on every core; then, if there are any, the rows that
    need a closer look (a key repeated in the file, or a row refused), screened in temporary tables (identical
    repeats, conflicts, reasons) and loaded or quarantined."""
    extract = parsed.extract
    kind = extract.kind
    file = {"source_file": extract.name, "extract_date": extract.extract_date, "kind": kind, "run_id": run_id}
    with reading(con, parsed):
        records = len(parsed.record_lines)
        con.execute(
            f"""create or replace temp table special_keys as
               select record_key, count(*) as records from {key_lines} group by record_key having count(*) > 1"""
        )
        sql = load_direct_sql(parsed, key_lines)
        # The file streams through the join and key_lines is the side held in memory; DuckDB cannot know how long
        # the file is and would otherwise hold the file (every column) and stream the keys.
        con.execute("set disabled_optimizers = 'build_side_probe_side,join_order'")
        try:
            direct = con.execute(
                sql,
                {
                    **contract.used_parameters(sql, {**parameters, "extract_date": extract.extract_date}),
                    "path": str(path),
                    "source_file": extract.name,
                },
            ).fetchone()[0]
        finally:
            con.execute("reset disabled_optimizers")
        (repeated,) = con.execute("select coalesce(sum(records), 0) from special_keys").fetchone()
        refused = direct < records - repeated
        if refused:
            con.execute(
                "insert into special_keys select record_key, 1 from (" + refused_keys_sql(kind, key_lines) + ")",
                {"source_file": extract.name},
            )
        # with no repeated key and no refused row every row went straight into raw: no third read of the file
        screened, repeats = load_screened(con, parsed, parameters, path, file) if repeated or refused else (0, 0)
    con.execute("drop table special_keys")
    return FileLoad(parsed, direct + screened, repeats)


def load_screened(con, parsed: ParsedExtract, parameters: dict, path: Path, file: dict) -> tuple[int, int]:
    """The rows of one extract whose key is in special_keys, screened (see stage_rows), into raw or raw.quarantine;
    returns how many rows were screened and how many of them were identical repeats."""
    kind = parsed.extract.kind
    stage_rows(con, parsed, parameters, path, only_keys="special_keys")
    columns = ", ".join(contract.COLUMNS[kind])
    con.execute(
        f"""insert into {LOADED[kind]}
            select $source_file, $extract_date, line_number, {columns}{", raw_row" if kind == "vrr_requests" else ""}
            from screened where not is_repeat and len(reasons) = 0""",
        {k: file[k] for k in ("source_file", "extract_date")},
    )
    con.execute(
        """insert into raw.quarantine
           select $run_id, $source_file, $kind, $extract_date, line_number, record_key, reasons[1],
                  messages.reason, array_to_string(reasons, ', '), raw_row
           from screened join reason_messages as messages on messages.code = reasons[1]
           where not is_repeat and len(reasons) > 0""",
        file,
    )
    screened, repeats = con.execute("select count(*), count(*) filter (where is_repeat) from screened").fetchone()
    for table in ("received", "screened"):
        con.execute(f"drop table {table}")
    return screened, repeats


# --------------------------------------------------------------------------- the whole landing folder


@dataclass
class Plan:
    """What a run reads: every extract (full build) or only those new or changed since the published warehouse."""

    extracts: list[ExtractFile]
    fingerprints: dict[str, str]
    to_read: list[ExtractFile] = field(default_factory=list)
    to_drop: list[str] = field(default_factory=list)  # names whose rows leave the warehouse (changed or removed)
    full: bool = True
    reason: str = ""
    refresh_exports: bool = False  # nothing new to read, but the exports are not yet those of the published warehouse

    @property
    def nothing_new(self) -> bool:
        return not self.full and not self.to_read and not self.to_drop and not self.refresh_exports


def key_check(key: bytes) -> str:
    """A keyed digest of a fixed text: tells whether the published pseudonyms were made under the same key, without
    storing anything from which the key could be learnt."""
    return contract.pseudonymise("vrr key check", key)


def models_check() -> str:
    """SHA-256 over the dbt project's models, macros, seeds and settings: when they change, the incremental models'
    earlier quarters would be stale, so the next run is a full build."""
    digest = hashlib.sha256()
    folders = [DBT_PROJECT_DIR / name for name in ("models", "macros", "seeds")]
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.is_file()) + [
        DBT_PROJECT_DIR / "dbt_project.yml"
    ]:
        digest.update(path.relative_to(DBT_PROJECT_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ingest_state(key: bytes) -> tuple:
    return RAW_LAYOUT, key_check(key), models_check()


def published_files(warehouse_path: Path, key: bytes) -> tuple[dict[str, str] | None, str]:
    """Name -> SHA-256 of the extracts in the published warehouse, or None (and why) when it cannot be built on."""
    with warehouse.published_read_only(warehouse_path) as con:
        if con is None:
            return None, "no published warehouse yet"
        try:
            state = con.execute("select raw_layout, key_check, models_check from raw.ingest_state").fetchall()
            files = dict(con.execute("select source_file, sha256 from raw.extract_files").fetchall())
        except duckdb.Error:
            return None, "the published warehouse was built by an earlier version"
    layout, key_matches, models = ingest_state(key)
    if not state or state[0][0] != layout:
        return None, "the published warehouse was built by an earlier version"
    if state[0][1] != key_matches:
        return None, "the published warehouse was built under another pseudonym key"
    if state[0][2] != models:
        return None, "the dbt models, macros or seeds changed since the published warehouse was built"
    return files, ""


def plan_run(
    extracts: list[ExtractFile],
    fingerprints: dict[str, str],
    published: dict[str, str] | None,
    full_refresh: bool,
    why_full: str = "",
) -> Plan:
    """Which extracts to read. Pure: the landing folder's fingerprints against the published warehouse's."""
    if full_refresh or published is None:
        return Plan(
            extracts, fingerprints, list(extracts), [], True, "full refresh requested" if full_refresh else why_full
        )
    to_read = [e for e in extracts if published.get(e.name) != fingerprints[e.name]]
    to_drop = sorted(name for name, sha in published.items() if fingerprints.get(name) != sha)
    return Plan(extracts, fingerprints, to_read, to_drop, False, "")


def connect(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A connection with the run's DuckDB memory limit, threads and spill folder (from settings), the row checks'
    macros and the keyed pseudonym function (under the settings' key)."""
    con = duckdb.connect(str(path))
    for name, value in settings.duckdb_settings().items():
        con.execute(f"set {name} = ?", [value])
    contract.create_macros(con)
    contract.create_pseudonym_function(con, settings.pseudonym_key)
    return con


def prepare(con) -> dict:
    """Tables, reason messages, and the parameters of the row checks."""
    for ddl in RAW_DDL:
        con.execute(ddl)
    con.execute("create or replace temp table reason_messages (code varchar, reason varchar)")
    con.executemany("insert into reason_messages values (?, ?)", list(contract.REASONS.items()))
    outcome_codes = contract.load_outcome_codes(SEEDS_DIR / "outcome_codes.csv")
    return contract.check_parameters(dt.date.min, outcome_codes)


def drop_files(con, names: list[str]) -> None:
    """Remove every row of files that changed or left the landing folder, remembering the records they held."""
    if not names:
        return
    con.execute(
        "insert into touched_decisions select decision_id from raw.decisions where list_contains($n, source_file)",
        {"n": names},
    )
    con.execute(
        """insert into touched_decisions select decision_id from raw.vrr_requests_received
           where list_contains($n, source_file)""",
        {"n": names},
    )
    con.execute(
        "insert into touched_requests select request_id from raw.vrr_requests_received "
        "where list_contains($n, source_file)",
        {"n": names},
    )
    for table in ("raw.decisions", "raw.vrr_requests_received", "raw.quarantine", "raw.extract_files"):
        con.execute(f"delete from {table} where list_contains($n, source_file)", {"n": names})


def check_requests_against_decisions(con, run_id: str) -> None:
    """Hold requests whose decision is not known yet; refuse requests dated before their decision. Re-run over
    every request received, so a decision that arrives later releases its requests."""
    columns = ", ".join(contract.REQUEST_COLUMNS)
    con.execute(
        """
        create or replace temp table requests_checked as
        with

        latest_decisions as (
            select decision_id, cast(decision_date as date) as decision_date
            from raw.decisions
            where decision_id in (select decision_id from raw.vrr_requests_received)
            qualify row_number() over (
                partition by decision_id order by extract_date desc, source_file desc, line_number desc) = 1
        ),

        final as (
            select
                requests.*,
                case
                    when latest_decisions.decision_id is null then 'unknown_decision'
                    when cast(requests.request_date as date) < latest_decisions.decision_date
                        then 'request_before_decision'
                end as cross_reason
            from raw.vrr_requests_received as requests
            left join latest_decisions on requests.decision_id = latest_decisions.decision_id
        )

        select * from final
        """
    )
    con.execute("delete from raw.vrr_requests")
    con.execute(f"""insert into raw.vrr_requests select source_file, extract_date, line_number, {columns}
                    from requests_checked where cross_reason is null""")
    con.execute("delete from raw.quarantine where list_contains($r, reason_code)", {"r": list(CROSS_RECORD_REASONS)})
    con.execute(
        """insert into raw.quarantine
           select $run_id, source_file, 'vrr_requests', extract_date, line_number, request_id, cross_reason,
                  messages.reason, cross_reason, raw_row
           from requests_checked join reason_messages as messages on messages.code = cross_reason""",
        {"run_id": run_id},
    )
    con.execute("drop table requests_checked")


def record_files(con, loads: list[FileLoad], run_id: str) -> None:
    """One row per file read by this run, then every file's loaded and quarantined counts from the tables."""
    for load in loads:
        p = load.parsed
        con.execute(
            "insert into raw.extract_files values (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
            [
                p.extract.name,
                p.extract.kind,
                p.extract.extract_date,
                p.sha256,
                p.size_bytes,
                p.encoding,
                load.rows_read,
                load.duplicates_dropped,
                ", ".join(p.extra_columns),
                run_id,
            ],
        )
    con.execute(
        """
        create or replace table raw.extract_files as
        with

        loaded as (
            select source_file, count(*) as rows_loaded from raw.decisions group by source_file
            union all
            select source_file, count(*) from raw.vrr_requests group by source_file
        ),

        quarantined as (
            select source_file, count(*) as rows_quarantined from raw.quarantine group by source_file
        ),

        final as (
            select
                files.* replace (
                    cast(coalesce(loaded.rows_loaded, 0) as integer) as rows_loaded,
                    cast(coalesce(quarantined.rows_quarantined, 0) as integer) as rows_quarantined
                )
            from raw.extract_files as files
            left join loaded on files.source_file = loaded.source_file
            left join quarantined on files.source_file = quarantined.source_file
        )

        select * from final order by extract_date, extract_kind, source_file
        """
    )


def record_history(con, run_id: str) -> None:
    """An event when a row first enters quarantine and when it leaves it (late-arriving data); reloading a folder
    that is already loaded adds nothing."""
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
        select
            'released', $run_id, now()::timestamp, o.source_file, o.file_sha256, o.line_number, o.record_key,
            o.reason_code
        from open o anti join current c using (file_sha256, line_number, reason_code)
        """,
        {"run_id": run_id},
    )


def touch_read_files(con, read: list[str]) -> None:
    """The decisions and requests of the files this run read, and the decisions those requests name, as touched."""
    con.execute(
        "insert into touched_decisions select decision_id from raw.decisions where list_contains($n, source_file)",
        {"n": read},
    )
    con.execute(
        "insert into touched_requests select request_id from raw.vrr_requests_received "
        "where list_contains($n, source_file)",
        {"n": read},
    )
    con.execute(
        """insert into touched_decisions select decision_id from raw.vrr_requests_received
           where request_id in (select request_id from touched_requests)"""
    )


def record_affected_quarters(con, plan: Plan, read: list[str]) -> None:
    """The quarters the incremental dbt models rebuild: those in which any touched decision was (per the marts of
    the warehouse this build started from) or now is. A decision is touched when a file that changed holds a
    version of it, or a version of a request that names it. (A full build rebuilds everything: every quarter with a
    decision.)"""
    if not plan.full:
        touch_read_files(con, read)
    had_marts = warehouse.has_table(con, "marts.fct_vrr_decisions")
    before = (
        "select period_start from marts.fct_vrr_decisions where decision_id in (select decision_id from "
        "touched_decisions) union all"
        if had_marts and not plan.full
        else ""
    )
    touched = "" if plan.full else "where decision_id in (select decision_id from touched_decisions)"
    con.execute(
        f"""
        create or replace table raw.affected_quarters as
        with

        now_latest as (
            -- the quarter of each decision's latest version (the newest extract wins; one version per extract)
            select
                cast(date_trunc('quarter', cast(arg_max(decision_date, (extract_date, line_number)) as date)) as date)
                    as period_start
            from raw.decisions
            {touched}
            group by decision_id
        ),

        final as (
            select distinct period_start from ({before} select period_start from now_latest)
        )

        select * from final order by period_start
        """
    )
    # the decisions int_decisions_latest rebuilds (a full build rebuilds every one)
    con.execute("delete from raw.touched_decisions")
    if not plan.full:
        con.execute("insert into raw.touched_decisions select distinct decision_id from touched_decisions")


def file_fingerprint(extract: ExtractFile) -> str:
    try:
        return contract.fingerprint(extract.path)
    except OSError as exc:
        raise ExtractError(f"{extract.name}: the file cannot be read ({exc.strerror})") from exc


def each_file(check, extracts: list[ExtractFile], threads: int) -> list:
    """check(extract) for every extract, on up to `threads` files at once (hashing and the numpy scans of
    read_extract let go of Python's lock, so large files are checked side by side); the results in the order of
    `extracts`, and the error of the first file in that order that has one."""
    if threads <= 1 or len(extracts) <= 1:
        return [check(e) for e in extracts]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(threads, len(extracts))) as pool:
        return list(pool.map(check, extracts))


def ingest_landing(settings: Settings, run_id: str, log=None, full_refresh: bool = False) -> tuple[Plan, dict]:
    """Read what is new in the landing folder into a new build of the warehouse. Returns (plan, folder info); with
    nothing new, no build is made (info["build"] is None)."""
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
        raise ExtractError(
            f"landing folder {settings.landing_dir} holds no decisions_*.csv or vrr_requests_*.csv extracts"
        )
    fingerprints = dict(
        zip(
            (e.name for e in folder.extracts),
            each_file(file_fingerprint, folder.extracts, settings.threads),
            strict=True,
        )
    )
    published, why = published_files(settings.warehouse_path, settings.pseudonym_key)
    plan = plan_run(folder.extracts, fingerprints, published, full_refresh, why)
    if plan.nothing_new and not warehouse.exports_current(settings.warehouse_path, settings.export_dir):
        # a run killed or failed after publishing, or new code for the packs: rebuild on what is published so that
        # every pack is that of the published warehouse, made by this code
        plan.refresh_exports = True
        plan.reason = "the exports are not yet those of the published warehouse and this code"
    info = {"as_at_date": folder.as_at_date, "skipped": folder.skipped, "build": None}
    if plan.nothing_new:
        return plan, info
    # Every file to be read is checked before anything is written.
    parsed = each_file(lambda e: contract.read_extract(e, fingerprints[e.name]), plan.to_read, settings.threads)

    build = warehouse.start_build(settings.warehouse_path, run_id)
    origin = None
    if not plan.full:
        origin = warehouse.warehouse_identity(settings.warehouse_path)
        shutil.copyfile(settings.warehouse_path, build)
    info["build"] = build
    try:
        with connect(build, settings) as con:
            parameters = prepare(con)
            con.execute("create or replace temp table touched_decisions (decision_id varchar)")
            con.execute("create or replace temp table touched_requests (request_id varchar)")
            if plan.full:
                carry_history(con, settings)
            drop_files(con, plan.to_drop)
            in_order = [p for kind in contract.COLUMNS for p in parsed if p.extract.kind == kind]
            loads = load_files(con, in_order, parameters, run_id, build.parent, settings.threads)
            check_requests_against_decisions(con, run_id)
            record_files(con, loads, run_id)
            con.execute("delete from raw.skipped_files")
            if folder.skipped:
                con.executemany(
                    "insert into raw.skipped_files values (?, ?, ?)",
                    [(s["file"], s["reason"], run_id) for s in folder.skipped],
                )
            record_history(con, run_id)
            record_affected_quarters(con, plan, [p.extract.name for p in parsed])
            con.execute("delete from raw.ingest_state")
            con.execute("insert into raw.ingest_state values (?, ?, ?)", list(ingest_state(settings.pseudonym_key)))
            con.execute("delete from raw.build_origin")
            if origin:
                con.execute("insert into raw.build_origin values (?)", [origin])
    except BaseException:
        build.unlink(missing_ok=True)
        raise
    return plan, info


def carry_history(con, settings: Settings) -> None:
    """Copy the append-only history of the published warehouse into a build made from scratch."""
    if not settings.warehouse_path.exists():
        return
    con.execute("attach ? as published (read_only)", [str(settings.warehouse_path)])
    try:
        for table in warehouse.HISTORY_TABLES:
            if warehouse.has_table(con, table, "published"):
                con.execute(f"insert into {table} select * from published.{table}")
    finally:
        con.execute("detach published")


# --------------------------------------------------------------------------- the asset


def reconcile(con, kind: str) -> list[dict]:
    """Per file: rows read against rows found loaded in raw, in quarantine, and dropped as identical repeats."""
    rows = con.execute(
        f"""
        with loaded as (select source_file, count(*) as n from raw.{kind} group by source_file),
        quarantined as (select source_file, count(*) as n from raw.quarantine group by source_file)
        select f.source_file, f.rows_read, coalesce(l.n, 0), coalesce(q.n, 0), f.duplicates_dropped
        from raw.extract_files f
        left join loaded l on l.source_file = f.source_file
        left join quarantined q on q.source_file = f.source_file
        where f.extract_kind = ? order by f.source_file
        """,
        [kind],
    ).fetchall()
    return [
        {
            "file": r[0],
            "rows_read": r[1],
            "loaded": r[2],
            "quarantined": r[3],
            "duplicates_dropped": r[4],
            "balanced": r[1] == r[2] + r[3] + r[4],
        }
        for r in rows
    ]


FILE_COLUMNS = (
    "source_file",
    "extract_kind",
    "extract_date",
    "encoding",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "duplicates_dropped",
    "extra_columns",
    "run_id",
)


def extract_files(con, kind: str | None = None) -> list[dict]:
    rows = con.execute(
        f"select {', '.join(FILE_COLUMNS)} from raw.extract_files where extract_kind = coalesce(?, extract_kind) "
        "order by extract_date, extract_kind, source_file",
        [kind],
    ).fetchall()
    return [dict(zip(FILE_COLUMNS, r, strict=True)) for r in rows]


def files_markdown(files: list[dict]) -> str:
    lines = [
        "| file | as at | encoding | read | loaded | quarantined | identical repeats dropped |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for f in files:
        lines.append(
            f"| {f['source_file']} | {f['extract_date']} | {f['encoding']} | {f['rows_read']} "
            f"| {f['rows_loaded']} | {f['rows_quarantined']} | {f['duplicates_dropped']} |"
        )
    return "\n".join(lines)


def ingest_spec(key: dg.AssetKey, description: str, *kinds: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        description=description,
        group_name="ingest",
        kinds={"duckdb", *kinds},
        owners=["team:vrr-data"],
        skippable=True,
    )


@dg.multi_asset(
    specs=[
        ingest_spec(
            RAW_DECISIONS,
            "Police and CPS decisions from every decisions_YYYY-MM-DD.csv extract in the "
            "landing folder: one row per loaded row (all versions), identifiers pseudonymised, dates as "
            "YYYY-MM-DD.",
            "csv",
        ),
        ingest_spec(
            RAW_VRR_REQUESTS,
            "VRR requests from every vrr_requests_YYYY-MM-DD.csv extract: one row per "
            "loaded row (all versions). Requests whose decision is unknown or later are held in quarantine.",
            "csv",
        ),
        ingest_spec(
            RAW_EXTRACT_FILES,
            "One row per extract file in the warehouse: kind, as-at date, SHA-256, "
            "encoding, what became of its rows, and the run that read it. Also raw.skipped_files (names "
            "that do not match the contract) and raw.affected_quarters (the quarters this run rebuilds).",
        ),
        ingest_spec(
            RAW_QUARANTINE,
            "The current quarantine: one row per refused row with its reason code, file, "
            "line, run id and the row as received (identifiers pseudonymised).",
        ),
        ingest_spec(
            QUARANTINE_HISTORY,
            "Append-only history (audit.quarantine_history): an event when a row enters "
            "quarantine and when it leaves (e.g. a request whose decision arrived later). Carried from build "
            "to build.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "rows_reconcile",
            asset=key,
            blocking=True,
            description="Every row read is loaded, quarantined with a reason, or dropped as an identical repeat, file "
            "by file. Blocking: a failure stops the run before anything is published.",
        )
        for key in ASSET_KEYS.values()
    ],
    pool="warehouse",
    can_subset=True,  # with nothing new, nothing is materialised and every step downstream is skipped
)
def landing_extracts(context: dg.AssetExecutionContext, vrr: VrrSettings):
    """Read what is new in the landing folder into a new build of the warehouse (all of it on a full refresh)."""
    selected = context.selected_asset_keys
    yield from (event for event in ingest_events(context, vrr) if event.asset_key in selected)


def ingest_events(context: dg.AssetExecutionContext, vrr: VrrSettings):
    settings = vrr.resolve()
    plan, info = ingest_landing(settings, context.run_id, context.log, vrr.full_refresh)
    if plan.nothing_new:
        context.log.info(
            f"Nothing new: the {len(plan.extracts)} extracts in the landing folder are those of the published "
            "warehouse (same names and SHA-256). Nothing was read or rebuilt; the published warehouse and exports "
            "stand."
        )
        return
    read = {p.name for p in plan.to_read}
    context.log.info(
        ("Full build" + (f" ({plan.reason})" if plan.reason else "") if plan.full else "Incremental build")
        + f": read {len(read)} extract(s), dropped the rows of {len(plan.to_drop)} changed or removed file(s)."
    )
    with duckdb.connect(str(info["build"]), read_only=True) as con:
        quarters = [str(r[0]) for r in con.execute("select period_start from raw.affected_quarters").fetchall()]
        for kind, key in ASSET_KEYS.items():
            files = extract_files(con, kind)
            reasons = dict(
                con.execute(
                    "select reason_code, count(*) from raw.quarantine where extract_kind = ? group by 1 order by 1",
                    [kind],
                ).fetchall()
            )
            extra = sorted({c for f in files for c in (f["extra_columns"] or "").split(", ") if c})
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "files_read": len(files),
                    "files_read_this_run": sorted(f["source_file"] for f in files if f["source_file"] in read),
                    "rows_read": sum(f["rows_read"] for f in files),
                    "rows_loaded": sum(f["rows_loaded"] for f in files),
                    "rows_quarantined": sum(f["rows_quarantined"] for f in files),
                    "duplicates_dropped": sum(f["duplicates_dropped"] for f in files),
                    "as_at_date": str(info["as_at_date"]),
                    "files": dg.MetadataValue.md(files_markdown(files)),
                    "quarantine_by_reason": dg.MetadataValue.json(reasons),
                    "non_utf8_files": dg.MetadataValue.json(
                        [f["source_file"] for f in files if f["encoding"] != "utf-8"]
                    ),
                    "extra_columns_ignored": dg.MetadataValue.json(extra),
                    "skipped_files": dg.MetadataValue.json(info["skipped"]),
                    "dagster/row_count": sum(f["rows_loaded"] for f in files),
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
            "select event, count(*) from audit.quarantine_history where run_id = ? group by 1 order by 1",
            [context.run_id],
        ).fetchall()
        history_rows = con.execute("select count(*) from audit.quarantine_history").fetchone()[0]
        all_files = extract_files(con)
    yield dg.MaterializeResult(
        asset_key=RAW_EXTRACT_FILES,
        metadata={
            "as_at_date": str(info["as_at_date"]),
            "files_read": len(all_files),
            "build": "full" if plan.full else "incremental",
            "affected_quarters": dg.MetadataValue.json(quarters),
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
