"""Where things are: one environment variable per location, with defaults for the built-in demo."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
DEMO_PSEUDONYM_KEY = "demo-key-for-the-synthetic-sample-only"
# Enough for 10 million decisions on a 2-core machine with the whole run under 4 GB; larger runs spill to disk.
DEFAULT_MEMORY_LIMIT = "2GB"


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse_path: Path
    export_dir: Path
    pseudonym_key: bytes
    uses_sample: bool
    uses_demo_key: bool
    # DuckDB resources of a run (ingest and dbt): a large run spills to temp_directory rather than failing.
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT
    duckdb_threads: int = 0  # 0: one per core
    duckdb_temp_directory: Path | None = None  # None: a hidden folder beside the warehouse

    def duckdb_settings(self) -> dict[str, str | int]:
        """DuckDB settings (SET name = value) for every connection that builds the warehouse."""
        spill = self.duckdb_temp_directory or self.warehouse_path.with_name(f".{self.warehouse_path.name}.spill")
        return {
            "memory_limit": self.duckdb_memory_limit,
            "threads": self.duckdb_threads or os.cpu_count() or 1,
            "temp_directory": str(spill),
        }


def _path(value: str | None, default: str) -> Path:
    path = Path(value) if value else PROJECT_ROOT / default
    return path if path.is_absolute() else (Path.cwd() / path)


def resolve_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read VRR_LANDING_DIR, VRR_WAREHOUSE_PATH, VRR_EXPORT_DIR and VRR_PSEUDONYM_KEY, and DuckDB's resources
    VRR_DUCKDB_MEMORY_LIMIT (e.g. 4GB), VRR_DUCKDB_THREADS and VRR_DUCKDB_TEMP_DIR.

    Without VRR_LANDING_DIR the run uses the synthetic sample (generated under data/) and, when no key is
    given, a demo pseudonym key. With a real landing folder and no key it refuses to start (fail closed).
    """
    env = os.environ if environ is None else environ
    landing = env.get("VRR_LANDING_DIR") or ""
    key = env.get("VRR_PSEUDONYM_KEY") or ""
    uses_sample = not landing
    if not key and not uses_sample:
        raise RuntimeError(
            "VRR_PSEUDONYM_KEY is not set: a real landing folder needs a secret key for the keyed pseudonyms "
            "of victim_id and crime_reference. Set VRR_PSEUDONYM_KEY (keep it out of the repository)."
        )
    return Settings(
        landing_dir=_path(landing, "data/landing_sample"),
        warehouse_path=_path(env.get("VRR_WAREHOUSE_PATH"), "data/warehouse/vrr.duckdb"),
        export_dir=_path(env.get("VRR_EXPORT_DIR"), "data/exports"),
        pseudonym_key=(key or DEMO_PSEUDONYM_KEY).encode("utf-8"),
        uses_sample=uses_sample,
        uses_demo_key=not key,
        duckdb_memory_limit=env.get("VRR_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT,
        duckdb_threads=int(env.get("VRR_DUCKDB_THREADS") or 0),
        duckdb_temp_directory=_path(env["VRR_DUCKDB_TEMP_DIR"], "") if env.get("VRR_DUCKDB_TEMP_DIR") else None,
    )
