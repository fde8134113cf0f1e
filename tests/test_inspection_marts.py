"""Issue 4: the inspection marts (characteristics_completeness, victim_withdrawal, victim_withdrawal_rate,
nfa_notification_timeliness, vrr_requests_by_period) and the working-day calendar behind them.

One small hand-built landing folder covers the tricky cases and the whole job runs on it once; every expected
figure below is worked out by hand in the comments. The same marts are then checked on the synthetic sample
against the independent plain-Python computation in tests/reference.py.

Calendars used below (England and Wales):
  2022: Thu 2 Jun (Spring bank holiday, moved) and Fri 3 Jun (Platinum Jubilee) are bank holidays.
  2024: Fri 29 Mar Good Friday, Mon 1 Apr Easter Monday, Mon 26 Aug Late Summer bank holiday.
  Working days from A to B count the working days d with A < d <= B (same day = 0).
"""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from pipeline import calendar as bank_calendar
from pipeline.contract import DECISION_COLUMNS, REQUEST_COLUMNS
from tests import reference as ref
from tests.conftest import PipelineRun, write_csv
from tests.test_end_to_end import mismatches, same

AS_AT = "2025-01-06"
COHORT = "cohort: decisions made in the quarter"
PERIOD = "period: requests received and reviews completed in the quarter"


def decision(
    decision_id,
    force,
    decided,
    *,
    outcome="15",
    maker="police",
    interviewed="Y",
    notified="",
    offence="19C",
    age="30",
    sex="F",
    ethnicity="W1",
    disability="N",
    stage="",
    reason="",
):
    """A decision row; by default a police outcome 15 with the suspect interviewed (VRR-eligible), every
    characteristic recorded and no withdrawal details."""
    return [
        decision_id,
        f"CR-{decision_id}",
        force,
        offence,
        decided,
        outcome,
        maker,
        interviewed,
        notified,
        f"V-{decision_id}",
        age,
        sex,
        ethnicity,
        disability,
        stage,
        reason,
    ]


def request(request_id, decision_id, requested, scheme="police", completed="", result=""):
    return [request_id, decision_id, requested, scheme, "review" if completed else "", completed, result]


