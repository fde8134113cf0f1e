"""Independent reference computation of the two marts, in plain Python.

The end-to-end tests compare the DuckDB warehouse against this module. It is written
straight from the definitions in the issue (landing-folder contract, seeds, mart
columns) and deliberately shares no code with the pipeline or the dbt project: standard
library only, no SQL. Clarity comes before speed; ~10,000 decisions still take well
under a second.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections import defaultdict
from datetime import date
from pathlib import Path

Z = 1.959963984540054

DEFAULT_RULES: list[dict] = [
    {
        "outcome_code": "10",
        "decision_maker": "police",
        "scheme": "police",
        "requires_suspect_interviewed": True,
        "scheme_start_date": date(2015, 4, 1),
    },
    {
        "outcome_code": "15",
        "decision_maker": "police",
        "scheme": "police",
        "requires_suspect_interviewed": True,
        "scheme_start_date": date(2015, 4, 1),
    },
    {
        "outcome_code": "9",
        "decision_maker": "cps",
        "scheme": "cps",
        "requires_suspect_interviewed": False,
        "scheme_start_date": date(2013, 6, 5),
    },
    {
        "outcome_code": "15",
        "decision_maker": "cps",
        "scheme": "cps",
        "requires_suspect_interviewed": False,
        "scheme_start_date": date(2013, 6, 5),
    },
]

SCHEME_LABELS = {"police": "Police", "cps": "CPS"}

AGE_BANDS = [  # (lowest age, highest age, label)
    (0, 12, "Under 13"),
    (13, 15, "13-15"),
    (16, 17, "16-17"),
    (18, 24, "18-24"),
    (25, 34, "25-34"),
    (35, 44, "35-44"),
    (45, 54, "45-54"),
    (55, 64, "55-64"),
    (65, 120, "65 and over"),
]

SEX = {"F": "Female", "M": "Male", "X": "Other"}

ETHNICITY_GROUP = {
    **dict.fromkeys(["W1", "W2", "W3", "W9"], "White"),
    **dict.fromkeys(["M1", "M2", "M3", "M9"], "Mixed"),
    **dict.fromkeys(["A1", "A2", "A3", "A4", "A9", "O1"], "Asian"),
    **dict.fromkeys(["B1", "B2", "B9"], "Black"),
    **dict.fromkeys(["O2", "O9"], "Other"),
}

DISABILITY = {"Y": "Yes", "N": "No"}

OFFENCE_GROUP = {
    **dict.fromkeys(["19C", "19F"], "Adult rape"),
    **dict.fromkeys(["19D", "19E", "19G", "19H"], "Child rape"),
}

COMPLETED_RESULTS = {"decision_stands", "decision_overturned"}

COHORT_DIMENSIONS = ["scheme", "age_band", "sex", "ethnicity_group", "disability", "offence_group"]

_EXTRACT_NAME = re.compile(r"^(decisions|vrr_requests)_(\d{4}-\d{2}-\d{2})\.csv$")


# --------------------------------------------------------------------------- loading


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of one extract, header names stripped and lower-cased, values stripped."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # a fully blank line is not a record
            values = [v.strip() for v in values] + [""] * (len(header) - len(values))
            rows.append(dict(zip(header, values, strict=False)))
        return rows


def load_latest(landing_dir: Path) -> tuple[dict[str, dict], dict[str, dict], date]:
    """Read every decisions_YYYY-MM-DD.csv and vrr_requests_YYYY-MM-DD.csv in landing_dir
    (other names ignored); for each key the row from the newest extract wins.

    Returns (decisions by decision_id, requests by request_id, as_at_date), where
    as_at_date is the newest extract date of either kind. Within one extract a repeated
    key keeps its last row.
    """
    extracts: list[tuple[date, str, Path]] = []
    for path in Path(landing_dir).iterdir():
        m = _EXTRACT_NAME.match(path.name)
        if m and path.is_file():
            extracts.append((date.fromisoformat(m.group(2)), m.group(1), path))
    if not extracts:
        raise FileNotFoundError(f"no extracts in {landing_dir}")

    latest: dict[str, dict[str, dict]] = {"decisions": {}, "vrr_requests": {}}
    key_column = {"decisions": "decision_id", "vrr_requests": "request_id"}
    # Oldest first, so a newer extract overwrites an older one.
    for _, kind, path in sorted(extracts):
        for row in _read_csv(path):
            latest[kind][row[key_column[kind]]] = row
    as_at_date = max(extract_date for extract_date, _, _ in extracts)
    return latest["decisions"], latest["vrr_requests"], as_at_date


# --------------------------------------------------------------------------- definitions


def wilson(x: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for x successes out of n, clamped to [0, 1]."""
    if n == 0:
        return (None, None)
    p = x / n
    z2 = Z * Z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def period_start(d: date) -> date:
    """First day of the calendar quarter holding d (1 Jan, 1 Apr, 1 Jul, 1 Oct)."""
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def period_label(p: date) -> str:
    """Financial-year label of a quarter start: 2024-04-01 -> '2024/25 Q1', 2025-01-01 -> '2024/25 Q4'."""
    fy_start = p.year if p.month >= 4 else p.year - 1
    quarter = {4: 1, 7: 2, 10: 3, 1: 4}[period_start(p).month]
    return f"{fy_start}/{(fy_start + 1) % 100:02d} Q{quarter}"


