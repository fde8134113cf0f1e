"""The code location: assembles assets, checks, jobs, schedules, sensors and resources. Nothing else happens here."""

import dagster as dg

from pipeline.export import disclosure_control, published_warehouse, quarterly_export
from pipeline.ingest import landing_extracts
from pipeline.resources import resources
from pipeline.schedules import quarterly_schedule, vrr_pipeline
from pipeline.sensors import landing_folder_sensor
from pipeline.transform import vrr_dbt_models

defs = dg.Definitions(
    assets=[landing_extracts, vrr_dbt_models, disclosure_control, published_warehouse, quarterly_export],
    jobs=[vrr_pipeline],
    schedules=[quarterly_schedule],
    sensors=[landing_folder_sensor],
    resources=resources(),
    # The chain is linear (each step needs the one before), so a process per step would run nothing side by side,
    # and each such process spends several seconds (20 on a busy machine) loading the code location again before its
    # step starts. Every run (the job from the schedule, the sensor or the UI, and any other materialisation of the
    # assets) therefore runs its steps one after another in the run's own process, as `make run` does. The warehouse
    # lock also holds under the multiprocess executor (tests/multiprocess_definitions.py), should a deployment
    # choose it.
    executor=dg.in_process_executor,
)
