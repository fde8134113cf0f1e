"""SYNTHETIC extracts of N decisions for the benchmark, written by DuckDB (no Python loop over rows).

ALL DATA IS SYNTHETIC: identifiers, forces, dates and characteristics come from a seeded hash of the row number.

A folder for N decisions over twelve quarters (October 2021 to September 2024) holds two overlapping cumulative
extracts of each kind, as forces send them:
  decisions_2024-07-06.csv     every decision made before July 2024 (about 11/12 of N)
  decisions_2024-10-06.csv     every decision (N), 2% of the earlier ones corrected (outcome, victim details or a
                               decision date moved by up to 60 days, often into another quarter)
  vrr_requests_*.csv           requests on about 1.7% of decisions (17 thousand per million), dated after the
                               decision, reviews completed in the later extract
and, for the incremental run, `add_quarter` writes one new quarter's extract (decisions_2025-01-06.csv: the
decisions of October-December 2024, N/12, plus corrections of 10% of the previous quarter's, and its requests).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

FIRST_DAY = dt.date(2021, 10, 1)
DAYS = (dt.date(2024, 10, 1) - FIRST_DAY).days  # twelve quarters
EXTRACTS = (dt.date(2024, 7, 6), dt.date(2024, 10, 6))
NEW_QUARTER = dt.date(2025, 1, 6)

# Code lists of the synthetic rows (valid for the contract and the seeds).
OUTCOMES = ["15", "15", "15", "14", "14", "16", "16", "10", "9", "1", "1", "18", "20", "21"]
OFFENCES = ["19C", "19F", "19D", "19E", "19G", "19H"]
ETHNICITIES = ["W1", "W2", "W9", "A1", "A2", "B1", "B2", "M1", "O9", "NS", ""]
STAGES = ["at_initial_report", "before_suspect_interview", "after_suspect_interview", "after_charge"]
REASONS = ["length_of_process", "fear_of_court", "fear_of_suspect", "health_wellbeing", "other"]
FORCES = [f"F{i:02d}" for i in range(1, 44)]  # 43 invented forces


def pick(values: list[str], salt: int) -> str:
    """SQL: a value of the list chosen by a hash of the decision number i."""
    items = ", ".join(f"'{v}'" for v in values)
    return f"([{items}])[1 + cast(hash(i, {salt}) % {len(values)} as bigint)]"


def decisions_sql(corrected_share: float) -> str:
    """Decisions i in [$first, $last) as known on $as_at; a share of those made before $corrections_before are
    corrected (the extract date is the seed of the corrections, so each extract corrects different records)."""
    day = f"date '{FIRST_DAY}' + cast(floor(i * {DAYS}::double / $n) as integer)"
    corrected = f"(decision_date < $corrections_before and hash(i, $as_at) % 10000 < {int(corrected_share * 10000)})"
    return f"""
        with

        numbered as (
            select i, {day} as first_date from range($first, $last) as r(i)
        ),

        dated as (
            select
                i,
                case when hash(i, $as_at) % 10000 < {int(corrected_share * 10000)} and first_date < $corrections_before
                     then first_date + cast(hash(i, 7, $as_at) % 121 as integer) - 60 else first_date
                end as decision_date
            from numbered
        ),

        final as (
            select
                'D' || lpad(cast(i as varchar), 9, '0') as decision_id,
                'CR/' || cast(i // 2 as varchar) as crime_reference,
                {pick(FORCES, 1)} as force_code,
                {pick(OFFENCES, 2)} as offence_code,
                strftime(decision_date, '%Y-%m-%d') as decision_date,
                case when {corrected} and hash(i, 8) % 2 = 0 then '16' else {pick(OUTCOMES, 3)} end as outcome_code,
                case when hash(i, 4) % 5 = 0 then 'cps' else 'police' end as decision_maker,
                case when hash(i, 5) % 10 < 7 then 'Y' else 'N' end as suspect_interviewed,
                case when hash(i, 6) % 20 = 0 then ''
                     else strftime(decision_date + cast(hash(i, 9) % 12 as integer), '%Y-%m-%d') end
                    as victim_notified_date,
                'V' || cast(i * 7 // 8 as varchar) as victim_id,
                case when hash(i, 10) % 25 = 0 then '' else cast(10 + hash(i, 11) % 75 as varchar) end as victim_age,
                case when hash(i, 12) % 10 < 8 then 'F' else 'M' end as victim_sex,
                {pick(ETHNICITIES, 13)} as victim_ethnicity,
                case when hash(i, 14) % 5 = 0 then 'Y' else 'N' end as victim_disability,
                {pick(STAGES, 15)} as withdrawal_stage,
                {pick(REASONS, 16)} as withdrawal_reason
            from dated
            where decision_date <= $as_at
        )

        select * from final order by decision_id
    """


REQUESTS_SQL = f"""
    with

    requested as (
        select
            i,
            date '{FIRST_DAY}' + cast(floor(i * {DAYS}::double / $n) as integer) + 60
                + cast(hash(i, 20) % 40 as integer)
            as request_date
        from range($first, $last) as r(i)
        where hash(i, 21) % 1000 < 17
    ),

    final as (
        select
            'R' || lpad(cast(i as varchar), 9, '0') as request_id,
            'D' || lpad(cast(i as varchar), 9, '0') as decision_id,
            strftime(request_date, '%Y-%m-%d') as request_date,
            case when hash(i, 4) % 5 = 0 then 'cps' else 'police' end as scheme,
            'review' as review_stage,
            case when request_date + 30 <= $as_at then strftime(request_date + 30, '%Y-%m-%d') else '' end
                as review_completed_date,
            case when request_date + 30 > $as_at then ''
                 when hash(i, 22) % 10 = 0 then 'decision_overturned' else 'decision_stands' end as review_result
        from requested
        where request_date <= $as_at
    )

    select * from final order by request_id
"""


def write(con, sql: str, path: Path, **params) -> None:
    con.execute(f"copy ({sql}) to '{path}' (header, delimiter ',')", params)


def generate(folder: Path, n: int) -> Path:
    """The two overlapping extracts of each kind for N decisions."""
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        for as_at in EXTRACTS:
            common = {"n": n, "first": 0, "last": n, "as_at": as_at}
            write(
                con,
                decisions_sql(0.02),
                folder / f"decisions_{as_at}.csv",
                **common,
                corrections_before=EXTRACTS[0] if as_at == EXTRACTS[1] else dt.date.min,
            )
            write(con, REQUESTS_SQL, folder / f"vrr_requests_{as_at}.csv", **common)
    return folder


def add_quarter(folder: Path, n: int) -> None:
    """One new quarter's extract: October-December 2024's decisions (ids from N on) and corrections of 10% of the
    previous quarter's decisions (some moved into a neighbouring quarter), with their requests."""
    quarter = n // 12
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        new = decisions_sql(0.0).replace("range($first, $last)", "range($n, $n + $q)")
        corrections = decisions_sql(0.1).replace(
            "where decision_date <= $as_at", "where decision_date <= $as_at and hash(i, $as_at) % 10000 < 1000"
        )
        sql = f"select * from ({new}) union all select * from ({corrections}) order by decision_id"
        write(
            con,
            sql,
            folder / f"decisions_{NEW_QUARTER}.csv",
            n=n,
            q=quarter,
            first=n - quarter,
            last=n,
            as_at=NEW_QUARTER,
            corrections_before=EXTRACTS[1],
        )
        write(
            con,
            REQUESTS_SQL,
            folder / f"vrr_requests_{NEW_QUARTER}.csv",
            n=n,
            first=n,
            last=n + quarter,
            as_at=NEW_QUARTER,
        )