def add_months(d: date, months: int) -> date:
    """d moved by whole calendar months (day clamped to the end of a shorter month)."""
    month_index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    next_month_first = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month_first - date(year, month, 1)).days
    return date(year, month, min(d.day, last_day))


def age_band(raw: str) -> str:
    value = (raw or "").strip()
    if not value or any(c not in "0123456789" for c in value):
        return "Unknown"
    age = int(value)
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return "Unknown"


def sex(raw: str) -> str:
    return SEX.get((raw or "").strip().upper(), "Unknown")


def ethnicity_group(raw: str) -> str:
    return ETHNICITY_GROUP.get((raw or "").strip().upper(), "Not stated")


def disability(raw: str) -> str:
    # Y / y / Yes mean Y and N / No mean N (values are normalised before the code is looked up)
    code = (raw or "").strip().upper()
    code = {"YES": "Y", "NO": "N"}.get(code, code)
    return DISABILITY.get(code, "Unknown")


def offence_group(raw: str) -> str:
    return OFFENCE_GROUP.get((raw or "").strip().upper(), "Other offences")


def _optional_date(raw: str | None) -> date | None:
    value = (raw or "").strip()
    return date.fromisoformat(value) if value else None


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "t", "yes", "y", "1"}
    return bool(value)


def _normalise_rule(rule: dict) -> dict:
    start = rule["scheme_start_date"]
    return {
        "outcome_code": str(rule["outcome_code"]).strip().upper(),
        "decision_maker": str(rule["decision_maker"]).strip().lower(),
        "scheme": str(rule["scheme"]).strip().lower(),
        "requires_suspect_interviewed": _as_bool(rule["requires_suspect_interviewed"]),
        "scheme_start_date": start if isinstance(start, date) else date.fromisoformat(str(start).strip()),
    }


def _matching_rule(outcome_code, decision_maker, suspect_interviewed, decision_date, rules):
    """First rule under which the decision is VRR-eligible, or None."""
    if decision_date is None:
        return None
    for rule in rules:
        if (
            rule["outcome_code"] == outcome_code
            and rule["decision_maker"] == decision_maker
            and (not rule["requires_suspect_interviewed"] or suspect_interviewed == "Y")
            and decision_date >= rule["scheme_start_date"]
        ):
            return rule
    return None


# --------------------------------------------------------------------------- marts


