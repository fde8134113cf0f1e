"""Hand-worked cases for the two marts, run through the REAL pipeline (Dagster job, ingest, dbt) once.

One landing folder holds every case. Each case uses its own force code, so its figures can be read
from the force-level rows of marts.vrr_uptake on their own:

    QE  quarter edges 31 Mar / 1 Apr          LP  leap day 2024-02-29
    AB  age band edges                        MR  several requests for one decision
    RB  a request dated before its decision   UD  a request naming an unknown decision
    CR  a correction moving a decision into the next quarter
    SS  scheme start dates (police, CPS)      SI  suspect interviewed; outcome 16 never eligible
    RR  review results                        RN  no completed review: overturn_rate null
    MD  median days, even count               WI  Wilson interval, 1 of 4
    CO  cohort values                         TC  codes padded with spaces and in lower case
    PV  provisional quarters                  DY  disability given as a word ('Yes', 'No')

Extracts (the as-at date of the warehouse is the newest of them: 2025-01-01):
    decisions_2024-07-15.csv      nearly every decision (CR1 dated 2024-06-30 here)
    decisions_2025-01-01.csv      QE1/QE2 repeated unchanged, CR1 corrected to 2024-07-01, PV1, PV2, DY1, DY2
    vrr_requests_2024-07-15.csv   most requests (RQ-RR2 still pending here)
    vrr_requests_2025-01-01.csv   RQ-RR2 corrected to decision_overturned, RQ-CR1, RQ-PV1

Every expected number below is worked out by hand from the definitions in the issue, not taken from
tests/reference.py.
"""

from __future__ import annotations

import math
from datetime import date

import pytest

from pipeline.contract import DECISION_COLUMNS, REQUEST_COLUMNS
from tests.conftest import PipelineRun, write_csv

Z = 1.959963984540054
AS_AT = date(2025, 1, 1)
DIMENSIONS = ("all", "scheme", "age_band", "sex", "ethnicity_group", "disability", "offence_group")
COUNT_COLUMNS = (
    "eligible_decisions",
    "decisions_with_request",
    "requests",
    "reviews_completed",
    "reviews_overturned",
)

Q_2013_Q1 = date(2013, 4, 1)  # 2013/14 Q1
Q_2015_Q1 = date(2015, 4, 1)  # 2015/16 Q1
Q_2023_Q4 = date(2024, 1, 1)  # 2023/24 Q4
Q_2024_Q1 = date(2024, 4, 1)  # 2024/25 Q1
Q_2024_Q2 = date(2024, 7, 1)  # 2024/25 Q2
Q_2024_Q3 = date(2024, 10, 1)  # 2024/25 Q3
Q_2024_Q4 = date(2025, 1, 1)  # 2024/25 Q4


# --------------------------------------------------------------------------- the landing folder


def d(
    decision_id,
    decision_date,
    force,
    *,
    outcome="15",
    maker="police",
    interviewed="Y",
    age="",
    sex="",
    ethnicity="",
    disability="",
    offence="19C",
    notified="",
) -> dict:
    return {
        "decision_id": decision_id,
        "crime_reference": f"CR-{decision_id}",
        "force_code": force,
        "offence_code": offence,
        "decision_date": decision_date,
        "outcome_code": outcome,
        "decision_maker": maker,
        "suspect_interviewed": interviewed,
        "victim_notified_date": notified,
        "victim_id": f"V-{decision_id}",
        "victim_age": age,
        "victim_sex": sex,
        "victim_ethnicity": ethnicity,
        "victim_disability": disability,
        "withdrawal_stage": "",
        "withdrawal_reason": "",
    }


def r(request_id, decision_id, request_date, result="", scheme="police", completed="") -> dict:
    return {
        "request_id": request_id,
        "decision_id": decision_id,
        "request_date": request_date,
        "scheme": scheme,
        "review_stage": "review",
        "review_completed_date": completed,
        "review_result": result,
    }


AGES = {  # decision id -> (victim_age as given, expected age band)
    "AB00": ("0", "Under 13"),
    "AB12": ("12", "Under 13"),
    "AB13": ("13", "13-15"),
    "AB15": ("15", "13-15"),
    "AB16": ("16", "16-17"),
    "AB17": ("17", "16-17"),
    "AB18": ("18", "18-24"),
    "AB24": ("24", "18-24"),
    "AB25": ("25", "25-34"),
    "AB30": (" 30 ", "25-34"),  # trimmed first
    "AB64": ("64", "55-64"),
    "AB65": ("65", "65 and over"),
    "AB120": ("120", "65 and over"),
    "AB121": ("121", "Unknown"),  # outside 0-120
    "ABabc": ("abc", "Unknown"),  # not a number
    "ABblank": ("", "Unknown"),  # blank
    "ABneg": ("-1", "Unknown"),  # not a whole number of years
}

