"""The landing contract, file by file and row by row, with the exact messages a data engineer sees."""

import datetime as dt

import pytest

from pipeline import contract
from pipeline.contract import ExtractError, ExtractFile, parse_date, read_extract, row_reasons, scan_landing
from pipeline.ingest import screen_file
from tests.conftest import write_csv

OUTCOMES = contract.load_outcome_codes(contract.Path(__file__).resolve().parents[1] / "dbt_project/seeds/outcome_codes.csv")
D = list(contract.DECISION_COLUMNS)
R = list(contract.REQUEST_COLUMNS)
AS_AT = dt.date(2024, 6, 30)


def decision(**overrides) -> dict[str, str]:
    row = dict(zip(D, ["D1", "CR/1", "AA", "19C", "2024-04-01", "15", "police", "Y", "2024-04-02", "V1", "30",
                       "F", "W1", "N", "", ""]))
    row.update(overrides)
    return row


def request(**overrides) -> dict[str, str]:
    row = dict(zip(R, ["R1", "D1", "2024-05-01", "police", "review", "2024-06-01", "decision_stands"]))
    row.update(overrides)
    return row


# ---------------------------------------------------------------- values

@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("29/02/2024", dt.date(2024, 2, 29)),
        (" 1/4/2024 ", dt.date(2024, 4, 1)),
        ("", None),
        ("   ", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2024-02-30", "31/04/2024", "2023-02-29", "2024/04/01", "01-04-2024", "tomorrow", "20240401"])
def test_parse_date_refuses_impossible_or_unknown_forms(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_pseudonyms_are_keyed_and_stable():
    a = contract.pseudonymise(" V123 ", b"k1")
    assert a == contract.pseudonymise("V123", b"k1")
    assert a != contract.pseudonymise("V123", b"k2")
    assert len(a) == 64 and "V123" not in a
    assert contract.pseudonymise("  ", b"k1") == ""


# ---------------------------------------------------------------- files

def test_scan_lists_every_file_that_is_not_an_extract(tmp_path):
    for name in ["decisions_2024-06-30.csv", "vrr_requests_2024-06-30.csv", "decisions_2024-13-01.csv",
                 "notes.txt", "Decisions_2024-06-30.csv", "decisions_2024-06-30.csv.bak", "it's odd; drop table x.csv"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    folder = scan_landing(tmp_path)
    assert [e.name for e in folder.extracts] == ["decisions_2024-06-30.csv", "vrr_requests_2024-06-30.csv"]
    assert folder.as_at_date == dt.date(2024, 6, 30)
    skipped = {s["file"]: s["reason"] for s in folder.skipped}
    assert skipped["decisions_2024-13-01.csv"] == "2024-13-01 in the name is not a real date"
    assert skipped["notes.txt"] == "name does not match decisions_YYYY-MM-DD.csv or vrr_requests_YYYY-MM-DD.csv"
    assert skipped["sub"] == "not a regular file"
    assert set(skipped) == {"decisions_2024-13-01.csv", "notes.txt", "Decisions_2024-06-30.csv",
                            "decisions_2024-06-30.csv.bak", "it's odd; drop table x.csv", "sub"}


def test_scan_missing_folder(tmp_path):
    with pytest.raises(ExtractError, match=r"landing folder .*nowhere does not exist or is not a folder"):
        scan_landing(tmp_path / "nowhere")


def extract(path, kind="decisions"):
    return ExtractFile(path, kind, AS_AT)


def test_header_is_matched_ignoring_case_spaces_order_and_bom(tmp_path):
    header = [f"  {c.upper()} " for c in reversed(D)] + ["Notes"]
    path = write_csv(tmp_path / "decisions_2024-06-30.csv", header, [list(reversed(list(decision().values()))) + ["x"]])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    parsed = read_extract(extract(path))
    assert parsed.encoding == "utf-8"
    assert parsed.extra_columns == ["notes"]
    assert parsed.rows == [(2, list(decision().values()), True)]


def test_windows_1252_file_is_read_and_says_so(tmp_path):
    path = tmp_path / "decisions_2024-06-30.csv"
    row = decision(withdrawal_reason="café – other")
    path.write_bytes((",".join(D) + "\n" + ",".join(row.values()) + "\n").encode("cp1252"))
    parsed = read_extract(extract(path))
    assert parsed.encoding == "windows-1252"
    assert parsed.rows[0][1][D.index("withdrawal_reason")] == "café – other"


def test_line_numbers_count_physical_lines(tmp_path):
    path = tmp_path / "decisions_2024-06-30.csv"
    path.write_text(",".join(D) + "\n" + ",".join(decision().values()) + "\n\n"
                    + ",".join(decision(decision_id="D2", withdrawal_reason='"two\nlines"').values()) + "\n"
                    + ",".join(decision(decision_id="D3").values()) + "\n")
    lines = [line for line, _, _ in read_extract(extract(path)).rows]
    assert lines == [2, 4, 6]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "decisions_2024-06-30.csv: the file is empty (zero bytes)"),
        (b"PK\x03\x04\x00\x00binary", "decisions_2024-06-30.csv: not a CSV text file (it contains binary data)"),
        (b"\n\n", "decisions_2024-06-30.csv: the file has no header row"),
        (b'decision_id,"unclosed\n', "decisions_2024-06-30.csv: not a readable CSV file"),
        (b"\x81\x8d\x8f\x90\x9d", "decisions_2024-06-30.csv: not readable as UTF-8 or Windows-1252 text"),
    ],
)
def test_file_level_problems_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "decisions_2024-06-30.csv"
    path.write_bytes(content)
    with pytest.raises(ExtractError) as error:
        read_extract(extract(path))
    assert str(error.value).startswith(message)


