"""Where things are: one environment variable per location, with defaults for the built-in demo."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
DEMO_PSEUDONYM_KEY = "demo-key-for-the-synthetic-sample-only"
# Environment variables that hold secrets: only ingest reads them. Every child process that has no use for them (dbt,
# Spark) is started or runs without them.
SECRET_VARIABLES = ("VRR_PSEUDONYM_KEY",)
DEFAULT_CONTACT = "The VRR data team of the publishing force or office (set VRR_PACK_CONTACT)"
# Enough for 10 million decisions on a 2-core machine with the whole run under 4 GB; larger runs spill to disk.
DEFAULT_MEMORY_LIMIT = "2GB"
# The publish step compacts a finished build when more than this share of its file is free blocks (see
# pipeline.warehouse.publish): the published file is then never more than 1.25 times its live data.
DEFAULT_COMPACT_FREE_SHARE = 0.2
# The analysts' copy of the marts, beside the warehouse unless VRR_PUBLISHED_PATH names another place.
ANALYSTS_COPY_NAME = "vrr_published.duckdb"


def _threshold(text: str | None) -> int:
    """VRR_DISCLOSURE_THRESHOLD: counts from 1 to this minus 1 are withheld (default 5)."""
    if not text:
        return 5
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise RuntimeError(f"VRR_DISCLOSURE_THRESHOLD must be a whole number of 2 or more, not {text!r}.")
    return value


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    warehouse_path: Path
    export_dir: Path
    pseudonym_key: bytes
    uses_sample: bool
    uses_demo_key: bool
    disclosure_threshold: int = 5
    pack_contact: str = DEFAULT_CONTACT
    lock_wait_seconds: float = 30 * 60
    # DuckDB resources of a run (ingest and dbt): a large run spills to temp_directory rather than failing.
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT
    duckdb_threads: int = 0  # 0: one per core
    duckdb_temp_directory: Path | None = None  # None: a hidden folder beside the warehouse
    # Publish a compacted copy of the build when more than this share of its file is free blocks.
    compact_free_share: float = DEFAULT_COMPACT_FREE_SHARE
    published_path: Path | None = None  # the analysts' copy; None: vrr_published.duckdb beside the warehouse
    export_processes: int = 0  # processes writing review packs at once; 0: one per core

    @property
    def threads(self) -> int:
        """DuckDB's threads for ingest and the dbt build (VRR_DUCKDB_THREADS, default one per core); also how many
        extract files ingest checks at once."""
        return self.duckdb_threads or os.cpu_count() or 1

    @property
    def pack_processes(self) -> int:
        """How many review packs are written at once (VRR_EXPORT_PROCESSES, default one per core)."""
        return self.export_processes or os.cpu_count() or 1

    @property
    def analysts_path(self) -> Path:
        """VRR_PUBLISHED_PATH: the analysts' copy of the marts (default vrr_published.duckdb beside the warehouse)."""
        return self.published_path or self.warehouse_path.with_name(ANALYSTS_COPY_NAME)

    def duckdb_settings(self) -> dict[str, str | int]:
        """DuckDB settings (SET name = value) for every connection that builds the warehouse."""
        spill = self.duckdb_temp_directory or self.warehouse_path.with_name(f".{self.warehouse_path.name}.spill")
        return {
            "memory_limit": self.duckdb_memory_limit,
            "threads": self.threads,
            "temp_directory": str(spill),
            # Rows of a table are in no particular order (every reader orders what it reads): DuckDB may then
            # write a table from both threads at once, a third faster for the 20 million rows of raw.decisions,
            # and holds less in memory.
            "preserve_insertion_order": False,
        }


def _share(text: str | None) -> float:
    """VRR_COMPACT_FREE_SHARE: a share of the file from 0 to 1 (0 compacts every build)."""
    if not text:
        return DEFAULT_COMPACT_FREE_SHARE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise RuntimeError(f"VRR_COMPACT_FREE_SHARE must be a share of the file from 0 to 1 (e.g. 0.2), not {text!r}.")
    return value