OLD_DECISIONS = [
    # QE: 31 Mar is the last day of Jan-Mar (2023/24 Q4), 1 Apr the first of Apr-Jun (2024/25 Q1).
    d("QE1", "2024-03-31", "QE"),
    d("QE2", "2024-04-01", "QE"),
    # LP: the leap day is in Jan-Mar 2024; 28 Feb -> 1 Mar is 2 days in a leap year.
    d("LP1", "2024-02-29", "LP", notified="2024-02-29"),
    d("LP2", "2024-02-28", "LP", notified="2024-02-28"),
    # AB: one eligible decision per age, all 2024-05-10.
    *[d(k, "2024-05-10", "AB", age=age) for k, (age, _) in AGES.items()],
    # MR: MR1 has two requests, MR2 none.
    d("MR1", "2024-05-01", "MR"),
    d("MR2", "2024-05-01", "MR"),
    # RB: its only request is dated the day before the decision.
    d("RB1", "2024-05-15", "RB"),
    # UD: no request of its own; a request names UD-404, which is no decision at all.
    d("UD1", "2024-05-15", "UD"),
    # CR: 30 Jun here; corrected to 1 Jul in decisions_2025-01-01.csv.
    d("CR1", "2024-06-30", "CR"),
    # SS: scheme start dates.
    d("SS1", "2015-03-31", "SS", outcome="15", maker="police", interviewed="Y"),  # day before police start
    d("SS2", "2015-04-01", "SS", outcome="15", maker="police", interviewed="Y"),  # police start day
    d("SS3", "2013-06-04", "SS", outcome="9", maker="cps", interviewed=""),  # day before CPS start
    d("SS4", "2013-06-05", "SS", outcome="9", maker="cps", interviewed=""),  # CPS start day
    # SI: suspect interviewed; outcome 16.
    d("SI1", "2024-05-20", "SI", outcome="15", maker="police", interviewed="N"),  # not eligible
    d("SI2", "2024-05-20", "SI", outcome="15", maker="police", interviewed=""),  # not eligible
    d("SI3", "2024-05-20", "SI", outcome="15", maker="cps", interviewed="N"),  # eligible, CPS needs none
    d("SI4", "2024-05-20", "SI", outcome="15", maker="police", interviewed="Y"),  # eligible
    d("SI5", "2024-05-20", "SI", outcome="10", maker="police", interviewed="y"),  # eligible (case-insensitive)
    d("SI6", "2024-05-20", "SI", outcome="16", maker="police", interviewed="Y"),  # never eligible
    d("SI7", "2024-05-20", "SI", outcome="16", maker="cps", interviewed="Y"),  # never eligible
    # RR: one request per result; RR6 has none.
    *[d(f"RR{i}", "2024-06-03", "RR") for i in range(1, 7)],
    # RN: no completed review at all.
    d("RN1", "2024-06-03", "RN"),
    d("RN2", "2024-06-03", "RN"),
    # MD: notified 1 May; first requests 3, 10, 20, 60 days later; MD5 not notified; MD6 no request.
    *[d(f"MD{i}", "2024-05-01", "MD", notified="2024-05-01") for i in range(1, 5)],
    d("MD5", "2024-05-01", "MD"),
    d("MD6", "2024-05-01", "MD", notified="2024-05-01"),
    # WI: 4 eligible, 1 with a request.
    *[d(f"WI{i}", "2024-04-10", "WI") for i in range(1, 5)],
    # CO: cohort values (ages blank -> Unknown).
    d("CO01", "2024-05-05", "CO", sex="F", ethnicity="W1", disability="Y", offence="19C"),
    d("CO02", "2024-05-05", "CO", sex="M", ethnicity="W2", disability="N", offence="19F"),
    d("CO03", "2024-05-05", "CO", sex="X", ethnicity="M1", disability="U", offence="19D"),
    d("CO04", "2024-05-05", "CO", sex="U", ethnicity="A4", disability="", offence="19E"),
    d(
        "CO05",
        "2024-05-05",
        "CO",
        outcome="9",
        maker="cps",
        interviewed="",
        sex="",
        ethnicity="O1",
        disability="y",
        offence="19c",
    ),
    d(
        "CO06",
        "2024-05-05",
        "CO",
        outcome="15",
        maker="cps",
        interviewed="N",
        sex="Z",
        ethnicity="B2",
        disability="Q",
        offence="19G",
    ),
    d("CO07", "2024-05-05", "CO", sex="F", ethnicity="O9", disability="N", offence="19H"),
    d("CO08", "2024-05-05", "CO", sex="F", ethnicity="NS", disability="Y", offence="8L"),
    d("CO09", "2024-05-05", "CO", sex="M", ethnicity="", disability="N", offence=""),
    d("CO10", "2024-05-05", "CO", sex="M", ethnicity="ZZ", disability="U", offence="19C"),
    d("CO11", "2024-05-05", "CO", outcome="16", sex="F", ethnicity="W1", disability="Y"),  # not eligible
    # TC: codes padded and in lower case; the force code too.
    d(
        "TC1",
        "2024-05-02",
        " tc ",
        outcome=" 15 ",
        maker="Police ",
        interviewed=" y ",
        sex=" f",
        ethnicity=" o1 ",
        disability=" n ",
        offence=" 19f ",
    ),
    d(
        "TC2",
        "2024-05-02",
        "Tc",
        outcome="9 ",
        maker=" CPS",
        interviewed="",
        sex="m ",
        ethnicity="b1",
        disability="Y ",
        offence="19h",
    ),
]

