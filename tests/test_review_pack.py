"""The quarterly review pack on the synthetic sample: what is in each folder, the workbook read back, the figures
against the independent computation, and an attack that tries to recover every withheld count from everything
the packs publish."""

import csv
import datetime as dt
import json
import re
import subprocess
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.utils import range_boundaries
from scipy import sparse
from scipy.sparse.linalg import lsqr

from tests import reference as ref
from tests.conftest import packs_in

THRESHOLD = 5
SHEETS = [
    "Cover",
    "Contents",
    "Notes",
    "Uptake_quarter",
    "Uptake_rolling",
    "Uptake_trend",
    "Review_outcomes",
    "Requests_period",
    "Notification",
    "Completeness",
    "Withdrawal_rate",
    "Withdrawal_reasons",
    "Revisions",
]
TABLES = [
    "uptake_quarter",
    "uptake_rolling",
    "uptake_trend",
    "review_outcomes",
    "requests_by_period",
    "notification",
    "completeness",
    "withdrawal_rate",
    "withdrawal_reasons",
]
COUNT_COLUMNS = {
    "uptake_quarter": ["eligible_decisions", "decisions_with_request"],
    "uptake_rolling": ["eligible_decisions", "decisions_with_request"],
    "uptake_trend": ["eligible_decisions", "decisions_with_request"],
    "review_outcomes": ["requests", "reviews_completed", "reviews_stands", "reviews_overturned"],
    "requests_by_period": [
        "requests_received",
        "requests_after_three_months",
        "reviews_completed",
        "reviews_overturned",
        "completed_within_target",
    ],
    "notification": ["decisions", "notified", "not_notified", "notified_within_target"],
    "completeness": ["decisions", "recorded"],
    "withdrawal_rate": ["outcomes_assigned", "victim_does_not_support"],
    "withdrawal_reasons": ["decisions"],
}
# Each rate or interval and the two counts it is worked out from (numerator, denominator).
RATE_INPUTS = {
    "uptake_rate": ("decisions_with_request", "eligible_decisions"),
    "uptake_ci_lower": ("decisions_with_request", "eligible_decisions"),
    "uptake_ci_upper": ("decisions_with_request", "eligible_decisions"),
    "overturn_rate": ("reviews_overturned", "reviews_completed"),
    "notified_within_target_rate": ("notified_within_target", "decisions"),
    "completeness_rate": ("recorded", "decisions"),
    "withdrawal_rate": ("victim_does_not_support", "outcomes_assigned"),
}
UNKNOWN_CATEGORY = {
    "Age": ("Age band", "Unknown"),
    "Sex": ("Sex", "Unknown"),
    "Ethnicity": ("Ethnic group", "Not stated"),
    "Disability": ("Disability", "Unknown"),
}


