"""The soak: twenty runs in a row on a landing folder that gains or corrects an extract before each run, with an
analyst's reader holding the published warehouse open throughout. Every run succeeds, its figures equal the
independent reference for the folder as it then is, nothing is left behind (no build file, write-ahead log or
staging folder), and the warehouse file grows only with the data.

Marked slow: `make test` leaves it out, `make soak` (run by CI after `make test`) runs it."""

import csv
import subprocess
import sys

import pytest

from pipeline.synthetic import generate_sample
from tests import reference as ref
from tests.conftest import ROOT, PipelineRun
from tests.headless import leftovers
from tests.test_end_to_end import mismatches

pytestmark = pytest.mark.slow

RUNS = 20

# Keeps a read-only connection to the published warehouse open at all times (a new one is opened, and queried,
# before the previous one is closed), as an analyst's SQL client would, until the stop file appears.
READER = """
import pathlib, sys, time, duckdb
path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
held, queries = None, 0
while not stop.exists():
    con = duckdb.connect(path, read_only=True)
    con.execute("select count(*) from marts.fct_vrr_decisions").fetchall()
    queries += 1
    if held is not None:
        held.close()
    held = con
    time.sleep(0.5)
print(queries, flush=True)
"""


def correct_newest_decisions(landing) -> str:
    """Correct one decision in the newest decisions extract (a victim's age entered wrongly), in place."""
    newest = max(landing.glob("decisions_*.csv"))
    with newest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    age = rows[0].index("victim_age")
    row = rows[len(rows) // 2]
    row[age] = str((int(row[age]) + 37) % 90 + 1) if row[age].strip().isdigit() else "34"
    with newest.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return f"corrected {newest.name}"


def assert_figures_exact(run: PipelineRun, when: str) -> None:
    expected = ref.fct_vrr_decisions(run.landing)
    actual = {r["decision_id"]: r for r in run.query("select * from marts.fct_vrr_decisions")}
    assert mismatches(expected, actual) == [], when
    expected = ref.vrr_uptake(run.landing)
    rows = run.query("select * from marts.vrr_uptake")
    actual = {(r["period_start"], r["force_code"], r["cohort_dimension"], r["cohort_value"]): r for r in rows}
    assert mismatches(expected, actual) == [], when


def free_share(run: PipelineRun) -> float:
    """The share of the published file that is free blocks (space freed by replaced rows), as DuckDB reports it."""
    (row,) = run.query(
        "select total_blocks, free_blocks from pragma_database_size() where database_name = current_database()"
    )
    return row["free_blocks"] / row["total_blocks"]


def test_twenty_runs_in_a_row_with_a_reader_holding_the_warehouse(tmp_path):
    source = sorted(generate_sample(tmp_path / "sample"), key=lambda p: (p.stem.rsplit("_", 1)[1], p.name))
    landing = tmp_path / "landing"
    landing.mkdir()
    run = PipelineRun(tmp_path, landing)
    stop = tmp_path / "stop-reader"
    reader = None
    sizes, changes = [], []
    try:
        for number in range(1, RUNS + 1):
            if number == 1:
                change = "gained " + ", ".join(p.name for p in source[:2])
                for path in source[:2]:
                    (landing / path.name).write_bytes(path.read_bytes())
                source = source[2:]
            elif number % 4 == 0:
                change = correct_newest_decisions(landing)
            else:
                path = source.pop(0)
                (landing / path.name).write_bytes(path.read_bytes())
                change = f"gained {path.name}"
            changes.append(change)
            when = f"run {number} ({change})"
            result = run()
            assert result.success, when
            assert_figures_exact(run, when)
            assert leftovers(run) == [], when
            sizes.append(run.warehouse.stat().st_size)
            # grows only with the data: at most a fifth of the published file is ever freed space
            assert free_share(run) <= 0.2, f"{when}: {free_share(run):.0%} of the warehouse file is free blocks"
            if reader is None:
                reader = subprocess.Popen(
                    [sys.executable, "-c", READER, str(run.warehouse), str(stop)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            assert reader.poll() is None, f"the reader stopped after {when}: {reader.stderr.read()}"
    finally:
        stop.touch()
        if reader is not None:
            out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert int(out) >= RUNS, "the reader was not reading throughout"

    # grows only with the data: no bigger than the same folder built once, from nothing
    fresh = PipelineRun(tmp_path / "fresh", landing)
    (tmp_path / "fresh").mkdir()
    assert fresh().success
    assert sizes[-1] <= 1.25 * fresh.warehouse.stat().st_size, list(zip(changes, sizes, strict=False))