def _decisions_with_requests(landing_dir: Path, rules: list[dict] | None):
    """(fct rows by decision_id, counting requests by decision_id, as_at_date)."""
    decisions, requests, as_at_date = load_latest(landing_dir)
    rules = [_normalise_rule(r) for r in (DEFAULT_RULES if rules is None else rules)]

    # A request counts when it names a known decision and is dated on or after it.
    counting: dict[str, list[dict]] = defaultdict(list)
    for req in requests.values():
        decision = decisions.get(req.get("decision_id", "").strip())
        if decision is None:
            continue
        request_date = _optional_date(req.get("request_date"))
        decision_date = _optional_date(decision.get("decision_date"))
        if request_date is None or decision_date is None or request_date < decision_date:
            continue
        counting[decision["decision_id"]].append(
            {
                "request_id": req["request_id"],
                "request_date": request_date,
                "review_result": req.get("review_result", "").strip().lower(),
            }
        )

    fct: dict[str, dict] = {}
    for decision_id, d in decisions.items():
        decision_date = _optional_date(d.get("decision_date"))
        outcome_code = d.get("outcome_code", "").strip().upper()
        decision_maker = d.get("decision_maker", "").strip().lower()
        interviewed = d.get("suspect_interviewed", "").strip().upper()
        suspect_interviewed = "Y" if interviewed in {"Y", "YES"} else interviewed
        rule = _matching_rule(outcome_code, decision_maker, suspect_interviewed, decision_date, rules)
        notified = _optional_date(d.get("victim_notified_date"))
        reqs = counting.get(decision_id, [])
        first_request_date = min((r["request_date"] for r in reqs), default=None)
        start = period_start(decision_date) if decision_date else None
        fct[decision_id] = {
            "decision_id": decision_id,
            "force_code": d.get("force_code", "").strip().upper(),
            "decision_date": decision_date,
            "period_start": start,
            "period_label": period_label(start) if start else None,
            "outcome_code": outcome_code,
            "decision_maker": decision_maker,
            "is_vrr_eligible": rule is not None,
            "scheme": SCHEME_LABELS.get(rule["scheme"], rule["scheme"]) if rule else None,
            "age_band": age_band(d.get("victim_age", "")),
            "sex": sex(d.get("victim_sex", "")),
            "ethnicity_group": ethnicity_group(d.get("victim_ethnicity", "")),
            "disability": disability(d.get("victim_disability", "")),
            "offence_group": offence_group(d.get("offence_code", "")),
            "victim_notified_date": notified,
            "requests": len(reqs),
            "has_request": len(reqs) > 0,
            "first_request_date": first_request_date,
            "days_notification_to_request": (
                (first_request_date - notified).days
                if first_request_date is not None and notified is not None
                else None
            ),
            "any_decision_overturned": any(r["review_result"] == "decision_overturned" for r in reqs),
        }
    return fct, counting, as_at_date


def fct_vrr_decisions(landing_dir: Path, rules: list[dict] | None = None) -> dict[str, dict]:
    """marts.fct_vrr_decisions: one row per latest decision, keyed by decision_id."""
    fct, _, _ = _decisions_with_requests(landing_dir, rules)
    return fct


def _victims(landing_dir: Path) -> dict[str, str]:
    """Each decision's victim, as the pseudonym identifies it: the trimmed victim_id (blank: no victim)."""
    decisions, _, _ = load_latest(landing_dir)
    return {key: row.get("victim_id", "").strip() for key, row in decisions.items()}


def _victim_counts(rows: list[dict], victims: dict[str, str]) -> dict[str, int]:
    """Distinct victims of the decisions, and of those with a request (a blank victim_id adds none)."""
    return {
        "eligible_victims": len({victims[r["decision_id"]] for r in rows} - {""}),
        "victims_with_request": len({victims[r["decision_id"]] for r in rows if r["has_request"]} - {""}),
    }


