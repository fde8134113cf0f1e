"""Dagster resources: the pipeline's settings and the dbt CLI."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from pipeline import analysts, lock
from pipeline.settings import DBT_PROJECT_DIR, Settings, resolve_settings
from pipeline.warehouse import discard_build, private_umask, remove_stale


class VrrSettings(dg.ConfigurableResource):
    """Locations of the landing folder, the warehouse and the exports.

    Each field left blank falls back to its environment variable (VRR_LANDING_DIR, VRR_WAREHOUSE_PATH,
    VRR_EXPORT_DIR), then to the built-in demo default. The pseudonym key comes from VRR_PSEUDONYM_KEY only: a
    config field would let it be typed into the launchpad, and Dagster keeps every run's config in its storage.
    """

    landing_dir: str = ""
    warehouse_path: str = ""
    export_dir: str = ""
    # Build the warehouse from scratch from every extract (make full-refresh), rather than from the published one.
    full_refresh: bool = False

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Every step of a run starts here: it takes (or already holds) the warehouse lock for its run.

        In one process (every run of the project's job) this happens once per run and the lock is given up at its
        end; in a step's child process (under a multiprocess executor) the lock names the run worker, so it is held
        between steps and lapses when that process ends, however it ends.
        """
        # Warehouse, exports and quarantine hold special-category data: whatever a step writes is owner-only.
        private_umask()
        settings = self.resolve()
        dead = lock.acquire(
            settings.warehouse_path, context.run_id, wait_seconds=settings.lock_wait_seconds, say=context.log.warning
        )
        if dead is not None:
            context.log.warning(f"{dead.describe()} had ended without finishing; its leftovers are removed.")
            if context.instance is not None:
                lock.forget_dead_run(context.instance, dead.run_id)
        remove_stale(settings.warehouse_path, settings.export_dir, context.run_id, also=(settings.analysts_path,))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if lock.run_process_id() == os.getpid():  # this process is the run's own: the run ends here
            settings = self.resolve()
            warehouse_path = settings.warehouse_path
            discard_build(warehouse_path, context.run_id)  # nothing left of a failed run
            analysts.remove_staged(settings.analysts_path, context.run_id)
            lock.release(warehouse_path, context.run_id)

    def resolve(self) -> Settings:
        env = dict(os.environ)
        for name, value in (
            ("VRR_LANDING_DIR", self.landing_dir),
            ("VRR_WAREHOUSE_PATH", self.warehouse_path),
            ("VRR_EXPORT_DIR", self.export_dir),
        ):
            if value:
                env[name] = value
        return resolve_settings(env)


def dbt_executable() -> str:
    """The project's own dbt command line (`vrr-dbt`, pipeline/dbt_cli.py: dbt, without parsing the project again
    when nothing the parse depends on has changed), installed beside this Python by `make install`; else the dbt
    installed beside this Python, else dbt on PATH (the same builds, each parsing the project)."""
    for name in ("vrr-dbt", "dbt"):
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
    return "dbt"


class VrrDbtCliResource(DbtCliResource):
    """dbt's CLI, without two costs dagster-dbt pays at every build for features this project does not use.

    dagster-dbt asks the dbt executable for its version (`dbt --version`: one more dbt start-up) and opens a dbt
    adapter in this process (loading every macro of the project) so that it can fetch row counts and column
    metadata through it; that took 3 to 12 seconds a build on the benchmark machine. The version is that of the
    dbt-core installed beside this Python, and without the adapter dagster-dbt runs dbt exactly as before.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args) -> None:
        return None


def dbt_resource() -> DbtCliResource:
    return VrrDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )


def resources() -> dict:
    return {"vrr": VrrSettings(), "dbt": dbt_resource()}