DECISIONS = [
    # --- notification timeliness, force AA, police, July-September 2024
    decision("N1", "AA", "2024-08-23", notified="2024-08-27"),  # Fri -> Tue over the 26 Aug bank holiday: 1
    decision("N2", "AA", "2024-08-16", notified="2024-08-23"),  # Fri -> Fri: Mon 19..Fri 23 = 5 (within target)
    decision("N3", "AA", "2024-08-15", notified="2024-08-23"),  # Thu -> Fri: Fri 16, Mon 19..Fri 23 = 6
    decision("N4", "AA", "2024-07-10", notified="2024-07-10"),  # same day: 0
    decision("N5", "AA", "2024-07-11"),  # never notified
    decision("N6", "AA", "2024-09-30", notified="2024-09-27"),  # notified before the decision: read as none
    # --- force AA, police, January-March 2024, over Easter
    decision("N7", "AA", "2024-03-28", notified="2024-04-02"),  # Thu -> Tue: Fri 29 GF, Mon 1 EM, Tue 2 = 1
    decision("N8", "AA", "2024-03-27", notified="2024-04-05"),  # Wed -> Fri: Thu 28, Tue 2, Wed 3, Thu 4, Fri 5 = 5
    decision("N9", "AA", "2024-03-22", notified="2024-04-03"),  # Fri -> Wed: Mon 25..Thu 28 = 4, Tue 2, Wed 3 = 6
    # --- force BB, July-September 2024
    decision("C1", "BB", "2024-08-23", outcome="9", maker="cps", notified="2024-08-23"),  # same day: 0
    decision("C2", "BB", "2024-08-22", outcome="9", maker="cps", notified="2024-08-30"),
    # ^ Thu -> Fri: Fri 23 = 1, Mon 26 bank holiday, Tue 27..Fri 30 = 2..5 -> 5
    decision("N10", "BB", "2024-09-02", notified="2024-09-09"),  # Mon -> Mon: Tue 3..Fri 6 = 4, Mon 9 = 5
    decision("X1", "BB", "2024-08-01", interviewed="N", notified="2024-08-30"),  # not eligible (no interview)
    # --- force EE, July-September 2024: events on days that are not working days
    decision("E1", "EE", "2024-08-26", notified="2024-08-27"),  # decided on the bank holiday, told Tue: 1
    decision("E2", "EE", "2024-09-13", notified="2024-09-14"),  # decided Fri, told Sat: 0
    # --- force CC, April-June 2022: characteristics and withdrawal
    decision("K1", "CC", "2022-06-01", notified="2022-06-06"),  # Wed -> Mon: Thu 2, Fri 3 bank holidays; Mon 6 = 1
    decision(
        "K2",
        "CC",
        "2022-05-10",
        outcome="16",
        interviewed="N",
        offence="19D",
        age="",
        sex="U",
        ethnicity="NS",
        disability="U",
        stage="after_charge",
        reason="fear_of_court",
    ),
    decision(
        "K3",
        "CC",
        "2022-05-11",
        outcome="14",
        interviewed="N",
        offence="8N",
        age="150",
        sex="X",
        ethnicity="",
        disability="Y",
    ),
    decision("K4", "CC", "2022-05-12", outcome="0", age="", sex="U", ethnicity="", disability=""),  # pending
    decision(
        "K5",
        "CC",
        "2022-05-13",
        outcome="9",
        maker="cps",
        offence="19F",
        age="abc",
        sex="M",
        ethnicity="Z7",
        disability="",
    ),
    decision(
        "K6",
        "CC",
        "2022-05-16",
        outcome="16",
        offence="19C",
        age="40",
        ethnicity="A4",
        stage=" AT_TRIAL ",
        reason="made_up_reason",
    ),
    decision("K7", "CC", "2022-05-17", outcome="1", offence="20", age="22", ethnicity="O1"),
    decision("K9", "CC", "2022-05-18", outcome="14", interviewed="N", offence="8N", age="50", ethnicity="B1"),
    # --- force CC, January-March 2022: nothing but a pending decision
    decision("K8", "CC", "2022-02-01", outcome="0"),
    # --- force DD: requests and reviews
    decision("M1", "DD", "2023-11-30", notified="2023-11-30"),  # Thu, told the same day: 0
    decision("M2", "DD", "2024-01-15", outcome="16", notified="2024-01-15"),  # not eligible, yet has requests
    decision("M3", "DD", "2024-02-01", outcome="9", maker="cps"),  # eligible CPS decision, never notified
]

REQUESTS = [
    # M1 notified 2023-11-30: + 3 months = 30 Feb, which does not exist -> 29 Feb 2024.
    request("Q1", "M1", "2024-02-29", completed="2024-04-15", result="decision_stands"),
    # ^ on the last allowed day: not late. Thu 29 Feb -> Mon 15 Apr: Mar 1 = 1, Mar 4-8 = 2..6, 11-15 = 7..11,
    #   18-22 = 12..16, 25-28 = 17..20 (29 Mar GF), Apr 1 EM, Apr 2-5 = 21..24, 8-12 = 25..29, 15 = 30
    request("Q2", "M1", "2024-03-01", completed="2024-04-17", result="decision_overturned"),
    # ^ one day later: late. Fri 1 Mar -> Wed 17 Apr: Mar 4-8 = 1..5, 11-15 = 6..10, 18-22 = 11..15,
    #   25-28 = 16..19, Apr 2-5 = 20..23, 8-12 = 24..28, 15 = 29, 16 = 30, 17 = 31 (over the 30-day target)
    # M2 notified 2024-01-15: + 3 months = 15 Apr 2024.
    request("Q3", "M2", "2024-04-15", completed="2024-04-15", result="out_of_scope"),  # exactly 3 months: not late
    request("Q4", "M2", "2024-04-16"),  # one day later: late; pending
    request("Q9", "M2", "2024-06-21", scheme="cps", result="decision_stands"),
    # ^ scheme from the request (CPS, although the decision was police); late; completed without a date: no quarter
    request("Q5", "M3", "2024-06-20", scheme="cps", completed="2024-07-04", result="decision_overturned"),
    # ^ M3 never notified: not counted as late. Thu 20 Jun -> Thu 4 Jul: Fri 21 = 1, Jun 24-28 = 2..6, Jul 1-4 = 7..10
    request("Q6", "NOPE", "2024-06-01"),  # unknown decision: counts nowhere
    request("Q7", "M3", "2024-01-20", scheme="cps"),  # dated before its decision (1 Feb): counts nowhere
    request("Q10", "N7", "2024-04-10"),  # AA; N7 notified 2 Apr, + 3 months = 2 Jul: not late
]


