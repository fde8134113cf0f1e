"""The warehouse file's life cycle: every run builds a new file beside the published one and swaps it in
atomically only after every blocking check has passed, so a failed or killed run leaves the last good
warehouse exactly as it was."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

import duckdb

from pipeline import __version__, lock
from pipeline.settings import DEFAULT_COMPACT_FREE_SHARE

# Tables carried forward from the published warehouse into a build made from scratch: the append-only history of
# quarantine, and the counts of the last issue (what has been published stays published after a full refresh).
HISTORY_TABLES = ("audit.quarantine_history", "audit.disclosure_counts")


def has_table(con, table: str, database: str | None = None) -> bool:
    """Whether a table (`schema.name`) exists, in the connection's own database or in an attached `database`."""
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name || '.' || table_name = ? "
            "and database_name = coalesce(?, current_database())",
            [table, database],
        ).fetchone()[0]
    )


def build_path(warehouse_path: Path, run_id: str) -> Path:
    """The file a run builds into: hidden, beside the published file (same filesystem, so the swap is atomic)."""
    return warehouse_path.with_name(f".{warehouse_path.name}.build-{run_id}")


def compact_path(build: Path) -> Path:
    """Where the publish step writes a compacted copy of a build: beside it, named after the same run
    (`.vrr.duckdb.build-<run id>.compact`), so the clean-up of stale builds knows it as that run's."""
    return build.with_name(f"{build.name}.compact")


def _wal(path: Path) -> Path:
    return path.with_name(f"{path.name}.wal")


def private_umask() -> int:
    """Files written from here on are readable by their owner only; returns the previous mask."""
    return os.umask(0o077)


def _owner_run(name: str, marker: str) -> str:
    """The run id in a leftover's name: `.vrr.duckdb.build-<run id>[.wal|.compact|.compact.wal]`,
    `.staging-<run id>` (a run id holds no dot)."""
    return name.split(marker, 1)[1].split(".", 1)[0]


def remove_stale(warehouse_path: Path, export_dir: Path | None, run_id: str, also: tuple[Path, ...] = ()) -> list[Path]:
    """Remove what runs that failed or were killed left behind (warehouse builds, their compacted copies and their
    write-ahead logs, export staging folders, and builds of the files in `also`, such as the analysts' copy),
    except this run's and that of the run holding the warehouse lock, if alive."""
    holder = lock.live_holder(warehouse_path)
    keep = {run_id, holder.run_id} if holder else {run_id}
    leftovers = [
        (p, ".build-") for target in (warehouse_path, *also) for p in target.parent.glob(f".{target.name}.build-*")
    ]
    if export_dir is not None and export_dir.is_dir():
        leftovers += [(p, ".staging-") for p in export_dir.glob(".staging-*")]
    removed = []
    for path, marker in leftovers:
        if _owner_run(path.name, marker) in keep:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def discard_build(warehouse_path: Path, run_id: str) -> None:
    """Remove this run's build (its compacted copy, their write-ahead logs) if still there: the run ended without
    publishing it."""
    build = build_path(warehouse_path, run_id)
    for path in (build, _wal(build), compact_path(build), _wal(compact_path(build))):
        path.unlink(missing_ok=True)


def start_build(warehouse_path: Path, run_id: str) -> Path:
    """Create an empty build file for this run, removing builds left by runs that failed or were killed."""
    private_umask()
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(warehouse_path, None, run_id)
    path = build_path(warehouse_path, run_id)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists audit")
    return path


