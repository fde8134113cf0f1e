"""A sensor on the landing folder: a vrr_pipeline run when a new, changed or removed extract is there.

The cursor is the folder as last seen: each extract's name and SHA-256 (with its size and modification time, so
that an unchanged file is not hashed again on every tick). An identical re-delivery (same name, same bytes)
changes nothing and requests nothing. A file still being written (modified in the last SETTLE_SECONDS) makes the
sensor wait for the next tick, so a run never reads half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg

from pipeline import atomic
from pipeline.contract import FILE_NAME
from pipeline.run import partition_range_tags
from pipeline.schedules import RUN_QUEUE_TAG, vrr_pipeline
from pipeline.settings import resolve_settings

SETTLE_SECONDS = 60
INTERVAL_SECONDS = 60


def fingerprint_folder(
    folder: Path, seen: dict[str, list], now: float, settle_seconds: float = SETTLE_SECONDS
) -> tuple[dict[str, list], list[str]]:
    """(name -> [sha256, size, mtime_ns] of every extract in `folder`, names still being written).

    Only names that follow the contract count: anything else is never read by a run. A file whose size and
    modification time are those in `seen` keeps its SHA-256 from there (not read again)."""
    files: dict[str, list] = {}
    settling: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not FILE_NAME.match(entry.name) or not entry.is_file():
            continue
        stat = entry.stat()
        if now - stat.st_mtime < settle_seconds:
            settling.append(entry.name)
            continue
        before = seen.get(entry.name)
        if before and before[1] == stat.st_size and before[2] == stat.st_mtime_ns:
            files[entry.name] = before
        else:
            files[entry.name] = [atomic.sha256_of(Path(entry.path)), stat.st_size, stat.st_mtime_ns]
    return files, settling


def what_changed(before: dict[str, list], after: dict[str, list]) -> dict[str, list[str]]:
    """New, changed (other SHA-256 under the same name) and removed extracts between two fingerprints."""
    return {
        "new": sorted(set(after) - set(before)),
        "changed": sorted(n for n in set(after) & set(before) if after[n][0] != before[n][0]),
        "removed": sorted(set(before) - set(after)),
    }


def read_cursor(cursor: str | None) -> tuple[dict[str, list], int]:
    if not cursor:
        return {}, 0
    state = json.loads(cursor)
    return state.get("files", {}), state.get("requests", 0)


@dg.sensor(
    name="landing_folder_sensor",
    job=vrr_pipeline,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the landing folder (VRR_LANDING_DIR) and requests a vrr_pipeline run over every quarter "
    "when an extract is new, changed (same name, other SHA-256) or removed. An identical re-delivery requests "
    f"nothing; a file modified in the last {SETTLE_SECONDS} seconds is waited for. With the built-in synthetic "
    "sample (no VRR_LANDING_DIR) there is nothing to watch.",
)
def landing_folder_sensor(context: dg.SensorEvaluationContext):
    if not os.environ.get("VRR_LANDING_DIR"):
        return dg.SkipReason("No VRR_LANDING_DIR: the runs use the built-in synthetic sample; nothing to watch.")
    try:
        settings = resolve_settings()
    except RuntimeError as exc:  # e.g. no pseudonym key: a run would refuse to start
        return dg.SkipReason(str(exc))
    folder = settings.landing_dir
    if not folder.is_dir():
        return dg.SkipReason(f"The landing folder {folder} does not exist or is not a folder.")
    before, requests = read_cursor(context.cursor)
    files, settling = fingerprint_folder(folder, before, time.time())
    if settling:
        return dg.SkipReason(f"Waiting for {', '.join(settling)} (modified in the last {SETTLE_SECONDS} seconds).")
    changes = what_changed(before, files)
    if not any(changes.values()):
        if before != files:  # only sizes or times moved (e.g. touched): keep them so nothing is hashed again
            context.update_cursor(json.dumps({"files": files, "requests": requests}, sort_keys=True))
        return dg.SkipReason(
            f"Nothing new: the {len(files)} extract(s) are those already seen (same names and SHA-256)."
        )
    requests += 1
    context.update_cursor(json.dumps({"files": files, "requests": requests}, sort_keys=True))
    state = hashlib.sha256(json.dumps(sorted((n, f[0]) for n, f in files.items())).encode()).hexdigest()
    summary = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in changes.items() if names)
    context.log.info(f"Landing folder changed ({summary}): requesting a run.")
    return dg.RunRequest(
        run_key=f"landing-{requests}-{state[:16]}",
        tags={**partition_range_tags(), RUN_QUEUE_TAG: "dagster", "vrr/landing_change": summary[:200]},
    )