def vrr_uptake(landing_dir: Path, rules: list[dict] | None = None) -> dict[tuple, dict]:
    """marts.vrr_uptake keyed by (period_start, force_code, cohort_dimension, cohort_value)."""
    fct, counting, as_at_date = _decisions_with_requests(landing_dir, rules)
    victims = _victims(landing_dir)

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in fct.values():
        if not row["is_vrr_eligible"]:
            continue
        cohorts = [("all", "All")] + [(dim, row[dim]) for dim in COHORT_DIMENSIONS]
        for force in dict.fromkeys([row["force_code"], "ALL"]):  # once each, even for a force named ALL
            for dimension, value in cohorts:
                groups[(row["period_start"], force, dimension, value)].append(row)

    out: dict[tuple, dict] = {}
    for key, rows in groups.items():
        start, force, dimension, value = key
        eligible = len(rows)
        with_request = sum(1 for r in rows if r["has_request"])
        reqs = [req for r in rows for req in counting.get(r["decision_id"], [])]
        completed = sum(1 for req in reqs if req["review_result"] in COMPLETED_RESULTS)
        overturned = sum(1 for req in reqs if req["review_result"] == "decision_overturned")
        days = [
            r["days_notification_to_request"]
            for r in rows
            if r["has_request"] and r["days_notification_to_request"] is not None
        ]
        lower, upper = wilson(with_request, eligible)
        out[key] = {
            "period_start": start,
            "period_label": period_label(start),
            "force_code": force,
            "cohort_dimension": dimension,
            "cohort_value": value,
            "eligible_decisions": eligible,
            "decisions_with_request": with_request,
            "uptake_rate": with_request / eligible,
            "uptake_ci_lower": lower,
            "uptake_ci_upper": upper,
            "requests": len(reqs),
            "reviews_completed": completed,
            "reviews_overturned": overturned,
            "overturn_rate": overturned / completed if completed else None,
            "median_days_to_request": float(statistics.median(days)) if days else None,
            "is_provisional": as_at_date < add_months(start, 6),
            "as_at_date": as_at_date,
            "decisions_timed_to_request": len(days),
            **_victim_counts(rows, victims),
        }
    return out


def vrr_uptake_rolling(landing_dir: Path, rules: list[dict] | None = None) -> dict[tuple, dict]:
    """marts.vrr_uptake_rolling: each quarter's window is the four quarters ending with it, the counts pooled over
    the decisions of the window and the rate, interval and median recomputed on them."""
    fct, counting, as_at_date = _decisions_with_requests(landing_dir, rules)
    victims = _victims(landing_dir)
    eligible = [row for row in fct.values() if row["is_vrr_eligible"]]
    if not eligible:
        return {}
    first = min(r["period_start"] for r in eligible)
    last = max(r["period_start"] for r in eligible)
    spine = [first]
    while spine[-1] < last:
        spine.append(add_months(spine[-1], 3))
    out: dict[tuple, dict] = {}
    for end in spine:
        start = add_months(end, -9)
        members = [r for r in eligible if start <= r["period_start"] <= end]
        in_window = sum(1 for q in spine if start <= q <= end)
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for row in members:
            cohorts = [("all", "All")] + [(dim, row[dim]) for dim in COHORT_DIMENSIONS]
            for force in dict.fromkeys([row["force_code"], "ALL"]):
                for dimension, value in cohorts:
                    groups[(end, force, dimension, value)].append(row)
        for key, rows in groups.items():
            n = len(rows)
            x = sum(1 for r in rows if r["has_request"])
            reqs = [req for r in rows for req in counting.get(r["decision_id"], [])]
            completed = sum(1 for req in reqs if req["review_result"] in COMPLETED_RESULTS)
            overturned = sum(1 for req in reqs if req["review_result"] == "decision_overturned")
            days = [
                r["days_notification_to_request"]
                for r in rows
                if r["has_request"] and r["days_notification_to_request"] is not None
            ]
            lower, upper = wilson(x, n)
            out[key] = {
                "period_label": period_label(end),
                "eligible_decisions": n,
                "decisions_with_request": x,
                "uptake_rate": x / n,
                "uptake_ci_lower": lower,
                "uptake_ci_upper": upper,
                "requests": len(reqs),
                "reviews_completed": completed,
                "reviews_overturned": overturned,
                "overturn_rate": overturned / completed if completed else None,
                "median_days_to_request": float(statistics.median(days)) if days else None,
                "decisions_timed_to_request": len(days),
                "is_provisional": as_at_date < add_months(end, 6),
                "as_at_date": as_at_date,
                "window_start": start,
                "quarters_in_window": in_window,
                **_victim_counts(rows, victims),
            }
    return out


