"""The analysts' copy of the warehouse: the marts and reference tables, with their comments and an `about` table,
in a DuckDB file that every client from DuckDB 1.2 on opens (the project's own DuckDB writes a newer storage format
by default, which 1.x clients refuse). Written beside its final place after each successful publish and swapped in
with one rename, so a reader sees the old copy or the new one, never a mix."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipeline import __version__, warehouse

# The oldest storage format that keeps everything the marts use (comments included); DuckDB 1.2 and later read it.
STORAGE_VERSION = "v1.2.0"
SCHEMAS = ("marts", "reference")
ALIAS = "analysts_copy"
SOURCE = "warehouse"

ABOUT_COMMENT = (
    "What this file is: as-at date, run, code version, counting bases, eligibility rules, disclosure "
    "settings. One row per item."
)


def staging_path(published_path: Path, run_id: str) -> Path:
    """Where a run writes the copy before the swap: hidden, beside it, named like a warehouse build so that the
    clean-up of runs that died removes it (`warehouse.remove_stale`)."""
    return published_path.with_name(f".{published_path.name}.build-{run_id}")


def remove_staged(published_path: Path, run_id: str) -> None:
    """Remove this run's staged copy and its write-ahead log, if there."""
    staged = staging_path(published_path, run_id)
    for path in (staged, staged.with_name(staged.name + ".wal")):
        path.unlink(missing_ok=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def marker_path(published_path: Path) -> Path:
    """Beside the copy: which published warehouse it was copied from, by which code, and the copy's own size and
    modification time then."""
    return published_path.with_name(f".{published_path.name}.source")


def code_fingerprint() -> str:
    """SHA-256 of the code that writes the copy: a copy written by other code is never brought up to date."""
    return hashlib.sha256(__version__.encode() + Path(__file__).read_bytes()).hexdigest()


def write_copy(
    warehouse_path: Path,
    published_path: Path,
    run_id: str,
    about: list[tuple[str, str]],
    duckdb_settings: dict | None = None,
    built_on: str | None = None,
    compact_free_share: float = 0.2,
) -> tuple[dict[str, int], str]:
    """Copy the marts and reference tables of the warehouse into the analysts' file and swap it in, with DuckDB's
    resources from `duckdb_settings` (the run's memory limit, threads and spill folder); returns the rows of each
    table copied. In the copy, schema `main` holds a view of each mart under its own name, so `SHOW TABLES` (or the
    CLI's `.tables`) lists the marts and `select * from vrr_uptake` works.

    `built_on`: the identity of the warehouse that this one was built on incrementally (None: built from scratch).
    When the published copy was made from that warehouse by this code, the copy is brought up to date rather than
    written whole: it starts as a copy of the published file, `fct_vrr_decisions` loses and regains only the
    decisions the build rebuilt (raw.touched_decisions, its key in the incremental dbt model), and every other
    table, small, is written afresh: the same tables, rows, comments and views as a whole copy (tested). It is
    written whole instead when more than `compact_free_share` (VRR_COMPACT_FREE_SHARE, as for the warehouse) of the
    file is free space after the update, so that the file does not only grow, or straight away when more than twice
    that share of the table's rows would be rewritten. Returns (rows of each table, how the copy was made: "brought
    up to date" or "written whole ...").
    """
    staged = staging_path(published_path, run_id)
    update = updatable(published_path, built_on)
    # a staged copy this run's disclosure step left (copied_ahead) is used when the copy is written whole
    if update or not staged.exists():
        remove_staged(published_path, run_id)
    published_path.parent.mkdir(parents=True, exist_ok=True)
    rows, how = None, "written whole"
    if update:
        shutil.copyfile(published_path, staged)
        rows = _attached(warehouse_path, staged, duckdb_settings, lambda con: _update(con, about, compact_free_share))
        how = "brought up to date"
        if rows is None:  # the mart's columns changed, or too much of the file would be free space: written whole
            how = "written whole (brought up to date, more than VRR_COMPACT_FREE_SHARE of it would be free space)"
            remove_staged(published_path, run_id)
    elif staged.exists():
        rows = _attached(warehouse_path, staged, duckdb_settings, lambda con: _finish_ahead(con, about))
        if rows is None:
            remove_staged(published_path, run_id)
        else:
            how = f"written whole ({BY_DECISION} while disclosure control ran)"
    if rows is None:
        rows = _attached(warehouse_path, staged, duckdb_settings, lambda con: _copy(con, about), new=True)
    os.chmod(staged, 0o600)
    os.replace(staged, published_path)
    warehouse.write_note(
        marker_path(published_path),
        warehouse.warehouse_identity(warehouse_path),
        code_fingerprint(),
        warehouse.warehouse_identity(published_path),
    )
    return rows, how


def updatable(published_path: Path, built_on: str | None) -> bool:
    """True when the published copy is to be brought up to date rather than written whole: the warehouse was built
    incrementally on `built_on` (see built_on), from which this code made the published copy, not changed since (its
    own size and modification time)."""
    return (
        built_on is not None
        and published_path.exists()
        and warehouse.note_says(
            marker_path(published_path), built_on, code_fingerprint(), warehouse.warehouse_identity(published_path)
        )
    )


def built_on(con: duckdb.DuckDBPyConnection, replaced: str | None) -> str | None:
    """`replaced`, the identity of the published warehouse that a run replaces, when the build (or warehouse) open
    in `con` was built incrementally on it (raw.build_origin); else None: built from scratch, or on another file."""
    origin = con.execute("select max(warehouse_identity) from raw.build_origin").fetchone()[0]
    return replaced if origin is not None and origin == replaced else None


@contextlib.contextmanager
def copied_ahead(
    con: duckdb.DuckDBPyConnection, published_path: Path, run_id: str, duckdb_settings: dict | None = None
) -> Iterator[None]:
    """While the body runs, write the copy's one large table, fct_vrr_decisions, from the build open in `con` into
    this run's staged copy (a new file in the analysts' storage format), on a second connection to the same
    database in a thread of its own. write_copy, after the publish, then writes only the small tables into it.

    Why: the disclosure step is Python on one core, and writing the large table is DuckDB's work: at 10 million
    decisions each takes several seconds, one after the other. Disclosure control neither reads nor changes the
    table, and the warehouse published is this build, so the rows are those a whole copy made after the publish
    would hold (tested). Only for a copy written whole: one brought up to date starts from the published copy.

    If the body fails, the write is interrupted and the staged copy removed; if the write fails, the error is
    raised here, after the body. A killed run's staged copy is removed by the next run (`warehouse.remove_stale`),
    a failed run's at its end (`resources.VrrSettings`)."""
    remove_staged(published_path, run_id)
    published_path.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(published_path, run_id)
    writer = con.cursor()
    for name, value in (duckdb_settings or {}).items():
        writer.execute(f"set {name} = ?", [value])
    source = warehouse.quoted(writer.execute("select current_database()").fetchone()[0])
    failed: list[BaseException] = []

    def write() -> None:
        try:
            writer.execute(f"create schema {ALIAS}.marts")
            writer.execute(f"create table {ALIAS}.{BY_DECISION} as select * from {source}.{BY_DECISION}")
        except BaseException as error:  # raised in the caller's thread
            failed.append(error)

    writer.execute(f"attach {_literal(str(staged))} as {ALIAS} (storage_version '{STORAGE_VERSION}')")
    thread = threading.Thread(target=write, name="analysts-copy-ahead", daemon=True)
    thread.start()
    try:
        try:
            yield
        except BaseException:
            writer.interrupt()
            raise
        finally:
            thread.join()
        if failed:
            raise failed[0]
        # Only now, with the body's statements done: DuckDB refuses to checkpoint one database while another
        # connection's transaction that has looked at its catalogue (duckdb_tables(), say) is open.
        writer.execute(f"checkpoint {ALIAS}")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            writer.execute(f"detach {ALIAS}")
        writer.close()
        remove_staged(published_path, run_id)
        raise
    writer.execute(f"detach {ALIAS}")
    writer.close()


def _finish_ahead(con: duckdb.DuckDBPyConnection, about: list[tuple[str, str]]) -> dict[str, int] | None:
    """Write the rest of a copy whose large table copied_ahead wrote; None when the staged file holds anything else,
    or that table differs from the warehouse's in its columns or rows (the copy is then written whole afresh)."""
    schema, table = BY_DECISION.split(".")
    views = con.execute(
        "select count(*) from duckdb_views() where database_name = ? and not internal", [ALIAS]
    ).fetchone()[0]
    if views or [(s, t) for s, t, _ in _tables(con, ALIAS)] != [(schema, table)]:
        return None
    if [c[:2] for c in _columns(con, ALIAS, schema, table)] != [c[:2] for c in _columns(con, SOURCE, schema, table)]:
        return None  # (names and types: the comments are written with the rest)
    count = f"select count(*) from {{}}.{BY_DECISION}"
    if con.execute(count.format(ALIAS)).fetchone() != con.execute(count.format(SOURCE)).fetchone():
        return None
    return _copy(con, about, keep=(BY_DECISION,))


def _attached(warehouse_path: Path, staged: Path, duckdb_settings: dict | None, work, new: bool = False):
    """work(con) with the warehouse attached read-only as SOURCE and the staged copy as ALIAS (a new file in the
    analysts' storage format when `new`), then the copy checkpointed and detached."""
    with duckdb.connect() as con:
        for name, value in (duckdb_settings or {}).items():
            con.execute(f"set {name} = ?", [value])
        con.execute(f"attach {_literal(str(warehouse_path))} as {SOURCE} (read_only)")
        version = f" (storage_version '{STORAGE_VERSION}')" if new else ""
        con.execute(f"attach {_literal(str(staged))} as {ALIAS}{version}")
        try:
            result = work(con)
            con.execute(f"checkpoint {ALIAS}")
            return result
        finally:
            con.execute(f"detach {ALIAS}")


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> list[tuple[str, str, str | None]]:
    return con.execute(
        f"""select schema_name, table_name, comment from duckdb_tables()
            where database_name = '{database}' and schema_name in ({", ".join(map(_literal, SCHEMAS))})
            order by schema_name, table_name"""
    ).fetchall()


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str, table: str) -> list[tuple]:
    return con.execute(
        """select column_name, data_type, comment from duckdb_columns()
           where database_name = ? and schema_name = ? and table_name = ? order by column_index""",
        [database, schema, table],
    ).fetchall()


