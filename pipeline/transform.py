"""dbt models as Dagster assets; dbt tests as asset checks."""

import contextlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    DbtProjectPreparer,
    dbt_assets,
)

from pipeline import dbt_cli, warehouse
from pipeline.resources import VrrSettings, dbt_executable
from pipeline.settings import DBT_PROJECT_DIR


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR)
    ManifestPreparer().prepare_if_dev(project)  # only under `dagster dev`; make and the tests run `vrr-dbt parse`
    return project


class ManifestPreparer(DbtProjectPreparer):
    """The manifest under `dagster dev`, where every process that loads the code location prepares it (the UI's code
    server, and each run it launches): `vrr-dbt parse`, which parses nothing when the manifest is current and else
    replaces it whole. dagster-dbt's own preparer runs plain dbt, which parses every time and writes manifest.json
    in place, so that another process loading the code location meanwhile read it half written and failed."""

    def prepare_if_dev(self, project: DbtProject) -> None:
        if self.using_dagster_dev():
            self.prepare(project)

    def prepare(self, project: DbtProject) -> None:
        done = subprocess.run(
            [dbt_executable(), "parse", "--quiet", "--project-dir", str(project.project_dir)],
            cwd=project.project_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dbt could not parse the project {project.project_dir}:\n{done.stdout}{done.stderr}")


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


@contextlib.contextmanager
def build_folder(project_dir: Path, run_id: str) -> Iterator[Path]:
    """A target folder of this build's own, held in use while the build runs; first the folders of earlier builds
    no longer in use are pruned to the newest FAILED_BUILDS_KEPT."""
    root = dbt_cli.target_folder(project_dir, dbt_cli.Command([]))  # the target folder dbt's own settings give
    prune_build_folders(root, FAILED_BUILDS_KEPT)
    with dbt_cli.held_folder(root / BUILD_FOLDER.format(run=run_id[:7], suffix=uuid.uuid4().hex[:7])) as folder:
        yield folder


def prune_build_folders(root: Path, kept: int) -> None:
    """Remove the folders of earlier builds (those of failed builds and killed runs) but the newest `kept`, never
    one a live run holds. Other runs, on this warehouse or another, share the target folder."""
    dbt_cli.prune_folders(root, BUILD_FOLDER.format(run="*", suffix="*"), kept)
