"""Tests of the synthetic landing-folder generator (pipeline/synthetic.py)."""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from pipeline import synthetic
from pipeline.synthetic import generate_sample

DECISION_COLUMNS = [
    "decision_id",
    "crime_reference",
    "force_code",
    "offence_code",
    "decision_date",
    "outcome_code",
    "decision_maker",
    "suspect_interviewed",
    "victim_notified_date",
    "victim_id",
    "victim_age",
    "victim_sex",
    "victim_ethnicity",
    "victim_disability",
    "withdrawal_stage",
    "withdrawal_reason",
]
REQUEST_COLUMNS = [
    "request_id",
    "decision_id",
    "request_date",
    "scheme",
    "review_stage",
    "review_completed_date",
    "review_result",
]
FILE_NAME = re.compile(r"^(decisions|vrr_requests)_(\d{4}-\d{2}-\d{2})\.csv$")
AS_AT = date(2025, 10, 6)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def extracts(folder: Path, kind: str) -> dict[date, list[dict[str, str]]]:
    """Rows of every extract of one kind ("decisions" or "vrr_requests"), by extract date."""
    found = {}
    for path in folder.iterdir():
        match = FILE_NAME.match(path.name)
        if match and match.group(1) == kind:
            found[date.fromisoformat(match.group(2))] = read_rows(path)
    return dict(sorted(found.items()))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("landing")
    return folder, generate_sample(folder)


@pytest.fixture(scope="module")
def decisions(sample) -> dict[date, list[dict[str, str]]]:
    return extracts(sample[0], "decisions")


@pytest.fixture(scope="module")
def requests(sample) -> dict[date, list[dict[str, str]]]:
    return extracts(sample[0], "vrr_requests")


@pytest.fixture(scope="module")
def newest(decisions, requests) -> tuple[list[dict], list[dict]]:
    assert max(decisions) == max(requests) == AS_AT
    return decisions[AS_AT], requests[AS_AT]