def test_missing_column_names_the_columns_expected(tmp_path):
    path = write_csv(tmp_path / "vrr_requests_2024-06-30.csv", [c for c in R if c not in ("scheme", "request_date")], [])
    with pytest.raises(ExtractError) as error:
        read_extract(extract(path, "vrr_requests"))
    assert str(error.value) == (
        "vrr_requests_2024-06-30.csv: missing required column(s) request_date, scheme; expected columns: "
        "request_id, decision_id, request_date, scheme, review_stage, review_completed_date, review_result"
    )


def test_unreadable_file(tmp_path):
    path = tmp_path / "decisions_2024-06-30.csv"
    path.mkdir()  # a folder with an extract's name cannot be read as a file
    with pytest.raises(ExtractError, match=r"^decisions_2024-06-30.csv: the file cannot be read"):
        read_extract(extract(path))


# ---------------------------------------------------------------- rows

@pytest.mark.parametrize(
    "overrides, reasons",
    [
        ({}, []),
        ({"decision_id": "  "}, ["missing_key"]),
        ({"decision_date": ""}, ["missing_required_date"]),
        ({"decision_date": "2024-02-30"}, ["unparseable_date"]),
        ({"decision_date": "2024-07-01"}, ["decision_date_after_extract"]),
        ({"outcome_code": "8A"}, ["unknown_outcome_code"]),
        ({"outcome_code": " 1a "}, []),
        ({"decision_maker": "court"}, ["unknown_decision_maker"]),
        ({"decision_maker": " CPS "}, []),
        ({"force_code": " all "}, ["reserved_force_code"]),
        ({"decision_date": "30/06/2024"}, []),
        ({"victim_age": "abc", "victim_ethnicity": "ZZ", "victim_notified_date": "2024-03-01"}, []),
        ({"victim_notified_date": "not a date"}, []),  # optional: read as null, reported as a data-quality issue
        ({"decision_id": "", "outcome_code": "99"}, ["missing_key", "unknown_outcome_code"]),
    ],
)
def test_decision_row_reasons(overrides, reasons):
    assert row_reasons("decisions", decision(**overrides), AS_AT, OUTCOMES) == reasons


@pytest.mark.parametrize(
    "overrides, reasons",
    [
        ({}, []),
        ({"request_id": ""}, ["missing_key"]),
        ({"decision_id": ""}, ["missing_decision_id"]),
        ({"request_date": ""}, ["missing_required_date"]),
        ({"request_date": "31/02/2024"}, ["unparseable_date"]),
        ({"request_date": "2024-07-01", "review_completed_date": ""}, ["request_date_after_extract"]),
        ({"scheme": "ombudsman"}, ["unknown_scheme"]),
        ({"review_result": "upheld"}, ["unknown_review_result"]),
        ({"review_result": "", "review_completed_date": ""}, []),
        ({"review_completed_date": "soon"}, []),  # optional: read as null, reported as a data-quality issue
        ({"review_completed_date": "2024-04-30"}, ["review_completed_before_request"]),
        ({"scheme": "Police ", "review_result": "Decision_Overturned"}, []),
    ],
)
def test_request_row_reasons(overrides, reasons):
    assert row_reasons("vrr_requests", request(**overrides), AS_AT, OUTCOMES) == reasons


def test_every_reason_has_its_message():
    assert contract.REASONS == {
        "wrong_field_count": "the row has a different number of fields from the header",
        "missing_key": "the record key is blank",
        "duplicate_key_conflict": "the same key appears more than once in this file with different values",
        "missing_required_date": "a required date is blank",
        "unparseable_date": "the required date is not a real date in YYYY-MM-DD or DD/MM/YYYY form",
        "decision_date_after_extract": "the decision date is later than the extract date",
        "unknown_outcome_code": "the outcome code is not a Home Office outcome type",
        "unknown_decision_maker": "the decision maker is not police or cps",
        "reserved_force_code": "the force code ALL is reserved for the rows over all forces",
        "missing_decision_id": "the request names no decision",
        "request_date_after_extract": "the request date is later than the extract date",
        "unknown_scheme": "the scheme is not police or cps",
        "unknown_review_result": "the review result is not one of the accepted values",
        "review_completed_before_request": "the review completed date is before the request date",
        "unknown_decision": "the request names a decision that is not (yet) known; held until it arrives",
        "request_before_decision": "the request is dated before its decision",
    }


def test_duplicates_in_one_file(tmp_path):
    rows = [list(decision().values()), list(decision().values()),  # identical repeat: keep one
            list(decision(decision_id="D2").values()), list(decision(decision_id="D2", victim_age="31").values()),
            list(decision(decision_id="D3").values())[:-3]]  # short row
    path = write_csv(tmp_path / "decisions_2024-06-30.csv", D, rows)
    tally = screen_file(read_extract(extract(path)), contract.Pseudonymiser(b"k"), OUTCOMES)
    assert tally.rows_read == 5
    assert tally.duplicates_dropped == 1
    assert [(line, reasons) for line, _, reasons in tally.quarantined] == [
        (4, ["duplicate_key_conflict"]), (5, ["duplicate_key_conflict"]), (6, ["wrong_field_count"])]
    assert [line for line, _ in tally.loaded] == [2]
    assert tally.rows_read == len(tally.loaded) + len(tally.quarantined) + tally.duplicates_dropped
    # identifiers are pseudonymised before anything else sees the row
    assert all(v["victim_id"] != "V1" and v["crime_reference"] != "CR/1" for _, v, _ in tally.quarantined)