def _copy(con: duckdb.DuckDBPyConnection, about: list[tuple[str, str]], keep: tuple[str, ...] = ()) -> dict[str, int]:
    """Write every table of the warehouse's marts and reference schemas into the copy (all but the tables `keep`,
    already there and up to date), with their comments, marts.about, and the views in `main`."""
    tables = _tables(con, SOURCE)
    rows: dict[str, int] = {}
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {ALIAS}.{schema}")
    for schema, table, comment in tables:
        target = f"{ALIAS}.{schema}.{table}"
        if f"{schema}.{table}" not in keep:
            con.execute(f"create table {target} as select * from {SOURCE}.{schema}.{table}")
        if comment:
            con.execute(f"comment on table {target} is {_literal(comment)}")
        for column, _, column_comment in _columns(con, SOURCE, schema, table):
            if column_comment is not None:
                con.execute(f'comment on column {target}."{column}" is {_literal(column_comment)}')
        rows[f"{schema}.{table}"] = con.execute(f"select count(*) from {target}").fetchone()[0]
    con.execute(f"create table {ALIAS}.marts.about (item varchar, value varchar)")
    con.executemany(f"insert into {ALIAS}.marts.about values (?, ?)", about)
    con.execute(f"comment on table {ALIAS}.marts.about is {_literal(ABOUT_COMMENT)}")
    con.execute(f"comment on column {ALIAS}.marts.about.item is 'The item described.'")
    con.execute(f"comment on column {ALIAS}.marts.about.value is 'Its value, as text.'")
    for schema, table, comment in tables:
        if schema == "marts":
            # Unqualified inside the copy: resolved in the copy itself, whatever name a client attaches it as.
            con.execute(f"create view {ALIAS}.main.{table} as select * from marts.{table}")
            con.execute(
                f"comment on view {ALIAS}.main.{table} is "
                f"{_literal(f'The mart marts.{table}, under its own name. ' + (comment or ''))}"
            )
    return rows


