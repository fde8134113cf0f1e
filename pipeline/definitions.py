"""The code location: assembles assets, checks, jobs, schedules, sensors and resources. Nothing else happens here."""

import dagster as dg

from pipeline.export import disclosure_control, published_warehouse, quarterly_export
from pipeline.ingest import landing_extracts
from pipeline.resources import resources
from pipeline.schedules import EXECUTOR, quarterly_schedule, vrr_pipeline
from pipeline.sensors import landing_folder_sensor
from pipeline.transform import vrr_dbt_models

defs = dg.Definitions(
    assets=[landing_extracts, vrr_dbt_models, disclosure_control, published_warehouse, quarterly_export],
    jobs=[vrr_pipeline],
    schedules=[quarterly_schedule],
    sensors=[landing_folder_sensor],
    resources=resources(),
    executor=EXECUTOR,  # also for assets materialised outside the job (see schedules.EXECUTOR)
)
