"""The one quarterly partitions definition, imported wherever quarters are meant."""

from __future__ import annotations

import datetime as dt

import dagster as dg

# Quarters start 1 Jan, 1 Apr, 1 Jul and 1 Oct (Europe/London). Keys are the quarter's first month, e.g. 2024-04.
# The first quarter is that of the start of the CPS scheme (5 June 2013); end_offset=1 exposes the quarter in
# progress, whose figures are provisional.
quarterly = dg.TimeWindowPartitionsDefinition(
    start="2013-04",
    cron_schedule="0 0 1 */3 *",
    fmt="%Y-%m",
    timezone="Europe/London",
    end_offset=1,
)

BACKFILL_POLICY = dg.BackfillPolicy.single_run()


def quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def partition_key(quarter: dt.date) -> str:
    return quarter.strftime("%Y-%m")


def quarter_just_ended(moment: dt.datetime) -> str:
    """Partition key of the quarter that ended before `moment` (the quarter holding the previous day)."""
    return partition_key(quarter_start((moment - dt.timedelta(days=1)).date()))


def export_label(quarter: dt.date) -> str:
    """Folder label of a quarter's export, financial year style: 2024-04-01 -> 2024-25-Q1."""
    fy = quarter.year if quarter.month >= 4 else quarter.year - 1
    q = ((quarter.month - 4) % 12) // 3 + 1
    return f"{fy}-{(fy + 1) % 100:02d}-Q{q}"


def quarters_in_window(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """Quarter start dates in the half-open window [start, end)."""
    out, q = [], quarter_start(start.date())
    while q < end.date():
        out.append(q)
        q = dt.date(q.year + (q.month + 3 > 12), (q.month + 2) % 12 + 1, 1)
    return out