@pytest.fixture(scope="module")
def hand_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inspection")
    landing = tmp / "landing"
    write_csv(landing / f"decisions_{AS_AT}.csv", DECISION_COLUMNS, DECISIONS)
    write_csv(landing / f"vrr_requests_{AS_AT}.csv", REQUEST_COLUMNS, REQUESTS)
    run = PipelineRun(tmp, landing)
    assert run().success
    return run


def table(run, mart: str, key: list[str]) -> dict[tuple, dict]:
    return {tuple(r[k] for k in key): r for r in run.query(f"select * from marts.{mart}")}


def pick(rows: dict[tuple, dict], columns: list[str]) -> dict[tuple, tuple]:
    return {k: tuple(r[c] for c in columns) for k, r in rows.items()}


# --------------------------------------------------------------------------- bank holidays and working days


def test_committed_bank_holiday_seed_equals_the_holidays_library():
    # If this fails after upgrading `holidays`, regenerate: python -m pipeline.calendar (and review the diff).
    assert bank_calendar.SEED_PATH.read_text(encoding="utf-8") == bank_calendar.seed_text(bank_calendar.bank_holidays())


def test_bank_holidays_include_one_off_and_moved_days():
    days = dict(bank_calendar.bank_holidays())
    assert date(2022, 6, 2) in days and date(2022, 6, 3) in days  # Spring bank holiday moved; Platinum Jubilee
    assert date(2022, 5, 30) not in days  # the usual last Monday of May, not in 2022
    assert date(2022, 9, 19) in days  # State funeral of Queen Elizabeth II
    assert date(2023, 5, 8) in days  # Coronation of King Charles III
    assert date(2020, 5, 8) in days and date(2020, 5, 4) not in days  # VE Day: early May holiday moved to Friday
    assert date(2024, 3, 29) in days and date(2024, 4, 1) in days  # Good Friday, Easter Monday
    assert min(days).year == bank_calendar.FIRST_YEAR and max(days).year == bank_calendar.LAST_YEAR


def test_reference_working_days_by_hand():
    assert ref.working_days(date(2024, 8, 23), date(2024, 8, 27)) == 1  # Fri -> Tue over the 26 Aug bank holiday
    assert ref.working_days(date(2024, 3, 28), date(2024, 4, 2)) == 1  # Easter: Fri 29 Mar and Mon 1 Apr out
    assert ref.working_days(date(2024, 8, 16), date(2024, 8, 23)) == 5  # Fri -> Fri
    assert ref.working_days(date(2024, 7, 10), date(2024, 7, 10)) == 0  # same day
    assert ref.working_days(date(2024, 8, 24), date(2024, 8, 26)) == 0  # Sat -> bank holiday Monday
    assert ref.working_days(date(2024, 8, 26), date(2024, 8, 27)) == 1  # from a bank holiday: the Tuesday counts
    assert ref.working_days(date(2024, 9, 13), date(2024, 9, 14)) == 0  # Fri -> Sat: the Friday does not count
    assert ref.working_days(date(2024, 2, 29), date(2024, 4, 15)) == 30
    assert ref.working_days(date(2024, 3, 1), date(2024, 4, 17)) == 31
    assert ref.working_days(date(2024, 4, 2), date(2024, 4, 1)) is None  # end before start


def test_working_day_calendar_agrees_with_the_library(hand_run):
    rows = hand_run.query("select * from intermediate.int_working_days order by calendar_date")
    assert rows[0]["calendar_date"] == date(2013, 1, 1) and rows[-1]["calendar_date"] == date(2036, 12, 31)
    assert len(rows) == (date(2036, 12, 31) - date(2013, 1, 1)).days + 1  # every day, none twice
    index = 0
    for row in rows:
        index += ref.is_working_day(row["calendar_date"])
        assert (row["is_working_day"], row["working_day_index"]) == (ref.is_working_day(row["calendar_date"]), index)
    # 2013-01-01 is New Year's Day, so the index starts at 0; Wed 2 Jan 2013 is working day 1.
    assert (rows[0]["working_day_index"], rows[1]["working_day_index"]) == (0, 1)