# The one large table, brought up to date by decision (its key in the incremental dbt model).
BY_DECISION = "marts.fct_vrr_decisions"


def _update(
    con: duckdb.DuckDBPyConnection, about: list[tuple[str, str]], compact_free_share: float
) -> dict[str, int] | None:
    """Bring a copy of the published copy up to date (see write_copy); None when it should be written whole."""
    schema, table = BY_DECISION.split(".")
    if _columns(con, ALIAS, schema, table) != _columns(con, SOURCE, schema, table):
        return None
    touched = f"decision_id in (select decision_id from {SOURCE}.raw.touched_decisions)"
    rewritten, total = con.execute(
        f"select count(*) filter (where {touched}), count(*) from {SOURCE}.{BY_DECISION}"
    ).fetchone()
    if total and rewritten / total > 2 * compact_free_share:
        # DuckDB rewrites the row groups that lose rows when it checkpoints, leaving their blocks free: rewriting
        # that much would leave too much of the file free, and the copy be written whole after all. (Measured at
        # 1 million decisions, 23% of the rows rewritten left 22% of the file free; at 10 million, with a similar
        # share, under 20%: the share of the file left free is checked after the update, this only skips the
        # updates that are sure to be undone.)
        return None
    views = con.execute(
        "select view_name from duckdb_views() where database_name = ? and schema_name = 'main' and not internal",
        [ALIAS],
    ).fetchall()
    for (view,) in views:
        con.execute(f'drop view {ALIAS}.main."{view}"')
    for old_schema, old_table, _ in _tables(con, ALIAS):
        if f"{old_schema}.{old_table}" != BY_DECISION:
            con.execute(f'drop table {ALIAS}.{old_schema}."{old_table}"')
    con.execute(f"delete from {ALIAS}.{BY_DECISION} where {touched}")
    con.execute(f"insert into {ALIAS}.{BY_DECISION} by name select * from {SOURCE}.{BY_DECISION} where {touched}")
    rows = _copy(con, about, keep=(BY_DECISION,))
    con.execute(f"checkpoint {ALIAS}")
    return None if warehouse.free_share(con, ALIAS) > compact_free_share else rows


