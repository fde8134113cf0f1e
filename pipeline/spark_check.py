"""`make spark-check`: the same dbt models on Apache Spark, with marts identical to DuckDB's.

The landing folder (VRR_LANDING_DIR, else the synthetic sample) is ingested into DuckDB as a run does it, and the
dbt project is built on it, from scratch. The raw tables are then exported to Parquet and read by Spark, which
builds every seed, model and test of the same project (pipeline/spark_build.py, in the Spark environment). Each mart
of the Spark build is compared row for row with DuckDB's: one line per mart, `<mart>: <rows> rows, <n> differences`.

Exit status: 0 when every node passed on both engines and no mart differs; 1 otherwise. Everything it writes goes
under VRR_SPARK_DIR (default data/spark), emptied at the start of each check; the published warehouse, the
exports and the landing folder are not touched. The pseudonym key is used by the ingest in this process only: Spark
and both dbt builds see pseudonymised raw tables and never the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb

from pipeline.settings import DBT_PROJECT_DIR, PROJECT_ROOT, SECRET_VARIABLES, Settings, resolve_settings

# Floats (rates, medians, interval bounds) are equal when they differ by at most this share of the larger.
RELATIVE_TOLERANCE = 1e-9
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


class CheckError(Exception):
    """The check could not be carried out (a failed build, a missing tool); the message says why."""


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the check writes, all under one folder (VRR_SPARK_DIR)."""

    root: Path

    @property
    def warehouse(self) -> Path:
        """The DuckDB build (a private warehouse: never the published one)."""
        return self.root / "duckdb" / "vrr.duckdb"

    @property
    def duckdb_state(self) -> Path:
        return self.root / "duckdb" / "dbt"

    @property
    def raw(self) -> Path:
        """The raw tables as Parquet, <schema>/<table>/, for Spark."""
        return self.root / "raw"

    @property
    def marts(self) -> Path:
        """Spark's marts as Parquet, <mart>/, for the comparison."""
        return self.root / "marts"

    @property
    def spark_state(self) -> Path:
        return self.root / "dbt"

    def reset(self) -> None:
        """Empty what earlier checks left, Spark's metastore and tables included, so that each check is a build
        from scratch. Only the check's own entries are removed: the folder may be one the user named."""
        for name in ("duckdb", "raw", "marts", "dbt", "metastore_db", "warehouse", "tmp", "derby.log"):
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        self.root.mkdir(parents=True, exist_ok=True)


def spark_dir(environ: dict[str, str] | None = None) -> Path:
    """VRR_SPARK_DIR, absolute; default data/spark in the project."""
    value = (os.environ if environ is None else environ).get("VRR_SPARK_DIR")
    return Path(value).resolve() if value else PROJECT_ROOT / "data" / "spark"


def say(message: str) -> None:
    print(f"spark-check: {message}", file=sys.stderr, flush=True)