def pct(fraction: float) -> str:
    return str((Decimal(repr(fraction)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def quarter_of(label: str) -> dt.date:
    """'2024/25 Q1' -> 2024-04-01."""
    fy, q = int(label[:4]), int(label[-1])
    month = (q - 1) * 3 + 4
    return dt.date(fy + (month > 12), (month - 1) % 12 + 1, 1)


def label_of_folder(folder: str) -> str:
    return f"{folder[:4]}/{folder[5:7]} Q{folder[-1]}"


def read_table(folder: Path, name: str) -> list[dict]:
    with (folder / "csv" / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def packs(sample_run) -> dict[str, Path]:
    return packs_in(sample_run.exports)


def test_only_complete_quarters_are_packed(sample_run, packs):
    as_at = ref.load_latest(sample_run.landing)[2]
    quarters = {k[0] for k in ref.vrr_uptake(sample_run.landing)}
    complete = {q for q in quarters if ref.add_months(q, 3) <= as_at}
    assert as_at == dt.date(2025, 10, 6) and dt.date(2025, 10, 1) in quarters  # the sample has a quarter in progress
    assert sorted(quarter_of(label_of_folder(name)) for name in packs) == sorted(complete)
    assert not (sample_run.exports / "manifest.json").exists()


def test_each_pack_holds_only_its_files_and_checks_with_sha256sum(packs):
    for name, folder in packs.items():
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        expected = sorted(
            [
                f"vrr_review_pack_{name}.xlsx",
                f"vrr_review_pack_{name}.html",
                "manifest.json",
                "SHA256SUMS",
                "csv/data_dictionary.csv",
                "csv/revisions.csv",
                *(f"csv/{t}.csv" for t in TABLES),
            ]
        )
        assert files == expected, name
        assert not any(f.endswith(".parquet") for f in files)
        check = subprocess.run(
            ["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_manifest(sample_run, packs):
    import hashlib

    name, folder = sorted(packs.items())[-1]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["as_at_date"] == "2025-10-06" and manifest["pack"] == name
    assert manifest["package_version"] == "0.1.0"
    assert manifest["disclosure"]["threshold"] == THRESHOLD
    for entry in manifest["input_files"]:
        data = (sample_run.landing / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    for path, digest in manifest["files"].items():
        assert hashlib.sha256((folder / path).read_bytes()).hexdigest() == digest
    # cells withheld, counted from the CSV files
    withheld = sum(
        1
        for t in TABLES
        for row in read_table(folder, t)
        for k, v in row.items()
        if k.endswith("_marker") and "[c]" in v
    )
    assert sum(manifest["disclosure"]["cells_withheld_by_rule"].values()) == withheld > 0


def test_workbook_read_back(packs):
    name, folder = sorted(packs.items())[-1]
    book = openpyxl.load_workbook(folder / f"vrr_review_pack_{name}.xlsx")
    assert book.sheetnames == SHEETS
    notes_text = " ".join(str(c) for row in book["Notes"].iter_rows(values_only=True) for c in row if c)
    used = set()
    for sheet in SHEETS[3:]:
        ws = book[sheet]
        assert len(ws.tables) == 1, sheet  # one marked-up table per sheet
        table = next(iter(ws.tables.values()))
        cells = list(ws[table.ref])
        header = [c.value for c in cells[0]]
        assert len(set(header)) == len(header) and all(header), sheet
        assert not ws.merged_cells.ranges
        for row in cells[1:]:
            values = [c.value for c in row]
            assert any(v not in (None, "") for v in values), f"blank row in {sheet}"
            for head, value in zip(header, values, strict=True):
                if isinstance(value, str):
                    used.update(re.findall(r"\[[a-z]+\]", value))
                if (
                    isinstance(value, (int, float))
                    and "%" not in head
                    and "days" not in head
                    and "target" not in head.lower()
                ):
                    assert not (0 < value < THRESHOLD), (sheet, head, value)
        for row in ws.iter_rows(max_row=range_boundaries(table.ref)[1] - 1, values_only=True):
            used.update(re.findall(r"\[[a-z]+\]", " ".join(str(c) for c in row if c)))
    used -= {"note"}
    assert used and used <= {"[c]", "[p]", "[r]", "[z]"}
    for symbol in used:
        assert symbol in notes_text, symbol
    cover = " ".join(str(c) for row in book["Cover"].iter_rows(values_only=True) for c in row if c)
    assert "06 October 2025" in cover and "Cohort basis" in cover and "Period basis" in cover


def test_workbook_equals_the_csv_files(packs):
    name, folder = sorted(packs.items())[-2]
    book = openpyxl.load_workbook(folder / f"vrr_review_pack_{name}.xlsx")
    # the last sheet, Revisions, is not a table of figures
    for sheet, table in zip(SHEETS[3:-1], TABLES, strict=True):
        ws = book[sheet]
        ref_range = next(iter(ws.tables.values())).ref
        rows = [[c.value for c in r] for r in ws[ref_range]][1:]
        records = read_table(folder, table)
        if not records:
            assert len(rows) == 1 and str(rows[0][0]).startswith("None")
            continue
        assert len(rows) == len(records), sheet
        for row, record in zip(rows, records, strict=True):
            figures = [k for k in record if not k.endswith("_marker") and f"{k}_marker" in record]
            values = row[len(record) - 2 * len(figures) : -1]
            for figure, value in zip(figures, values, strict=True):
                if record[figure] == "":
                    assert value == record[f"{figure}_marker"].replace("[p]", "").replace("[r]", ""), (sheet, figure)
                else:
                    assert float(value) == float(record[figure]), (sheet, figure)


def test_published_counts_and_rates_equal_the_independent_computation(sample_run, packs):
    uptake = ref.vrr_uptake(sample_run.landing)
    rolling = ref.vrr_uptake_rolling(sample_run.landing)
    dims = {
        "All victims": "all",
        "Scheme": "scheme",
        "Age band": "age_band",
        "Sex": "sex",
        "Ethnic group": "ethnicity_group",
        "Disability": "disability",
        "Offence group": "offence_group",
    }
    checked = 0
    for name, folder in packs.items():
        quarter = quarter_of(label_of_folder(name))
        for table, expected in (("uptake_quarter", uptake), ("uptake_rolling", rolling)):
            records = read_table(folder, table)
            keys = set()
            for r in records:
                force = "ALL" if r["force"] == "All forces" else r["force"]
                key = (quarter, force, dims[r["cohort_dimension"]], r["cohort_value"])
                keys.add(key)
                want = expected[key]
                for column in ("eligible_decisions", "decisions_with_request"):
                    if r[column] != "":
                        assert int(r[column]) == want[column], (name, table, key, column)
                        checked += 1
                    else:
                        assert "[c]" in r[f"{column}_marker"]
                for column in ("uptake_rate", "uptake_ci_lower", "uptake_ci_upper"):
                    if r[column] != "":
                        assert r[column] == pct(want[column]), (name, table, key, column)
                provisional = "[p]" in r["eligible_decisions_marker"]
                assert provisional == (want["as_at_date"] < ref.add_months(quarter, 6))
            assert keys == {k for k in expected if k[0] == quarter}, (name, table)
    assert checked > 1000


def test_no_rate_gives_back_a_withheld_count(packs):
    for name, folder in packs.items():
        for table in TABLES:
            for r in read_table(folder, table):
                for rate, (numerator, denominator) in RATE_INPUTS.items():
                    if rate in r and r[rate] != "":
                        assert r[numerator] != "" and r[denominator] != "", (name, table, rate, r)
                for median in (
                    "median_days_to_request",
                    "median_working_days_to_complete",
                    "median_working_days_to_notify",
                ):
                    if median in r and r[median] != "" and median == "median_working_days_to_notify":
                        assert r["notified"] != "" and int(r["notified"]) >= THRESHOLD
                    if median in r and r[median] != "" and median == "median_working_days_to_complete":
                        assert r["reviews_completed"] != "" and int(r["reviews_completed"]) >= THRESHOLD


# --------------------------------------------------------------------------- the attack


class Published:
    """Every count the packs publish, under the attacker's own keys: a number, or None where withheld."""

    def __init__(self):
        self.cells: dict[tuple, int | None] = {}
        self.equations: list[tuple[tuple, list[tuple]]] = []

    def put(self, key: tuple, text: str) -> None:
        value = None if text == "" else int(text)
        if key in self.cells and self.cells[key] != value:
            raise AssertionError(f"two packs publish different values for {key}: {self.cells[key]} and {value}")
        self.cells[key] = value

    def value(self, key):
        return self.cells.get(key, 0)  # a row a table does not show is a zero

    def equal(self, total: tuple, parts: list[tuple]) -> None:
        self.equations.append((total, parts))


def gather(packs: dict[str, Path]) -> Published:
    pub = Published()
    quarters = set()
    for name, folder in packs.items():
        quarter = quarter_of(label_of_folder(name))
        quarters.add(quarter)
        for table in ("uptake_quarter", "uptake_trend", "uptake_rolling"):
            kind = "R" if table == "uptake_rolling" else "U"
            for r in read_table(folder, table):
                q = quarter_of(r["quarter"]) if table == "uptake_trend" else quarter
                for m in COUNT_COLUMNS[table]:
                    pub.put((kind, m, q, r["force"], r["cohort_dimension"], r["cohort_value"]), r[m])
        for r in read_table(folder, "review_outcomes"):
            dim, val = ("All victims", "All") if r["scheme"] == "All schemes" else ("Scheme", r["scheme"])
            for m in COUNT_COLUMNS["review_outcomes"]:
                pub.put(("U", m, quarter, r["force"], dim, val), r[m])
        for r in read_table(folder, "requests_by_period"):
            for m in COUNT_COLUMNS["requests_by_period"]:
                pub.put(("P", m, quarter, r["force"], r["scheme"]), r[m])
        for r in read_table(folder, "notification"):
            pub.put(("U", "eligible_decisions", quarter, r["force"], "Scheme", r["scheme"]), r["decisions"])
            for m in ("notified", "not_notified", "notified_within_target"):
                pub.put(("N", m, quarter, r["force"], r["scheme"]), r[m])
        for r in read_table(folder, "completeness"):
            if r["population"] == "VRR-eligible decisions":
                pub.put(("U", "eligible_decisions", quarter, r["force"], "All victims", "All"), r["decisions"])
            else:
                pub.put(("C", "decisions", quarter, r["force"], r["population"]), r["decisions"])
            pub.put(("C", "recorded", quarter, r["force"], r["population"], r["characteristic"]), r["recorded"])
        for r in read_table(folder, "withdrawal_rate"):
            for m in COUNT_COLUMNS["withdrawal_rate"]:
                pub.put(("W", m, quarter, r["force"], r["offence_group"]), r[m])
        for r in read_table(folder, "withdrawal_reasons"):
            pub.put(
                ("V", quarter, r["force"], r["offence_group"], r["withdrawal_stage"], r["withdrawal_reason"]),
                r["decisions"],
            )
    # What adds up, as any reader of the definitions knows.
    keys = list(pub.cells)
    by_force = defaultdict(list)
    for key in keys:
        force_at = 2 if key[0] == "V" else 3
        if key[force_at] != "All forces":
            by_force[key[:force_at] + ("All forces",) + key[force_at + 1 :]].append(key)
    for total, parts in by_force.items():
        pub.equal(total, parts)
    by_dimension = defaultdict(lambda: defaultdict(list))
    for key in keys:
        if key[0] in ("U", "R") and key[4] != "All victims":
            by_dimension[key[:4] + ("All victims", "All")][key[4]].append(key)
    for total, dimensions in by_dimension.items():
        for parts in dimensions.values():
            pub.equal(total, parts)
    for key in keys:
        kind = key[0]
        if kind == "U" and key[1] == "reviews_completed":
            pub.equal(key, [("U", "reviews_stands", *key[2:]), ("U", "reviews_overturned", *key[2:])])
        if kind == "R":
            window = [ref.add_months(key[2], -3 * k) for k in range(4)]
            pub.equal(key, [("U", key[1], q, *key[3:]) for q in window])
        if kind == "P" and key[4] == "All schemes":
            pub.equal(key, [k for k in keys if k[0] == "P" and k[1:4] == key[1:4] and k[4] != "All schemes"])
        if kind == "N" and key[1] == "notified":
            pub.equal(
                ("U", "eligible_decisions", key[2], key[3], "Scheme", key[4]), [key, ("N", "not_notified", *key[2:])]
            )
        if kind == "C" and key[1] == "recorded":
            _, _, q, force, population, characteristic = key
            if population == "VRR-eligible decisions":
                dim, val = UNKNOWN_CATEGORY[characteristic]
                pub.equal(
                    ("U", "eligible_decisions", q, force, "All victims", "All"),
                    [key, ("U", "eligible_decisions", q, force, dim, val)],
                )
        if kind == "C" and key[1] == "decisions":
            _, _, q, force, population = key
            groups = [k for k in keys if k[0] == "W" and k[1] == "outcomes_assigned" and k[2] == q and k[3] == force]
            if population == "Rape":
                groups = [k for k in groups if k[4] in ("Adult rape", "Child rape")]
            pub.equal(key, groups)
        if kind == "W" and key[1] == "victim_does_not_support":
            pub.equal(key, [k for k in keys if k[0] == "V" and k[1:4] == key[2:5]])
    pub.quarters = quarters
    return pub


def test_equations_hold_on_the_published_values(packs):
    """The attacker's equations are right: wherever every member is published, they add up."""
    pub = gather(packs)
    checked = 0
    for total, parts in pub.equations:
        members = [total, *parts]
        if all(pub.value(m) is not None for m in members):
            assert pub.value(total) == sum(pub.value(p) for p in parts), (total, parts)
            checked += 1
    assert checked > 1000


def test_no_withheld_count_can_be_recovered_by_subtraction(packs):
    pub = gather(packs)
    withheld = {k for k, v in pub.cells.items() if v is None}
    assert len(withheld) > 500
    recovered = {}
    changed = True
    while changed:  # subtract, and subtract again with whatever was recovered
        changed = False
        for total, parts in pub.equations:
            members = [total, *parts]
            unknown = [m for m in members if pub.value(m) is None and m not in recovered]
            if len(unknown) != 1:
                continue
            known = lambda m: recovered.get(m, pub.value(m))  # noqa: E731
            (target,) = unknown
            if target == total:
                recovered[target] = sum(known(p) for p in parts)
            else:
                recovered[target] = known(total) - sum(known(p) for p in parts if p != target)
            changed = True
    assert recovered == {}


def linear_attack(equations: list[tuple[tuple, list[tuple]]], unknown: list[tuple]) -> set[tuple]:
    """The unknowns that the equations, all at once in any combination, give back: those whose unit vector lies in
    the row space of the system restricted to the unknowns (every vector of its null space is zero there). A
    random vector's component in the null space (least squares by LSQR) shows them; two draws."""
    index = {key: i for i, key in enumerate(unknown)}
    rows, cols, data = [], [], []
    n_rows = 0
    for total, parts in equations:
        row = defaultdict(int)
        for member, sign in [(total, 1), *((p, -1) for p in parts)]:
            if member in index:
                row[index[member]] += sign
        entries = [(c, v) for c, v in row.items() if v]
        for column, value in entries:
            rows.append(n_rows)
            cols.append(column)
            data.append(value)
        n_rows += bool(entries)
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, len(unknown)), dtype=float)
    rng = np.random.default_rng(7)
    found = np.ones(len(unknown), dtype=bool)
    for _ in range(2):
        x = rng.standard_normal(len(unknown))
        y = lsqr(matrix.T.tocsr(), x, atol=1e-15, btol=1e-15, iter_lim=100 * len(unknown))[0]
        z = x - matrix.T @ y
        assert np.abs(matrix @ z).max() < 1e-9, "the attack's least-squares solve did not converge"
        found &= np.abs(z) < 1e-9
    return {unknown[i] for i in np.flatnonzero(found)}


def test_no_withheld_count_is_given_back_by_any_combination_of_published_figures(packs):
    """The strongest attack on additive tables: every equation of every pack at once (quarters, rolling windows,
    trend, forces, categories, completeness, withdrawal), solved as one linear system."""
    pub = gather(packs)
    withheld = sorted((k for k, v in pub.cells.items() if v is None), key=repr)
    assert linear_attack(pub.equations, withheld) == set()
    # The attack has teeth: publish one of the two withheld members of an equation and it gives back the other.
    for total, parts in pub.equations:
        hidden = [m for m in (total, *parts) if pub.value(m) is None]
        if len(hidden) == 2:
            break
    shown, other = hidden
    assert other in linear_attack(pub.equations, [k for k in withheld if k != shown])


def test_no_count_of_one_to_four_in_any_csv(packs):
    for name, folder in packs.items():
        for table in TABLES:
            for r in read_table(folder, table):
                for column in COUNT_COLUMNS[table]:
                    assert r[column] == "" or not (0 < int(r[column]) < THRESHOLD), (name, table, column)


def test_html_shows_only_published_percentages(packs):
    for name, folder in list(packs.items())[-3:]:
        published = {r[c] for t in TABLES for r in read_table(folder, t) for c in RATE_INPUTS if r.get(c)}
        page = (folder / f"vrr_review_pack_{name}.html").read_text(encoding="utf-8")
        text = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)  # chart shapes carry axis ticks, not data
        shown = set(re.findall(r"(\d+\.\d)%", text))
        assert shown and shown <= published, shown - published
        assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text


def test_disclosure_log(sample_run, packs):
    rows = sample_run.query("select * from marts.disclosure_log")
    assert {r["rule"] for r in rows} >= {"primary", "secondary", "dependent"}
    for r in rows:
        if r["rule"] == "primary":
            assert 0 < r["value"] < THRESHOLD
    name, folder = sorted(packs.items())[-1]
    label = label_of_folder(name)
    logged = {
        (r["figure"], r["breakdown"]) for r in rows if r["period_label"] == label and r["source_mart"] == "vrr_uptake"
    }
    for r in read_table(folder, "uptake_quarter"):
        if "[c]" in r["decisions_with_request_marker"]:
            breakdown = f"Force: {r['force']}; Cohort dimension: {r['cohort_dimension']}; Cohort: {r['cohort_value']}"
            assert ("decisions_with_request", breakdown) in logged


@pytest.mark.browser
def test_pack_page_in_a_real_browser(packs, tmp_path):
    from tests.browser import check_page

    name, folder = sorted(packs.items())[-1]
    result = check_page(folder / f"vrr_review_pack_{name}.html", tmp_path / "screens")
    assert result["console_errors"] == []
    assert result["requests"] == []
    assert len(result["charts"]) == 4 and not any(chart["blank"] for chart in result["charts"])
    assert result["violations"] == []


def pack_files(exports: Path) -> dict[str, dict[str, bytes]]:
    return {
        name: {p.relative_to(pack).as_posix(): p.read_bytes() for p in pack.rglob("*") if p.is_file()}
        for name, pack in packs_in(exports).items()
    }


def test_a_correction_to_an_earlier_quarter_is_marked_revised(pipeline_run, tmp_path):
    """Ten more eligible decisions arrive for 2020/21 Q1 in a later extract: that quarter's pack marks the changed
    figures [r] and lists them with their previous values; a rerun after that changes no byte. A pack whose figures
    the new extract leaves as they were is not issued again: not a byte of it changes, and it shows exactly what a
    pack written afresh from the new warehouse shows."""
    import duckdb

    from pipeline import export, publication
    from pipeline.partitions import export_label
    from pipeline.settings import resolve_settings
    from pipeline.synthetic import generate_sample
    from tests.conftest import write_csv

    landing = tmp_path / "landing"
    generate_sample(landing, as_at=dt.date(2021, 1, 6))
    run = pipeline_run(landing)
    assert run().success
    first = pack_files(run.exports)
    folder = run.exports / "2020-21-Q1"
    before = {
        r["cohort_value"]: r
        for r in read_table(folder, "uptake_quarter")
        if r["force"] == "All forces" and r["cohort_dimension"] in ("All victims", "Scheme")
    }
    assert not any("[r]" in v for t in TABLES for r in read_table(folder, t) for v in r.values())

    header = (landing / "decisions_2021-01-06.csv").read_text().splitlines()[0].split(",")
    rows = []
    for i in range(10):
        values = dict.fromkeys(header, "")
        values |= {
            "decision_id": f"DNEW{i:03d}",
            "crime_reference": f"CR/NEW/{i}",
            "force_code": "CEN",
            "offence_code": "19C",
            "decision_date": "2020-05-1" + str(i % 9),
            "outcome_code": "15",
            "decision_maker": "police",
            "suspect_interviewed": "Y",
            "victim_notified_date": "2020-05-20",
            "victim_id": f"VNEW{i}",
            "victim_age": "30",
            "victim_sex": "F",
            "victim_ethnicity": "W1",
            "victim_disability": "N",
        }
        rows.append([values[h] for h in header])
    write_csv(landing / "decisions_2021-02-01.csv", header, rows)
    assert run().success

    after = {
        r["cohort_value"]: r
        for r in read_table(folder, "uptake_quarter")
        if r["force"] == "All forces" and r["cohort_dimension"] in ("All victims", "Scheme")
    }
    assert int(after["All"]["eligible_decisions"]) == int(before["All"]["eligible_decisions"]) + 10
    assert "[r]" in after["All"]["eligible_decisions_marker"]
    assert "[r]" in after["Police"]["eligible_decisions_marker"]
    assert "[r]" not in after["CPS"]["eligible_decisions_marker"]  # unchanged
    revisions = read_table(folder, "revisions")
    all_forces = [
        r
        for r in revisions
        if r["figure"] == "Eligible decisions"
        and r["table"] == "Uptake_quarter"
        and r["breakdown"] == "Force: All forces; Cohort dimension: All victims; Cohort: All"
    ]
    assert len(all_forces) == 1
    assert (all_forces[0]["previous"], all_forces[0]["revised"], all_forces[0]["change"]) == (
        before["All"]["eligible_decisions"],
        after["All"]["eligible_decisions"],
        "10.0",
    )
    book = openpyxl.load_workbook(folder / "vrr_review_pack_2020-21-Q1.xlsx")
    statuses = [row[-1] for row in book["Uptake_quarter"].iter_rows(values_only=True) if row and row[0] == "All forces"]
    assert "Final, revised [r]" in statuses
    files = {p.relative_to(run.exports): p.read_bytes() for p in run.exports.rglob("*") if p.is_file()}
    assert run().success
    assert {p.relative_to(run.exports): p.read_bytes() for p in run.exports.rglob("*") if p.is_file()} == files

    # Packs not issued again: as at the first extract and byte for byte as published. The quarters before
    # 2020/21 Q1 show none of its figures (the trend and rolling tables look back, never forward), though a pack
    # just before it can still change: which counts secondary suppression withholds links neighbouring quarters.
    second = pack_files(run.exports)
    as_at = {name: json.loads(contents["manifest.json"])["as_at_date"] for name, contents in second.items()}
    kept = sorted(name for name, date in as_at.items() if date == "2021-01-06")
    assert as_at["2020-21-Q1"] == "2021-02-01"
    assert {"2019-20-Q1", "2019-20-Q2", "2019-20-Q3"} <= set(kept)
    assert all(second[name] == first[name] for name in kept)
    # a pack issued again shows something new: a table differs, not only the as-at date
    for name in set(second) - set(kept):
        assert any(second[name][f"csv/{t}.csv"] != first[name][f"csv/{t}.csv"] for t in TABLES), name
    # ... and each shows what a pack written now from the published warehouse, with no pack before it, shows:
    # every table, figure for figure and marker for marker
    settings = resolve_settings({**run.env(), "VRR_EXPORT_DIR": str(tmp_path / "none")})
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        control = export.disclosure_of(con, settings.disclosure_threshold)
        inputs = export.input_files(con)
    quarters = [q for q in control.data.quarters if export_label(q) in kept]
    jobs = export.pack_jobs(control, quarters, settings, tmp_path / "fresh", inputs)
    assert len(jobs) == len(kept) and all(job.previous is None for job in jobs)
    publication.write_packs(jobs, 1)
    for name in kept:
        assert {n: b for n, b in second[name].items() if n.startswith("csv/")} == {
            p.relative_to(tmp_path / "fresh" / name).as_posix(): p.read_bytes()
            for p in (tmp_path / "fresh" / name / "csv").iterdir()
        }, name


def test_a_later_issue_keeps_what_an_earlier_one_withheld(pipeline_run, tmp_path):
    """A new quarter arrives and no earlier figure changes. Chosen afresh, secondary suppression would withhold other
    counts in the earlier quarters than their packs already published withhold, and the two issues read together
    would give back counts both withhold. Kept from the last issue, every count withheld before is withheld again,
    and every equation of both issues at once, solved as one linear system, gives back nothing."""
    import random
    import shutil

    import duckdb

    from pipeline import export, pack
    from pipeline.settings import resolve_settings
    from pipeline.synthetic import generate_sample
    from tests.conftest import write_csv

    landing = tmp_path / "landing"
    generate_sample(landing, as_at=dt.date(2021, 1, 6))
    run = pipeline_run(landing)
    assert run().success
    settings = resolve_settings(run.env())
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        first = export.disclosure_of(con, settings.disclosure_threshold)
    issue_one = tmp_path / "issue_one"
    shutil.copytree(run.exports, issue_one)

    # the next extract: only decisions of January to March 2021 (a quarter complete from April) and their requests
    header = (landing / "decisions_2021-01-06.csv").read_text().splitlines()[0].split(",")
    rng = random.Random(11)
    decisions, requests = [], []
    for i in range(400):
        values = dict.fromkeys(header, "")
        day = dt.date(2021, 1, 7) + dt.timedelta(days=rng.randrange(80))
        values |= {
            "decision_id": f"DQ4{i:04d}",
            "crime_reference": f"CR/Q4/{i}",
            "force_code": rng.choice(["CEN", "EST", "NTH", "STH", "WST"]),
            "offence_code": rng.choice(["19C", "19D", "8N", "17A", "20"]),
            "decision_date": day.isoformat(),
            "outcome_code": rng.choice(["14", "15", "16", "16", "18"]),
            "decision_maker": rng.choice(["police", "police", "cps"]),
            "suspect_interviewed": "Y",
            "victim_notified_date": (day + dt.timedelta(days=rng.randrange(9))).isoformat(),
            "victim_id": f"VQ4{i}",
            "victim_age": str(rng.randrange(12, 80)),
            "victim_sex": rng.choice(["F", "M"]),
            "victim_ethnicity": rng.choice(["W1", "W1", "W1", "A1", "B1", "M1", "O9"]),
            "victim_disability": rng.choice(["N", "Y", "U"]),
        }
        decisions.append([values[h] for h in header])
        if rng.random() < 0.1:
            requested = min(day + dt.timedelta(days=rng.randrange(20)), dt.date(2021, 3, 31))
            requests.append([f"RQ4{i}", values["decision_id"], requested.isoformat(), "police", "review", "", ""])
    write_csv(landing / "decisions_2021-04-06.csv", header, decisions)
    request_header = (landing / "vrr_requests_2021-01-06.csv").read_text().splitlines()[0].split(",")
    write_csv(landing / "vrr_requests_2021-04-06.csv", request_header, requests)
    assert run().success

    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        second = export.disclosure_of(con, settings.disclosure_threshold)
        fresh = pack.control(pack.read_marts(con), settings.disclosure_threshold)  # nothing kept from before
    earlier = set(first.data.quarters)
    assert set(second.data.quarters) - earlier == {dt.date(2021, 1, 1)}
    assert all(second.counts.values.get(k, 0) == v for k, v in first.counts.values.items())  # nothing revised
    # every count withheld before is withheld again, and the new quarter's counts protect each other: the earlier
    # quarters withhold exactly what they did
    assert {k: r for k, r in second.withheld.items() if k[2] in earlier} == first.withheld
    assert second.kept == len(first.withheld)

    # ... and the new quarter's headline figures (all forces, all victims) are withheld only where a choice made
    # afresh withholds them too: the earlier quarters are not spared at their cost
    def headline(withheld: dict) -> set:
        return {k for k in withheld if k[2] == dt.date(2021, 1, 1) and k[3] == pack.ALL and k[4:] == ("all", "All")}

    assert headline(second.withheld) <= headline(fresh.withheld)
    # keeping matters here: chosen afresh, the earlier quarters would withhold other counts
    assert {k for k in fresh.withheld if k[2] in earlier} != set(first.withheld)

    one, two = gather(packs_in(issue_one)), gather(packs_in(run.exports))
    both = {}
    for key, value in two.cells.items():
        first_value = one.cells.get(key)
        if value is not None and first_value is not None:
            assert value == first_value, key  # nothing was revised: each figure shown twice is the same
        both[key] = value if value is not None else first_value
    withheld_in_both = sorted((k for k, v in both.items() if v is None), key=repr)
    assert len(withheld_in_both) > 500
    assert linear_attack(two.equations, withheld_in_both) == set()
    # the earlier quarters' packs stay as published, byte for byte, but for a quarter no longer provisional: its
    # pack is issued again (with the new as-at date) to say so, every figure and other marker as it was
    before, after = pack_files(issue_one), pack_files(run.exports)
    reissued = sorted(name for name in before if after[name] != before[name])
    assert reissued == ["2020-21-Q3"]

    def final(rows: list[dict]) -> list[dict]:
        return [{c: v.replace("[p]", "").strip() for c, v in r.items() if c != "status"} for r in rows]

    assert any("[p]" in v for r in read_table(issue_one / "2020-21-Q3", "uptake_quarter") for v in r.values())
    for table in TABLES:
        old, new = read_table(issue_one / "2020-21-Q3", table), read_table(run.exports / "2020-21-Q3", table)
        assert final(old) == final(new), table