NEW_DECISIONS = [
    d("QE1", "2024-03-31", "QE"),  # unchanged repeat (extracts overlap)
    d("QE2", "2024-04-01", "QE"),
    d("CR1", "2024-07-01", "CR"),  # the correction: Apr-Jun -> Jul-Sep
    d("PV1", "2024-10-15", "PV"),  # 2024/25 Q3
    d("PV2", "2025-01-01", "PV"),  # 2024/25 Q4, decided on the as-at day
    d("DY1", "2024-11-05", "DY", disability="Yes"),  # normalised to Y: Yes
    d("DY2", "2024-11-05", "DY", disability="no"),  # normalised to N: No
]

OLD_REQUESTS = [
    r("RQ-QE1", "QE1", "2024-04-02", "decision_stands"),  # next quarter: counts in the decision's quarter
    r("RQ-LP1", "LP1", "2024-02-29"),  # same day as the decision: counts
    r("RQ-LP2", "LP2", "2024-03-01"),
    r("RQ-AB13", "AB13", "2024-05-12"),
    r("RQ-MR1a", "MR1", "2024-05-03", "decision_stands", completed="2024-06-01"),
    r("RQ-MR1b", "MR1", "2024-05-09"),  # pending
    r("RQ-RB1", "RB1", "2024-05-14"),  # before its decision: quarantined, counts nowhere
    r("RQ-UD", "UD-404", "2024-05-16"),  # unknown decision: quarantined, counts nowhere
    r("RQ-CR2", "CR1", "2024-06-30"),  # before CR1's corrected date (1 Jul): counts nowhere
    r("RQ-SI1", "SI1", "2024-05-21"),  # on an ineligible decision
    r("RQ-SI3", "SI3", "2024-05-21", scheme="cps"),
    r("RQ-RR1", "RR1", "2024-06-04", "decision_stands", completed="2024-07-01"),
    r("RQ-RR2", "RR2", "2024-06-04"),  # pending here, overturned in the newer extract
    r("RQ-RR3", "RR3", "2024-06-04", "out_of_scope"),
    r("RQ-RR4", "RR4", "2024-06-04", "withdrawn"),
    r("RQ-RR5", "RR5", "2024-06-04"),  # pending
    r("RQ-RN1", "RN1", "2024-06-05", "withdrawn"),
    r("RQ-MD1", "MD1", "2024-05-04"),  # 3 days after notification
    r("RQ-MD2b", "MD2", "2024-05-30"),  # MD2's second request (first is 11 May)
    r("RQ-MD2a", "MD2", "2024-05-11"),  # 10 days
    r("RQ-MD3", "MD3", "2024-05-21"),  # 20 days
    r("RQ-MD4", "MD4", "2024-06-30"),  # 30 (May 1-31) + 30 (June) = 60 days
    r("RQ-MD5", "MD5", "2024-05-02"),  # no notification date: not in the median
    r("RQ-WI1", "WI1", "2024-04-20"),
    r("RQ-CO01", "CO01", "2024-05-06"),
    r("RQ-CO03", "CO03", "2024-05-06"),
    r("RQ-CO06", "CO06", "2024-05-06", scheme="cps"),
    r("RQ-TC1", "TC1", "2024-05-03", " Decision_Overturned ", scheme="Police ", completed="2024-06-10"),
]

NEW_REQUESTS = [
    r("RQ-RR2", "RR2", "2024-06-04", "decision_overturned", completed="2024-08-01"),
    r("RQ-CR1", "CR1", "2024-07-02", "decision_stands", completed="2024-09-01"),
    r("RQ-PV1", "PV1", "2024-11-01"),
]


def rows(records: list[dict], columns) -> list[list[str]]:
    return [[rec[c] for c in columns] for rec in records]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uptake_cases")
    landing = tmp / "landing"
    write_csv(landing / "decisions_2024-07-15.csv", list(DECISION_COLUMNS), rows(OLD_DECISIONS, DECISION_COLUMNS))
    write_csv(landing / "decisions_2025-01-01.csv", list(DECISION_COLUMNS), rows(NEW_DECISIONS, DECISION_COLUMNS))
    write_csv(landing / "vrr_requests_2024-07-15.csv", list(REQUEST_COLUMNS), rows(OLD_REQUESTS, REQUEST_COLUMNS))
    write_csv(landing / "vrr_requests_2025-01-01.csv", list(REQUEST_COLUMNS), rows(NEW_REQUESTS, REQUEST_COLUMNS))
    pipeline = PipelineRun(tmp, landing)
    result = pipeline()
    assert result.success
    return pipeline


@pytest.fixture(scope="module")
def uptake(run) -> dict[tuple, dict]:
    """marts.vrr_uptake keyed by (period_start, force_code, cohort_dimension, cohort_value)."""
    return {
        (row["period_start"], row["force_code"], row["cohort_dimension"], row["cohort_value"]): row
        for row in run.query("select * from marts.vrr_uptake")
    }


@pytest.fixture(scope="module")
def fct(run) -> dict[str, dict]:
    return {row["decision_id"]: row for row in run.query("select * from marts.fct_vrr_decisions")}


def close(actual, expected) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return math.isclose(actual, expected, rel_tol=1e-12)


def force_rows(uptake, force, period=None) -> dict[tuple, dict]:
    """(period_start, dimension, value) -> row, for one force."""
    return {(k[0], k[2], k[3]): v for k, v in uptake.items() if k[1] == force and (period is None or k[0] == period)}


def counts(row) -> tuple:
    return tuple(row[c] for c in COUNT_COLUMNS)