# --------------------------------------------------------------------------- nfa_notification_timeliness

NFA_COLUMNS = [
    "decisions",
    "notified",
    "not_notified",
    "median_working_days_to_notify",
    "notified_within_target",
    "notified_within_target_rate",
]


def test_nfa_notification_timeliness_by_hand(hand_run):
    rows = table(hand_run, "nfa_notification_timeliness", ["period_start", "force_code", "scheme"])
    q3_2024, q1_2024, q4_2023, q2_2022 = date(2024, 7, 1), date(2024, 1, 1), date(2023, 10, 1), date(2022, 4, 1)
    expected = {
        # AA police Jul-Sep 2024: N1..N6 = 6 decisions; notified N1..N4 = 4 (N5 none, N6 before its decision);
        # working days N1 1, N2 5, N3 6, N4 0 -> sorted 0 1 5 6, median (1 + 5) / 2 = 3; within 5: N1, N2, N4 = 3
        (q3_2024, "AA", "Police"): (6, 4, 2, 3.0, 3, 3 / 6),
        (q3_2024, "BB", "Police"): (1, 1, 0, 5.0, 1, 1.0),  # N10 only (X1 not eligible): 5
        (q3_2024, "EE", "Police"): (2, 2, 0, 0.5, 2, 1.0),  # E1 1, E2 0: median 0.5
        # ALL police: AA 6 + BB 1 + EE 2 = 9 decisions, 4 + 1 + 2 = 7 notified; days 0 0 1 1 5 5 6 -> median
        # the 4th = 1; within N1 N2 N4 N10 E1 E2 = 6
        (q3_2024, "ALL", "Police"): (9, 7, 2, 1.0, 6, 6 / 9),
        (q3_2024, "BB", "CPS"): (2, 2, 0, 2.5, 2, 1.0),  # C1 0, C2 5: median 2.5
        (q3_2024, "ALL", "CPS"): (2, 2, 0, 2.5, 2, 1.0),
        # AA police Jan-Mar 2024 over Easter: N7 1, N8 5, N9 6 -> median 5, within 2 of 3
        (q1_2024, "AA", "Police"): (3, 3, 0, 5.0, 2, 2 / 3),
        (q1_2024, "ALL", "Police"): (3, 3, 0, 5.0, 2, 2 / 3),
        (q1_2024, "DD", "CPS"): (1, 0, 1, None, 0, 0.0),  # M3 never notified (M2 not eligible)
        (q1_2024, "ALL", "CPS"): (1, 0, 1, None, 0, 0.0),
        (q4_2023, "DD", "Police"): (1, 1, 0, 0.0, 1, 1.0),  # M1 told the same day
        (q4_2023, "ALL", "Police"): (1, 1, 0, 0.0, 1, 1.0),
        (q2_2022, "CC", "Police"): (1, 1, 0, 1.0, 1, 1.0),  # K1 over the Jubilee weekend: 1
        (q2_2022, "ALL", "Police"): (1, 1, 0, 1.0, 1, 1.0),
        (q2_2022, "CC", "CPS"): (1, 0, 1, None, 0, 0.0),  # K5 never notified
        (q2_2022, "ALL", "CPS"): (1, 0, 1, None, 0, 0.0),
    }
    actual = pick(rows, NFA_COLUMNS)
    assert actual.keys() == expected.keys()
    for key, values in expected.items():
        assert all(same(e, a) for e, a in zip(values, actual[key], strict=True)), (key, values, actual[key])
    row = rows[(q3_2024, "AA", "Police")]
    assert (row["period_label"], row["target_working_days"], row["counting_basis"]) == ("2024/25 Q2", 5, COHORT)


# --------------------------------------------------------------------------- vrr_requests_by_period

REQUEST_COLUMNS_OUT = [
    "requests_received",
    "requests_after_three_months",
    "reviews_completed",
    "reviews_overturned",
    "completed_within_target",
    "median_working_days_to_complete",
]