# --------------------------------------------------------------------------- inspection marts (issue 4)
#
# Working days come straight from the maintained `holidays` library (England and Wales = subdivision ENG),
# not from the pipeline's seed or calendar model. Labels of the withdrawal taxonomy are typed here from
# domain.md section 8, independently of the dbt seeds.

import functools  # noqa: E402
from datetime import timedelta  # noqa: E402

import holidays  # noqa: E402

COHORT_BASIS = "cohort: decisions made in the quarter"
PERIOD_BASIS = "period: requests received and reviews completed in the quarter"
NOTIFICATION_TARGET_WORKING_DAYS = 5
REVIEW_TARGET_WORKING_DAYS = {"Police": 30, "CPS": 30}

WITHDRAWAL_STAGES = {
    "at_initial_report": "At or before initial report or ABE interview",
    "before_suspect_interview": "During investigation before suspect interview",
    "after_suspect_interview": "After suspect interview before the charging decision",
    "after_charge": "After charge",
    "at_trial": "At or near trial",
}
WITHDRAWAL_REASONS = {
    "length_of_process": "Length of process or delay",
    "fear_of_court": "Fear of court or cross-examination",
    "third_party_material": "Digital or third-party material requests",
    "fear_of_suspect": "Fear of the suspect or reprisal",
    "wants_other_outcome": "Does not want prosecution (wants another outcome)",
    "health_wellbeing": "Health or wellbeing",
    "lack_of_support": "Lack of support",
    "relationship_to_suspect": "Relationship to the suspect",
    "other": "Other",
}
NOT_RECORDED = "Not recorded"
VICTIM_DOES_NOT_SUPPORT = {"14", "16"}
RAPE_GROUPS = {"Adult rape", "Child rape"}


@functools.cache
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.UK(subdiv="ENG", years=year))


def is_working_day(d: date) -> bool:
    """Monday to Friday and not an England and Wales bank holiday."""
    return d.weekday() < 5 and d not in _bank_holidays(d.year)


def working_days(start: date, end: date) -> int | None:
    """Working days d with start < d <= end (day 0 is the event day); None when end is before start."""
    if start is None or end is None or end < start:
        return None
    return sum(1 for offset in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=offset)))


def _median(values: list) -> float | None:
    return float(statistics.median(values)) if values else None


def _forces(force_code: str) -> list[str]:
    return list(dict.fromkeys([force_code, "ALL"]))  # once each, even for a force named ALL


def _inspection_decisions(landing_dir: Path, rules: list[dict] | None) -> list[dict]:
    """The fct rows with the withdrawal codes added; a notification dated before its decision is none."""
    fct, _, _ = _decisions_with_requests(landing_dir, rules)
    raw, _, _ = load_latest(landing_dir)
    rows = []
    for decision_id, row in fct.items():
        d = raw[decision_id]
        notified = row["victim_notified_date"]
        rows.append(
            {
                **row,
                "force_code": row["force_code"] or "UNKNOWN",
                "victim_notified_date": notified if notified is not None and notified >= row["decision_date"] else None,
                "withdrawal_stage": WITHDRAWAL_STAGES.get(d.get("withdrawal_stage", "").strip().lower(), NOT_RECORDED),
                "withdrawal_reason": WITHDRAWAL_REASONS.get(
                    d.get("withdrawal_reason", "").strip().lower(), NOT_RECORDED
                ),
            }
        )
    return rows