@contextlib.contextmanager
def published_read_only(warehouse_path: Path):
    """A read-only connection to the published warehouse, or None when nothing is published yet."""
    if not warehouse_path.exists():
        yield None
        return
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def quoted(name: str) -> str:
    """A name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def free_share(con, database: str) -> float:
    """The share of an open database file that is free blocks (0 for an empty file)."""
    total, free = con.execute(
        "select total_blocks, free_blocks from pragma_database_size() where database_name = ?", [database]
    ).fetchone()
    return free / total if total else 0.0


def catalog(con, database: str) -> dict[str, list]:
    """What a database holds, to compare a compacted copy with its original: schemas (empty ones too), tables
    with their row counts and comments, columns with types, defaults and comments (views' too), views with their
    row counts and comments, macros,
    sequences (with their last value), types, indexes and constraints."""
    queries = {
        "schemas": "select schema_name, comment from duckdb_schemas() where database_name = $db and not internal",
        "tables": "select schema_name, table_name, comment from duckdb_tables() where database_name = $db",
        "columns": "select schema_name, table_name, column_name, column_index, data_type, column_default, "
        "is_nullable, comment from duckdb_columns() where database_name = $db",
        # not the SQL text: DuckDB writes a view's `* replace (...)` list back in no fixed order, so the same view
        # can read differently; each view's columns and rows are compared instead (it must bind in the copy)
        "views": "select schema_name, view_name, comment from duckdb_views() "
        "where database_name = $db and not internal",
        "macros": "select schema_name, function_name, function_type, parameters, macro_definition "
        "from duckdb_functions() where database_name = $db and not internal",
        "sequences": "select schema_name, sequence_name, increment_by, min_value, max_value, cycle, last_value "
        "from duckdb_sequences() where database_name = $db",
        "types": "select schema_name, type_name, logical_type from duckdb_types() "
        "where database_name = $db and not internal",
        "indexes": "select schema_name, table_name, index_name, is_unique, expressions from duckdb_indexes() "
        "where database_name = $db",
        "constraints": "select schema_name, table_name, constraint_type, constraint_text from duckdb_constraints() "
        "where database_name = $db",
    }
    found = {name: con.execute(f"{sql} order by all", {"db": database}).fetchall() for name, sql in queries.items()}
    found["rows"] = [
        (
            schema,
            table,
            con.execute(f"select count(*) from {quoted(database)}.{quoted(schema)}.{quoted(table)}").fetchone()[0],
        )
        for schema, table, _ in [*found["tables"], *found["views"]]
    ]
    return found


def publish(
    build: Path,
    warehouse_path: Path,
    compact_free_share: float = DEFAULT_COMPACT_FREE_SHARE,
    duckdb_settings: dict | None = None,
) -> dict:
    """Swap the finished build in place of the published warehouse (atomic rename), compacted first when more
    than `compact_free_share` of its file is free blocks. Returns what was done, for the asset's metadata.

    Why compact: an incremental run's build starts as a copy of the published warehouse and deletes and
    re-inserts the quarters it rebuilds; DuckDB reuses freed blocks but never gives them back to the
    filesystem, so without this the file only grows (1.8 times a fresh build after twenty incremental runs on
    the sample). `COPY FROM DATABASE` into a new file writes only live data, with every schema (empty ones
    too), table, view, macro, sequence and comment, under the same names, so the next run opens it as before.

    Why only above a share (VRR_COMPACT_FREE_SHARE, default 0.2) rather than every time: the copy rewrites the
    whole file and needs room on disk for a second copy. On the sample it takes a fifth of a second, but its time
    grows with the file (measured: about 11 s for a 430 MB file on the shared 2-core machine), while most
    incremental runs free little. Compacting above a fifth of the file
    free keeps the published file within 1.25 times its live data.

    The copy is checked against the build (the `catalog` above: names, comments, SQL and row counts) before it
    is swapped in; if they differ the run fails and nothing is published. The copy is written beside the build
    as `.<warehouse name>.build-<run id>.compact`: if the run is killed, the next run removes it like any other
    leftover of a dead run."""
    compact = compact_path(build)
    for leftover in (compact, _wal(compact)):
        leftover.unlink(missing_ok=True)
    with duckdb.connect(str(build)) as con:
        for name, value in (duckdb_settings or {}).items():
            con.execute(f"set {name} = ?", [value])
        con.execute("checkpoint")
        database = con.execute("select current_database()").fetchone()[0]
        share = free_share(con, database)
        done = {"size_before": build.stat().st_size, "free_share_before": round(share, 3)}
        done["compacted"] = share > compact_free_share
        if done["compacted"]:
            alias = f"{database}__compacted"
            con.execute(f"attach ? as {quoted(alias)}", [str(compact)])
            try:
                con.execute(f"copy from database {quoted(database)} to {quoted(alias)}")
                con.execute(f"checkpoint {quoted(alias)}")
                original, copied = catalog(con, database), catalog(con, alias)
            finally:
                con.execute(f"detach {quoted(alias)}")
            differ = sorted(part for part in original if original[part] != copied[part])
            if differ:
                raise RuntimeError(
                    f"The compacted copy of the warehouse build differs from the build in its "
                    f"{', '.join(differ)}: nothing was published."
                )
    published = compact if done["compacted"] else build
    os.chmod(published, 0o600)
    os.replace(published, warehouse_path)
    for leftover in (build, _wal(build), _wal(compact)):
        leftover.unlink(missing_ok=True)
    done["size_after"] = warehouse_path.stat().st_size
    return done


EXPORTS_MARKER = ".exports-current"
# The modules that make the review packs from the published warehouse.
EXPORT_CODE = ("pack.py", "publication.py", "report.py", "disclosure.py", "export.py", "analysts.py")


def export_code_fingerprint() -> str:
    """SHA-256 of the code that makes the review packs: packs made by other code are made again, even at one
    version."""
    digest = hashlib.sha256(__version__.encode())
    for name in EXPORT_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def warehouse_identity(warehouse_path: Path) -> str:
    """Which published warehouse this is: each publication is a new file (size and modification time in ns)."""
    stat = warehouse_path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def write_note(path: Path, *words: str) -> None:
    """A one-line note of published state (which warehouse, which code), written whole: staged, then renamed."""
    staged = path.with_name(f"{path.name}.tmp")
    staged.write_text(" ".join(words) + "\n", encoding="utf-8")
    os.replace(staged, path)


def note_says(path: Path, *words: str) -> bool:
    """True when the note at `path` exists and says exactly these words."""
    return path.exists() and path.read_text(encoding="utf-8").split() == list(words)


def exports_current(warehouse_path: Path, export_dir: Path) -> bool:
    """True when the last export of every complete quarter was made from the published warehouse as it is now,
    by this code."""
    if not warehouse_path.exists():
        return True
    return note_says(export_dir / EXPORTS_MARKER, warehouse_identity(warehouse_path), export_code_fingerprint())


def mark_exports_current(warehouse_path: Path, export_dir: Path) -> None:
    write_note(export_dir / EXPORTS_MARKER, warehouse_identity(warehouse_path), export_code_fingerprint())
