"""The landing contract, file by file and row by row, with the exact messages a data engineer sees."""

import datetime as dt

import pytest

from pipeline import contract, ingest
from pipeline.contract import ExtractError, ExtractFile, parse_date, read_extract, row_reasons, scan_landing
from pipeline.settings import resolve_settings
from tests.conftest import TEST_KEY, write_csv

OUTCOMES = contract.load_outcome_codes(
    contract.Path(__file__).resolve().parents[1] / "dbt_project/seeds/outcome_codes.csv"
)
D = list(contract.DECISION_COLUMNS)
R = list(contract.REQUEST_COLUMNS)
AS_AT = dt.date(2024, 6, 30)


def decision(**overrides) -> dict[str, str]:
    row = dict(
        zip(
            D,
            [
                "D1",
                "CR/1",
                "AA",
                "19C",
                "2024-04-01",
                "15",
                "police",
                "Y",
                "2024-04-02",
                "V1",
                "30",
                "F",
                "W1",
                "N",
                "",
                "",
            ],
            strict=True,
        )
    )
    row.update(overrides)
    return row


def request(**overrides) -> dict[str, str]:
    row = dict(zip(R, ["R1", "D1", "2024-05-01", "police", "review", "2024-06-01", "decision_stands"], strict=True))
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


@pytest.mark.parametrize(
    "text", ["2024-02-30", "31/04/2024", "2023-02-29", "2024/04/01", "01-04-2024", "tomorrow", "20240401"]
)
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
    for name in [
        "decisions_2024-06-30.csv",
        "vrr_requests_2024-06-30.csv",
        "decisions_2024-13-01.csv",
        "notes.txt",
        "Decisions_2024-06-30.csv",
        "decisions_2024-06-30.csv.bak",
        "it's odd; drop table x.csv",
    ]:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    folder = scan_landing(tmp_path)
    assert [e.name for e in folder.extracts] == ["decisions_2024-06-30.csv", "vrr_requests_2024-06-30.csv"]
    assert folder.as_at_date == dt.date(2024, 6, 30)
    skipped = {s["file"]: s["reason"] for s in folder.skipped}
    assert skipped["decisions_2024-13-01.csv"] == "2024-13-01 in the name is not a real date"
    assert skipped["notes.txt"] == "name does not match decisions_YYYY-MM-DD.csv or vrr_requests_YYYY-MM-DD.csv"
    assert skipped["sub"] == "not a regular file"
    assert set(skipped) == {
        "decisions_2024-13-01.csv",
        "notes.txt",
        "Decisions_2024-06-30.csv",
        "decisions_2024-06-30.csv.bak",
        "it's odd; drop table x.csv",
        "sub",
    }


def test_scan_missing_folder(tmp_path):
    with pytest.raises(ExtractError, match=r"landing folder .*nowhere does not exist or is not a folder"):
        scan_landing(tmp_path / "nowhere")


def extract(path, kind="decisions"):
    return ExtractFile(path, kind, AS_AT)


def pseudonymised(values: list[str], kind="decisions") -> list[str]:
    """Values as ingest keeps them: identifiers replaced by their keyed pseudonyms (Python's hmac)."""
    return [
        contract.pseudonymise(v, TEST_KEY.encode()) if c in contract.IDENTIFIER_COLUMNS else v
        for c, v in zip(contract.COLUMNS[kind], values, strict=False)
    ]


def empty_warehouse(folder):
    """Ingest's connection (its settings for extracts in `folder`) to an empty in-memory warehouse with the schemas
    ingest writes to."""
    settings = resolve_settings(
        {
            "VRR_LANDING_DIR": str(folder),
            "VRR_PSEUDONYM_KEY": TEST_KEY,
            "VRR_WAREHOUSE_PATH": str(folder / "w.duckdb"),
        }
    )
    con = ingest.connect(":memory:", settings)
    con.execute("create schema raw")
    con.execute("create schema audit")
    return con


