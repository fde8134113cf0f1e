"""Export cells: exact values, and text that a spreadsheet would run as a formula neutralised."""

import csv
import datetime as dt

import pytest

from pipeline.export import safe_cell, write_csv


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+44", "'+44"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("Adult rape", "Adult rape"),
        ("2024/25 Q1", "2024/25 Q1"),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0.1 + 0.2, "0.30000000000000004"),  # full precision: the figure is exactly the warehouse's
        (-0.5, "-0.5"),  # numbers are not text: a negative number stays a number
        (42, "42"),
        (dt.date(2024, 2, 29), "2024-02-29"),
    ],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_write_csv_round_trips(tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, ["force_code", "rate"], [("=cmd|' /C calc'!A0", 0.25), ("NTH", None)])
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["force_code", "rate"], ["'=cmd|' /C calc'!A0", "0.25"], ["NTH", ""]]
    assert path.read_bytes().count(b"\r") == 0