# --------------------------------------------------------------------------- quarters and labels


def test_quarter_edges_31_march_and_1_april(uptake, fct):
    # QE1 2024-03-31 -> quarter starting 2024-01-01 = FY 2023/24 Q4; QE2 2024-04-01 -> 2024/25 Q1.
    assert (fct["QE1"]["period_start"], fct["QE1"]["period_label"]) == (Q_2023_Q4, "2023/24 Q4")
    assert (fct["QE2"]["period_start"], fct["QE2"]["period_label"]) == (Q_2024_Q1, "2024/25 Q1")
    q4 = uptake[(Q_2023_Q4, "QE", "all", "All")]
    q1 = uptake[(Q_2024_Q1, "QE", "all", "All")]
    assert q4["period_label"] == "2023/24 Q4" and q1["period_label"] == "2024/25 Q1"
    # QE1's request is dated 2 Apr, the next quarter, but counts in QE1's own quarter (cohort basis).
    # (eligible, with request, requests, completed, overturned)
    assert counts(q4) == (1, 1, 1, 1, 0)
    assert counts(q1) == (1, 0, 0, 0, 0)
    assert q4["uptake_rate"] == 1.0 and q1["uptake_rate"] == 0.0
    assert q4["overturn_rate"] == 0.0  # 0 overturned / 1 completed
    assert q1["overturn_rate"] is None  # none completed
    # QE has rows only in these two quarters (the repeat in the newer extract adds nothing).
    assert {k[0] for k in force_rows(uptake, "QE")} == {Q_2023_Q4, Q_2024_Q1}


def test_leap_day(uptake, fct):
    assert fct["LP1"]["decision_date"] == date(2024, 2, 29)
    assert (fct["LP1"]["period_start"], fct["LP1"]["period_label"]) == (Q_2023_Q4, "2023/24 Q4")
    # LP1: notified 29 Feb, request 29 Feb (same day as the decision: "on or after" counts) -> 0 days.
    assert (fct["LP1"]["requests"], fct["LP1"]["days_notification_to_request"]) == (1, 0)
    # LP2: notified 28 Feb, request 1 Mar -> 28 Feb, 29 Feb, 1 Mar = 2 days (leap year).
    assert (fct["LP2"]["first_request_date"], fct["LP2"]["days_notification_to_request"]) == (date(2024, 3, 1), 2)
    row = uptake[(Q_2023_Q4, "LP", "all", "All")]
    assert counts(row) == (2, 2, 2, 0, 0)
    assert row["median_days_to_request"] == 1.0  # (0 + 2) / 2


@pytest.mark.parametrize(
    "period, label",
    [
        (Q_2013_Q1, "2013/14 Q1"),
        (Q_2015_Q1, "2015/16 Q1"),
        (Q_2023_Q4, "2023/24 Q4"),  # Jan-Mar 2024 belongs to FY 2023/24
        (Q_2024_Q1, "2024/25 Q1"),
        (Q_2024_Q2, "2024/25 Q2"),
        (Q_2024_Q3, "2024/25 Q3"),
        (Q_2024_Q4, "2024/25 Q4"),  # Jan-Mar 2025 belongs to FY 2024/25
    ],
)
def test_period_labels(uptake, period, label):
    labels = {row["period_label"] for key, row in uptake.items() if key[0] == period}
    assert labels == {label}


def test_periods_with_eligible_decisions_only(uptake, fct):
    # Quarters with eligible decisions: SS4 (2013 Q1), SS2 (2015 Q1), QE1/LP (2023/24 Q4), most cases
    # (2024/25 Q1), CR1 (Q2), PV1 (Q3), PV2 (Q4). SS1's quarter (Jan-Mar 2015) has no eligible decision.
    assert {k[0] for k in uptake} == {Q_2013_Q1, Q_2015_Q1, Q_2023_Q4, Q_2024_Q1, Q_2024_Q2, Q_2024_Q3, Q_2024_Q4}
    assert (fct["SS1"]["period_start"], fct["SS1"]["period_label"]) == (date(2015, 1, 1), "2014/15 Q4")


# --------------------------------------------------------------------------- age bands


def test_age_band_edges(uptake, fct):
    assert {k: fct[k]["age_band"] for k in AGES} == {k: band for k, (_, band) in AGES.items()}
    rows_ = force_rows(uptake, "AB", Q_2024_Q1)
    by_band = {
        k[2]: (v["eligible_decisions"], v["decisions_with_request"]) for k, v in rows_.items() if k[1] == "age_band"
    }
    assert by_band == {
        "Under 13": (2, 0),  # 0, 12
        "13-15": (2, 1),  # 13 (has a request), 15
        "16-17": (2, 0),  # 16, 17
        "18-24": (2, 0),  # 18, 24
        "25-34": (2, 0),  # 25, " 30 "
        "55-64": (1, 0),  # 64
        "65 and over": (2, 0),  # 65, 120
        "Unknown": (4, 0),  # 121, abc, blank, -1
    }
    assert rows_[(Q_2024_Q1, "age_band", "13-15")]["uptake_rate"] == 0.5
    assert counts(rows_[(Q_2024_Q1, "all", "All")]) == (17, 1, 1, 0, 0)  # 2+2+2+2+2+1+2+4 = 17


# --------------------------------------------------------------------------- requests