def staged(path, kind="decisions"):
    """Read one extract the way ingest does (DuckDB): the temporary tables received and screened, queried."""
    con = empty_warehouse(path.parent)
    ingest.stage(con, read_extract(extract(path, kind)), ingest.prepare(con), path.parent)
    return con


def received_rows(path, kind="decisions") -> list[tuple[int, list[str], bool]]:
    """(line number, values in contract order, field count ok) of each row, as read by the database."""
    columns = ", ".join(contract.COLUMNS[kind])
    with staged(path, kind) as con:
        rows = con.execute(
            f"select line_number, [{columns}], not wrong_field_count from received "
            "where not is_blank order by line_number"
        ).fetchall()
    return [(line, values, ok) for line, values, ok in rows]


def test_header_is_matched_ignoring_case_spaces_order_and_bom(tmp_path):
    header = [f"  {c.upper()} " for c in reversed(D)] + ["Notes"]
    path = write_csv(tmp_path / "decisions_2024-06-30.csv", header, [list(reversed(list(decision().values()))) + ["x"]])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    parsed = read_extract(extract(path))
    assert parsed.encoding == "utf-8"
    assert parsed.extra_columns == ["notes"]
    assert received_rows(path) == [(2, pseudonymised(list(decision().values())), True)]


def test_windows_1252_file_is_read_and_says_so(tmp_path):
    path = tmp_path / "decisions_2024-06-30.csv"
    row = decision(withdrawal_reason="café – other")
    path.write_bytes((",".join(D) + "\n" + ",".join(row.values()) + "\n").encode("cp1252"))
    parsed = read_extract(extract(path))
    assert parsed.encoding == "windows-1252"
    assert received_rows(path)[0][1][D.index("withdrawal_reason")] == "café – other"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the UTF-8 copy the database read is gone


def test_a_statement_left_unfinished_does_not_stop_the_file_being_let_go(tmp_path):
    """DuckDB refuses to unregister the line numbers on a connection whose last result was not read to its end;
    `readable` runs it to its end, or cancels it when the statements failed."""
    path = write_csv(tmp_path / "decisions_2024-06-30.csv", D, [list(decision().values())] * 3)
    parsed = read_extract(extract(path))
    con = ingest.connect(":memory:", resolve_settings({"VRR_PSEUDONYM_KEY": TEST_KEY}))
    with ingest.readable(con, parsed, tmp_path):
        assert con.execute("select line_number from record_lines order by ordinal").fetchone() == (2,)
    with pytest.raises(ZeroDivisionError), ingest.readable(con, parsed, tmp_path):
        con.execute("select line_number from record_lines").fetchone()
        raise ZeroDivisionError
    assert "record_lines" not in {name for (name,) in con.execute("show tables").fetchall()}


def test_line_numbers_count_physical_lines(tmp_path):
    path = tmp_path / "decisions_2024-06-30.csv"
    path.write_text(
        ",".join(D)
        + "\n"
        + ",".join(decision().values())
        + "\n\n"
        + ",".join(decision(decision_id="D2", withdrawal_reason='"two\nlines"').values())
        + "\n"
        + ",".join(decision(decision_id="D3").values())
        + "\n"
    )
    lines = [line for line, _, _ in received_rows(path)]
    assert lines == [2, 4, 6]


def loaded_rows(path, kind="decisions") -> tuple[list[tuple], list[tuple]]:
    """(line number, values as raw stores them) of the rows ingest loads from one extract, in line order; and
    (line number, record key, reasons) of the rows it quarantines."""
    table = ingest.LOADED[kind]
    with empty_warehouse(path.parent) as con:
        parameters = ingest.prepare(con)
        (load,) = ingest.load_files(con, [read_extract(extract(path, kind))], parameters, "run", path.parent, threads=2)
        assert (
            load.rows_read
            == con.execute(f"select count(*) from {table}").fetchone()[0]
            + con.execute("select count(*) from raw.quarantine").fetchone()[0]
            + load.duplicates_dropped
        )
        loaded = con.execute(
            f"select line_number, [{', '.join(contract.COLUMNS[kind])}] from {table} order by line_number"
        ).fetchall()
        quarantined = con.execute(
            "select line_number, record_key, all_reasons from raw.quarantine order by line_number"
        ).fetchall()
        return loaded, quarantined