def test_vrr_requests_by_period_by_hand(hand_run):
    rows = table(hand_run, "vrr_requests_by_period", ["period_start", "force_code", "scheme"])
    q1, q2, q3 = date(2024, 1, 1), date(2024, 4, 1), date(2024, 7, 1)
    expected = {
        # Received Jan-Mar 2024: Q1, Q2 (M1); late: Q2 only (29 Feb is within the clamped 3 months)
        (q1, "DD", "Police"): (2, 1, 0, 0, 0, None),
        (q1, "ALL", "Police"): (2, 1, 0, 0, 0, None),
        # Apr-Jun 2024, DD police: received Q3, Q4; late Q4. Completed in the quarter: Q1 (stands, 30 working
        # days: within) and Q2 (overturned, 31: not within); median (30 + 31) / 2 = 30.5
        (q2, "DD", "Police"): (2, 1, 2, 1, 1, 30.5),
        (q2, "AA", "Police"): (1, 0, 0, 0, 0, None),  # Q10, pending
        (q2, "ALL", "Police"): (3, 1, 2, 1, 1, 30.5),
        # DD CPS: received Q5 (never notified: not late) and Q9 (late); Q9 has no completion date
        (q2, "DD", "CPS"): (2, 1, 0, 0, 0, None),
        (q2, "ALL", "CPS"): (2, 1, 0, 0, 0, None),
        # Jul-Sep 2024: Q5 completed 4 Jul, overturned, 10 working days
        (q3, "DD", "CPS"): (0, 0, 1, 1, 1, 10.0),
        (q3, "ALL", "CPS"): (0, 0, 1, 1, 1, 10.0),
        # Both schemes together: the rows above added up; the median over both schemes' completions
        (q1, "DD", "All schemes"): (2, 1, 0, 0, 0, None),
        (q1, "ALL", "All schemes"): (2, 1, 0, 0, 0, None),
        (q2, "DD", "All schemes"): (4, 2, 2, 1, 1, 30.5),  # Police 2 + CPS 2 received
        (q2, "AA", "All schemes"): (1, 0, 0, 0, 0, None),
        (q2, "ALL", "All schemes"): (5, 2, 2, 1, 1, 30.5),
        (q3, "DD", "All schemes"): (0, 0, 1, 1, 1, 10.0),
        (q3, "ALL", "All schemes"): (0, 0, 1, 1, 1, 10.0),
    }
    assert pick(rows, REQUEST_COLUMNS_OUT) == expected
    # each scheme's own target; none for both together (each review was judged against its own scheme's)
    assert {r["target_working_days"] for k, r in rows.items() if k[2] != "All schemes"} == {30}
    assert {r["target_working_days"] for k, r in rows.items() if k[2] == "All schemes"} == {None}
    assert {r["counting_basis"] for r in rows.values()} == {PERIOD}
    assert rows[(q3, "ALL", "CPS")]["period_label"] == "2024/25 Q2"


# --------------------------------------------------------------------------- characteristics_completeness


def test_characteristics_completeness_by_hand(hand_run):
    rows = table(
        hand_run, "characteristics_completeness", ["period_start", "force_code", "population", "characteristic"]
    )
    q2_2022 = date(2022, 4, 1)
    # CC Apr-Jun 2022 without K4 (outcome 0): K1 K2 K3 K5 K6 K7 K9 = 7 decisions.
    #   age recorded: K1 30, K6 40, K7 22, K9 50 = 4 (K2 blank, K3 150, K5 abc are Unknown)
    #   sex: all but K2 (U) = 6 (K3 X is Other: recorded)
    #   ethnicity: K1 W1, K6 A4, K7 O1, K9 B1 = 4 (K2 NS, K3 blank, K5 Z7 are Not stated)
    #   disability: K1 N, K3 Y, K6 N, K7 N, K9 N = 5 (K2 U, K5 blank)
    # vrr_eligible: K1 (police 15, interviewed) and K5 (CPS 9) = 2: age K1, sex both, ethnicity K1, disability K1
    # rape: K1 19C, K2 19D, K5 19F, K6 19C = 4: age K1 K6, sex K1 K5 K6, ethnicity K1 K6, disability K1 K6
    expected_counts = {
        ("all_decisions", "age"): (7, 4),
        ("all_decisions", "sex"): (7, 6),
        ("all_decisions", "ethnicity"): (7, 4),
        ("all_decisions", "disability"): (7, 5),
        ("vrr_eligible", "age"): (2, 1),
        ("vrr_eligible", "sex"): (2, 2),
        ("vrr_eligible", "ethnicity"): (2, 1),
        ("vrr_eligible", "disability"): (2, 1),
        ("rape", "age"): (4, 2),
        ("rape", "sex"): (4, 3),
        ("rape", "ethnicity"): (4, 2),
        ("rape", "disability"): (4, 2),
    }
    for force in ("CC", "ALL"):  # CC is the only force with decisions that quarter
        got = {
            (k[2], k[3]): (r["decisions"], r["recorded"], r["completeness_rate"])
            for k, r in rows.items()
            if k[:2] == (q2_2022, force)
        }
        assert got == {k: (n, rec, pytest.approx(rec / n, rel=1e-12)) for k, (n, rec) in expected_counts.items()}
    # Jan-Mar 2022 holds only K8, outcome 0: no row at all.
    assert not [k for k in rows if k[0] == date(2022, 1, 1)]
    # Jul-Sep 2024, all forces: AA N1..N6, BB C1 C2 N10 X1, EE E1 E2 = 12 decisions, every characteristic
    # recorded; X1 is not eligible, so 11 eligible; all are 19C, so 12 in the rape population.
    q3_2024 = date(2024, 7, 1)
    everyone = rows[(q3_2024, "ALL", "all_decisions", "age")]
    assert (everyone["decisions"], everyone["recorded"]) == (12, 12)
    assert rows[(q3_2024, "ALL", "vrr_eligible", "sex")]["decisions"] == 11
    assert rows[(q3_2024, "ALL", "rape", "disability")]["completeness_rate"] == 1.0
    assert {r["counting_basis"] for r in rows.values()} == {COHORT}
    assert rows[(q2_2022, "CC", "rape", "age")]["period_label"] == "2022/23 Q1"


