"""The project's assets and job on Dagster's multiprocess executor (each step in a process of its own), for
tests/test_overlap.py: the project runs a job's steps in the run's own process (pipeline/definitions.py), and the
warehouse lock must hold either way."""

import dagster as dg

from pipeline import definitions, schedules

vrr_pipeline = dg.define_asset_job(
    "vrr_pipeline",
    tags=schedules.vrr_pipeline.tags,
    selection=schedules.vrr_pipeline.selection,
    partitions_def=schedules.vrr_pipeline.partitions_def,
    executor_def=dg.multiprocess_executor,
)

defs = dg.Definitions(assets=definitions.defs.assets, jobs=[vrr_pipeline], resources=definitions.defs.resources)
