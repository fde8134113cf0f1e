"""Headless run of the whole job (what `make run` does): every asset, exports for every quarter with data.

Exit status: 0 the run succeeded; 1 the run failed (nothing was published); 2 the run was refused before it
started (a setting missing, no landing folder, or the warehouse held by another run for longer than the wait).
The console gets one readable line per event and, for a failure, the failing step and the error's own message
last; the run's full log, tracebacks included, is written to $DAGSTER_HOME/logs/<run id>.log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import traceback
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._core.utils import make_new_run_id

from pipeline import lock
from pipeline.partitions import quarterly
from pipeline.schedules import RUN_QUEUE_TAG
from pipeline.settings import Settings, resolve_settings

UNCHANGED = "the previously published warehouse and exports are unchanged."
# Errors the pipeline raises on purpose, with a message written for a person: no traceback on the console.
EXPECTED_ERRORS = {
    "ExtractError",
    "Failure",
    "LockNotObtained",
    "DagsterDbtCliRuntimeError",
    "DagsterAssetCheckFailedError",
}


class RefusedStart(Exception):
    """The run cannot start: a setting is missing or wrong. Nothing was changed."""


def say(message: str) -> None:
    print(f"vrr: {message}", file=sys.stderr, flush=True)


def partition_range_tags() -> dict[str, str]:
    keys = quarterly.get_partition_keys()
    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


class _Readable(logging.Formatter):
    """One line per event: time, step and the first paragraph of the message (a failure's traceback is left to
    the run's log file)."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        message = str(meta.get("orig_message") or record.getMessage()).strip().split("\n\n", 1)[0]
        if len(message) > 200:
            message = message[:199] + "…"
        where = meta.get("step_key") or "run"
        return f"{self.formatTime(record, '%H:%M:%S')} {where}: {message}"


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="Readable console lines for the headless runner: no tracebacks (they go to the run's log).",
)
def readable_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger("vrr", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Readable())
    log.addHandler(handler)
    return log


def run_job(
    instance: dg.DagsterInstance,
    first: str | None = None,
    last: str | None = None,
    *,
    run_id: str | None = None,
    full_refresh: bool = False,
):
    """Run the whole job in this process over the quarters first..last (default: every quarter); a full refresh
    builds the warehouse from every extract rather than from the published warehouse and what is new.

    The run takes the warehouse lock before its first step and gives it up after its last; LockNotObtained when
    another run held it for longer than the wait (then nothing has changed).
    """
    from pipeline.definitions import defs

    settings = resolve_settings()
    run_id = run_id or make_new_run_id()
    tags = {**partition_range_tags(), RUN_QUEUE_TAG: "headless"}  # not counted by the daemon's run queue
    if first:
        tags[ASSET_PARTITION_RANGE_START_TAG] = first
    if last:
        tags[ASSET_PARTITION_RANGE_END_TAG] = last
    job = defs.resolve_job_def("vrr_pipeline").with_logger_defs({"console": readable_console})
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if full_refresh:
        run_config["resources"] = {"vrr": {"config": {"full_refresh": True}}}
    dead = lock.acquire(
        settings.warehouse_path, run_id, wait_seconds=settings.lock_wait_seconds, say=say, owner_pid=os.getpid()
    )
    try:
        if dead is not None:
            lock.forget_dead_run(instance, dead.run_id)
        return job.execute_in_process(
            run_config=run_config, instance=instance, tags=tags, run_id=run_id, raise_on_error=False
        )
    finally:
        lock.release(settings.warehouse_path, run_id)


# --------------------------------------------------------------------------- what a person reads


def own_message(error) -> tuple[str, str]:
    """(class name, message) of the innermost cause of a serialised error: the error's own words."""
    while error.cause is not None:
        error = error.cause
    head, _, rest = error.message.strip().partition(": ")
    message = rest if head.split(".")[-1] == error.cls_name and rest else error.message.strip()
    return error.cls_name or "", message


def failures(result) -> list[tuple[str, str, str]]:
    """(step, class name, message) of each failure of the run, steps first, then a run-level failure."""
    out = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            out.append((event.step_key, *own_message(event.step_failure_data.error)))
    if not out:
        for event in result.all_events:
            if event.event_type == dg.DagsterEventType.RUN_FAILURE and event.job_failure_data.error is not None:
                out.append(("run", *own_message(event.job_failure_data.error)))
    return out


