"""Headless run of the whole job (what `make run` does): every asset, exports for every quarter with data."""

from __future__ import annotations

import sys

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipeline.partitions import quarterly
from pipeline.settings import resolve_settings


def partition_range_tags() -> dict[str, str]:
    keys = quarterly.get_partition_keys()
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def run_job(instance: dg.DagsterInstance, first: str | None = None, last: str | None = None, full_refresh: bool = False):
    """Run the whole job in this process over the quarters first..last (default: every quarter); a full refresh
    builds the warehouse from every extract rather than from the published warehouse and what is new."""
    from pipeline.definitions import defs

    tags = partition_range_tags()
    if first:
        tags[ASSET_PARTITION_RANGE_START_TAG] = first
    if last:
        tags[ASSET_PARTITION_RANGE_END_TAG] = last
    job = defs.resolve_job_def("vrr_pipeline")
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if full_refresh:
        run_config["resources"] = {"vrr": {"config": {"full_refresh": True}}}
    return job.execute_in_process(run_config=run_config, instance=instance, tags=tags, raise_on_error=False)


def main(argv: list[str] | None = None) -> int:
    full_refresh = "--full-refresh" in (sys.argv[1:] if argv is None else argv)
    try:
        settings = resolve_settings()
    except RuntimeError as exc:
        print(f"vrr: {exc}", file=sys.stderr)
        return 2
    if settings.uses_sample:
        print("vrr: no VRR_LANDING_DIR set: running on the built-in SYNTHETIC sample with the DEMO pseudonym key.")
    with dg.DagsterInstance.get() as instance:
        result = run_job(instance, full_refresh=full_refresh)
    if not result.success:
        for event in result.all_events:
            if event.is_failure and event.step_failure_data:
                error = event.step_failure_data.error
                message = error.cause.message if error and error.cause else (error.message if error else "")
                print(f"vrr: step {event.step_key} failed: {message.strip()}", file=sys.stderr)
        print("vrr: the run failed; the previously published warehouse and exports are unchanged.", file=sys.stderr)
        return 1
    if not result.asset_materializations_for_node("landing_extracts"):
        print("vrr: nothing new in the landing folder (same extracts, same SHA-256): nothing was rebuilt.")
    print(f"vrr: done. Warehouse: {settings.warehouse_path}  Exports: {settings.export_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
