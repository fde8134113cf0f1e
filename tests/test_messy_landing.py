"""A folder of messy extracts: every row-level defect mixed with clean rows, Excel-style formatting, odd names.

The run completes; every row is loaded or quarantined with its reason; the marts equal those computed
independently from the clean rows alone; no raw identifier is found in any output.
"""

import contextlib
import csv
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline import contract
from pipeline.synthetic import generate_sample
from tests import reference as ref
from tests.conftest import PipelineRun
from tests.test_end_to_end import mismatches

AS_AT = dt.date(2022, 10, 6)
D = list(contract.DECISION_COLUMNS)
R = list(contract.REQUEST_COLUMNS)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(
    path: Path, columns: list[str], rows: list[dict[str, str]], *, excel: bool = False, encoding: str = "utf-8"
) -> None:
    """Write an extract; excel=True writes it the way a hand export through Excel does (BOM, CRLF, shuffled and
    upper-case headers with spaces, an extra column, padded values, DD/MM/YYYY dates, Yes for Y)."""
    notes = excel or encoding != "utf-8"
    header = (list(reversed(columns)) if excel else columns) + (["Notes"] if notes else [])
    with path.open("w", newline="", encoding=("utf-8-sig" if excel and encoding == "utf-8" else encoding)) as handle:
        out = csv.writer(handle, lineterminator="\r\n" if excel else "\n")
        out.writerow([f" {h.upper()} " for h in header] if excel else header)
        for row in rows:
            values = dict(row, Notes="résumé – checked")
            i = sum(map(ord, row[columns[0]]))  # formatting follows the row, so identical rows stay identical
            if excel:
                for column in columns:
                    value = values[column]
                    if column.endswith("_date") and value and i % 2 == 0:
                        with contextlib.suppress(ValueError):  # a deliberately bad date stays as it is
                            value = dt.date.fromisoformat(value).strftime("%d/%m/%Y")
                    if column in ("suspect_interviewed", "victim_disability") and value == "Y":
                        value = "Yes"
                    if column in ("decision_maker", "scheme", "outcome_code", "victim_sex"):
                        value = f" {value.lower()} " if i % 3 == 0 else value
                    values[column] = value
            out.writerow([values.get(h, "") for h in header])


def decision(decision_id: str, **overrides) -> dict[str, str]:
    row = {
        "decision_id": decision_id,
        "crime_reference": f"CR/RAW/{decision_id}",
        "force_code": "NTH",
        "offence_code": "19C",
        "decision_date": "2022-08-01",
        "outcome_code": "15",
        "decision_maker": "police",
        "suspect_interviewed": "Y",
        "victim_notified_date": "2022-08-03",
        "victim_id": f"VRAW{decision_id}",
        "victim_age": "30",
        "victim_sex": "F",
        "victim_ethnicity": "W1",
        "victim_disability": "N",
        "withdrawal_stage": "",
        "withdrawal_reason": "",
    }
    row.update(overrides)
    return row


def request(request_id: str, decision_id: str, **overrides) -> dict[str, str]:
    row = {
        "request_id": request_id,
        "decision_id": decision_id,
        "request_date": "2022-09-01",
        "scheme": "police",
        "review_stage": "review",
        "review_completed_date": "2022-09-20",
        "review_result": "decision_stands",
    }
    row.update(overrides)
    return row


