"""dbt models as Dagster assets; dbt tests as asset checks."""

import contextlib
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from pipeline import dbt_cli, warehouse
from pipeline.resources import VrrSettings
from pipeline.settings import DBT_PROJECT_DIR


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()  # only under `dagster dev`; make and the tests run `dbt parse` explicitly
    return project


class VrrTranslator(DagsterDbtTranslator):
    """Groups by layer (reference, staging, intermediate, marts); marts keyed by their schema-qualified name."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec
        group = "reference" if props["resource_type"] == "seed" else props["fqn"][1]
        return spec.replace_attributes(group_name=group, owners=["team:vrr-data"]).merge_attributes(
            metadata={"warehouse_table": f"{props.get('schema')}.{props['name']}"}
        )

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetCheckSpec | None:
        """dbt tests as asset checks (blocking when their severity is error), each described in words in the UI."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=describe_test(manifest["nodes"][unique_id]),
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
        )


def describe_test(test: Mapping[str, Any]) -> str:
    """What a dbt test checks, in words: generic tests from their arguments, singular tests from their leading
    {#- ... -#} comment; and whether a failure stops the run."""
    meta = test.get("test_metadata") or {}
    args = meta.get("kwargs") or {}
    column = args.get("column_name")
    referenced = str(args.get("to", "")).removeprefix("ref(")[1:-2]
    what = {
        "unique": f"{column} is unique",
        "not_null": f"{column} is never null",
        "accepted_values": f"{column} is one of {', '.join(map(str, args.get('values') or []))}",
        "relationships": f"every {column} is a {args.get('field')} of {referenced}",
        "expression_is_true": f"every row has {args.get('expression')}",
        "unique_combination": f"one row per {', '.join(args.get('columns') or [])}",
    }.get(meta.get("name"))
    if what is None:  # a singular test: its leading comment says what it checks
        match = re.search(r"\{#-?(.*?)-?#\}", test.get("raw_code") or "", re.S)
        what = " ".join(match.group(1).split()).rstrip(".") if match else f"dbt test {test.get('name')}"
    blocking = (test.get("config", {}).get("severity") or "error").lower() == "error"
    return f"dbt test: {what}. " + (
        "Blocking: a failure stops the run before anything is published."
        if blocking
        else "Warning only: a failure is reported and the run goes on."
    )


TRANSLATOR = VrrTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def dbt_build_args(build_file: Path, full_refresh: bool = False, duckdb_settings: dict | None = None) -> list[str]:
    """CLI arguments for one dbt build into the warehouse file this run is building, with DuckDB's resources."""
    variables = {"warehouse_path": str(build_file)}
    variables.update({f"duckdb_{name}": value for name, value in (duckdb_settings or {}).items()})
    args = ["build", "--vars", json.dumps(variables)]
    if full_refresh:
        args.append("--full-refresh")
    return args


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=TRANSLATOR,
    pool="warehouse",
)
def vrr_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, vrr: VrrSettings):
    """Seeds, staging, intermediate models and marts, built into this run's new warehouse file."""
    settings = vrr.resolve()
    build_file = warehouse.build_path(settings.warehouse_path, context.run_id)
    if not build_file.exists():
        raise dg.Failure(
            "There is no warehouse build for this run: materialise the ingest assets (landing_extracts) in the same "
            "run as the dbt models."
        )
    # The build starts as a copy of the published warehouse, so dbt's incremental models rebuild only the decisions
    # in raw.touched_decisions and the quarters in raw.affected_quarters; a full refresh starts from an empty build,
    # where dbt builds every model in full.
    with build_folder(dbt_project().project_dir, context.run_id) as folder:
        invocation = dbt.cli(
            dbt_build_args(build_file, duckdb_settings=settings.duckdb_settings()), context=context, target_path=folder
        )
        yield from invocation.stream()
    # dbt's files for this build (manifest, compiled SQL, run results, debug log, about 6 MB) are kept only when
    # the build fails, whose error names the debug log among them; every build that passed would otherwise leave
    # its folder behind for good.
    shutil.rmtree(folder, ignore_errors=True)


# A build's own folder of dbt files is kept when the build fails (or its run is killed); the newest this many of
# those are kept, older ones are removed by the next build.
FAILED_BUILDS_KEPT = 10
BUILD_FOLDER = "vrr_dbt_models-{run}-{suffix}"  # as dagster-dbt names an invocation's folder: op, run, a random suffix
IN_USE = ".in-use"  # a build's folder is in use while its run holds an flock on this file in it


@contextlib.contextmanager
def build_folder(project_dir: Path, run_id: str) -> Iterator[Path]:
    """A target folder of this build's own, held in use while the build runs; first the folders of earlier builds
    no longer in use are pruned to the newest FAILED_BUILDS_KEPT."""
    root = dbt_cli.target_folder(project_dir, dbt_cli.Command([]))  # the target folder dbt's own settings give
    prune_build_folders(root, FAILED_BUILDS_KEPT)
    folder = root / BUILD_FOLDER.format(run=run_id[:7], suffix=uuid.uuid4().hex[:7])
    folder.mkdir(parents=True)
    fd = os.open(folder / IN_USE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(fd)  # closing releases the flock; so does the end of the process, however it ends


def in_use(folder: Path) -> bool:
    """Whether a live run holds the folder: its flock cannot be taken."""
    try:
        fd = os.open(folder / IN_USE, os.O_RDWR)
    except FileNotFoundError:
        return False  # a folder from before folders were held, or one a build is only now creating (the newest)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def prune_build_folders(root: Path, kept: int) -> None:
    """Remove the folders of earlier builds (those of failed builds and killed runs) but the newest `kept`, never
    one a live run holds. Other runs, on this warehouse or another, share the target folder."""
    finished = {}
    for path in root.glob(BUILD_FOLDER.format(run="*", suffix="*")):
        with contextlib.suppress(FileNotFoundError):  # another build may be pruning at the same time
            if path.is_dir() and not in_use(path):
                finished[path] = path.stat().st_mtime
    for old in sorted(finished, key=finished.get, reverse=True)[kept:]:
        shutil.rmtree(old, ignore_errors=True)