def test_rows_loaded_straight_from_the_file_equal_the_rows_screened_one_by_one(tmp_path):
    """Rows whose key is unique and that have no reason to be refused go straight into raw; they must be exactly
    what screening every row would have loaded: values, pseudonyms and physical line numbers."""
    path = tmp_path / "decisions_2024-06-30.csv"
    rows = [
        decision(),
        decision(decision_id="D2", force_code=" ab ", decision_date="05/04/2024", victim_id=" V2 "),
        decision(decision_id="D3", withdrawal_reason='"two\nlines"'),
        decision(decision_id="D4"),
        decision(decision_id="D4", suspect_interviewed="Yes"),
        decision(decision_id="D5", outcome_code="99"),
        decision(decision_id="D6", decision_maker="cps", victim_notified_date=" 2024-13-01", victim_age=" 41"),
    ]
    path.write_text(
        ",".join(D)
        + "\n"
        + "\n".join(",".join(r.values()) for r in rows[:2])
        + "\n\n"
        + "\n".join(",".join(r.values()) for r in rows[2:])
        + "\n"
    )
    columns = ", ".join(D)
    with staged(path) as con:
        expected = con.execute(
            f"select line_number, [{columns}] from screened where not is_repeat "
            "and len(reasons) = 0 order by line_number"
        ).fetchall()
    assert [line for line, _ in expected] == [2, 3, 5, 7, 10]
    # the refused row, whose key is found once in the file, is quarantined with its own line (the second D4 is an
    # identical repeat once normalised: dropped, not quarantined)
    assert loaded_rows(path) == (expected, [(9, "D5", "unknown_outcome_code")])
    one_line = tmp_path / "decisions_2024-07-01.csv"  # every record on its own line: numbered without a lookup
    write_csv(one_line, D, [list(r.values()) for r in rows if "\n" not in r["withdrawal_reason"]])
    with staged(one_line) as con:
        expected = con.execute(
            f"select line_number, [{columns}] from screened where not is_repeat "
            "and len(reasons) = 0 order by line_number"
        ).fetchall()
    assert [line for line, _ in expected] == [2, 3, 4, 7]
    assert loaded_rows(one_line) == (expected, [(6, "D5", "unknown_outcome_code")])


def load_side_by_side(folder, files: list, threads: int):
    """ingest.load_files over `files` (paths, in order) into an empty in-memory warehouse: (loads, rows of
    raw.decisions as (file, line, decision_id, withdrawal_reason), rows of raw.quarantine as (file, line, key,
    reason))."""
    with empty_warehouse(folder) as con:
        parameters = ingest.prepare(con)
        loads = ingest.load_files(con, [read_extract(extract(f)) for f in files], parameters, "run", folder, threads)
        # the files' keys and lines are let go
        assert con.execute(
            "select count(*) from duckdb_databases() where database_name = ?", [ingest.NUMBERED]
        ).fetchone() == (0,)
        decisions = con.execute(
            "select source_file, line_number, decision_id, withdrawal_reason from raw.decisions order by all"
        ).fetchall()
        quarantined = con.execute(
            "select source_file, line_number, record_key, reason_code from raw.quarantine order by all"
        ).fetchall()
    return [(load.rows_read, load.duplicates_dropped) for load in loads], decisions, quarantined


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_files_numbered_side_by_side_load_as_one_at_a_time(tmp_path, threads):
    """Ingest numbers up to `threads` files at a time on cursors of their own before loading each: every file's
    rows keep their own physical lines, repeats and refusals, and the UTF-8 copy of a Windows-1252 file is gone
    after."""
    first = tmp_path / "decisions_2024-03-31.csv"
    rows = [
        decision(decision_id="D1"),
        decision(decision_id="D2", withdrawal_reason='"two\nlines"'),
        decision(decision_id="D3"),
        decision(decision_id="D3"),
        decision(decision_id="D4", outcome_code="99"),
    ]
    first.write_text(",".join(D) + "\n" + "\n".join(",".join(r.values()) for r in rows) + "\n")
    second = tmp_path / "decisions_2024-06-30.csv"
    rows = [decision(decision_id="D1", withdrawal_reason="café – other"), decision(decision_id="D5")]
    second.write_bytes((",".join(D) + "\n" + "\n".join(",".join(r.values()) for r in rows) + "\n").encode("cp1252"))
    third = write_csv(tmp_path / "decisions_2024-09-30.csv", D, [list(decision(decision_id="D6").values())])
    loads, decisions, quarantined = load_side_by_side(tmp_path, [first, second, third], threads)
    reason = decision()["withdrawal_reason"]
    assert loads == [(5, 1), (2, 0), (1, 0)]  # rows read and identical repeats dropped, per file
    assert decisions == [
        (first.name, 2, "D1", reason),
        (first.name, 3, "D2", "two\nlines"),
        (first.name, 5, "D3", reason),
        (second.name, 2, "D1", "café – other"),
        (second.name, 3, "D5", reason),
        (third.name, 2, "D6", reason),
    ]
    assert quarantined == [(first.name, 7, "D4", "unknown_outcome_code")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name, third.name]