# Rows refused at ingest, each with its expected reason: (kind, key, overrides)
BAD_DECISIONS = [
    ("", "missing_key", {}),
    ("BADDATE1", "missing_required_date", {"decision_date": ""}),
    ("BADDATE2", "unparseable_date", {"decision_date": "2022-02-30"}),
    ("BADDATE3", "unparseable_date", {"decision_date": "next week"}),
    ("FUTURE1", "decision_date_after_extract", {"decision_date": "2022-10-07"}),
    ("BADOUT1", "unknown_outcome_code", {"outcome_code": "8A"}),
    ("BADMAKER1", "unknown_decision_maker", {"decision_maker": "court"}),
]
BAD_REQUESTS = [
    ("", "missing_key", "D000001", {}),
    ("RBAD1", "missing_decision_id", "", {}),
    ("RBAD2", "missing_required_date", "D000001", {"request_date": ""}),
    ("RBAD3", "unknown_scheme", "D000001", {"scheme": "ombudsman"}),
    ("RBAD4", "unknown_review_result", "D000001", {"review_result": "upheld"}),
    ("RBAD5", "review_completed_before_request", "D000001", {"review_completed_date": "2022-08-30"}),
    ("RBAD6", "unknown_decision", "DNOWHERE", {}),
    ("RBAD7", "request_before_decision", "DQ_AGE1", {"request_date": "2022-07-31"}),
]
# Decisions whose optional fields are wrong: they count, with the value read as Unknown / Not stated / null.
# (messy value, the value as the independent computation should read it, issue code)
DQ_DECISIONS = [
    ("DQ_AGE1", {"victim_age": "abc"}, {"victim_age": ""}, "invalid_age"),
    ("DQ_AGE2", {"victim_age": "150"}, {"victim_age": ""}, "invalid_age"),
    ("DQ_ETH1", {"victim_ethnicity": "ZZ"}, {"victim_ethnicity": ""}, "unknown_ethnicity_code"),
    ("DQ_NOT1", {"victim_notified_date": "2022-07-01"}, {"victim_notified_date": ""}, "notification_before_decision"),
    ("DQ_NOT2", {"victim_notified_date": "31/09/2022"}, {"victim_notified_date": ""}, "unparseable_notification_date"),
]


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("messy")
    clean = tmp / "clean"
    generate_sample(clean, as_at=AS_AT)
    landing = tmp / "land 'ing\" dir"  # odd characters in the folder name too
    shutil.copytree(clean, landing)
    newest_d = landing / f"decisions_{AS_AT}.csv"
    newest_r = landing / f"vrr_requests_{AS_AT}.csv"
    decisions, requests = read_rows(newest_d), read_rows(newest_r)

    # optional-field problems (the clean folder gets the same decisions as the reference should read them)
    clean_decisions = read_rows(clean / newest_d.name)
    for key, messy_values, clean_values, _ in DQ_DECISIONS:
        decisions.append(decision(key, **messy_values))
        clean_decisions.append(decision(key, **clean_values))
    write_rows(clean / newest_d.name, D, clean_decisions)
    # an identical repeat (kept once), the same row spelt another way (the same values: kept once too), and a
    # conflicting pair (both refused)
    decisions.append(dict(decisions[0]))
    respelt = dict(decisions[1])
    respelt.update(
        force_code=f"  {respelt['force_code'].lower()} ",
        decision_maker=respelt["decision_maker"].upper(),
        decision_date=dt.date.fromisoformat(respelt["decision_date"]).strftime("%d/%m/%Y"),
        victim_id=f" {respelt['victim_id']}",
        suspect_interviewed={"Y": "yes", "N": "No"}.get(respelt["suspect_interviewed"], respelt["suspect_interviewed"]),
    )
    decisions.append(respelt)
    decisions += [decision("DUPX", victim_age="20"), decision("DUPX", victim_age="21")]
    decisions += [decision(key, **overrides) for key, _, overrides in BAD_DECISIONS]
    requests += [request(key, decision_id, **overrides) for key, _, decision_id, overrides in BAD_REQUESTS]
    write_rows(newest_d, D, decisions, excel=True)
    write_rows(newest_r, R, requests, excel=True)
    with newest_d.open("a", encoding="utf-8", newline="") as handle:  # a ragged row: no Notes field
        handle.write(",".join(reversed(list(decision("SHORT1").values()))) + "\r\n")
    # an older extract as Windows-1252, the usual Excel export on Windows
    older = landing / "decisions_2022-07-06.csv"
    write_rows(older, D, read_rows(older), encoding="cp1252")
    # names that are not extracts: listed as skipped, never read, never able to reach SQL
    for name in ("README.txt", "decisions_2022-13-45.csv", "vrr_requests_2022'); drop table raw.decisions; --.csv"):
        (landing / name).write_text("not an extract\n")

    run = PipelineRun(tmp, landing)
    run.warehouse = tmp / "ware'house dir" / "vrr.duckdb"
    result = run()
    assert result.success
    run.clean = clean
    return run


