"""The job that runs the whole chain, and its quarterly schedule."""

import dagster as dg

from pipeline.partitions import quarter_just_ended, quarterly

# Runs launched through Dagster (schedule, sensor, UI) carry this tag; dagster.yaml lets one of them be in progress
# at a time and queues the rest. The headless runner tags its runs otherwise: the warehouse lock keeps it apart.
RUN_QUEUE_TAG = "vrr/run_queue"

vrr_pipeline = dg.define_asset_job(
    "vrr_pipeline",
    tags={RUN_QUEUE_TAG: "dagster"},
    selection=dg.AssetSelection.all(),
    partitions_def=quarterly,
    description="Ingest the landing folder, build and check the warehouse, publish it, and export the quarter(s).",
)


@dg.schedule(
    job=vrr_pipeline,
    cron_schedule="0 6 1 1,4,7,10 *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="06:00 Europe/London on the first day of each quarter: the whole chain, exporting the quarter "
    "that has just ended.",
)
def quarterly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    key = quarter_just_ended(context.scheduled_execution_time)
    return dg.RunRequest(run_key=key, partition_key=key)