@pytest.mark.parametrize("bad_first", [True, False])
def test_a_file_numbered_side_by_side_that_cannot_be_read_is_named(tmp_path, bad_first):
    """A file whose records DuckDB's reader counts otherwise than the file check did (a quote inside an unquoted
    field) is refused by name, whether its numbered read ran beside another file's or not, and nothing is left."""
    good = write_csv(tmp_path / "decisions_2024-03-31.csv", D, [list(decision().values())])
    bad = tmp_path / "decisions_2024-06-30.csv"
    rows = [
        decision(decision_id="D1", withdrawal_reason='café x"y'),
        decision(decision_id="D2", withdrawal_reason='z"w'),
    ]
    bad.write_bytes((",".join(D) + "\n" + "\n".join(",".join(r.values()) for r in rows) + "\n").encode("cp1252"))
    with pytest.raises(ExtractError) as error:
        load_side_by_side(tmp_path, [bad, good] if bad_first else [good, bad], threads=2)
    assert str(error.value) == f"{bad.name}: not a readable CSV file (a quote character inside an unquoted field)"
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.name, bad.name]


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


@pytest.mark.parametrize("threads", [1, 2])
def test_files_checked_side_by_side_report_the_first_file_in_order(tmp_path, threads):
    """Files are checked on several threads, but the error is that of the first bad file in the folder's order,
    whichever finishes first: the later, small bad file fails long before the earlier, large one is read."""
    large = tmp_path / "decisions_2024-03-31.csv"
    large.write_bytes(",".join(D).encode() + b"\n" + b"D1,x\n" * 200_000 + b'D2,"unclosed\n')
    small = tmp_path / "decisions_2024-06-30.csv"
    small.write_bytes(b"")
    extracts = [extract(large), extract(small)]
    with pytest.raises(ExtractError) as error:
        ingest.each_file(read_extract, extracts, threads)
    assert str(error.value).startswith("decisions_2024-03-31.csv: not a readable CSV file (unexpected end of data")
    good = write_csv(tmp_path / "decisions_2024-09-30.csv", D, [list(decision().values())])
    fingerprints = ingest.each_file(ingest.file_fingerprint, [extract(good), extract(large)], threads)
    assert fingerprints == [contract.fingerprint(good), contract.fingerprint(large)]


