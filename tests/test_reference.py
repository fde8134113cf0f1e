"""Tests of the plain-Python reference computation (tests/reference.py).

Every expected number is worked out by hand in the comments beside it, from the
definitions in the issue, on tiny landing folders written into tmp_path.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from pipeline.contract import DECISION_COLUMNS, REQUEST_COLUMNS
from tests.reference import (
    DEFAULT_RULES,
    Z,
    age_band,
    disability,
    ethnicity_group,
    fct_vrr_decisions,
    load_latest,
    offence_group,
    period_label,
    period_start,
    sex,
    vrr_uptake,
    wilson,
)

# Z squared, used in the hand arithmetic below: 1.959963984540054**2 = 3.8414588206941254


def write_extract(folder: Path, name: str, columns: list[str], rows: list[dict], bom: bool = False) -> Path:
    """One landing CSV; columns a row does not mention are left blank."""
    path = folder / name
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_decisions(folder: Path, as_at: str, rows: list[dict]) -> Path:
    return write_extract(folder, f"decisions_{as_at}.csv", DECISION_COLUMNS, rows)


def write_requests(folder: Path, as_at: str, rows: list[dict]) -> Path:
    return write_extract(folder, f"vrr_requests_{as_at}.csv", REQUEST_COLUMNS, rows)


def decision(decision_id, decision_date, *, force="AA", outcome="15", maker="police", interviewed="Y", **extra) -> dict:
    return {
        "decision_id": decision_id,
        "crime_reference": f"CR-{decision_id}",
        "force_code": force,
        "offence_code": "19C",
        "decision_date": decision_date,
        "outcome_code": outcome,
        "decision_maker": maker,
        "suspect_interviewed": interviewed,
        "victim_id": f"V-{decision_id}",
        **extra,
    }


def request(request_id, decision_id, request_date, result="", scheme="police") -> dict:
    return {
        "request_id": request_id,
        "decision_id": decision_id,
        "request_date": request_date,
        "scheme": scheme,
        "review_result": result,
    }


# --------------------------------------------------------------------------- pure definitions


@pytest.mark.parametrize(
    "day, start",
    [
        (date(2024, 3, 31), date(2024, 1, 1)),  # last day of Jan-Mar quarter
        (date(2024, 4, 1), date(2024, 4, 1)),  # first day of Apr-Jun quarter
        (date(2024, 2, 29), date(2024, 1, 1)),  # leap day
        (date(2024, 1, 1), date(2024, 1, 1)),
        (date(2024, 6, 30), date(2024, 4, 1)),
        (date(2024, 7, 1), date(2024, 7, 1)),
        (date(2024, 9, 30), date(2024, 7, 1)),
        (date(2024, 12, 31), date(2024, 10, 1)),
    ],
)
def test_period_start(day, start):
    assert period_start(day) == start


@pytest.mark.parametrize(
    "start, label",
    [
        (date(2024, 4, 1), "2024/25 Q1"),  # Apr-Jun 2024: FY starting April 2024
        (date(2024, 7, 1), "2024/25 Q2"),
        (date(2024, 10, 1), "2024/25 Q3"),
        (date(2025, 1, 1), "2024/25 Q4"),  # Jan-Mar 2025 still belongs to FY 2024/25
        (date(2023, 10, 1), "2023/24 Q3"),
        (date(2024, 1, 1), "2023/24 Q4"),
        (date(1999, 4, 1), "1999/00 Q1"),  # century wrap: (1999 + 1) % 100 = 0 -> "00"
        (date(2009, 4, 1), "2009/10 Q1"),
    ],
)
def test_period_label(start, label):
    assert period_label(start) == label


@pytest.mark.parametrize(
    "raw, band",
    [
        ("0", "Under 13"),
        ("12", "Under 13"),
        ("13", "13-15"),
        ("15", "13-15"),
        ("16", "16-17"),
        ("17", "16-17"),
        ("18", "18-24"),
        ("24", "18-24"),
        ("25", "25-34"),
        ("34", "25-34"),
        ("35", "35-44"),
        ("44", "35-44"),
        ("45", "45-54"),
        ("54", "45-54"),
        ("55", "55-64"),
        ("64", "55-64"),
        ("65", "65 and over"),
        ("120", "65 and over"),
        ("121", "Unknown"),  # outside 0..120
        ("abc", "Unknown"),  # not numeric
        ("", "Unknown"),  # blank
        ("   ", "Unknown"),  # blank after strip
        (" 30 ", "25-34"),  # stripped first
        ("030", "25-34"),  # all digits, int("030") = 30
        ("-1", "Unknown"),  # '-' is not a digit
        ("12.5", "Unknown"),  # '.' is not a digit
        ("\u00b2", "Unknown"),  # superscript two: str.isdigit() is True, but not 0-9
    ],
)
def test_age_band(raw, band):
    assert age_band(raw) == band


@pytest.mark.parametrize(
    "func, raw, value",
    [
        (sex, "F", "Female"),
        (sex, " m ", "Male"),
        (sex, "x", "Other"),
        (sex, "U", "Unknown"),
        (sex, "", "Unknown"),
        (ethnicity_group, "W1", "White"),
        (ethnicity_group, "w9", "White"),
        (ethnicity_group, "M3", "Mixed"),
        (ethnicity_group, "A4", "Asian"),
        (ethnicity_group, " o1 ", "Asian"),  # old code for Chinese
        (ethnicity_group, "B9", "Black"),
        (ethnicity_group, "O2", "Other"),
        (ethnicity_group, "O9", "Other"),
        (ethnicity_group, "NS", "Not stated"),
        (ethnicity_group, "", "Not stated"),
        (ethnicity_group, "Z7", "Not stated"),
        (disability, "Y", "Yes"),
        (disability, "n", "No"),
        (disability, "U", "Unknown"),
        (disability, "", "Unknown"),
        (offence_group, "19C", "Adult rape"),
        (offence_group, "19f", "Adult rape"),
        (offence_group, "19D", "Child rape"),
        (offence_group, " 19h ", "Child rape"),
        (offence_group, "19E", "Child rape"),
        (offence_group, "19G", "Child rape"),
        (offence_group, "8L", "Other offences"),
        (offence_group, "", "Other offences"),
    ],
)
def test_cohort_code_lists(func, raw, value):
    assert func(raw) == value


def test_wilson_by_hand():
    # Closed form: (x + z2/2 -/+ Z*sqrt(x(n-x)/n + z2/4)) / (n + z2), z2 = 3.8414588206941254.
    # (0, 10): x(n-x)/n = 0, so Z*sqrt(z2/4) = z2/2 and the bounds are 0 and z2/(n+z2)
    #          = 3.8414588206941254 / 13.8414588206941254 = 0.277532800...
    # (Floating point leaves the exact bounds 0 and 1 off by about 1e-16, so compare with a tolerance.)
    lower, upper = wilson(0, 10)
    assert lower == pytest.approx(0.0, abs=1e-12)
    assert upper == pytest.approx(0.2775328, abs=1e-7)
    # (10, 10): mirror image: lower = n/(n+z2) = 10 / 13.8414588206941254 = 0.722467200..., upper 1
    lower, upper = wilson(10, 10)
    assert lower == pytest.approx(0.7224672, abs=1e-7)
    assert upper == pytest.approx(1.0, abs=1e-12)  # computes as 0.9999999999999999
    # (3, 40): p = 0.075
    #   z2/n = 0.096036470517; denom = 1.096036470517
    #   centre = (0.075 + z2/80 = 0.048018235259) / denom = 0.123018235259 / 1.096036470517 = 0.112239180509
    #   p(1-p)/n = 0.075*0.925/40 = 0.001734375; z2/(4*1600) = 0.000600227941; sum = 0.002334602941
    #   sqrt = 0.048317729052; * Z = 0.094701008757; / denom = half = 0.086403154734
    #   lower = 0.112239180509 - 0.086403154734 = 0.025836025775
    #   upper = 0.112239180509 + 0.086403154734 = 0.198642335243
    lower, upper = wilson(3, 40)
    assert lower == pytest.approx(0.025836025775, abs=1e-9)
    assert upper == pytest.approx(0.198642335243, abs=1e-9)
    assert wilson(0, 0) == (None, None)
    assert Z == 1.959963984540054


# --------------------------------------------------------------------------- loading


def test_load_latest_newest_extract_wins_and_other_files_ignored(tmp_path):
    write_decisions(
        tmp_path,
        "2024-06-30",
        [
            decision("D1", "2024-05-01", outcome="16"),
            decision("D2", "2024-05-02"),
        ],
    )
    write_decisions(tmp_path, "2024-07-31", [decision("D1", "2024-05-01", outcome="15")])
    # Not extracts: wrong prefix, wrong suffix, undated.
    write_decisions(tmp_path, "2099-01-01", []).rename(tmp_path / "decisions_2099-01-01.csv.bak")
    (tmp_path / "notes.txt").write_text("not an extract")
    write_extract(tmp_path, "decisions_latest.csv", DECISION_COLUMNS, [decision("D9", "2024-05-01")])
    # Requests: BOM, header in odd case and with spaces, values padded.
    (tmp_path / "vrr_requests_2024-08-15.csv").write_text(
        "\ufeff Request_ID , DECISION_ID ,request_date,scheme,review_stage,review_completed_date,review_result\n"
        " R1 , D1 ,2024-05-10, police ,review,, decision_stands \n",
        encoding="utf-8",
    )
    decisions, requests, as_at = load_latest(tmp_path)
    assert sorted(decisions) == ["D1", "D2"]  # D9 only in an ignored file
    assert decisions["D1"]["outcome_code"] == "15"  # 2024-07-31 beats 2024-06-30
    assert decisions["D2"]["decision_date"] == "2024-05-02"
    assert requests == {
        "R1": {
            "request_id": "R1",
            "decision_id": "D1",
            "request_date": "2024-05-10",
            "scheme": "police",
            "review_stage": "review",
            "review_completed_date": "",
            "review_result": "decision_stands",
        }
    }
    assert as_at == date(2024, 8, 15)  # newest of either kind: the requests extract


# --------------------------------------------------------------------------- eligibility


def eligibility_folder(tmp_path) -> Path:
    write_decisions(
        tmp_path,
        "2024-01-01",
        [
            decision("E01", "2015-03-31", outcome="15", maker="police", interviewed="Y"),  # before police start
            decision("E02", "2015-04-01", outcome="15", maker="police", interviewed="Y"),  # police start day
            decision("E03", "2015-04-01", outcome="15", maker="police", interviewed="N"),  # not interviewed
            decision("E04", "2015-04-01", outcome="15", maker="police", interviewed=""),  # interview unknown
            decision("E05", "2016-01-01", outcome=" 10 ", maker=" POLICE ", interviewed="yes", force=" aa "),
            decision("E06", "2013-06-04", outcome="9", maker="cps", interviewed=""),  # before CPS start
            decision("E07", "2013-06-05", outcome="9", maker="cps", interviewed=""),  # CPS start day
            decision("E08", "2020-01-01", outcome="15", maker="CPS", interviewed="N"),  # CPS needs no interview
            decision("E09", "2020-01-01", outcome="16", maker="police", interviewed="Y"),  # victim withdrew
            decision("E10", "2020-01-01", outcome="10", maker="cps", interviewed="Y"),  # no CPS rule for 10
            decision("E11", "2020-01-01", outcome="9", maker="police", interviewed="Y"),  # no police rule for 9
            decision("E12", "2020-01-01", outcome="1a", maker="police", interviewed="Y"),  # charged: never
        ],
    )
    return tmp_path


def test_eligibility_and_scheme(tmp_path):
    fct = fct_vrr_decisions(eligibility_folder(tmp_path))
    eligible = {k: (row["is_vrr_eligible"], row["scheme"]) for k, row in fct.items()}
    assert eligible == {
        "E01": (False, None),
        "E02": (True, "Police"),
        "E03": (False, None),
        "E04": (False, None),
        "E05": (True, "Police"),
        "E06": (False, None),
        "E07": (True, "CPS"),
        "E08": (True, "CPS"),
        "E09": (False, None),
        "E10": (False, None),
        "E11": (False, None),
        "E12": (False, None),
    }
    # Normalised codes.
    assert (fct["E05"]["outcome_code"], fct["E05"]["decision_maker"], fct["E05"]["force_code"]) == (
        "10",
        "police",
        "AA",
    )
    assert fct["E08"]["decision_maker"] == "cps"
    assert fct["E12"]["outcome_code"] == "1A"


def test_eligibility_rules_are_data(tmp_path):
    folder = eligibility_folder(tmp_path)
    # Only outcome 16 (police, from 2020) eligible, under a made-up scheme name kept as given.
    rules = [
        {
            "outcome_code": "16",
            "decision_maker": "police",
            "scheme": "police",
            "requires_suspect_interviewed": False,
            "scheme_start_date": date(2020, 1, 1),
        }
    ]
    fct = fct_vrr_decisions(folder, rules)
    assert {k for k, row in fct.items() if row["is_vrr_eligible"]} == {"E09"}
    assert fct["E09"]["scheme"] == "Police"
    assert fct_vrr_decisions(folder, DEFAULT_RULES) == fct_vrr_decisions(folder)


# --------------------------------------------------------------------------- the worked example


def worked_example(tmp_path) -> Path:
    """Two forces, two quarters, corrections, and every awkward kind of request.

    Latest decisions (after the 2024-10-01 extract):
      id  force  offence date        outcome maker  interv notified   age  sex  eth  dis  eligible
      D1  AA     19C     2024-04-01  15      police Y      2024-04-03 30   F    W1   N    Police
      D2  AA     19D     2024-05-15  9       cps    -      2024-05-20 14   F    A4   Y    CPS
      D3  aa     19C     2024-06-30  15      police N      -          40   F    W1   N    no (not interviewed)
      D4  BB     19F     2024-04-20  10      police yes    2024-04-20 17   M    B1   U    Police
      D5  BB     19C     2024-06-10  15      cps    N      -          ''   X    NS   ''   CPS
      D6  BB     19C     2024-05-05  15      police Y      2024-05-06 65   F    W2   N    Police
      D7  BB     8L      2024-05-05  16      police Y      -          50   F    W1   N    no (outcome 16)
      D8  AA     19C     2024-02-29  15      police Y      2024-03-01 25   F    W1   N    Police (2023/24 Q4)
    Latest requests (after the 2024-10-01 extract):
      R1 D1 2024-04-10 decision_stands      counts (first for D1; 7 days after notification)
      R2 D1 2024-05-01 decision_overturned  counts (was pending in the 2024-07-01 extract)
      R3 D2 2024-06-01 pending              counts (12 days after notification)
      R4 D3 2024-07-01 decision_overturned  counts, but D3 is not eligible
      R5 D4 2024-04-20 out_of_scope         counts (same day as the decision; 0 days)
      R6 D4 2024-04-19 decision_overturned  a day BEFORE the decision: counts nowhere
      R7 D5 2024-06-20 decision_stands      counts (D5 has no notification date)
      R8 D99 2024-05-01 decision_overturned unknown decision: counts nowhere
      R9 D8 2024-03-31 withdrawn            counts (2024-03-01 -> 2024-03-31 = 30 days)
    """
    write_decisions(
        tmp_path,
        "2024-06-30",
        [
            # Older versions, both replaced below.
            decision("D1", "2024-04-01", outcome="16"),
            decision("D6", "2024-05-05", victim_age="99", offence_code="19D"),
            decision(
                "D8",
                "2024-02-29",
                victim_age="25",
                victim_sex="F",
                victim_ethnicity="W1",
                victim_disability="N",
                victim_notified_date="2024-03-01",
            ),
        ],
    )
    write_decisions(
        tmp_path,
        "2024-10-01",
        [
            decision(
                "D1",
                "2024-04-01",
                force="AA",
                outcome="15",
                maker="police",
                interviewed="Y",
                offence_code="19C",
                victim_notified_date="2024-04-03",
                victim_age="30",
                victim_sex="F",
                victim_ethnicity="W1",
                victim_disability="N",
            ),
            decision(
                "D2",
                "2024-05-15",
                force="AA",
                outcome="9",
                maker="cps",
                interviewed="",
                offence_code="19D",
                victim_notified_date="2024-05-20",
                victim_age="14",
                victim_sex="F",
                victim_ethnicity="A4",
                victim_disability="Y",
            ),
            decision(
                "D3",
                "2024-06-30",
                force="aa",
                outcome="15",
                maker="police",
                interviewed="N",
                offence_code="19C",
                victim_age="40",
                victim_sex="F",
                victim_ethnicity="W1",
                victim_disability="N",
            ),
            decision(
                "D4",
                "2024-04-20",
                force="BB",
                outcome="10",
                maker="police",
                interviewed="yes",
                offence_code="19F",
                victim_notified_date="2024-04-20",
                victim_age="17",
                victim_sex="M",
                victim_ethnicity="B1",
                victim_disability="U",
            ),
            decision(
                "D5",
                "2024-06-10",
                force="BB",
                outcome="15",
                maker="cps",
                interviewed="N",
                offence_code="19C",
                victim_age="",
                victim_sex="X",
                victim_ethnicity="NS",
                victim_disability="",
            ),
            # D6's victim is D4's (spaces around the id are trimmed): two decisions, one victim.
            decision(
                "D6",
                "2024-05-05",
                force="BB",
                outcome="15",
                maker="police",
                interviewed="Y",
                offence_code="19C",
                victim_notified_date="2024-05-06",
                victim_age="65",
                victim_sex="F",
                victim_ethnicity="W2",
                victim_disability="N",
                victim_id=" V-D4 ",
            ),
            decision(
                "D7",
                "2024-05-05",
                force="BB",
                outcome="16",
                maker="police",
                interviewed="Y",
                offence_code="8L",
                victim_age="50",
                victim_sex="F",
                victim_ethnicity="W1",
                victim_disability="N",
            ),
        ],
    )
    write_requests(tmp_path, "2024-07-01", [request("R2", "D1", "2024-05-01", "")])
    write_requests(
        tmp_path,
        "2024-10-01",
        [
            request("R1", "D1", "2024-04-10", "decision_stands"),
            request("R2", "D1", "2024-05-01", "decision_overturned"),
            request("R3", "D2", "2024-06-01", "", scheme="cps"),
            request("R4", "D3", "2024-07-01", "decision_overturned"),
            request("R5", "D4", "2024-04-20", "out_of_scope"),
            request("R6", "D4", "2024-04-19", "decision_overturned"),
            request("R7", "D5", "2024-06-20", "decision_stands", scheme="cps"),
            request("R8", "D99", "2024-05-01", "decision_overturned"),
            request("R9", "D8", "2024-03-31", "withdrawn"),
        ],
    )
    return tmp_path


def test_fct_vrr_decisions_worked_example(tmp_path):
    fct = fct_vrr_decisions(worked_example(tmp_path))
    assert sorted(fct) == ["D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8"]

    assert fct["D1"] == {
        "decision_id": "D1",
        "force_code": "AA",
        "decision_date": date(2024, 4, 1),
        "period_start": date(2024, 4, 1),
        "period_label": "2024/25 Q1",
        "outcome_code": "15",
        "decision_maker": "police",
        "is_vrr_eligible": True,
        "scheme": "Police",
        "age_band": "25-34",
        "sex": "Female",
        "ethnicity_group": "White",
        "disability": "No",
        "offence_group": "Adult rape",
        "victim_notified_date": date(2024, 4, 3),
        "requests": 2,  # R1 and R2
        "has_request": True,
        "first_request_date": date(2024, 4, 10),  # min(04-10, 05-01)
        "days_notification_to_request": 7,  # 04-03 -> 04-10
        "any_decision_overturned": True,  # R2 (its newest version)
    }
    # D2: CPS scheme, child rape, age 14.
    assert (
        fct["D2"]["scheme"],
        fct["D2"]["age_band"],
        fct["D2"]["ethnicity_group"],
        fct["D2"]["disability"],
        fct["D2"]["offence_group"],
    ) == ("CPS", "13-15", "Asian", "Yes", "Child rape")
    assert (fct["D2"]["requests"], fct["D2"]["days_notification_to_request"], fct["D2"]["any_decision_overturned"]) == (
        1,
        12,
        False,
    )
    # D3: not eligible, but its request still counts at decision level.
    assert (fct["D3"]["force_code"], fct["D3"]["is_vrr_eligible"], fct["D3"]["scheme"]) == ("AA", False, None)
    assert (fct["D3"]["requests"], fct["D3"]["any_decision_overturned"], fct["D3"]["victim_notified_date"]) == (
        1,
        True,
        None,
    )
    assert fct["D3"]["days_notification_to_request"] is None  # no notification date
    # D4: R6 (a day before the decision, overturned) counts nowhere; R5 on the decision day counts.
    assert (
        fct["D4"]["requests"],
        fct["D4"]["first_request_date"],
        fct["D4"]["days_notification_to_request"],
        fct["D4"]["any_decision_overturned"],
    ) == (1, date(2024, 4, 20), 0, False)
    assert (fct["D4"]["age_band"], fct["D4"]["sex"], fct["D4"]["ethnicity_group"], fct["D4"]["disability"]) == (
        "16-17",
        "Male",
        "Black",
        "Unknown",
    )
    # D5: request but no notification date; blank age/disability, X, NS.
    assert (fct["D5"]["has_request"], fct["D5"]["first_request_date"], fct["D5"]["days_notification_to_request"]) == (
        True,
        date(2024, 6, 20),
        None,
    )
    assert (fct["D5"]["age_band"], fct["D5"]["sex"], fct["D5"]["ethnicity_group"], fct["D5"]["disability"]) == (
        "Unknown",
        "Other",
        "Not stated",
        "Unknown",
    )
    # D6: newest version (age 65, 19C), no request.
    assert (fct["D6"]["age_band"], fct["D6"]["offence_group"]) == ("65 and over", "Adult rape")
    assert (
        fct["D6"]["requests"],
        fct["D6"]["has_request"],
        fct["D6"]["first_request_date"],
        fct["D6"]["days_notification_to_request"],
        fct["D6"]["any_decision_overturned"],
    ) == (0, False, None, None, False)
    assert (fct["D7"]["is_vrr_eligible"], fct["D7"]["offence_group"]) == (False, "Other offences")
    # D8: leap day, only in the older extract; 2023/24 Q4.
    assert (fct["D8"]["decision_date"], fct["D8"]["period_start"], fct["D8"]["period_label"]) == (
        date(2024, 2, 29),
        date(2024, 1, 1),
        "2023/24 Q4",
    )
    assert (fct["D8"]["requests"], fct["D8"]["days_notification_to_request"]) == (1, 30)  # 03-01 -> 03-31


Q1 = date(2024, 4, 1)
Q4 = date(2024, 1, 1)


def test_vrr_uptake_worked_example(tmp_path):
    up = vrr_uptake(worked_example(tmp_path))

    # Row count. 2024/25 Q1 eligible: D1, D2 (AA); D4, D5, D6 (BB).
    #   ALL: all 1 + scheme 2 + age 5 (25-34, 13-15, 16-17, Unknown, 65+) + sex 3 + ethnicity 4
    #        (White, Asian, Black, Not stated) + disability 3 + offence 2 = 20
    #   AA:  all 1 + scheme 2 + age 2 + sex 1 + ethnicity 2 + disability 2 + offence 2 = 12
    #   BB:  all 1 + scheme 2 + age 3 + sex 3 + ethnicity 3 + disability 2 + offence 1 = 15
    # 2023/24 Q4 eligible: D8 (AA) only: 7 dimensions x (AA, ALL) = 14.   Total 20+12+15+14 = 61.
    assert len(up) == 61
    assert sum(1 for k in up if k[0] == Q1) == 47
    assert {k[1] for k in up} == {"AA", "BB", "ALL"}

    # (Q1, ALL, all): eligible D1 D2 D4 D5 D6 = 5; with request D1 D2 D4 D5 = 4; rate 0.8
    #   requests R1 R2 R3 R5 R7 = 5; completed R1 (stands) R2 (overturned) R7 (stands) = 3; overturned R2 = 1
    #   days: D1 7, D2 12, D4 0 (D5 no notification, D6 no request) -> median of [0, 7, 12] = 7
    #   Wilson(4, 5): (4 + z2/2 -/+ Z*sqrt(4*1/5 + z2/4)) / (5 + z2)
    #     = (5.920729410347 -/+ 1.959963984540*sqrt(1.760364705174) = 2.600455445557) / 8.841458820694
    #     = 0.375534629763 / 0.963775891368
    assert up[(Q1, "ALL", "all", "All")] == {
        "period_start": Q1,
        "period_label": "2024/25 Q1",
        "force_code": "ALL",
        "cohort_dimension": "all",
        "cohort_value": "All",
        "eligible_decisions": 5,
        "decisions_with_request": 4,
        "uptake_rate": 0.8,
        "uptake_ci_lower": pytest.approx(0.375534629763, abs=1e-9),
        "uptake_ci_upper": pytest.approx(0.963775891368, abs=1e-9),
        "requests": 5,
        "reviews_completed": 3,
        "reviews_overturned": 1,
        "overturn_rate": pytest.approx(1 / 3),
        "median_days_to_request": 7.0,
        "is_provisional": False,  # 2024-10-01 < 2024-04-01 + 6 months = 2024-10-01 is false
        "as_at_date": date(2024, 10, 1),
        "decisions_timed_to_request": 3,  # AA's 7 and 12, BB's 0: median 7
        "eligible_victims": 4,  # V-D1, V-D2, V-D4 (D4 and D6), V-D5
        "victims_with_request": 4,  # D1, D2, D4, D5 each have a request; D6's victim is D4's
    }

    def pick(key, *cols):
        return tuple(up[key][c] for c in cols)

    cols = (
        "eligible_decisions",
        "decisions_with_request",
        "uptake_rate",
        "requests",
        "reviews_completed",
        "reviews_overturned",
        "overturn_rate",
        "median_days_to_request",
    )
    # AA Q1: D1, D2 both requested; R1 R2 R3; completed R1 R2; overturned R2 -> 1/2;
    #   days [7, 12] -> even count -> (7 + 12) / 2 = 9.5. D3 (lower-case aa) is not eligible.
    assert pick((Q1, "AA", "all", "All"), *cols) == (2, 2, 1.0, 3, 2, 1, 0.5, 9.5)
    # Wilson(2, 2): x = n, so lower = n/(n+z2) = 2/5.841458820694 = 0.342380227507, upper = 1
    assert up[(Q1, "AA", "all", "All")]["uptake_ci_lower"] == pytest.approx(0.342380227507, abs=1e-9)
    assert up[(Q1, "AA", "all", "All")]["uptake_ci_upper"] == pytest.approx(1.0, abs=1e-12)
    # BB Q1: D4, D5, D6; requested D4, D5 -> 2/3; R5 (out_of_scope) R7 (stands) -> completed 1, overturned 0
    #   -> overturn rate 0/1 = 0.0; days: D4 0 only (D5 no notification) -> 0.0
    assert pick((Q1, "BB", "all", "All"), *cols) == (3, 2, pytest.approx(2 / 3), 2, 1, 0, 0.0, 0.0)
    # ... and two victims, both of whom asked: V-D4 (D4 asked, D6 did not) and V-D5
    assert pick((Q1, "BB", "all", "All"), "eligible_victims", "victims_with_request") == (2, 2)
    # Police Q1 over all forces: D1, D4, D6 -> victims V-D1, V-D4; both asked (D1, D4)
    assert pick((Q1, "ALL", "scheme", "Police"), "eligible_victims", "victims_with_request") == (2, 2)
    # Police Q1 over all forces: D1, D4, D6; requested D1, D4; R1 R2 R5; completed R1 R2; overturned R2
    #   days [7, 0] -> even count -> (0 + 7) / 2 = 3.5
    assert pick((Q1, "ALL", "scheme", "Police"), *cols) == (3, 2, pytest.approx(2 / 3), 3, 2, 1, 0.5, 3.5)
    # CPS Q1 over all forces: D2, D5; R3 (pending) R7 (stands); days: D2 12 only
    assert pick((Q1, "ALL", "scheme", "CPS"), *cols) == (2, 2, 1.0, 2, 1, 0, 0.0, 12.0)
    # CPS AA Q1: D2 only, R3 pending -> nothing completed -> overturn rate None
    assert pick((Q1, "AA", "scheme", "CPS"), *cols) == (1, 1, 1.0, 1, 0, 0, None, 12.0)
    # CPS BB Q1: D5 only: has a request but no notification date -> median None
    assert pick((Q1, "BB", "scheme", "CPS"), *cols) == (1, 1, 1.0, 1, 1, 0, 0.0, None)

    short = ("eligible_decisions", "decisions_with_request", "requests")
    # Cohorts over all forces in Q1 (eligible, with request, requests):
    assert pick((Q1, "ALL", "sex", "Female"), *short) == (3, 2, 3)  # D1 (2 requests), D2 (1), D6 (0)
    assert pick((Q1, "ALL", "sex", "Male"), *short) == (1, 1, 1)  # D4 (R6 does not count)
    assert pick((Q1, "ALL", "sex", "Other"), *short) == (1, 1, 1)  # D5
    assert pick((Q1, "ALL", "ethnicity_group", "White"), *short) == (2, 1, 2)  # D1 W1, D6 W2
    assert pick((Q1, "ALL", "ethnicity_group", "Not stated"), *short) == (1, 1, 1)
    assert pick((Q1, "ALL", "disability", "Unknown"), *short) == (2, 2, 2)  # D4 'U', D5 blank
    assert pick((Q1, "ALL", "disability", "No"), *short) == (2, 1, 2)  # D1, D6
    assert pick((Q1, "ALL", "offence_group", "Adult rape"), *short) == (4, 3, 4)  # D1 D4 D5 D6
    assert pick((Q1, "ALL", "offence_group", "Child rape"), *short) == (1, 1, 1)  # D2
    assert pick((Q1, "ALL", "age_band", "16-17"), *short) == (1, 1, 1)  # D4, age 17
    assert pick((Q1, "ALL", "age_band", "65 and over"), *short) == (1, 0, 0)  # D6, age 65
    assert up[(Q1, "ALL", "age_band", "65 and over")]["uptake_ci_lower"] == pytest.approx(0.0, abs=1e-12)
    # No eligible decision -> no row.
    assert (Q1, "ALL", "offence_group", "Other offences") not in up  # only D7, not eligible
    assert (Q1, "ALL", "age_band", "35-44") not in up  # only D3, not eligible
    assert (Q1, "ALL", "ethnicity_group", "Mixed") not in up
    assert (Q4, "BB", "all", "All") not in up

    # 2023/24 Q4: D8 alone (leap day). R9 withdrawn: a request, not a completed review.
    assert pick((Q4, "AA", "all", "All"), *cols) == (1, 1, 1.0, 1, 0, 0, None, 30.0)
    assert up[(Q4, "ALL", "all", "All")]["period_label"] == "2023/24 Q4"
    assert up[(Q4, "ALL", "all", "All")]["is_provisional"] is False  # 2024-10-01 >= 2024-07-01
    # Wilson(1, 1): lower = 1/(1 + z2) = 1/4.841458820694 = 0.206549314377
    assert up[(Q4, "AA", "all", "All")]["uptake_ci_lower"] == pytest.approx(0.206549314377, abs=1e-9)

    # Every row: interval within [0, 1] and around the rate (up to rounding: wilson(n, n) can give
    # an upper bound of 0.9999999999999999 below a rate of 1.0).
    for row in up.values():
        assert 0.0 <= row["uptake_ci_lower"] <= row["uptake_ci_upper"] <= 1.0
        assert row["uptake_ci_lower"] - 1e-12 <= row["uptake_rate"] <= row["uptake_ci_upper"] + 1e-12


# --------------------------------------------------------------------------- corrections and provisional flag


def test_correction_moves_decision_to_another_quarter(tmp_path):
    # 2024-06-30 extract: C1 and C2 both decided 2024-03-31 (2023/24 Q4).
    write_decisions(tmp_path, "2024-06-30", [decision("C1", "2024-03-31"), decision("C2", "2024-03-31")])
    # 2024-07-15 extract corrects C1 to 2024-04-01 (2024/25 Q1).
    write_decisions(tmp_path, "2024-07-15", [decision("C1", "2024-04-01")])
    # Q1 dated 2024-03-31: on or after the OLD date of C1, but before the corrected one -> counts nowhere.
    write_requests(tmp_path, "2024-07-15", [request("Q1", "C1", "2024-03-31", "decision_overturned")])

    fct = fct_vrr_decisions(tmp_path)
    assert (fct["C1"]["period_start"], fct["C1"]["period_label"], fct["C1"]["requests"]) == (Q1, "2024/25 Q1", 0)
    assert fct["C1"]["any_decision_overturned"] is False

    up = vrr_uptake(tmp_path)
    # as_at = 2024-07-15. Q4 (C2 only): 2024-07-15 < 2024-01-01 + 6 months = 2024-07-01? no -> final.
    assert (up[(Q4, "ALL", "all", "All")]["eligible_decisions"], up[(Q4, "ALL", "all", "All")]["is_provisional"]) == (
        1,
        False,
    )
    # Q1 (C1 only): 2024-07-15 < 2024-10-01 -> provisional; no counting request.
    q1 = up[(Q1, "ALL", "all", "All")]
    assert (q1["eligible_decisions"], q1["decisions_with_request"], q1["requests"], q1["is_provisional"]) == (
        1,
        0,
        0,
        True,
    )
    assert (q1["uptake_rate"], q1["overturn_rate"], q1["median_days_to_request"]) == (0.0, None, None)
    # Wilson(0, 1): upper = z2/(1 + z2) = 3.841458820694 / 4.841458820694 = 0.793450685623
    assert q1["uptake_ci_lower"] == pytest.approx(0.0, abs=1e-12)
    assert q1["uptake_ci_upper"] == pytest.approx(0.793450685623, abs=1e-9)


@pytest.mark.parametrize("as_at, provisional", [("2024-09-30", True), ("2024-10-01", False)])
def test_is_provisional_edge(tmp_path, as_at, provisional):
    # Period 2024-04-01; 6 months later is 2024-10-01. as_at comes from the requests extract (newest of either kind).
    write_decisions(tmp_path, "2024-06-30", [decision("P1", "2024-06-30")])
    write_requests(tmp_path, as_at, [])
    up = vrr_uptake(tmp_path)
    row = up[(Q1, "ALL", "all", "All")]
    assert (row["as_at_date"], row["is_provisional"]) == (date.fromisoformat(as_at), provisional)
    assert all(r["is_provisional"] is provisional for r in up.values())


def test_no_eligible_decisions_no_rows(tmp_path):
    write_decisions(tmp_path, "2024-06-30", [decision("N1", "2024-05-01", outcome="16")])
    assert vrr_uptake(tmp_path) == {}
    assert fct_vrr_decisions(tmp_path)["N1"]["is_vrr_eligible"] is False
