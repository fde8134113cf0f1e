"""The Spark half of `make spark-check`, run in the Spark environment (.venv-spark: dbt-spark, pyspark), never in
the project's own: load the raw tables, build every seed, model and test on Spark, and write each mart out as
Parquet for the check to compare with DuckDB's.

Everything runs in this one process, so Spark's JVM starts once (15 to 20 s): dbt-spark's session mode starts a
local Spark inside the process that runs dbt, and dbt is run here through its Python entry point, three times on
the same Spark. The Spark settings are those of the `spark` target in dbt_project/profiles.yml; this module adds
only ANSI mode (below). Run from the dbt project folder:

    python -m pipeline.spark_build --raw-dir DIR --marts-dir DIR --state-dir DIR

Exit status 0 when every node passed and every mart was written; 1 otherwise, with dbt's own messages.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dbt.adapters.spark.connections import SparkCredentials
from dbt.cli.main import dbtRunner


def keep_ansi_mode() -> None:
    """Build with Spark's ANSI mode on, as DuckDB works: a cast that cannot be made, an overflow or a division by
    zero is an error, not a null. dbt-spark 1.11 turns ANSI mode off in every connection's settings (for Spark 3),
    and the setting is applied again before each statement; this sets it back after dbt-spark has read the profile.
    """
    read_profile = SparkCredentials.__post_init__

    def with_ansi_mode(credentials: SparkCredentials) -> None:
        read_profile(credentials)
        credentials.server_side_parameters["spark.sql.ansi.enabled"] = "true"

    SparkCredentials.__post_init__ = with_ansi_mode


def dbt(*args: str, state_dir: Path) -> bool:
    """One dbt command on the `spark` target; its manifest and logs go to the state folder, not the project's
    target/ (whose manifest is the DuckDB one Dagster loads)."""
    result = dbtRunner().invoke(
        [
            *args,
            "--target",
            "spark",
            "--profiles-dir",
            ".",
            "--target-path",
            str(state_dir / "target"),
            "--log-path",
            str(state_dir / "logs"),
        ]
    )
    if result.exception is not None:
        print(f"spark-check: dbt {args[0]} on Spark stopped: {result.exception}", file=sys.stderr)
    return result.success


def write_marts(marts_dir: Path, state_dir: Path) -> list[str]:
    """Write each mart of the Spark build to marts_dir/<mart>/ as Parquet; returns the marts' names."""
    from pyspark.sql import SparkSession

    manifest = json.loads((state_dir / "target" / "manifest.json").read_text())
    marts = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    )
    spark = SparkSession.builder.getOrCreate()  # dbt's, still running in this process
    for name in marts:
        spark.table(f"marts.{name}").write.mode("overwrite").parquet(str(marts_dir / name))
    return marts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw-dir", type=Path, required=True, help="raw tables as Parquet, <schema>/<table>/")
    parser.add_argument("--marts-dir", type=Path, required=True, help="where to write each mart as Parquet")
    parser.add_argument("--state-dir", type=Path, required=True, help="dbt's manifest and logs for this build")
    args = parser.parse_args(argv)
    keep_ansi_mode()
    loaded = dbt(
        "run-operation",
        "load_raw_tables",
        "--args",
        json.dumps({"parquet_dir": str(args.raw_dir.resolve())}),
        state_dir=args.state_dir,
    )
    if not loaded or not dbt("build", "--full-refresh", state_dir=args.state_dir):
        return 1
    write_marts(args.marts_dir, args.state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