def test_missing_column_names_the_columns_expected(tmp_path):
    path = write_csv(
        tmp_path / "vrr_requests_2024-06-30.csv", [c for c in R if c not in ("scheme", "request_date")], []
    )
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
    rows = [
        list(decision().values()),
        list(decision().values()),  # identical repeat: keep one
        list(decision(decision_id="D2").values()),
        list(decision(decision_id="D2", victim_age="31").values()),
        list(decision(decision_id="D3").values())[:-3],
    ]  # short row
    path = write_csv(tmp_path / "decisions_2024-06-30.csv", D, rows)
    with staged(path) as con:
        rows = con.execute(
            "select line_number, is_repeat, reasons, victim_id, crime_reference from screened order by line_number"
        ).fetchall()
    assert len(rows) == 5
    assert [line for line, repeat, *_ in rows if repeat] == [3]
    assert [(line, reasons) for line, repeat, reasons, *_ in rows if reasons and not repeat] == [
        (4, ["duplicate_key_conflict"]),
        (5, ["duplicate_key_conflict"]),
        (6, ["wrong_field_count"]),
    ]
    assert [line for line, repeat, reasons, *_ in rows if not reasons and not repeat] == [2]
    # identifiers are pseudonymised before anything else sees the row
    assert all(v != "V1" and c != "CR/1" for *_, v, c in rows)


def test_identical_repeats_are_judged_on_the_normalised_values(tmp_path):
    """The same row spelt two ways (case, spaces, DD/MM/YYYY, Yes for Y, extra columns ignored) is one row, kept
    once; values that differ after normalisation are a conflict."""
    first = decision(force_code="HAM", decision_date="2024-01-05", suspect_interviewed="Y", decision_maker="police")
    again = decision(
        force_code=" ham ",
        decision_date="05/01/2024",
        suspect_interviewed="Yes",
        decision_maker=" POLICE",
        victim_id=" V1 ",
        crime_reference="CR/1 ",
    )
    other = decision(decision_id="D2", force_code="HAM")
    changed = decision(decision_id="D2", force_code="HAM", outcome_code="14")
    path = write_csv(
        tmp_path / "decisions_2024-06-30.csv",
        D + ["notes"],
        [[*first.values(), "a"], [*again.values(), "b"], [*other.values(), ""], [*changed.values(), ""]],
    )
    with staged(path) as con:
        rows = con.execute(
            "select line_number, is_repeat, reasons, force_code, decision_date from screened order by line_number"
        ).fetchall()
    assert rows == [
        (2, False, [], "HAM", "2024-01-05"),  # kept: the first of the two spellings, as raw stores it
        (3, True, [], "ham", "2024-01-05"),  # dropped as an identical repeat
        (4, False, ["duplicate_key_conflict"], "HAM", "2024-04-01"),
        (5, False, ["duplicate_key_conflict"], "HAM", "2024-04-01"),
    ]


def test_fast_paths_of_the_value_functions_equal_their_definitions():
    """py_strip, real_date and canonical_date skip work for a value already trimmed or already YYYY-MM-DD; on every
    form of date (each month and day from 00, years from 0000, both orders, spaces) they equal the general path."""
    values = [
        "",
        " ",
        "\u00a0",
        " x ",
        "x",
        "\tY\n",
        "é",
        " 2024-01-05",
        "2024-01-05 ",
        "\u00a02024-01-05",
        "2024-1-5",
        "2024-01-05T00:00",
        "+2024-01-05",
        "-001-01-01",
        "24-01-05",
        "2024/01/05",
        "5/1/24",
    ]
    for year in ("0000", "0001", "0099", "0999", "1000", "1900", "2023", "2024", "2100", "9999"):
        for month in range(14):
            for day in range(33):
                values += [f"{year}-{month:02d}-{day:02d}", f"{day}/{month}/{year}", f"{day:02d}/{month:02d}/{year}"]
    general = {
        "py_strip(x)": f"trim(x, '{contract.WHITESPACE}')",
        "real_date(x)": "case when contract_date(x) >= timestamp '0001-01-01' then cast(contract_date(x) as date) end",
        "canonical_date(x)": "coalesce(cast(real_date(x) as varchar), py_strip(x))",
    }
    con = ingest.connect(":memory:", resolve_settings({}))
    con.execute("create temp table v as select unnest($v::varchar[]) as x", {"v": values})
    for fast, definition in general.items():
        differ = con.execute(
            f"select x, {fast}, {definition} from v where ({fast}) is distinct from ({definition})"
        ).fetchall()
        assert differ == [], fast