# --------------------------------------------------------------------------- victim_withdrawal(_rate)


def test_victim_withdrawal_by_hand(hand_run):
    rows = table(
        hand_run,
        "victim_withdrawal",
        ["period_start", "force_code", "offence_group", "withdrawal_stage", "withdrawal_reason"],
    )
    q2_2022, q1_2024 = date(2022, 4, 1), date(2024, 1, 1)
    expected = {}
    for force in ("CC", "ALL"):
        expected |= {
            (q2_2022, force, "Child rape", "After charge", "Fear of court or cross-examination"): 1,  # K2
            (q2_2022, force, "Other offences", "Not recorded", "Not recorded"): 2,  # K3, K9: blank
            (q2_2022, force, "Adult rape", "At or near trial", "Not recorded"): 1,  # K6: ' AT_TRIAL ', unknown reason
        }
    for force in ("DD", "ALL"):
        expected[(q1_2024, force, "Adult rape", "Not recorded", "Not recorded")] = 1  # M2
    assert {k: r["decisions"] for k, r in rows.items()} == expected
    assert {r["counting_basis"] for r in rows.values()} == {COHORT}


def test_victim_withdrawal_rate_by_hand(hand_run):
    rows = table(hand_run, "victim_withdrawal_rate", ["period_start", "force_code", "offence_group"])
    q2_2022 = date(2022, 4, 1)
    for force in ("CC", "ALL"):
        got = {
            k[2]: (r["outcomes_assigned"], r["victim_does_not_support"], r["withdrawal_rate"])
            for k, r in rows.items()
            if k[:2] == (q2_2022, force)
        }
        assert got == {
            "Adult rape": (3, 1, pytest.approx(1 / 3, rel=1e-12)),  # K1 15, K5 9, K6 16 (K4 outcome 0 left out)
            "Child rape": (1, 1, 1.0),  # K2 16
            "Other offences": (3, 2, pytest.approx(2 / 3, rel=1e-12)),  # K3 14, K7 1, K9 14
        }
    assert not [k for k in rows if k[0] == date(2022, 1, 1)]  # only K8, outcome 0
    dd = rows[(date(2024, 1, 1), "DD", "Adult rape")]  # M2 16, M3 9
    assert (dd["outcomes_assigned"], dd["victim_does_not_support"], dd["withdrawal_rate"]) == (2, 1, 0.5)
    aa = rows[(date(2024, 7, 1), "AA", "Adult rape")]  # N1..N6, all outcome 15
    assert (aa["outcomes_assigned"], aa["victim_does_not_support"], aa["withdrawal_rate"]) == (6, 0, 0.0)


