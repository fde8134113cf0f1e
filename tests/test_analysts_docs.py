"""Every worked example in docs/analysts.md runs against the sample's analysts' copy, and its result equals an
independent computation in plain Python from the sample's CSV extracts (tests/reference.py)."""

import re
from collections import defaultdict
from datetime import date

import duckdb
import pytest

from tests import reference as ref
from tests.conftest import ROOT

DOC = ROOT / "docs" / "analysts.md"


def examples() -> dict[str, str]:
    """The SQL blocks of the document that start with `-- example: <name>`."""
    found = {}
    for block in re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        match = re.match(r"-- example: (\w+)\n", block)
        assert match, f"every SQL example is named: {block[:60]}"
        found[match.group(1)] = block
    return found


@pytest.fixture(scope="module")
def truth(sample_run):
    """The independent computations, once."""
    landing = sample_run.landing
    _, _, as_at = ref.load_latest(landing)
    uptake = ref.vrr_uptake(landing)
    complete = [q for (q, f, d, v) in uptake if ref.add_months(q, 3) <= as_at]
    return {
        "landing": landing,
        "as_at": as_at,
        "latest": max(complete),
        "uptake": uptake,
        "rolling": ref.vrr_uptake_rolling(landing),
        "period": ref.vrr_requests_by_period(landing),
        "completeness": ref.characteristics_completeness(landing),
        "notification": ref.nfa_notification_timeliness(landing),
        "withdrawal_rate": ref.victim_withdrawal_rate(landing),
        "withdrawal": ref.victim_withdrawal(landing),
        "fct": ref.fct_vrr_decisions(landing),
    }


def last_four(truth) -> list[date]:
    return [ref.add_months(truth["latest"], -3 * k) for k in range(4)]


def expected_black_against_all(t):
    rows = [(v, t["rolling"][(t["latest"], "ALL", d, v)]) for d, v in (("all", "All"), ("ethnicity_group", "Black"))]
    return sorted(
        (
            v,
            r["eligible_decisions"],
            r["decisions_with_request"],
            r["uptake_rate"],
            r["uptake_ci_lower"],
            r["uptake_ci_upper"],
        )
        for v, r in rows
    )


def expected_most_overturned(t):
    cohort = [r for (q, f, d, v), r in t["uptake"].items() if f == "ALL" and d == "all"]
    best = min(cohort, key=lambda r: (-r["reviews_overturned"], r["period_start"]))
    by_quarter = defaultdict(int)
    for (q, f, scheme), r in t["period"].items():
        if f == "ALL" and scheme != "All schemes":  # the schemes added up here, by hand
            by_quarter[q] += r["reviews_overturned"]
    quarter = min(by_quarter, key=lambda q: (-by_quarter[q], q))
    return [
        ("cohort (quarter of the decision)", best["period_label"], best["reviews_overturned"]),
        ("period (quarter of the review)", ref.period_label(quarter), by_quarter[quarter]),
    ]


def expected_ethnicity_completeness(t):
    quarters = [q for (q, f, p, c) in t["completeness"] if ref.add_months(q, 3) <= t["as_at"]]
    latest = max(quarters)
    return sorted(
        (f, r["decisions"], r["recorded"], r["completeness_rate"])
        for (q, f, p, c), r in t["completeness"].items()
        if q == latest and p == "all_decisions" and c == "ethnicity"
    )


def expected_notification_median(t):
    rows = sorted(((q, s), r) for (q, f, s), r in t["notification"].items() if f == "ALL")
    return [(r["period_label"], s, r["decisions"], r["median_working_days_to_notify"]) for (q, s), r in rows]


def expected_rolling_uptake(t):
    rows = sorted((q, r) for (q, f, d, v), r in t["rolling"].items() if f == "ALL" and d == "all")
    return [
        (
            r["period_label"],
            r["window_start"],
            r["quarters_in_window"],
            r["eligible_decisions"],
            r["decisions_with_request"],
            r["uptake_rate"],
            r["uptake_ci_lower"],
            r["uptake_ci_upper"],
            r["is_provisional"],
        )
        for q, r in rows
    ]