@pytest.mark.parametrize("key", ["k", TEST_KEY, "clé secrète" * 9])  # short, usual, > 64 bytes
def test_bulk_pseudonyms_equal_pythons_hmac(key):
    """The SQL pseudonyms equal HMAC-SHA256 from Python's hmac module, value for value, so pseudonyms made before
    ingest moved into the database (and before it computed them with polars-hash) stay the same. More values than
    one vector DuckDB hands the function, blanks among them, so the vectors are put back together in order."""
    import hashlib
    import hmac

    values = ["V1", " V1 ", "CR/2024/000123", "Zoë O'Brien", "名前", "x" * 200, "", "   ", "\u00a0V2\t"]
    values += [f"V{i:07d}" if i % 7 else " " for i in range(5000)]
    con = ingest.connect(":memory:", resolve_settings({"VRR_PSEUDONYM_KEY": key}))
    con.execute("create temp table ids as select unnest($v::varchar[]) as value", {"v": values})
    got = dict(con.execute(f"select value, {contract.pseudonym_sql('value')} from ids").fetchall())
    secret = key.encode()
    expected = {
        v: hmac.new(secret, v.strip().encode(), hashlib.sha256).hexdigest() if v.strip() else "" for v in values
    }
    assert got == expected


def test_plan_reads_only_new_or_changed_extracts(tmp_path):
    a, b, c = (
        ExtractFile(tmp_path / n, "decisions", AS_AT) for n in ("decisions_1.csv", "decisions_2.csv", "decisions_3.csv")
    )
    landing = {a.name: "sha-a", b.name: "sha-b2", c.name: "sha-c"}
    published = {a.name: "sha-a", b.name: "sha-b", "decisions_0.csv": "sha-0"}  # b changed, 0 removed, c new
    plan = ingest.plan_run([a, b, c], landing, published, full_refresh=False)
    assert (plan.full, [e.name for e in plan.to_read], plan.to_drop) == (
        False,
        ["decisions_2.csv", "decisions_3.csv"],
        ["decisions_0.csv", "decisions_2.csv"],
    )
    same = ingest.plan_run([a], {a.name: "sha-a"}, {a.name: "sha-a"}, full_refresh=False)
    assert same.nothing_new and same.to_read == []
    full = ingest.plan_run([a], {a.name: "sha-a"}, {a.name: "sha-a"}, full_refresh=True)
    assert full.full and not full.nothing_new and full.to_read == [a]
    first = ingest.plan_run([a], {a.name: "sha-a"}, None, full_refresh=False, why_full="no published warehouse yet")
    assert first.full and first.reason == "no published warehouse yet"


def test_resources_of_duckdb_come_from_settings(tmp_path):
    settings = resolve_settings(
        {
            "VRR_DUCKDB_MEMORY_LIMIT": "3GB",
            "VRR_DUCKDB_THREADS": "1",
            "VRR_DUCKDB_TEMP_DIR": str(tmp_path / "spill"),
            "VRR_WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
        }
    )
    assert settings.duckdb_settings() == {
        "memory_limit": "3GB",
        "threads": 1,
        "temp_directory": str(tmp_path / "spill"),
        "preserve_insertion_order": False,
    }
    with ingest.connect(tmp_path / "x.duckdb", settings) as con:
        got = dict(
            con.execute(
                "select name, value from duckdb_settings() where name in "
                "('threads', 'temp_directory', 'memory_limit', 'preserve_insertion_order')"
            ).fetchall()
        )
    assert got["threads"] == "1" and got["temp_directory"] == str(tmp_path / "spill")
    assert got["preserve_insertion_order"] == "false"
    assert got["memory_limit"] == "2.7 GiB"  # 3 GB as DuckDB reports it
    default = resolve_settings({"VRR_WAREHOUSE_PATH": str(tmp_path / "w.duckdb")}).duckdb_settings()
    assert default["memory_limit"] == "2GB" and default["temp_directory"] == str(tmp_path / ".w.duckdb.spill")