def test_several_requests_for_one_decision(uptake, fct):
    assert (fct["MR1"]["requests"], fct["MR1"]["has_request"]) == (2, True)
    assert fct["MR1"]["first_request_date"] == date(2024, 5, 3)  # min(3 May, 9 May)
    assert (fct["MR2"]["requests"], fct["MR2"]["has_request"]) == (0, False)
    row = uptake[(Q_2024_Q1, "MR", "all", "All")]
    # 2 eligible, 1 with a request (MR1 counted once), 2 requests, 1 completed (decision_stands), 0 overturned.
    assert counts(row) == (2, 1, 2, 1, 0)
    assert row["uptake_rate"] == 0.5
    assert row["overturn_rate"] == 0.0


def test_request_before_its_decision_counts_nowhere(run, uptake, fct):
    assert (fct["RB1"]["requests"], fct["RB1"]["has_request"], fct["RB1"]["first_request_date"]) == (0, False, None)
    assert counts(uptake[(Q_2024_Q1, "RB", "all", "All")]) == (1, 0, 0, 0, 0)
    quarantined = {r["record_key"]: r["reason_code"] for r in run.query("select * from raw.quarantine")}
    assert quarantined["RQ-RB1"] == "request_before_decision"


def test_request_naming_an_unknown_decision_counts_nowhere(run, uptake, fct):
    assert "UD-404" not in fct
    row = uptake[(Q_2024_Q1, "UD", "all", "All")]
    assert counts(row) == (1, 0, 0, 0, 0)
    # 0 of 1: lower bound 0; upper = z2 / (1 + z2), z2 = 1.959963984540054**2 = 3.841458820694125035...
    #   = 3.841458820694125035 / 4.841458820694125035 = 0.793452655...
    assert row["uptake_ci_lower"] == 0.0
    assert close(row["uptake_ci_upper"], Z * Z / (1 + Z * Z))
    quarantined = {r["record_key"]: r["reason_code"] for r in run.query("select * from raw.quarantine")}
    assert quarantined["RQ-UD"] == "unknown_decision"
    # 55 decisions in 2024/25 Q1 (see test_all_force_rows) already account for every counted request;
    # no row anywhere has a force or decision from UD-404.
    assert not any("404" in str(k) for k in uptake)


def test_correction_moves_decision_to_next_quarter(run, uptake, fct):
    # decisions_2024-07-15 says 2024-06-30 (Apr-Jun); decisions_2025-01-01 says 2024-07-01 (Jul-Sep): newest wins.
    assert fct["CR1"]["decision_date"] == date(2024, 7, 1)
    assert (fct["CR1"]["period_start"], fct["CR1"]["period_label"]) == (Q_2024_Q2, "2024/25 Q2")
    assert set(force_rows(uptake, "CR")) == {
        (Q_2024_Q2, dim, val)
        for dim, val in [
            ("all", "All"),
            ("scheme", "Police"),
            ("age_band", "Unknown"),
            ("sex", "Unknown"),
            ("ethnicity_group", "Not stated"),
            ("disability", "Unknown"),
            ("offence_group", "Adult rape"),
        ]
    }
    # RQ-CR1 (2 Jul, decision_stands) counts; RQ-CR2 (30 Jun) is before the corrected date and counts nowhere.
    assert counts(uptake[(Q_2024_Q2, "CR", "all", "All")]) == (1, 1, 1, 1, 0)
    assert (fct["CR1"]["requests"], fct["CR1"]["first_request_date"]) == (1, date(2024, 7, 2))
    quarantined = {r["record_key"]: r["reason_code"] for r in run.query("select * from raw.quarantine")}
    assert quarantined["RQ-CR2"] == "request_before_decision"


# --------------------------------------------------------------------------- eligibility


def test_scheme_start_dates(uptake, fct):
    assert (fct["SS1"]["is_vrr_eligible"], fct["SS1"]["scheme"]) == (False, None)  # police, 2015-03-31
    assert (fct["SS2"]["is_vrr_eligible"], fct["SS2"]["scheme"]) == (True, "Police")  # police, 2015-04-01
    assert (fct["SS3"]["is_vrr_eligible"], fct["SS3"]["scheme"]) == (False, None)  # cps 9, 2013-06-04
    assert (fct["SS4"]["is_vrr_eligible"], fct["SS4"]["scheme"]) == (True, "CPS")  # cps 9, 2013-06-05
    ss = force_rows(uptake, "SS")
    assert ss[(Q_2013_Q1, "all", "All")]["eligible_decisions"] == 1
    assert ss[(Q_2013_Q1, "scheme", "CPS")]["eligible_decisions"] == 1
    assert ss[(Q_2015_Q1, "all", "All")]["eligible_decisions"] == 1
    assert ss[(Q_2015_Q1, "scheme", "Police")]["eligible_decisions"] == 1
    assert {k[0] for k in ss} == {Q_2013_Q1, Q_2015_Q1}


