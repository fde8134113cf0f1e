"""The comparison of `make spark-check`, on hand-made tables (no Spark needed: Spark itself runs in
`make spark-check`), and the folder it works in."""

import duckdb
import pytest

from pipeline.spark_check import CheckError, Comparison, Layout, child_environment, compare_tables, spark_dir


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        connection.execute("""
            create table expected (force_code varchar, period_start date, decisions bigint, rate double,
                                   note varchar);
            insert into expected values
                ('AA', '2024-01-01', 10, 0.5, null),
                ('AA', '2024-04-01', 10, 0.25, 'x'),
                ('BB', '2024-01-01', 3, null, null),
                ('BB', '2024-04-01', 4, 1e-300, null),
                ('CC', '2024-01-01', 7, 0.1, null),
                ('CC', '2024-01-01', 7, 0.2, null),
                ('DD', '2024-01-01', 1, 0.3, null),
                ('EE', '2024-01-01', 1, 0.7, null);
        """)
        yield connection


def test_identical_tables_have_no_differences(con):
    # nulls equal nulls, in the floats (BB) as in the other columns (note)
    assert compare_tables(con, "expected", "expected") == Comparison(rows=8, differences=0)


def test_floats_equal_to_a_relative_1e_9_and_no_further(con):
    con.execute("""
        create table actual as select * from expected;
        -- 1e-10 relative: equal
        update actual set rate = 0.5 * (1 + 1e-10) where force_code = 'AA' and period_start = '2024-01-01';
        -- 1e-8 relative: a difference
        update actual set rate = 0.25 * (1 + 1e-8) where force_code = 'AA' and period_start = '2024-04-01';
    """)
    assert compare_tables(con, "expected", "actual") == Comparison(rows=8, differences=1)


def test_each_kind_of_difference_counts_once(con):
    con.execute("""
        create table actual as select * from expected;
        update actual set note = 'y' where force_code = 'AA' and period_start = '2024-04-01';  -- a text differs
        update actual set rate = 0.0 where force_code = 'BB' and period_start = '2024-01-01';  -- null against 0
        delete from actual where force_code = 'DD';  -- a row on one side only
        insert into actual values ('FF', '2024-01-01', 2, 0.5, null);  -- a row on the other side only
    """)
    # the changed text leaves its row unpaired on both sides: two rows on one side only
    assert compare_tables(con, "expected", "actual") == Comparison(rows=8, differences=5)


def test_rows_alike_but_for_their_floats_pair_in_order(con):
    # the two CC rows, given in the other order, still pair (0.1 with 0.1, 0.2 with 0.2)
    con.execute("create table actual as select * from expected order by force_code, rate desc")
    assert compare_tables(con, "expected", "actual").differences == 0
    con.execute("update actual set rate = 0.2 where force_code = 'CC'")
    assert compare_tables(con, "expected", "actual").differences == 1


def test_other_columns_are_an_error(con):
    con.execute("create table actual as select force_code, period_start, decisions, note, rate from expected")
    with pytest.raises(CheckError, match="columns differ"):
        compare_tables(con, "expected", "actual")


def test_spark_folder_and_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("VRR_SPARK_DIR", str(tmp_path / "spark"))
    monkeypatch.setenv("VRR_PSEUDONYM_KEY", "secret")
    layout = Layout(spark_dir())
    assert layout.root == tmp_path / "spark"
    (layout.root / "metastore_db").mkdir(parents=True)
    (layout.root / "derby.log").write_text("")
    (layout.root / "mine.txt").write_text("kept")
    layout.reset()
    assert sorted(p.name for p in layout.root.iterdir()) == ["mine.txt"]
    env = child_environment(layout)
    assert "VRR_PSEUDONYM_KEY" not in env  # Spark and dbt receive pseudonymised raw tables only
    assert env["VRR_SPARK_DIR"] == str(layout.root) and env["SPARK_LOCAL_IP"] == "127.0.0.1"
