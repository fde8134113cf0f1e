"""Dagster resources: the pipeline's settings and the dbt CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from pipeline.warehouse import private_umask
from pipeline.settings import DBT_PROJECT_DIR, Settings, resolve_settings


class VrrSettings(dg.ConfigurableResource):
    """Locations of the landing folder, the warehouse and the exports.

    Each field left blank falls back to its environment variable (VRR_LANDING_DIR, VRR_WAREHOUSE_PATH,
    VRR_EXPORT_DIR, VRR_PSEUDONYM_KEY), then to the built-in demo default.
    """

    landing_dir: str = ""
    warehouse_path: str = ""
    export_dir: str = ""
    pseudonym_key: str = ""
    # Build the warehouse from scratch from every extract (make full-refresh), rather than from the published one.
    full_refresh: bool = False

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Warehouse, exports and quarantine hold special-category data: whatever a step writes is owner-only.
        private_umask()

    def resolve(self) -> Settings:
        env = dict(os.environ)
        for name, value in (
            ("VRR_LANDING_DIR", self.landing_dir),
            ("VRR_WAREHOUSE_PATH", self.warehouse_path),
            ("VRR_EXPORT_DIR", self.export_dir),
            ("VRR_PSEUDONYM_KEY", self.pseudonym_key),
        ):
            if value:
                env[name] = value
        return resolve_settings(env)


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's virtual environment), else dbt on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )


def resources() -> dict:
    return {"vrr": VrrSettings(), "dbt": dbt_resource()}