def test_suspect_interviewed_and_outcome_16(uptake, fct):
    eligible = {
        k: (fct[k]["is_vrr_eligible"], fct[k]["scheme"]) for k in ("SI1", "SI2", "SI3", "SI4", "SI5", "SI6", "SI7")
    }
    assert eligible == {
        "SI1": (False, None),  # police 15, not interviewed
        "SI2": (False, None),  # police 15, interview blank
        "SI3": (True, "CPS"),  # cps 15 needs no interview
        "SI4": (True, "Police"),
        "SI5": (True, "Police"),  # police 10, 'y'
        "SI6": (False, None),  # outcome 16: never
        "SI7": (False, None),
    }
    # A request on an ineligible decision is on the decision's row but in no uptake figure.
    assert (fct["SI1"]["requests"], fct["SI1"]["has_request"]) == (1, True)
    si = force_rows(uptake, "SI", Q_2024_Q1)
    assert counts(si[(Q_2024_Q1, "all", "All")]) == (3, 1, 1, 0, 0)  # SI3, SI4, SI5; SI3's request
    assert counts(si[(Q_2024_Q1, "scheme", "Police")]) == (2, 0, 0, 0, 0)
    assert counts(si[(Q_2024_Q1, "scheme", "CPS")]) == (1, 1, 1, 0, 0)


# --------------------------------------------------------------------------- reviews, medians, intervals


def test_review_results(uptake, fct):
    row = uptake[(Q_2024_Q1, "RR", "all", "All")]
    # 6 eligible; 5 with one request each; completed = decision_stands (RR1) + decision_overturned (RR2, from
    # the newer extract's correction) = 2; out_of_scope, withdrawn and pending are not completed.
    assert counts(row) == (6, 5, 5, 2, 1)
    assert close(row["uptake_rate"], 5 / 6)
    assert row["overturn_rate"] == 0.5  # 1 / 2
    assert [fct[f"RR{i}"]["any_decision_overturned"] for i in range(1, 7)] == [False, True, False, False, False, False]
    rn = uptake[(Q_2024_Q1, "RN", "all", "All")]
    assert counts(rn) == (2, 1, 1, 0, 0)  # RN1's request was withdrawn
    assert rn["overturn_rate"] is None  # no review completed


def test_median_days_even_count(uptake, fct):
    days = {k: fct[k]["days_notification_to_request"] for k in ("MD1", "MD2", "MD3", "MD4", "MD5", "MD6")}
    assert days == {"MD1": 3, "MD2": 10, "MD3": 20, "MD4": 60, "MD5": None, "MD6": None}
    assert fct["MD2"]["first_request_date"] == date(2024, 5, 11)  # the earlier of its two requests
    assert fct["MD2"]["requests"] == 2
    row = uptake[(Q_2024_Q1, "MD", "all", "All")]
    assert counts(row) == (6, 5, 6, 0, 0)
    # MD5 has a request but no notification date; MD6 no request: the median is over 3, 10, 20, 60
    # -> (10 + 20) / 2 = 15.
    assert row["median_days_to_request"] == 15.0
    # No median without a notified decision that has a request.
    assert uptake[(Q_2024_Q1, "WI", "all", "All")]["median_days_to_request"] is None


def test_wilson_interval_one_of_four(uptake):
    row = uptake[(Q_2024_Q1, "WI", "all", "All")]
    assert counts(row) == (4, 1, 1, 0, 0)
    assert row["uptake_rate"] == 0.25
    # x = 1, n = 4, p = 0.25, z = 1.959963984540054
    #   z2            = 3.8414588206941250351  (z * z)
    #   z2 / n        = 0.9603647051735312588; denom = 1 + z2/n = 1.9603647051735312588
    #   p + z2/(2n)   = 0.25 + 0.4801823525867656294 = 0.7301823525867656294
    #   centre        = 0.7301823525867656294 / 1.9603647051735312588 = 0.3724727091136493254
    #   p(1-p)/n      = 0.1875 / 4 = 0.046875; z2/(4n^2) = z2/64 = 0.0600227940733457037
    #   sum           = 0.1068977940733457037; sqrt = 0.3269522810340152737
    #   z * sqrt      = 0.6408146954898881026; half = / denom = 0.3268854483039487590
    #   lower = centre - half = 0.0455872608097005664 (0.0455872608 to 10 decimals)
    #   upper = centre + half = 0.6993581574175980844 (0.6993581574 to 10 decimals)
    assert close(row["uptake_ci_lower"], 0.0455872608097005664)
    assert close(row["uptake_ci_upper"], 0.6993581574175980844)
    assert round(row["uptake_ci_lower"], 10) == 0.0455872608
    assert round(row["uptake_ci_upper"], 10) == 0.6993581574
    # The scheme row holds the same four decisions, so the same interval.
    scheme = uptake[(Q_2024_Q1, "WI", "scheme", "Police")]
    assert (scheme["uptake_ci_lower"], scheme["uptake_ci_upper"]) == (row["uptake_ci_lower"], row["uptake_ci_upper"])


def test_interval_is_one_when_every_decision_has_a_request(uptake):
    # QE 2023/24 Q4: 1 of 1 -> upper 1, lower = n / (n + z2) = 1 / 4.841458820694125035 = 0.206549...
    row = uptake[(Q_2023_Q4, "QE", "all", "All")]
    assert row["uptake_ci_upper"] == 1.0
    assert close(row["uptake_ci_lower"], 1 / (1 + Z * Z))


# --------------------------------------------------------------------------- provisional figures