def expected_uptake_by_force(t):
    return sorted(
        (f, r["eligible_decisions"], r["decisions_with_request"], r["uptake_rate"])
        for (q, f, d, v), r in t["uptake"].items()
        if q == t["latest"] and d == "all"
    )


def expected_own_pool(t):
    year = [date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1), date(2025, 1, 1)]
    rows = [t["uptake"][(q, "ALL", "all", "All")] for q in year if (q, "ALL", "all", "All") in t["uptake"]]
    n = sum(r["eligible_decisions"] for r in rows)
    x = sum(r["decisions_with_request"] for r in rows)
    return [(n, x, x / n, *ref.wilson(x, n))]


def expected_overturn_by_scheme(t):
    sums = defaultdict(lambda: [0, 0])
    for (_q, f, d, v), r in t["uptake"].items():
        if f == "ALL" and d == "scheme":
            sums[v][0] += r["reviews_completed"]
            sums[v][1] += r["reviews_overturned"]
    return [(s, c, o, o / c) for s, (c, o) in sorted(sums.items())]


def expected_withdrawal_adult_rape(t):
    rows = sorted((q, r) for (q, f, g), r in t["withdrawal_rate"].items() if f == "ALL" and g == "Adult rape")
    return [
        (r["period_label"], r["outcomes_assigned"], r["victim_does_not_support"], r["withdrawal_rate"]) for q, r in rows
    ]


def expected_victims_who_asked(t):
    decisions, _, _ = ref.load_latest(t["landing"])
    window = set(last_four(t))
    rows = [r for r in t["fct"].values() if r["is_vrr_eligible"] and r["period_start"] in window]
    victim = {r["decision_id"]: decisions[r["decision_id"]]["victim_id"].strip() for r in rows}
    asked = [r for r in rows if r["has_request"]]
    return [
        (len({victim[r["decision_id"]] for r in asked} - {""}), len(set(victim.values()) - {""}), len(asked), len(rows))
    ]


def expected_withdrawal_reasons_rape(t):
    quarters = [q for (q, *_), r in t["withdrawal"].items() if ref.add_months(q, 3) <= t["as_at"]]
    latest = max(quarters)
    window = {ref.add_months(latest, -3 * k) for k in range(4)}
    sums = defaultdict(int)
    for (q, f, group, _stage, reason), r in t["withdrawal"].items():
        if f == "ALL" and group in ("Adult rape", "Child rape") and q in window:
            sums[reason] += r["decisions"]
    return sorted(sums.items(), key=lambda item: (-item[1], item[0]))


def expected_provisional_quarters(t):
    rows = sorted((q, r) for (q, f, d, v), r in t["uptake"].items() if f == "ALL" and d == "all")
    return [(r["period_label"], True) for q, r in rows if r["is_provisional"]]


def same(expected, got) -> bool:
    if isinstance(expected, float) or isinstance(got, float):
        return expected is not None and got is not None and got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    return expected == got


@pytest.mark.parametrize("name", sorted(examples()))
def test_example(name, sample_run, truth):
    copy = sample_run.analysts_copy
    with duckdb.connect(str(copy), read_only=True) as con:
        got = [tuple(row) for row in con.execute(examples()[name]).fetchall()]
    expected = [tuple(row) for row in globals()[f"expected_{name}"](truth)]
    assert got, f"{name} returns nothing on the sample"
    assert len(got) == len(expected), name
    for mine, theirs in zip(expected, got, strict=True):
        assert len(mine) == len(theirs) and all(same(a, b) for a, b in zip(mine, theirs, strict=True)), (
            name,
            mine,
            theirs,
        )


def test_at_least_ten_examples_each_with_an_independent_computation():
    names = examples()
    assert len(names) >= 10
    assert all(f"expected_{name}" in globals() for name in names)