def _path(value: str | None, default: str) -> Path:
    path = Path(value) if value else PROJECT_ROOT / default
    return path if path.is_absolute() else (Path.cwd() / path)


def _seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise RuntimeError(f"VRR_LOCK_WAIT_SECONDS must be a number of seconds (0 or more), not {value!r}.")
    return seconds


def _processes(value: str | None) -> int:
    """VRR_EXPORT_PROCESSES: a whole number, 1 or more (blank: one per core)."""
    if not value:
        return 0
    if not value.strip().isdigit() or int(value) < 1:
        raise RuntimeError(f"VRR_EXPORT_PROCESSES must be a whole number of processes (1 or more), not {value!r}.")
    return int(value)


def warehouse_path(env: Mapping[str, str]) -> Path:
    """VRR_WAREHOUSE_PATH (default data/warehouse/vrr.duckdb)."""
    return _path(env.get("VRR_WAREHOUSE_PATH"), "data/warehouse/vrr.duckdb")


def _published_path(env: Mapping[str, str]) -> Path | None:
    """VRR_PUBLISHED_PATH, or None when unset (the analysts' copy then goes beside the warehouse)."""
    published = env.get("VRR_PUBLISHED_PATH")
    return _path(published, "") if published else None


def analysts_path(env: Mapping[str, str]) -> Path:
    """VRR_PUBLISHED_PATH, or vrr_published.duckdb beside VRR_WAREHOUSE_PATH, as a run writes it: what
    Settings.analysts_path gives, read without the rest of the settings (no key needed to read the copy)."""
    return _published_path(env) or warehouse_path(env).with_name(ANALYSTS_COPY_NAME)


def resolve_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read VRR_LANDING_DIR, VRR_WAREHOUSE_PATH, VRR_EXPORT_DIR, VRR_PUBLISHED_PATH, VRR_PSEUDONYM_KEY,
    VRR_DISCLOSURE_THRESHOLD, VRR_PACK_CONTACT and DuckDB's resources VRR_DUCKDB_MEMORY_LIMIT (e.g. 4GB),
    VRR_DUCKDB_THREADS and VRR_DUCKDB_TEMP_DIR.

    Without VRR_LANDING_DIR the run uses the synthetic sample (generated under data/) and, when no key is
    given, a demo pseudonym key. With a real landing folder and no key it refuses to start (fail closed).
    VRR_LOCK_WAIT_SECONDS: how long a run waits for another run holding the warehouse (default 30 minutes).
    VRR_COMPACT_FREE_SHARE: the share of free blocks in a finished build above which the publish step writes a
    compacted copy (default 0.2). VRR_EXPORT_PROCESSES: how many review packs are written at once (default one
    per core; 1 writes them one after another in the run's own process).
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
        lock_wait_seconds=_seconds(env.get("VRR_LOCK_WAIT_SECONDS"), 30 * 60),
        landing_dir=_path(landing, "data/landing_sample"),
        warehouse_path=warehouse_path(env),
        export_dir=_path(env.get("VRR_EXPORT_DIR"), "data/exports"),
        published_path=_published_path(env),
        pseudonym_key=(key or DEMO_PSEUDONYM_KEY).encode("utf-8"),
        uses_sample=uses_sample,
        uses_demo_key=not key,
        disclosure_threshold=_threshold(env.get("VRR_DISCLOSURE_THRESHOLD")),
        pack_contact=env.get("VRR_PACK_CONTACT") or DEFAULT_CONTACT,
        duckdb_memory_limit=env.get("VRR_DUCKDB_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT,
        duckdb_threads=int(env.get("VRR_DUCKDB_THREADS") or 0),
        duckdb_temp_directory=_path(env["VRR_DUCKDB_TEMP_DIR"], "") if env.get("VRR_DUCKDB_TEMP_DIR") else None,
        compact_free_share=_share(env.get("VRR_COMPACT_FREE_SHARE")),
        export_processes=_processes(env.get("VRR_EXPORT_PROCESSES")),
    )