def test_is_provisional(uptake):
    # as_at = newest extract date of either kind = 2025-01-01 (decisions and requests both dated so).
    assert {row["as_at_date"] for row in uptake.values()} == {AS_AT}
    provisional = {k[0]: v["is_provisional"] for k, v in uptake.items()}
    assert provisional == {
        Q_2013_Q1: False,
        Q_2015_Q1: False,
        Q_2023_Q4: False,
        Q_2024_Q1: False,  # 2024-04-01 + 6 months = 2024-10-01 <= as_at
        Q_2024_Q2: False,  # 2024-07-01 + 6 months = 2025-01-01 = as_at: not "<", so final
        Q_2024_Q3: True,  # 2024-10-01 + 6 months = 2025-04-01 > as_at
        Q_2024_Q4: True,  # 2025-01-01 + 6 months = 2025-07-01 > as_at
    }
    assert counts(uptake[(Q_2024_Q3, "PV", "all", "All")]) == (1, 1, 1, 0, 0)
    assert counts(uptake[(Q_2024_Q4, "PV", "all", "All")]) == (1, 0, 0, 0, 0)


# --------------------------------------------------------------------------- cohorts and codes


def test_cohort_values(uptake, fct):
    co = force_rows(uptake, "CO", Q_2024_Q1)
    got = {(k[1], k[2]): (v["eligible_decisions"], v["decisions_with_request"]) for k, v in co.items()}
    # Ten eligible decisions (CO11, outcome 16, is not); requests on CO01, CO03, CO06.
    assert got == {
        ("all", "All"): (10, 3),
        ("scheme", "Police"): (8, 2),  # CO01-04, 07-10; requests CO01, CO03
        ("scheme", "CPS"): (2, 1),  # CO05 (9), CO06 (15, not interviewed); request CO06
        ("age_band", "Unknown"): (10, 3),  # no ages given
        ("sex", "Female"): (3, 1),  # CO01, 07, 08
        ("sex", "Male"): (3, 0),  # CO02, 09, 10
        ("sex", "Other"): (1, 1),  # CO03 X
        ("sex", "Unknown"): (3, 1),  # CO04 U, CO05 blank, CO06 Z
        ("ethnicity_group", "White"): (2, 1),  # W1, W2
        ("ethnicity_group", "Mixed"): (1, 1),  # M1
        ("ethnicity_group", "Asian"): (2, 0),  # A4, O1 (old code for Chinese)
        ("ethnicity_group", "Black"): (1, 1),  # B2
        ("ethnicity_group", "Other"): (1, 0),  # O9
        ("ethnicity_group", "Not stated"): (3, 0),  # NS, blank, ZZ
        ("disability", "Yes"): (3, 1),  # CO01 Y, CO05 y, CO08 Y
        ("disability", "No"): (3, 0),  # CO02, 07, 09
        ("disability", "Unknown"): (4, 2),  # CO03 U, CO04 blank, CO06 Q, CO10 U
        ("offence_group", "Adult rape"): (4, 1),  # 19C, 19F, 19c, 19C
        ("offence_group", "Child rape"): (4, 2),  # 19D, 19E, 19G, 19H
        ("offence_group", "Other offences"): (2, 0),  # 8L, blank
    }
    # Every dimension adds up to the whole.
    for dimension in DIMENSIONS:
        assert sum(v[0] for k, v in got.items() if k[0] == dimension) == 10
    assert fct["CO05"]["ethnicity_group"] == "Asian" and fct["CO05"]["offence_group"] == "Adult rape"
    assert fct["CO11"]["is_vrr_eligible"] is False


def test_codes_trimmed_and_case_insensitive(uptake, fct):
    tc1, tc2 = fct["TC1"], fct["TC2"]
    assert (tc1["force_code"], tc1["outcome_code"], tc1["decision_maker"]) == ("TC", "15", "police")
    assert (tc1["is_vrr_eligible"], tc1["scheme"]) == (True, "Police")
    assert (tc1["sex"], tc1["ethnicity_group"], tc1["disability"], tc1["offence_group"]) == (
        "Female",
        "Asian",
        "No",
        "Adult rape",
    )
    # RQ-TC1: scheme 'Police ', result ' Decision_Overturned ' -> an overturned, completed review.
    assert (tc1["requests"], tc1["has_request"], tc1["any_decision_overturned"]) == (1, True, True)
    assert tc1["first_request_date"] == date(2024, 5, 3)
    assert (tc2["force_code"], tc2["outcome_code"], tc2["decision_maker"]) == ("TC", "9", "cps")
    assert (tc2["is_vrr_eligible"], tc2["scheme"]) == (True, "CPS")
    assert (tc2["sex"], tc2["ethnicity_group"], tc2["disability"], tc2["offence_group"]) == (
        "Male",
        "Black",
        "Yes",
        "Child rape",
    )
    # ' tc ' and 'Tc' are one force.
    tc = uptake[(Q_2024_Q1, "TC", "all", "All")]
    assert counts(tc) == (2, 1, 1, 1, 1)
    assert tc["overturn_rate"] == 1.0
    assert not any(k[1] in (" tc ", "tc", "Tc") for k in uptake)


def test_disability_yes_no_words_are_normalised(uptake, fct):
    # Values are normalised before checking: Y / y / Yes all mean Y (and N / No mean N), so 'Yes' -> Yes and
    # 'no' -> No.
    assert (fct["DY1"]["disability"], fct["DY2"]["disability"]) == ("Yes", "No")
    dy = force_rows(uptake, "DY", Q_2024_Q3)
    assert {k[2]: v["eligible_decisions"] for k, v in dy.items() if k[1] == "disability"} == {"Yes": 1, "No": 1}


