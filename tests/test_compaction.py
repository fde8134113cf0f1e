"""The publish step compacts a build with much freed space: an incremental run deletes and re-inserts quarters in
a copy of the published warehouse, and DuckDB never gives freed blocks back to the filesystem. The published file
then holds only live data, with every schema, table, view, macro, sequence, row and comment of the build.

Every expected value here is read from the build before it is published (or from a file written without churn),
never from the code under test."""

import os
import shutil

import duckdb
import pytest

from pipeline import warehouse
from pipeline.settings import resolve_settings

BLOCK = 256 * 1024  # DuckDB's default block size


def contents(path) -> dict[str, list]:
    """What an analyst sees in a warehouse file: schemas, tables and views with their comments, columns with types
    and comments, macros, sequences, and every table's and view's row count and rows' digest. (Not a view's SQL
    text: DuckDB writes a `* replace (...)` list back in no fixed order; its columns and rows are compared.)"""
    with duckdb.connect(str(path), read_only=True) as con:
        found = {
            "schemas": con.execute(
                "select schema_name from information_schema.schemata where catalog_name = current_database() order by 1"
            ).fetchall(),
            "tables": con.execute(
                "select schema_name, table_name, comment from duckdb_tables() order by all"
            ).fetchall(),
            "views": con.execute(
                "select schema_name, view_name, comment from duckdb_views() where not internal order by all"
            ).fetchall(),
            "columns": con.execute(
                "select table_schema, table_name, column_name, data_type, column_comment "
                "from information_schema.columns order by all"
            ).fetchall(),
            "macros": con.execute(
                "select schema_name, function_name, macro_definition from duckdb_functions() "
                "where not internal and function_type like '%macro%' order by all"
            ).fetchall(),
            "sequences": con.execute(
                "select schema_name, sequence_name, last_value from duckdb_sequences() order by all"
            ).fetchall(),
        }
        found["rows"] = [
            (schema, table, *con.execute(f'select count(*), sum(hash(t)) from "{schema}"."{table}" as t').fetchone())
            for schema, table, _ in found["tables"]
        ]
        for schema, view, _ in found["views"]:
            found["rows"].append(
                (schema, view, *con.execute(f'select count(*), sum(hash(v)) from "{schema}"."{view}" as v').fetchone())
            )
    return found


def free_and_used(path) -> tuple[int, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select free_blocks, used_blocks from pragma_database_size() where database_name = current_database()"
        ).fetchone()


QUARTERS = 12
ROWS_PER_QUARTER = 20_000


def write_warehouse(path, churn: int) -> None:
    """A small warehouse like ours (raw, marts, audit history, an empty schema, comments, a view, a macro, a
    sequence) whose quarters are loaded again `churn` times, the old rows deleted after the new ones are in, as
    an incremental run replaces the quarters it rebuilds."""
    with duckdb.connect(str(path), config={"threads": 1}) as con:  # one thread: the same blocks every time
        con.execute("""
            create schema raw; create schema marts; create schema audit; create schema scratch;
            create sequence raw.load_number;
            create table raw.decisions (load_number bigint default nextval('raw.load_number'), decision_id varchar,
                                        period_start date, note varchar);
            create table audit.quarantine_history (event varchar, decision_id varchar);
            insert into audit.quarantine_history values ('quarantined', 'D1'), ('released', 'D1');
            create macro marts.share(part, whole) as part / nullif(whole, 0);
            comment on table raw.decisions is 'Every decision as loaded';
            comment on column raw.decisions.decision_id is 'The decision''s key';
        """)
        quarter = "date '2020-01-01' + to_months(3 * $q)"
        insert = (
            f"insert into raw.decisions (decision_id, period_start, note) select 'D' || $q || '-' || i, "
            f"{quarter}, repeat('note ' || (i % 97), 8) from range({ROWS_PER_QUARTER}) r(i)"
        )
        for q in range(QUARTERS):
            con.execute(insert, {"q": q})
        for _ in range(churn):
            loaded = con.execute("select max(load_number) from raw.decisions").fetchone()[0]
            for q in range(QUARTERS):
                con.execute(insert, {"q": q})
            con.execute("delete from raw.decisions where load_number <= ?", [loaded])
            con.execute("checkpoint")
        con.execute("""
            create table marts.uptake as select period_start, count(*) as decisions from raw.decisions group by all;
            comment on table marts.uptake is 'Decisions by quarter';
            comment on column marts.uptake.decisions is 'Decisions made in the quarter';
            create view marts.uptake_share as
                select period_start, marts.share(decisions, sum(decisions) over ()) as share from marts.uptake;
            comment on view marts.uptake_share is 'Each quarter''s share';
            comment on column marts.uptake_share.share is 'Share of all decisions';
        """)
        con.execute("checkpoint")


