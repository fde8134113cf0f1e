"""Property-based: extracts with random row-level defects never crash a run, every row reconciles, and the
figures equal those of the clean rows alone (computed independently)."""

import datetime as dt
import json
import random
import subprocess
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import contract, ingest
from pipeline.resources import dbt_executable
from pipeline.settings import DBT_PROJECT_DIR, resolve_settings
from tests import reference as ref
from tests.conftest import TEST_KEY, write_csv
from tests.test_end_to_end import mismatches

D = list(contract.DECISION_COLUMNS)
R = list(contract.REQUEST_COLUMNS)
AS_AT = dt.date(2024, 9, 30)

# Row-level defects: (kind, reason code, how to spoil a clean row)
DEFECTS = {
    "d_missing_key": ("decisions", "missing_key", {"decision_id": ""}),
    "d_missing_date": ("decisions", "missing_required_date", {"decision_date": ""}),
    "d_impossible_date": ("decisions", "unparseable_date", {"decision_date": "2024-02-30"}),
    "d_future": ("decisions", "decision_date_after_extract", {"decision_date": "2024-10-01"}),
    "d_outcome": ("decisions", "unknown_outcome_code", {"outcome_code": "23"}),
    "d_maker": ("decisions", "unknown_decision_maker", {"decision_maker": "court"}),
    "r_missing_key": ("vrr_requests", "missing_key", {"request_id": ""}),
    "r_missing_date": ("vrr_requests", "missing_required_date", {"request_date": ""}),
    "r_scheme": ("vrr_requests", "unknown_scheme", {"scheme": "iopc"}),
    "r_result": ("vrr_requests", "unknown_review_result", {"review_result": "upheld"}),
    "r_completed_early": ("vrr_requests", "review_completed_before_request", {"review_completed_date": "2022-06-01"}),
    "r_unknown_decision": ("vrr_requests", "unknown_decision", {"decision_id": "NO_SUCH_DECISION"}),
    "r_before_decision": ("vrr_requests", "request_before_decision", {"request_date": "2022-12-31"}),
    "conflict": ("decisions", "duplicate_key_conflict", {}),
    "repeat": ("decisions", None, {}),
}


@st.composite
def landing(draw):
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    decisions = []
    for i in range(draw(st.integers(3, 25))):
        day = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(0, 600))
        notified = "" if rng.random() < 0.2 else (day + dt.timedelta(days=rng.randrange(0, 10))).isoformat()
        decisions.append(
            dict(
                zip(
                    D,
                    [
                        f"D{i}",
                        f"CR{i}",
                        rng.choice(["AA", "BB"]),
                        rng.choice(["19C", "19D", "8N"]),
                        day.isoformat(),
                        rng.choice(["9", "10", "14", "15", "15", "16"]),
                        rng.choice(["police", "cps"]),
                        rng.choice(["Y", "N", ""]),
                        # victims: mostly one a decision, some with several decisions (spaces trimmed), a few unrecorded
                        notified,
                        rng.choice([f"V{i}", f"V{i}", f"V{rng.randrange(i + 1)}", f" V{rng.randrange(i + 1)} ", ""]),
                        rng.choice(["", "12", "17", "30", "70"]),
                        rng.choice(["F", "M", ""]),
                        rng.choice(["W1", "A4", "NS", ""]),
                        rng.choice(["Y", "N", ""]),
                        "",
                        "",
                    ],
                    strict=True,
                )
            )
        )
    requests = []
    for i, d in enumerate(rng.sample(decisions, k=rng.randrange(0, len(decisions) + 1))):
        day = dt.date.fromisoformat(d["decision_date"]) + dt.timedelta(days=rng.randrange(0, 60))
        if day > AS_AT:
            continue
        done = rng.random() < 0.6 and day + dt.timedelta(days=20) <= AS_AT
        requests.append(
            dict(
                zip(
                    R,
                    [
                        f"R{i}",
                        d["decision_id"],
                        day.isoformat(),
                        d["decision_maker"],
                        "review",
                        (day + dt.timedelta(days=20)).isoformat() if done else "",
                        rng.choice(["decision_stands", "decision_overturned"]) if done else "",
                    ],
                    strict=True,
                )
            )
        )
    defects = draw(st.lists(st.sampled_from(sorted(DEFECTS)), min_size=1, max_size=12))
    return decisions, requests, defects, rng.randrange(1000)


def write_folders(root: Path, decisions, requests, defects, shuffle_seed):
    """A clean folder and a messy one (the clean rows plus the defects, in shuffled order)."""
    clean, messy = root / "clean", root / "messy"
    for folder, extra_d, extra_r in ((clean, [], []), (messy, *spoil(decisions, requests, defects))):
        rows_d, rows_r = decisions + extra_d, requests + extra_r
        random.Random(shuffle_seed).shuffle(rows_d)
        write_csv(folder / f"decisions_{AS_AT}.csv", D, [[r[c] for c in D] for r in rows_d])
        write_csv(folder / f"vrr_requests_{AS_AT}.csv", R, [[r[c] for c in R] for r in rows_r])
    return clean, messy