def test_every_row_is_loaded_or_quarantined(messy):
    files = messy.query("select * from raw.extract_files order by source_file")
    assert len(files) == 12  # six extract dates, two kinds; the badly named files are skipped
    for f in files:
        with (messy.landing / f["source_file"]).open(
            newline="", encoding=f["encoding"].replace("windows-", "cp")
        ) as handle:
            read = sum(1 for row in csv.reader(handle) if any(v.strip() for v in row)) - 1
        loaded = messy.query(
            f"select count(*) as n from raw.{f['extract_kind']} where source_file = ?", [f["source_file"]]
        )[0]["n"]
        quarantined = messy.query(
            "select count(*) as n from marts.quarantine where source_file = ?", [f["source_file"]]
        )[0]["n"]
        assert read == f["rows_read"] == loaded + quarantined + f["duplicates_dropped"], f["source_file"]
    assert sum(f["duplicates_dropped"] for f in files) == 2  # the identical repeat and the one spelt differently
    assert {f["encoding"] for f in files} == {"utf-8", "windows-1252"}


def test_each_defect_is_quarantined_with_its_reason(messy):
    rows = messy.query(
        "select extract_kind, record_key, reason_code, reason, line_number, run_id from marts.quarantine"
    )
    assert all(r["reason"] == contract.REASONS[r["reason_code"]] for r in rows)
    got = {(r["extract_kind"], r["record_key"]): r["reason_code"] for r in rows if r["record_key"] != ""}
    for key, reason, _ in BAD_DECISIONS:
        if key:
            assert got[("decisions", key)] == reason
    for key, reason, _, _ in BAD_REQUESTS:
        if key:
            assert got[("vrr_requests", key)] == reason
    assert got[("decisions", "SHORT1")] == "wrong_field_count"
    assert [r["reason_code"] for r in rows if r["record_key"] == "DUPX"] == ["duplicate_key_conflict"] * 2
    blank = sorted(r["reason_code"] for r in rows if r["record_key"] == "")
    assert blank == ["missing_key", "missing_key"]
    assert all(r["run_id"] and r["line_number"] > 1 for r in rows)
    assert len(rows) == len(BAD_DECISIONS) + len(BAD_REQUESTS) + 3  # + 2 DUPX + SHORT1


def test_marts_equal_those_of_the_clean_rows_alone(messy):
    expected = ref.vrr_uptake(messy.clean)
    rows = messy.query("select * from marts.vrr_uptake")
    actual = {(r["period_start"], r["force_code"], r["cohort_dimension"], r["cohort_value"]): r for r in rows}
    assert mismatches(expected, actual) == []
    expected_fct = ref.fct_vrr_decisions(messy.clean)
    # the reference does not know that a notification dated before its decision is read as null
    expected_fct["DQ_NOT1"]["victim_notified_date"] = None
    actual_fct = {r["decision_id"]: r for r in messy.query("select * from marts.fct_vrr_decisions")}
    assert mismatches(expected_fct, actual_fct) == []


def test_optional_field_problems_are_recorded_not_refused(messy):
    issues = messy.query("select record_key, issue_code, raw_value from marts.data_quality_issues")
    got = {(i["record_key"], i["issue_code"]): i["raw_value"] for i in issues}
    for key, messy_values, _, code in DQ_DECISIONS:
        assert got[(key, code)] == next(iter(messy_values.values()))
    fct = {
        r["decision_id"]: r for r in messy.query("select * from marts.fct_vrr_decisions where decision_id like 'DQ_%'")
    }
    assert fct["DQ_AGE2"]["age_band"] == "Unknown" and fct["DQ_ETH1"]["ethnicity_group"] == "Not stated"


def test_skipped_and_odd_file_names_are_listed(messy):
    skipped = {r["file_name"]: r["reason"] for r in messy.query("select * from raw.skipped_files")}
    assert set(skipped) == {
        "README.txt",
        "decisions_2022-13-45.csv",
        "vrr_requests_2022'); drop table raw.decisions; --.csv",
    }
    assert messy.query("select count(*) as n from raw.decisions")[0]["n"] > 0


def raw_identifiers(landing: Path) -> set[str]:
    values = set()
    for path in landing.glob("*.csv"):
        if not contract.FILE_NAME.match(path.name):
            continue
        encoding = "utf-8-sig"
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            encoding = "cp1252"
        with path.open(newline="", encoding=encoding) as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader)]
            for row in reader:
                for column in contract.IDENTIFIER_COLUMNS:
                    if column in header and header.index(column) < len(row) and row[header.index(column)].strip():
                        values.add(row[header.index(column)].strip())
    return values