def _characteristics_completeness(landing_dir: Path, rules: list[dict] | None = None) -> dict[tuple, dict]:
    """marts.characteristics_completeness keyed by (period_start, force_code, population, characteristic)."""
    recorded_if = {
        "age": lambda r: r["age_band"] != "Unknown",
        "sex": lambda r: r["sex"] != "Unknown",
        "ethnicity": lambda r: r["ethnicity_group"] != "Not stated",
        "disability": lambda r: r["disability"] != "Unknown",
    }
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for row in _inspection_decisions(landing_dir, rules):
        if row["outcome_code"] == "0":
            continue  # not yet assigned an outcome
        populations = ["all_decisions"]
        if row["is_vrr_eligible"]:
            populations.append("vrr_eligible")
        if row["offence_group"] in RAPE_GROUPS:
            populations.append("rape")
        for force in _forces(row["force_code"]):
            for population in populations:
                for characteristic, is_recorded in recorded_if.items():
                    tally = counts[(row["period_start"], force, population, characteristic)]
                    tally[0] += 1
                    tally[1] += is_recorded(row)
    return {
        key: {
            "period_start": key[0],
            "period_label": period_label(key[0]),
            "force_code": key[1],
            "population": key[2],
            "characteristic": key[3],
            "decisions": n,
            "recorded": recorded,
            "completeness_rate": recorded / n,
            "counting_basis": COHORT_BASIS,
        }
        for key, (n, recorded) in counts.items()
    }


def _victim_withdrawal(landing_dir: Path, rules: list[dict] | None = None) -> dict[tuple, dict]:
    """marts.victim_withdrawal keyed by (period_start, force_code, offence_group, withdrawal_stage,
    withdrawal_reason)."""
    counts: dict[tuple, int] = defaultdict(int)
    for row in _inspection_decisions(landing_dir, rules):
        if row["outcome_code"] in VICTIM_DOES_NOT_SUPPORT:
            for force in _forces(row["force_code"]):
                counts[
                    (
                        row["period_start"],
                        force,
                        row["offence_group"],
                        row["withdrawal_stage"],
                        row["withdrawal_reason"],
                    )
                ] += 1
    return {
        key: {
            "period_start": key[0],
            "period_label": period_label(key[0]),
            "force_code": key[1],
            "offence_group": key[2],
            "withdrawal_stage": key[3],
            "withdrawal_reason": key[4],
            "decisions": n,
            "counting_basis": COHORT_BASIS,
        }
        for key, n in counts.items()
    }


def _victim_withdrawal_rate(landing_dir: Path, rules: list[dict] | None = None) -> dict[tuple, dict]:
    """marts.victim_withdrawal_rate keyed by (period_start, force_code, offence_group)."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for row in _inspection_decisions(landing_dir, rules):
        if row["outcome_code"] == "0":
            continue
        for force in _forces(row["force_code"]):
            tally = counts[(row["period_start"], force, row["offence_group"])]
            tally[0] += 1
            tally[1] += row["outcome_code"] in VICTIM_DOES_NOT_SUPPORT
    return {
        key: {
            "period_start": key[0],
            "period_label": period_label(key[0]),
            "force_code": key[1],
            "offence_group": key[2],
            "outcomes_assigned": n,
            "victim_does_not_support": withdrew,
            "withdrawal_rate": withdrew / n,
            "counting_basis": COHORT_BASIS,
        }
        for key, (n, withdrew) in counts.items()
    }


def _nfa_notification_timeliness(
    landing_dir: Path, rules: list[dict] | None = None, target: int = NOTIFICATION_TARGET_WORKING_DAYS
) -> dict[tuple, dict]:
    """marts.nfa_notification_timeliness keyed by (period_start, force_code, scheme)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in _inspection_decisions(landing_dir, rules):
        if row["is_vrr_eligible"]:
            for force in _forces(row["force_code"]):
                groups[(row["period_start"], force, row["scheme"])].append(row)
    out = {}
    for key, rows in groups.items():
        days = [
            working_days(r["decision_date"], r["victim_notified_date"])
            for r in rows
            if r["victim_notified_date"] is not None
        ]
        within = sum(1 for d in days if d is not None and d <= target)
        out[key] = {
            "period_start": key[0],
            "period_label": period_label(key[0]),
            "force_code": key[1],
            "scheme": key[2],
            "decisions": len(rows),
            "notified": len(days),
            "not_notified": len(rows) - len(days),
            "median_working_days_to_notify": _median([d for d in days if d is not None]),
            "notified_within_target": within,
            "notified_within_target_rate": within / len(rows),
            "target_working_days": target,
            "counting_basis": COHORT_BASIS,
        }
    return out