def test_same_seed_gives_byte_identical_files(sample, tmp_path):
    _folder, paths = sample
    again = generate_sample(tmp_path / "again")
    assert [p.name for p in again] == [p.name for p in paths]
    for first, second in zip(paths, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_other_seed_gives_other_data(sample, tmp_path):
    other = generate_sample(tmp_path, seed=7)
    newest_name = f"decisions_{AS_AT}.csv"
    assert (tmp_path / newest_name).read_bytes() != (sample[0] / newest_name).read_bytes()
    assert len(other) == len(sample[1])


def test_returns_sorted_paths_that_follow_the_naming_contract(sample):
    folder, paths = sample
    assert paths == sorted(paths)
    assert sorted(folder.iterdir()) == paths
    kinds = Counter()
    for path in paths:
        match = FILE_NAME.match(path.name)
        assert match, path.name
        date.fromisoformat(match.group(2))
        kinds[match.group(1)] += 1
    assert kinds["decisions"] == kinds["vrr_requests"]
    assert 15 <= kinds["decisions"] <= 20


def test_extracts_are_quarterly_and_end_on_as_at(decisions, requests):
    dates = list(decisions)
    assert dates == list(requests)
    assert dates[0] <= date(2021, 10, 6)
    assert dates[-1] == AS_AT
    assert all(d.day == 6 and d.month in (1, 4, 7, 10) for d in dates)


def test_extract_dates_always_end_on_as_at():
    assert synthetic.extract_dates(date(2022, 2, 1)) == [
        date(2021, 7, 6),
        date(2021, 10, 6),
        date(2022, 1, 6),
        date(2022, 2, 1),
    ]


def test_files_are_utf8_without_bom_with_unix_line_ends(sample):
    for path in sample[1]:
        data = path.read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in data
        assert data.endswith(b"\n")
        data.decode("utf-8")


def test_header_columns_exactly_as_the_contract(sample):
    for path in sample[1]:
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        expected = DECISION_COLUMNS if path.name.startswith("decisions_") else REQUEST_COLUMNS
        assert header == expected, path.name


def test_rows_sorted_by_unique_key(decisions, requests):
    for kind, key in ((decisions, "decision_id"), (requests, "request_id")):
        for rows in kind.values():
            keys = [row[key] for row in rows]
            assert keys == sorted(keys)
            assert len(keys) == len(set(keys))


def test_identifier_formats(newest):
    decision_rows, request_rows = newest
    for row in decision_rows:
        assert re.fullmatch(r"D\d{6}", row["decision_id"])
        assert re.fullmatch(rf"CR/{row['force_code']}/\d{{4}}/\d{{6}}", row["crime_reference"])
        assert re.fullmatch(r"V\d{7}", row["victim_id"])
    for row in request_rows:
        assert re.fullmatch(r"R\d{6}", row["request_id"])


def test_newest_decisions_look_plausible(newest):
    rows = newest[0]
    assert 5000 <= len(rows) <= 7000
    assert {row["force_code"] for row in rows} == {"NTH", "STH", "EST", "WST", "CEN"}
    dates = sorted(row["decision_date"] for row in rows)
    assert dates[0] < "2019-07-01" and dates[-1] <= AS_AT.isoformat()
    for row in rows:
        for column in ("decision_date", "victim_notified_date"):
            if row[column]:
                date.fromisoformat(row[column])
        if row["victim_notified_date"]:
            assert row["victim_notified_date"] >= row["decision_date"]
        if row["victim_age"]:
            assert 10 <= int(row["victim_age"]) <= 85
        assert row["decision_maker"] in ("police", "cps")
        assert row["suspect_interviewed"] in ("Y", "N", "")
        assert row["victim_sex"] in ("F", "M", "X", "U", "")
        assert row["victim_disability"] in ("Y", "N", "U", "")
        withdrawal = row["withdrawal_stage"] or row["withdrawal_reason"]
        if row["outcome_code"] not in ("14", "16"):
            assert not withdrawal
    offences = Counter(row["offence_code"] for row in rows)
    rape = sum(offences[code] for code in ("19C", "19D", "19E", "19F", "19G", "19H"))
    assert rape / len(rows) > 0.5
    assert all(row["decision_maker"] == "cps" for row in rows if row["outcome_code"] == "9")


def test_most_outcomes_are_14_15_16(newest):
    outcomes = Counter(row["outcome_code"] for row in newest[0])
    assert (outcomes["14"] + outcomes["15"] + outcomes["16"]) / outcomes.total() > 0.5
    assert outcomes["16"] > outcomes["15"] > outcomes["14"]


def test_take_up_of_a_few_per_cent(newest):
    decision_rows, request_rows = newest
    requestable = {row["decision_id"] for row in decision_rows if row["outcome_code"] in ("9", "10", "15")}
    requested = {row["decision_id"] for row in request_rows}
    assert requested <= requestable
    assert 0.01 <= len(requested) / len(requestable) <= 0.10
    per_decision = Counter(row["decision_id"] for row in request_rows)
    assert 1 <= sum(count == 2 for count in per_decision.values()) <= 20
    assert max(per_decision.values()) == 2


def test_about_one_review_in_ten_overturned(newest):
    results = Counter(row["review_result"] for row in newest[1])
    completed = results["decision_stands"] + results["decision_overturned"]
    assert 0.03 <= results["decision_overturned"] / completed <= 0.25


def test_request_values_follow_the_contract(requests, decisions):
    for extract_date, rows in requests.items():
        decision_by_id = {row["decision_id"]: row for row in decisions[extract_date]}
        for row in rows:
            decision = decision_by_id[row["decision_id"]]
            assert row["scheme"] == decision["decision_maker"]
            assert row["request_date"] <= extract_date.isoformat()
            assert row["review_result"] in ("", "decision_stands", "decision_overturned", "out_of_scope", "withdrawn")
            pending = row["review_completed_date"] == ""
            assert pending == (row["review_result"] == "") == (row["review_stage"] == "")
            if not pending:
                assert row["review_completed_date"] <= extract_date.isoformat()
                allowed = {"police": {"review", "local_resolution"}, "cps": {"local_resolution", "independent_review"}}
                assert row["review_stage"] in allowed[row["scheme"]]
            assert "upheld" not in ",".join(row.values()).lower()


def test_every_request_names_a_decision_in_the_same_and_later_extracts(decisions, requests):
    dates = list(decisions)
    for i, extract_date in enumerate(dates):
        named = {row["decision_id"] for row in requests[extract_date]}
        for later in dates[i:]:
            assert named <= {row["decision_id"] for row in decisions[later]}


def test_request_dates_are_in_order(decisions, requests):
    for extract_date, rows in requests.items():
        decision_dates = {row["decision_id"]: row["decision_date"] for row in decisions[extract_date]}
        for row in rows:
            assert row["request_date"] >= decision_dates[row["decision_id"]]
            if row["review_completed_date"]:
                assert row["review_completed_date"] >= row["request_date"]


def test_extracts_are_cumulative_snapshots(decisions, requests):
    for kind, key, date_column in (
        (decisions, "decision_id", "decision_date"),
        (requests, "request_id", "request_date"),
    ):
        previous: set[str] = set()
        for extract_date, rows in kind.items():
            keys = {row[key] for row in rows}
            assert previous <= keys  # extracts add and correct, never delete
            assert all(row[date_column] <= extract_date.isoformat() for row in rows)
            previous = keys
    sizes = [len(rows) for rows in decisions.values()]
    assert sizes == sorted(sizes) and sizes[0] > 1000  # they overlap heavily


def test_records_are_corrected_between_extracts(decisions, requests):
    newest_decisions = {row["decision_id"]: row for row in decisions[AS_AT]}
    changed = Counter()
    for rows in list(decisions.values())[:-1]:
        for row in rows:
            for column, value in row.items():
                if value != newest_decisions[row["decision_id"]][column]:
                    changed[column] += 1
    assert changed["decision_date"] > 0
    assert changed["victim_notified_date"] > 0
    assert changed["victim_age"] + changed["victim_ethnicity"] > 0
    assert set(changed) <= {"decision_date", "victim_notified_date", "victim_age", "victim_ethnicity"}

    newest_requests = {row["request_id"]: row for row in requests[AS_AT]}
    completed_later = [
        row
        for rows in requests.values()
        for row in rows
        if not row["review_result"] and newest_requests[row["request_id"]]["review_result"]
    ]
    assert completed_later


def test_a_corrected_decision_date_moves_a_decision_to_another_quarter(decisions):
    def quarter(iso: str) -> tuple[int, int]:
        day = date.fromisoformat(iso)
        return day.year, (day.month - 1) // 3

    newest_dates = {row["decision_id"]: row["decision_date"] for row in decisions[AS_AT]}
    moved = {
        row["decision_id"]
        for rows in decisions.values()
        for row in rows
        if quarter(row["decision_date"]) != quarter(newest_dates[row["decision_id"]])
    }
    assert moved


def test_cli_writes_files_and_says_the_data_is_synthetic(tmp_path, capsys):
    assert synthetic.main([str(tmp_path / "out"), "--seed", "3"]) == 0
    message = capsys.readouterr().out
    assert "synthetic" in message.lower()
    files = sorted((tmp_path / "out").iterdir())
    assert f"{len(files)} files" in message
    same_seed = generate_sample(tmp_path / "again", seed=3)
    assert [p.read_bytes() for p in files] == [p.read_bytes() for p in same_seed]


def test_module_says_the_data_is_synthetic():
    doc = synthetic.__doc__.lower()
    assert "synthetic" in doc and "no real person" in doc