def failed_checks(result) -> list[str]:
    return sorted(
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not e.event_specific_data.passed
    )


def run_log_path(instance: dg.DagsterInstance, run_id: str) -> Path:
    return Path(instance.root_directory) / "logs" / f"{run_id}.log"


def write_run_log(instance: dg.DagsterInstance, run_id: str, extra: str = "") -> Path:
    """The run's whole event log as text, with the full traceback of every error, for whoever investigates."""
    path = run_log_path(instance, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        message = entry.user_message or (event.message if event else "") or ""
        lines.append(
            f"{_iso(entry.timestamp)} {logging.getLevelName(entry.level)} {entry.step_key or 'run'}: {message}"
        )
        error = getattr(entry, "error_info", None) or _event_error(event)
        if error is not None:
            lines.append(error.to_string())
    if extra:
        lines.append(extra)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _event_error(event):
    if event is None:
        return None
    data = event.event_specific_data
    return getattr(data, "error", None)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def report_failure(result, log: Path) -> None:
    """The last lines of a failed run: each failing step with the error's own message, then that nothing changed."""
    found = failures(result)
    if any(cls not in EXPECTED_ERRORS for _, cls, _ in found) or not found:
        say(f"an unexpected error: its full traceback is in the run's log, {log}")
    else:
        say(f"the run's full log: {log}")
    checks = failed_checks(result)
    if checks:
        say(f"failed checks: {', '.join(checks)}")
    for step, cls, message in found or [("run", "", "the run failed")]:
        say(f"step {step} failed: {message if cls in EXPECTED_ERRORS else f'{cls}: {message}'}")
    if published(result):
        say(
            "the run failed after publishing the new warehouse; each quarter's export folder is wholly from this "
            "run or from the previous one (check with sha256sum -c SHA256SUMS). Run again to finish the exports."
        )
    else:
        say(f"the run failed; {UNCHANGED}")


def published(result) -> bool:
    return any(
        e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and e.asset_key == dg.AssetKey("published_warehouse")
        for e in result.all_events
    )


def refuse_unless_ready(settings: Settings) -> None:
    if not os.environ.get("DAGSTER_HOME"):
        raise RefusedStart(
            "DAGSTER_HOME is not set: run through `make run`, or point DAGSTER_HOME at a folder "
            "holding this project's dagster.yaml."
        )
    if not settings.uses_sample and not settings.landing_dir.is_dir():
        raise RefusedStart(
            f"the landing folder {settings.landing_dir} (VRR_LANDING_DIR) does not exist or is not a folder."
        )


def main(argv: list[str] | None = None) -> int:
    full_refresh = "--full-refresh" in (sys.argv[1:] if argv is None else argv)
    try:
        settings = resolve_settings()
        refuse_unless_ready(settings)
    except (RuntimeError, RefusedStart) as exc:
        say(str(exc))
        say(f"the run did not start; {UNCHANGED}")
        return 2
    if settings.uses_sample:
        say("no VRR_LANDING_DIR set: running on the built-in SYNTHETIC sample with the DEMO pseudonym key.")
    with dg.DagsterInstance.get() as instance:
        run_id = make_new_run_id()
        try:
            result = run_job(instance, run_id=run_id, full_refresh=full_refresh)
        except lock.LockNotObtained as exc:
            say(str(exc))
            say(f"the run did not start; {UNCHANGED}")
            return 2
        except Exception:  # an error of the runner itself: the traceback to the log, not the console
            log = write_run_log(instance, run_id, traceback.format_exc())
            say(f"an unexpected error: its full traceback is in the run's log, {log}")
            say(f"the run failed; {UNCHANGED}")
            return 1
        log = write_run_log(instance, run_id)
    if not result.success:
        report_failure(result, log)
        return 1
    if not result.asset_materializations_for_node("landing_extracts"):
        say("nothing new in the landing folder (same extracts, same SHA-256): nothing was rebuilt.")
    say(f"done. Warehouse: {settings.warehouse_path}  Exports: {settings.export_dir}  Log: {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