def test_fct_fields_of_some_decisions(fct):
    def pick(decision_id):
        row = fct[decision_id]
        return (
            row["is_vrr_eligible"],
            row["scheme"],
            row["age_band"],
            row["requests"],
            row["has_request"],
            row["first_request_date"],
            row["days_notification_to_request"],
            row["any_decision_overturned"],
        )

    assert pick("QE1") == (True, "Police", "Unknown", 1, True, date(2024, 4, 2), None, False)
    assert pick("LP1") == (True, "Police", "Unknown", 1, True, date(2024, 2, 29), 0, False)
    assert pick("AB13") == (True, "Police", "13-15", 1, True, date(2024, 5, 12), None, False)
    assert pick("MR1") == (True, "Police", "Unknown", 2, True, date(2024, 5, 3), None, False)
    assert pick("RB1") == (True, "Police", "Unknown", 0, False, None, None, False)
    assert pick("RR2") == (True, "Police", "Unknown", 1, True, date(2024, 6, 4), None, True)
    assert pick("MD4") == (True, "Police", "Unknown", 1, True, date(2024, 6, 30), 60, False)
    assert pick("SS4") == (True, "CPS", "Unknown", 0, False, None, None, False)
    assert pick("SI6") == (False, None, "Unknown", 0, False, None, None, False)
    assert pick("AB121") == (True, "Police", "Unknown", 0, False, None, None, False)
    assert fct["LP1"]["victim_notified_date"] == date(2024, 2, 29)
    # Every decision of the landing folder, latest version, once: 68 in the older extract
    # (QE 2 + LP 2 + AB 17 + MR 2 + RB 1 + UD 1 + CR 1 + SS 4 + SI 7 + RR 6 + RN 2 + MD 6 + WI 4 + CO 11 + TC 2)
    # + PV1, PV2, DY1, DY2 from the newer one (QE1, QE2, CR1 there are new versions of known decisions).
    assert len(OLD_DECISIONS) == 68
    assert len(fct) == 72


# --------------------------------------------------------------------------- the ALL force


def test_all_force_rows_sum_the_forces(uptake):
    all_rows = {k: v for k, v in uptake.items() if k[1] == "ALL"}
    forces = {k[1] for k in uptake} - {"ALL"}
    assert forces == {
        "QE",
        "LP",
        "AB",
        "MR",
        "RB",
        "UD",
        "CR",
        "SS",
        "SI",
        "RR",
        "RN",
        "MD",
        "WI",
        "CO",
        "TC",
        "PV",
        "DY",
    }
    # Every force row has its ALL row, and each ALL row is the sum of its forces' rows.
    assert {(k[0], k[2], k[3]) for k in uptake} == {(k[0], k[2], k[3]) for k in all_rows}
    for (period, _, dimension, value), row in all_rows.items():
        parts = [v for k, v in uptake.items() if k[1] != "ALL" and (k[0], k[2], k[3]) == (period, dimension, value)]
        assert counts(row) == tuple(map(sum, zip(*map(counts, parts), strict=True))), (period, dimension, value)

    q1 = all_rows[(Q_2024_Q1, "ALL", "all", "All")]
    # 2024/25 Q1 by force:       eligible  with  requests  completed  overturned
    #   QE (QE2)                   1        0      0          0          0
    #   AB                        17        1      1          0          0
    #   MR                         2        1      2          1          0
    #   RB                         1        0      0          0          0
    #   UD                         1        0      0          0          0
    #   SI                         3        1      1          0          0
    #   RR                         6        5      5          2          1
    #   RN                         2        1      1          0          0
    #   MD                         6        5      6          0          0
    #   WI                         4        1      1          0          0
    #   CO                        10        3      3          0          0
    #   TC                         2        1      1          1          1
    #   total                     55       19     21          4          2
    # (CR1's old version, 2024-06-30, is not in it.)
    assert counts(q1) == (55, 19, 21, 4, 2)
    assert close(q1["uptake_rate"], 19 / 55)
    assert q1["overturn_rate"] == 0.5
    assert q1["median_days_to_request"] == 15.0  # only MD decisions are notified: median of 3, 10, 20, 60
    # 2023/24 Q4: QE1 + LP1 + LP2, all with a request; pooled median over LP's 0 and 2 days = 1.
    q4 = all_rows[(Q_2023_Q4, "ALL", "all", "All")]
    assert counts(q4) == (3, 3, 3, 1, 0)
    assert q4["median_days_to_request"] == 1.0
    # Scheme split of 2024/25 Q1: CPS = SI3 + CO05 + CO06 + TC2 = 4; Police = 55 - 4 = 51.
    assert all_rows[(Q_2024_Q1, "ALL", "scheme", "CPS")]["eligible_decisions"] == 4
    assert all_rows[(Q_2024_Q1, "ALL", "scheme", "Police")]["eligible_decisions"] == 51
    # Each ALL row's rate and interval are of its own counts.
    for row in all_rows.values():
        x, n = row["decisions_with_request"], row["eligible_decisions"]
        assert close(row["uptake_rate"], x / n)
