"""dbt models as Dagster assets; dbt tests as asset checks."""

import json
import re
import shutil
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from pipeline import warehouse
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
    invocation = dbt.cli(dbt_build_args(build_file, duckdb_settings=settings.duckdb_settings()), context=context)
    yield from invocation.stream()
    # dbt's files for this build (its own folder under dbt_project/target: manifest, compiled SQL, run results,
    # debug log, about 6 MB) are kept only when the build fails, whose error names the debug log among them; every
    # build that passed would otherwise leave its folder behind for good.
    shutil.rmtree(invocation.target_path, ignore_errors=True)