def test_hand_folder_matches_the_reference_too(hand_run):
    """The reference agrees with the hand-worked figures above, so the end-to-end comparison means something."""
    for mart, key in MART_KEYS.items():
        assert mismatches(getattr(ref, mart)(hand_run.landing), table(hand_run, mart, key)) == [], mart


def test_the_review_pack_carries_the_inspection_tables(hand_run):
    folder = hand_run.exports / "2024-25-Q2"  # July-September 2024
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"requests_by_period", "notification", "completeness", "withdrawal_rate", "withdrawal_reasons"} <= set(
        manifest["tables"]
    )
    with (folder / "csv" / "requests_by_period.csv").open(newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    # Only Q5's review completed that quarter (4 Jul): one review, so withheld [c]; 0 requests received is shown.
    # As at 6 January 2025 the quarter is final (it started more than six months before).
    assert [
        (r["force"], r["scheme"], r["requests_received"], r["reviews_completed"], r["reviews_completed_marker"])
        for r in exported
    ] == [
        ("All forces", "All schemes", "0", "", "[c]"),
        ("All forces", "CPS", "0", "", "[c]"),
        ("DD", "All schemes", "0", "", "[c]"),
        ("DD", "CPS", "0", "", "[c]"),
    ]


def test_quarter_with_only_period_events_is_packed(hand_run):
    # April-June 2024: no decision was made then, but vrr_requests_by_period has rows for it (Q3, Q4, Q5, Q9, Q10
    # received; Q1, Q2 completed).
    assert (hand_run.exports / "2024-25-Q1" / "csv" / "requests_by_period.csv").exists()


def test_inspection_marts_are_assets_with_descriptions_and_checks():
    import dagster as dg

    from pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for mart in MART_KEYS:
        node = graph.get(dg.AssetKey(["marts", mart]))
        assert node.group_name == "marts" and node.description, mart
        assert any(a == f"marts/{mart}" and n.startswith("unique_combination") for a, n in checks), mart
    assert ("marts/victim_withdrawal", "assert_victim_withdrawal_adds_up") in checks
    assert ("intermediate/int_working_days", "assert_bank_holidays_cover_every_calendar_year") in checks
    assert (
        dg.AssetKey(["reference", "bank_holidays_england_wales"])
        in graph.get(dg.AssetKey(["intermediate", "int_working_days"])).parent_keys
    )


# --------------------------------------------------------------------------- synthetic sample vs reference

MART_KEYS = {
    "characteristics_completeness": ["period_start", "force_code", "population", "characteristic"],
    "victim_withdrawal": ["period_start", "force_code", "offence_group", "withdrawal_stage", "withdrawal_reason"],
    "victim_withdrawal_rate": ["period_start", "force_code", "offence_group"],
    "nfa_notification_timeliness": ["period_start", "force_code", "scheme"],
    "vrr_requests_by_period": ["period_start", "force_code", "scheme"],
}
MIN_ROWS = {
    "characteristics_completeness": 1000,
    "victim_withdrawal": 1000,
    "victim_withdrawal_rate": 300,
    "nfa_notification_timeliness": 200,
    "vrr_requests_by_period": 50,
}


@pytest.mark.parametrize("mart", list(MART_KEYS))
def test_inspection_mart_matches_independent_computation(sample_run, mart):
    expected = getattr(ref, mart)(sample_run.landing)
    actual = table(sample_run, mart, MART_KEYS[mart])
    assert len(expected) > MIN_ROWS[mart]
    assert mismatches(expected, actual) == []
    columns = {
        r["column_name"]
        for r in sample_run.query(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = ?", [mart]
        )
    }
    assert columns == set(next(iter(expected.values())))  # the reference describes every column


def test_synthetic_timeliness_is_not_trivial(sample_run):
    """Guard against a comparison that passes because everything is zero or null."""
    totals = sample_run.query(
        """select sum(reviews_completed) as completed, sum(completed_within_target) as within,
                  count(median_working_days_to_complete) as medians
           from marts.vrr_requests_by_period where force_code = 'ALL'"""
    )[0]
    assert 0 < totals["within"] < totals["completed"] and totals["medians"] > 0
    notify = sample_run.query(
        """select sum(notified) as notified, sum(notified_within_target) as within, sum(not_notified) as missing
           from marts.nfa_notification_timeliness where force_code = 'ALL'"""
    )[0]
    assert 0 < notify["within"] < notify["notified"] and notify["missing"] > 0