def spoil(decisions, requests, defects):
    bad_d, bad_r = [], []
    base_d = decisions[0]
    base_r = {
        "request_id": "RX",
        "decision_id": base_d["decision_id"],
        "request_date": max(base_d["decision_date"], "2023-01-01"),
        "scheme": "police",
        "review_stage": "",
        "review_completed_date": "",
        "review_result": "",
    }
    for n, name in enumerate(defects):
        kind, _, change = DEFECTS[name]
        if name == "repeat":
            bad_d.append(dict(decisions[n % len(decisions)]))
        elif name == "conflict":
            bad_d += [
                dict(base_d, decision_id=f"DUP{n}", victim_age="20"),
                dict(base_d, decision_id=f"DUP{n}", victim_age="21"),
            ]
        elif kind == "decisions":
            bad_d.append({**base_d, "decision_id": f"BAD{n}", "crime_reference": f"CRBAD{n}", **change})
        else:
            row = {**base_r, "request_id": f"RBAD{n}", "review_stage": f"stage{n}", **change}
            if name == "r_before_decision":
                row["decision_id"] = "LATE"
                bad_d.append(dict(base_d, decision_id="LATE", decision_date="2023-01-01"))
                bad_r.append(row)
                continue
            bad_r.append(row)
    # a decision added only for r_before_decision must not change the clean figures: make it count nowhere
    for row in bad_d:
        if row["decision_id"] == "LATE":
            row["outcome_code"] = "1"
    return bad_d, bad_r


def ingest_case(root: Path, case) -> tuple[Path, Path]:
    """Write the clean and messy folders of a case and ingest the messy one; returns (clean folder, build file)."""
    decisions, requests, defects, seed = case
    clean, messy = write_folders(root, decisions, requests, defects, seed)
    settings_ = resolve_settings(
        {"VRR_LANDING_DIR": str(messy), "VRR_WAREHOUSE_PATH": str(root / "w.duckdb"), "VRR_PSEUDONYM_KEY": TEST_KEY}
    )
    _, info = ingest.ingest_landing(settings_, "prop")
    return clean, info["build"]


def expected_quarantine(defects) -> int:
    return sum(2 if name == "conflict" else 0 if name == "repeat" else 1 for name in defects)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=landing())
def test_row_defects_never_crash_and_every_row_reconciles(tmp_path_factory, case):
    decisions, requests, defects, _ = case
    _, build = ingest_case(tmp_path_factory.mktemp("prop"), case)
    with duckdb.connect(str(build), read_only=True) as con:
        for kind in contract.COLUMNS:
            for balance in ingest.reconcile(con, kind):
                assert balance["balanced"], balance
        quarantined = con.execute("select count(*) from raw.quarantine").fetchone()[0]
        loaded_d = {r[0] for r in con.execute("select decision_id from raw.decisions").fetchall()}
        loaded_r = {r[0] for r in con.execute("select request_id from raw.vrr_requests").fetchall()}
    assert quarantined == expected_quarantine(defects)
    assert loaded_d - {"LATE"} == {d["decision_id"] for d in decisions}
    assert loaded_r == {r["request_id"] for r in requests}


def dbt_figures(build: Path) -> None:
    """The models up to vrr_uptake, built into the ingested build file. dbt's own files (manifest, compiled SQL) go
    beside the build, not into the project's target folder, which other tests' runs read at the same time."""
    subprocess.run(
        [
            dbt_executable(),
            "build",
            "--quiet",
            "--target-path",
            str(build.parent / "dbt_target"),
            "--vars",
            json.dumps({"warehouse_path": str(build)}),
            "--select",
            "+vrr_uptake",
            "--resource-type",
            "seed",
            "--resource-type",
            "model",
        ],
        cwd=DBT_PROJECT_DIR,
        check=True,
    )


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=landing())
def test_figures_equal_those_of_the_clean_rows_alone(tmp_path_factory, case):
    clean, build = ingest_case(tmp_path_factory.mktemp("propfig"), case)
    dbt_figures(build)
    with duckdb.connect(str(build), read_only=True) as con:
        cur = con.execute("select * from marts.vrr_uptake")
        cols = [c[0] for c in cur.description]
        uptake = {(r[0], r[2], r[3], r[4]): dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
        cur = con.execute("select * from marts.fct_vrr_decisions where decision_id <> 'LATE'")
        cols = [c[0] for c in cur.description]
        fct = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    assert mismatches(ref.vrr_uptake(clean), uptake) == []
    assert mismatches(ref.fct_vrr_decisions(clean), fct) == []