def test_publish_compacts_a_build_with_much_freed_space(tmp_path):
    published = tmp_path / "warehouse" / "vrr.duckdb"
    published.parent.mkdir()
    build = warehouse.build_path(published, "run-1")
    write_warehouse(build, churn=3)
    fresh = tmp_path / "fresh.duckdb"
    write_warehouse(fresh, churn=0)
    free, used = free_and_used(build)
    assert build.stat().st_size > 1.5 * fresh.stat().st_size and free > 0.3 * (free + used)  # much freed space
    before = contents(build)
    # churn changes the load numbers; everything else is as written once
    assert {k: v for k, v in before.items() if k not in ("rows", "sequences")} == {
        k: v for k, v in contents(fresh).items() if k not in ("rows", "sequences")
    }

    done = warehouse.publish(build, published)

    assert done["compacted"]
    assert contents(published) == before
    assert published.stat().st_size <= fresh.stat().st_size + BLOCK
    assert published.stat().st_size <= (used + 1) * BLOCK + 3 * 4096  # live blocks and the file's headers
    assert os.stat(published).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in published.parent.iterdir()) == ["vrr.duckdb"]
    # a later build starts as a copy of it and goes on as before (the sequence continues)
    nxt = warehouse.build_path(published, "run-2")
    shutil.copyfile(published, nxt)
    with duckdb.connect(str(nxt)) as con:
        last = con.execute("select max(load_number) from raw.decisions").fetchone()[0]
        con.execute("insert into raw.decisions (decision_id) values ('D-new')")
        assert (
            con.execute("select load_number from raw.decisions where decision_id = 'D-new'").fetchone()[0] == last + 1
        )


def test_a_build_with_little_freed_space_is_published_as_it_is(tmp_path):
    published = tmp_path / "vrr.duckdb"
    build = warehouse.build_path(published, "run-1")
    write_warehouse(build, churn=0)
    inode = build.stat().st_ino
    done = warehouse.publish(build, published, compact_free_share=0.9)
    assert not done["compacted"]
    assert published.stat().st_ino == inode  # the build itself, renamed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vrr.duckdb"]


def test_a_copy_that_differs_from_the_build_is_not_published(tmp_path, monkeypatch):
    published = tmp_path / "vrr.duckdb"
    write_warehouse(published, churn=0)
    old = published.read_bytes()
    build = warehouse.build_path(published, "run-1")
    write_warehouse(build, churn=1)
    real = warehouse.catalog
    monkeypatch.setattr(warehouse, "catalog", lambda con, db: {**real(con, db), "rows": [db]})
    with pytest.raises(RuntimeError, match="differs from the build in its rows"):
        warehouse.publish(build, published)
    assert published.read_bytes() == old
    warehouse.discard_build(published, "run-1")  # what the run's end does
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vrr.duckdb"]


def test_the_published_sample_warehouse_survives_compaction_whole(sample_run, tmp_path):
    """The real warehouse (dbt's views, comments on every mart column, seeds, the quarantine history), every table
    deleted and re-inserted twice: the published copy is no bigger than the fresh build and equal to it."""
    published = tmp_path / "vrr.duckdb"
    build = warehouse.build_path(published, "run-1")
    shutil.copyfile(sample_run.warehouse, build)
    with duckdb.connect(str(build)) as con:
        tables = con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        for _ in range(2):
            for schema, table in tables:
                con.execute(f'create or replace temp table keep as select * from "{schema}"."{table}"')
                con.execute(f'delete from "{schema}"."{table}"')
                con.execute(f'insert into "{schema}"."{table}" select * from keep')
            con.execute("checkpoint")
    before = contents(build)
    assert before == contents(sample_run.warehouse)
    assert any(comment for *_, comment in before["columns"])
    assert ("audit", "quarantine_history", None) in before["tables"]
    free, used = free_and_used(build)
    assert free > 0.2 * (free + used)

    done = warehouse.publish(build, published)

    assert done["compacted"]
    assert contents(published) == before
    assert published.stat().st_size <= sample_run.warehouse.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vrr.duckdb"]


def test_the_share_that_triggers_compaction_is_a_setting():
    assert resolve_settings({}).compact_free_share == 0.2
    assert resolve_settings({"VRR_COMPACT_FREE_SHARE": "0"}).compact_free_share == 0.0
    assert resolve_settings({"VRR_COMPACT_FREE_SHARE": "0.5"}).compact_free_share == 0.5
    for wrong in ("20%", "1.5", "-0.1"):
        with pytest.raises(RuntimeError, match="VRR_COMPACT_FREE_SHARE"):
            resolve_settings({"VRR_COMPACT_FREE_SHARE": wrong})