COUNTING_BASES = (
    (
        "counting_basis.cohort",
        "vrr_uptake, characteristics_completeness, victim_withdrawal, victim_withdrawal_rate, "
        "nfa_notification_timeliness: decisions made in the quarter (period_start is the quarter of the decision), "
        "and what has happened to them since.",
    ),
    (
        "counting_basis.rolling",
        "vrr_uptake_rolling: decisions made in the four quarters ending with period_start, pooled.",
    ),
    (
        "counting_basis.period",
        "vrr_requests_by_period: requests received and reviews completed in the quarter, "
        "whatever the quarter of the decision (as the CPS publishes). Its totals differ from the cohort basis.",
    ),
)


def about_rows(con: duckdb.DuckDBPyConnection, run_id: str, threshold: int) -> list[tuple[str, str]]:
    """The rows of marts.about, read from the published warehouse."""
    as_at = con.execute("select max(extract_date) from raw.extract_files").fetchone()[0]
    rules = con.execute(
        """select scheme, outcome_code, decision_maker, requires_suspect_interviewed, scheme_start_date
           from reference.vrr_eligibility_rules order by scheme, outcome_code, decision_maker"""
    ).fetchall()
    rows = [
        ("as_at_date", str(as_at)),
        ("run_id", run_id),
        ("code_version", __version__),
        *COUNTING_BASES,
        *(
            (
                f"eligibility_rule.{i}",
                f"{scheme}: outcome {code}, decided by {maker}"
                + (", suspect interviewed" if interviewed else "")
                + f", from {start}",
            )
            for i, (scheme, code, maker, interviewed, start) in enumerate(rules, 1)
        ),
        ("disclosure.threshold", str(threshold)),
        (
            "disclosure.note",
            "The marts here are not disclosure-controlled: they hold counts from 1 to "
            f"{threshold - 1}. Anything given outside the analysts' team goes through the review packs, which are.",
        ),
    ]
    return rows