def any_of(words: list[bytes]) -> re.Pattern[bytes]:
    """One compiled search for all the words at once: a regular expression shaped as a trie of them (a common
    prefix is matched once), so a file's bytes are read in one pass however many words there are, where a
    separate `in` per word reads them once per word. A word that another one starts with stands for both: a
    match of the shorter one is already a match."""
    trie: dict = {}
    for word in words:
        node = trie
        for byte in word:
            node = node.setdefault(byte, {})
        node[None] = {}

    def pattern(node: dict) -> bytes:
        if None in node:
            return b""
        branches = [re.escape(bytes([byte])) + pattern(child) for byte, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"

    return re.compile(pattern(trie))


def test_no_raw_identifier_in_any_output(messy):
    identifiers = raw_identifiers(messy.landing)
    assert len(identifiers) > 1000 and "VRAWDQ_AGE1" in identifiers and "CR/RAW/DUPX" in identifiers
    encoded = [v.encode() for v in identifiers]
    long_enough = [v for v in encoded if len(v) >= 8]
    any_identifier, any_long_identifier = any_of(encoded), any_of(long_enough)
    # the one-pass search finds each identifier it was built from, on its own and inside other bytes
    for pattern, words in ((any_identifier, encoded), (any_long_identifier, long_enough)):
        assert all(pattern.search(b"\x00" + v + b"\xff") for v in words)
    # every text value of every table (each row as DuckDB writes it out as text), and every catalogue entry's SQL
    # and comment, in the warehouse and the analysts' copy
    databases = [messy.warehouse, messy.analysts_copy]
    for database in databases:
        with duckdb.connect(str(database), read_only=True) as con:
            tables = con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = current_database()"
            ).fetchall()
            for schema, table in tables:
                rows = con.execute(f'select cast(t as varchar) as row_text from "{schema}"."{table}" t').fetchall()
                found = [(m.group(), t) for (t,) in rows if t is not None and (m := any_identifier.search(t.encode()))]
                assert found == [], (f"{database.name}: {schema}.{table}", found[:3])
            catalogue = con.execute(
                "select coalesce(sql, '') || ' ' || coalesce(comment, '') from duckdb_tables() "
                "union all select coalesce(sql, '') || ' ' || coalesce(comment, '') from duckdb_views() "
                "union all select coalesce(comment, '') from duckdb_columns()"
            ).fetchall()
            text = "\n".join(row[0] for row in catalogue)
            found = any_identifier.search(text.encode())
            assert found is None, (database.name, found)
    # every byte of every file written: warehouse, exports, Dagster's run storage and logs. In a DuckDB file's
    # compressed blocks a short identifier can occur by chance (the 4 bytes of "VRAW" did once); there the
    # identifiers of 8 characters or more are looked for, the shorter ones having been checked value by value above.
    written = [
        p
        for p in messy.tmp.rglob("*")
        if p.is_file() and messy.landing not in p.parents and messy.clean not in p.parents
    ]
    assert any(p.suffix == ".csv" for p in written)
    for path in written:
        looked_for = any_long_identifier if path in databases else any_identifier
        found = looked_for.search(path.read_bytes())
        assert found is None, (path, found)


def test_outputs_are_readable_by_their_owner_only(messy):
    assert messy.warehouse.stat().st_mode & 0o077 == 0
    for path in messy.exports.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_the_landing_folder_is_not_written(messy):
    assert {p.name for p in messy.landing.iterdir() if p.name.startswith(".")} == set()


def test_quarantine_keeps_rows_as_received(messy):
    newest = messy.landing / f"vrr_requests_{AS_AT}.csv"
    with newest.open(newline="", encoding="utf-8-sig") as handle:
        received = {row[" REQUEST_ID "].strip(): row for row in csv.DictReader(handle)}
    for key in ("RBAD3", "RBAD6", "RBAD7"):  # refused by a row check, then by the two cross-record checks
        raw_row = messy.query("select raw_row from marts.quarantine where record_key = ?", [key])[0]["raw_row"]
        as_received = {column.strip().lower(): value for column, value in received[key].items() if column != " NOTES "}
        assert json.loads(raw_row) == as_received, key