ALL_SCHEMES = "All schemes"  # both schemes together: no target of its own


def _vrr_requests_by_period(
    landing_dir: Path, rules: list[dict] | None = None, targets: dict[str, int] | None = None
) -> dict[tuple, dict]:
    """marts.vrr_requests_by_period keyed by (period_start, force_code, scheme): events in their own quarter."""
    targets = REVIEW_TARGET_WORKING_DAYS if targets is None else targets
    decisions = {r["decision_id"]: r for r in _inspection_decisions(landing_dir, rules)}
    _, requests, _ = load_latest(landing_dir)
    groups: dict[tuple, dict] = {}

    def group(start: date, force: str, scheme: str) -> dict:
        return groups.setdefault(
            (start, force, scheme), {"received": 0, "late": 0, "completed": 0, "overturned": 0, "within": 0, "days": []}
        )

    for req in requests.values():
        decision = decisions.get(req.get("decision_id", "").strip())
        request_date = _optional_date(req.get("request_date"))
        if decision is None or request_date is None or request_date < decision["decision_date"]:
            continue  # a request counts only when its decision is known and it is dated on or after it
        own_scheme = SCHEME_LABELS.get(req.get("scheme", "").strip().lower())
        notified = decision["victim_notified_date"]
        completed_on = _optional_date(req.get("review_completed_date"))
        result = req.get("review_result", "").strip().lower()
        for force, scheme in ((f, s) for f in _forces(decision["force_code"]) for s in (own_scheme, ALL_SCHEMES)):
            received = group(period_start(request_date), force, scheme)
            received["received"] += 1
            if notified is not None and request_date > add_months(notified, 3):
                received["late"] += 1
            if result in COMPLETED_RESULTS and completed_on is not None:
                completed = group(period_start(completed_on), force, scheme)
                days = working_days(request_date, completed_on)
                completed["completed"] += 1
                completed["overturned"] += result == "decision_overturned"
                completed["within"] += days is not None and days <= targets[own_scheme]
                if days is not None:
                    completed["days"].append(days)
    return {
        key: {
            "period_start": key[0],
            "period_label": period_label(key[0]),
            "force_code": key[1],
            "scheme": key[2],
            "requests_received": g["received"],
            "requests_after_three_months": g["late"],
            "reviews_completed": g["completed"],
            "reviews_overturned": g["overturned"],
            "completed_within_target": g["within"],
            "median_working_days_to_complete": _median(g["days"]),
            "target_working_days": targets.get(key[2]),
            "counting_basis": PERIOD_BASIS,
        }
        for key, g in groups.items()
    }


def _with_as_at(rows: dict[tuple, dict], landing_dir: Path) -> dict[tuple, dict]:
    """Every quarterly mart carries the as-at date and whether its quarter is still provisional."""
    as_at_date = load_latest(landing_dir)[2]
    for row in rows.values():
        row["as_at_date"] = as_at_date
        row["is_provisional"] = as_at_date < add_months(row["period_start"], 6)
    return rows


def characteristics_completeness(landing_dir: Path, *args, **kwargs) -> dict[tuple, dict]:
    return _with_as_at(_characteristics_completeness(landing_dir, *args, **kwargs), landing_dir)


def victim_withdrawal(landing_dir: Path, *args, **kwargs) -> dict[tuple, dict]:
    return _with_as_at(_victim_withdrawal(landing_dir, *args, **kwargs), landing_dir)


def victim_withdrawal_rate(landing_dir: Path, *args, **kwargs) -> dict[tuple, dict]:
    return _with_as_at(_victim_withdrawal_rate(landing_dir, *args, **kwargs), landing_dir)


def nfa_notification_timeliness(landing_dir: Path, *args, **kwargs) -> dict[tuple, dict]:
    return _with_as_at(_nfa_notification_timeliness(landing_dir, *args, **kwargs), landing_dir)


def vrr_requests_by_period(landing_dir: Path, *args, **kwargs) -> dict[tuple, dict]:
    return _with_as_at(_vrr_requests_by_period(landing_dir, *args, **kwargs), landing_dir)