def child_environment(layout: Layout) -> dict[str, str]:
    """The environment of the dbt and Spark processes: no pseudonym key, telemetry off, Spark on the loopback
    address, the check's own folder."""
    env = {name: value for name, value in os.environ.items() if name not in SECRET_VARIABLES}
    env.update(
        {
            "VRR_SPARK_DIR": str(layout.root),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    return env


# --------------------------------------------------------------------------- DuckDB


def build_duckdb(settings: Settings, layout: Layout) -> Path:
    """Ingest the landing folder into a new DuckDB warehouse and build the dbt project on it, in full."""
    from pipeline import ingest
    from pipeline.resources import dbt_executable
    from pipeline.transform import dbt_build_args

    settings = dataclasses.replace(settings, warehouse_path=layout.warehouse, duckdb_temp_directory=None)
    _, info = ingest.ingest_landing(settings, f"spark-check-{uuid.uuid4().hex[:12]}", full_refresh=True)
    build = info["build"]
    args = dbt_build_args(build, full_refresh=True, duckdb_settings=settings.duckdb_settings())
    state = ["--target-path", str(layout.duckdb_state / "target"), "--log-path", str(layout.duckdb_state / "logs")]
    done = subprocess.run(
        [dbt_executable(), *args, *state, "--quiet"], cwd=DBT_PROJECT_DIR, env=child_environment(layout)
    )
    if done.returncode != 0:
        raise CheckError("the dbt build on DuckDB failed (its errors are above)")
    build.replace(layout.warehouse)
    return layout.warehouse


def dbt_sources_and_marts(manifest_path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(schema, table) of every dbt source, and the name of every mart, from a dbt manifest."""
    manifest = json.loads(manifest_path.read_text())
    sources = sorted({(s["schema"], s["identifier"]) for s in manifest["sources"].values()})
    marts = sorted(
        n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["schema"] == "marts"
    )
    return sources, marts


def export_raw(warehouse: Path, sources: list[tuple[str, str]], raw_dir: Path) -> None:
    """Each source table of the warehouse as one Parquet file in raw_dir/<schema>/<table>/."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for schema, table in sources:
            folder = raw_dir / schema / table
            folder.mkdir(parents=True)
            target = folder / "part-0.parquet"
            con.execute(f'copy (select * from "{schema}"."{table}") to \'{target}\' (format parquet)')


# --------------------------------------------------------------------------- Spark


def build_spark(spark_python: Path, layout: Layout) -> None:
    """Load the raw tables into Spark and build the dbt project there; Spark's marts end up in layout.marts."""
    if not spark_python.exists():
        raise CheckError(f"the Spark environment is missing ({spark_python}): `make spark-check` installs it")
    if shutil.which("java") is None:
        raise CheckError("Spark needs Java 17 or later, and no `java` is on PATH")
    done = subprocess.run(
        [
            str(spark_python),
            "-m",
            "pipeline.spark_build",
            "--raw-dir",
            str(layout.raw),
            "--marts-dir",
            str(layout.marts),
            "--state-dir",
            str(layout.spark_state),
        ],
        cwd=DBT_PROJECT_DIR,
        env=child_environment(layout),
    )
    if done.returncode != 0:
        raise CheckError("the dbt build on Spark failed (its errors are above)")


# --------------------------------------------------------------------------- comparison


@dataclasses.dataclass(frozen=True)
class Comparison:
    rows: int  # rows of the expected table
    differences: int  # rows on one side only, plus rows paired across the sides with any value different


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"describe select * from {relation}").fetchall()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _close(left: str, right: str, tolerance: float) -> str:
    """SQL: two floats equal to the relative tolerance (null equal to null, NaN to NaN, infinities exactly)."""
    return (
        f"case when {left} is null and {right} is null then true "
        f"when {left} is null or {right} is null then false "
        f"when {left} = {right} or (isnan({left}) and isnan({right})) then true "
        f"when not (isfinite({left}) and isfinite({right})) then false "
        f"else abs({left} - {right}) <= {tolerance!r} * greatest(abs({left}), abs({right})) end"
    )


def compare_tables(
    con: duckdb.DuckDBPyConnection, expected: str, actual: str, tolerance: float = RELATIVE_TOLERANCE
) -> Comparison:
    """Compare two relations (a table name, or e.g. read_parquet(...)) row for row.

    Rows are paired on every column that is not a float (nulls equal to nulls), and among the rows equal there, in
    the order of their floats; a pair differs when a float differs by more than the tolerance relative to the
    larger. A row with no partner on the other side is one difference, and so is each pair that differs. Both
    sides must have the same columns in the same order, else CheckError.
    """
    expected_columns, actual_columns = _columns(con, expected), _columns(con, actual)
    if [c for c, _ in expected_columns] != [c for c, _ in actual_columns]:
        raise CheckError(
            f"the columns differ: {[c for c, _ in expected_columns]} against {[c for c, _ in actual_columns]}"
        )
    floats = [
        name
        for (name, kind), (_, other) in zip(expected_columns, actual_columns, strict=True)
        if kind in FLOAT_TYPES or other in FLOAT_TYPES
    ]
    exact = [name for name, _ in expected_columns if name not in floats]
    partition = f"partition by {', '.join(map(_quote, exact))}" if exact else ""
    order = f"order by {', '.join(_quote(f) + ' nulls first' for f in floats)}" if floats else ""
    paired = " and ".join(
        [f"e.{_quote(c)} is not distinct from a.{_quote(c)}" for c in exact] + ["e.pair_number = a.pair_number"]
    )
    same_floats = " and ".join(_close(f"e.{_quote(f)}", f"a.{_quote(f)}", tolerance) for f in floats) or "true"
    rows, differences = con.execute(f"""
        with
        e as (select *, row_number() over ({partition} {order}) as pair_number from {expected}),
        a as (select *, row_number() over ({partition} {order}) as pair_number from {actual})
        select
            (select count(*) from e),
            count(*) filter (where e.pair_number is null or a.pair_number is null or not ({same_floats}))
        from e full outer join a on {paired}
    """).fetchone()
    return Comparison(rows=rows, differences=differences)


def compare_marts(warehouse: Path, marts: list[str], marts_dir: Path) -> list[tuple[str, Comparison | str]]:
    """Each DuckDB mart against Spark's (as Parquet): its comparison, or why it could not be compared."""
    results: list[tuple[str, Comparison | str]] = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart in marts:
            files = marts_dir / mart
            if not any(files.glob("*.parquet")):
                results.append((mart, "not built on Spark"))
                continue
            try:
                results.append(
                    (mart, compare_tables(con, f"marts.{_quote(mart)}", f"read_parquet('{files}/*.parquet')"))
                )
            except CheckError as exc:
                results.append((mart, str(exc)))
    return results


# --------------------------------------------------------------------------- the check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--spark-python",
        type=Path,
        default=PROJECT_ROOT / ".venv-spark" / "bin" / "python",
        help="Python of the Spark environment (default .venv-spark/bin/python)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        settings = resolve_settings()
    except RuntimeError as exc:
        say(str(exc))
        return 2
    layout = Layout(spark_dir())
    layout.reset()
    where = "the synthetic sample" if settings.uses_sample else str(settings.landing_dir)
    try:
        say(f"ingest of {where} and the dbt build on DuckDB")
        warehouse = build_duckdb(settings, layout)
        sources, marts = dbt_sources_and_marts(layout.duckdb_state / "target" / "manifest.json")
        export_raw(warehouse, sources, layout.raw)
        say(
            f"DuckDB done after {time.monotonic() - started:.0f} s; the raw tables loaded into Spark and the dbt "
            "build on Spark (JVM start included)"
        )
        spark_started = time.monotonic()
        build_spark(args.spark_python.absolute(), layout)  # (not resolved: a virtual environment's python is a link)
        say(f"Spark build done in {time.monotonic() - spark_started:.0f} s; comparing the marts")
        results = compare_marts(warehouse, marts, layout.marts)
    except CheckError as exc:
        say(f"failed: {exc}")
        return 1
    failed = False
    for mart, result in results:
        if isinstance(result, Comparison):
            print(f"{mart}: {result.rows} rows, {result.differences} differences", flush=True)
            failed |= result.differences > 0
        else:
            print(f"{mart}: {result}", flush=True)
            failed = True
    say(f"{'marts differ' if failed else 'every mart identical'}; {time.monotonic() - started:.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
