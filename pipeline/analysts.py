"""The analysts' copy of the warehouse: the marts and reference tables, with their comments and an `about` table,
in a DuckDB file that every client from DuckDB 1.2 on opens (the project's own DuckDB writes a newer storage format
by default, which 1.x clients refuse). Written beside its final place after each successful publish and swapped in
with one rename, so a reader sees the old copy or the new one, never a mix."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipeline import __version__

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


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_copy(
    warehouse_path: Path,
    published_path: Path,
    run_id: str,
    about: list[tuple[str, str]],
    duckdb_settings: dict | None = None,
) -> dict[str, int]:
    """Copy the marts and reference tables of the warehouse into the analysts' file and swap it in, with DuckDB's
    resources from `duckdb_settings` (the run's memory limit, threads and spill folder); returns the rows of each
    table copied. In the copy, schema `main` holds a view of each mart under its own name, so
    `SHOW TABLES` (or the CLI's `.tables`) lists the marts and `select * from vrr_uptake` works."""
    staged = staging_path(published_path, run_id)
    for path in (staged, staged.with_name(staged.name + ".wal")):
        path.unlink(missing_ok=True)
    published_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        for name, value in (duckdb_settings or {}).items():
            con.execute(f"set {name} = ?", [value])
        con.execute(f"attach {_literal(str(warehouse_path))} as {SOURCE} (read_only)")
        con.execute(f"attach {_literal(str(staged))} as {ALIAS} (storage_version '{STORAGE_VERSION}')")
        try:
            rows = _copy(con, about)
        finally:
            con.execute(f"detach {ALIAS}")
    os.chmod(staged, 0o600)
    os.replace(staged, published_path)
    return rows


def _copy(con: duckdb.DuckDBPyConnection, about: list[tuple[str, str]]) -> dict[str, int]:
    tables = con.execute(
        f"""select schema_name, table_name, comment from duckdb_tables()
            where database_name = '{SOURCE}' and schema_name in ({", ".join(map(_literal, SCHEMAS))})
            order by schema_name, table_name"""
    ).fetchall()
    columns = con.execute(
        f"""select schema_name, table_name, column_name, comment from duckdb_columns()
            where database_name = '{SOURCE}' and schema_name in ({", ".join(map(_literal, SCHEMAS))})
              and comment is not null order by all"""
    ).fetchall()
    rows: dict[str, int] = {}
    for schema in SCHEMAS:
        con.execute(f"create schema {ALIAS}.{schema}")
    for schema, table, comment in tables:
        target = f"{ALIAS}.{schema}.{table}"
        con.execute(f"create table {target} as select * from {SOURCE}.{schema}.{table}")
        if comment:
            con.execute(f"comment on table {target} is {_literal(comment)}")
        rows[f"{schema}.{table}"] = con.execute(f"select count(*) from {target}").fetchone()[0]
    for schema, table, column, comment in columns:
        con.execute(f'comment on column {ALIAS}.{schema}.{table}."{column}" is {_literal(comment)}')
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
    con.execute(f"checkpoint {ALIAS}")
    return rows


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
