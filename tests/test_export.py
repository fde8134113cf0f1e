"""CSV cells of the review pack: numbers as published, and text that a spreadsheet would run as a formula
neutralised."""

import contextlib
import csv
import os
from pathlib import Path

import pytest

from pipeline.pack import Column, Figure
from pipeline.publication import percent, shown, text_cell, write_csv


@pytest.mark.parametrize(
    "value, cell",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+44", "+44"),  # a number written as text stays a number
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("Adult rape", "Adult rape"),
        ("2024/25 Q1", "2024/25 Q1"),
        (None, ""),
        (42, "42"),
        (4.5, "4.5"),
        (-0.5, "-0.5"),  # numbers are not text: a negative number stays a number
    ],
)
def test_text_cell(value, cell):
    assert text_cell(value) == cell


@pytest.mark.parametrize(
    "fraction, shown_as",
    [(0.0425, "4.3"), (0.04249, "4.2"), (0.1, "10.0"), (1 / 3, "33.3"), (2 / 3, "66.7"), (0.0005, "0.1"), (0.0, "0.0")],
)
def test_percent_rounds_halves_up(fraction, shown_as):
    assert str(percent(fraction)) == shown_as


def test_shown_values():
    assert shown(Column("r", "R", "rate", "%"), Figure(0.12345)) == 12.3
    assert shown(Column("m", "M", "median", "days"), Figure(54.5)) == 54.5
    assert shown(Column("n", "N", "count"), Figure(7)) == 7
    assert shown(Column("n", "N", "count"), Figure(None, ("[c]",), "primary", 3)) is None


def test_write_csv_round_trips(tmp_path):
    path = tmp_path / "x.csv"
    write_csv(path, ["force", "rate"], [["=cmd|' /C calc'!A0", 0.5], ["NTH", None]])
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["force", "rate"], ["'=cmd|' /C calc'!A0", "0.5"], ["NTH", ""]]
    assert path.read_bytes().count(b"\r") == 0


def test_packs_made_by_other_code_are_not_current(tmp_path, monkeypatch):
    """The marker that lets a run with nothing new skip the export names the published warehouse and the code that
    made the packs: new pack code (a new disclosure rule, say) makes every pack again on the next run."""
    from pipeline import warehouse

    published = tmp_path / "vrr.duckdb"
    published.write_bytes(b"published")
    exports = tmp_path / "exports"
    exports.mkdir()
    assert not warehouse.exports_current(published, exports)  # no marker yet
    warehouse.mark_exports_current(published, exports)
    assert warehouse.exports_current(published, exports)
    monkeypatch.setattr(warehouse, "export_code_fingerprint", lambda: "0" * 64)
    assert not warehouse.exports_current(published, exports)
    warehouse.mark_exports_current(published, exports)
    assert warehouse.exports_current(published, exports)
    published.write_bytes(b"published again, by another run")
    assert not warehouse.exports_current(published, exports)


def sample_jobs(sample_run, folder, quarters: int):
    """The packs of the sample's last `quarters` quarters, to be written afresh into `folder` (no previous pack)."""
    import dataclasses

    import duckdb

    from pipeline import export
    from pipeline.settings import resolve_settings

    settings = resolve_settings(sample_run.env())
    with duckdb.connect(str(sample_run.warehouse), read_only=True) as con:
        control = export.disclosure_of(con, settings.disclosure_threshold)
        inputs = export.input_files(con)
    jobs = export.pack_jobs(control, control.data.quarters[-quarters:], settings, folder, inputs)
    return [dataclasses.replace(job, previous=None) for job in jobs]


def test_packs_written_side_by_side_equal_those_written_one_after_another(sample_run, tmp_path):
    """Worker processes write the same bytes as the run's own process: every file of five packs written by three
    processes equals the same pack written by one, and the pack the run published."""
    from pipeline.publication import write_packs

    one = write_packs(sample_jobs(sample_run, tmp_path / "one", 5), processes=1)
    three = write_packs(sample_jobs(sample_run, tmp_path / "three", 5), processes=3)
    assert three == one and len(one) == 5 and all(one)
    for manifest in one:
        for name in manifest["files"]:
            written = {(tmp_path / run / manifest["pack"] / name).read_bytes() for run in ("one", "three")}
            assert written == {(sample_run.exports / manifest["pack"] / name).read_bytes()}, name


def open_files(pid: int) -> set[str]:
    """What a process has open, from /proc (a descriptor closed while it is read is left out)."""
    folder = Path(f"/proc/{pid}/fd")
    found = set()
    for fd in os.listdir(folder):
        with contextlib.suppress(FileNotFoundError):
            found.add(os.readlink(folder / fd))
    return found


def test_pack_workers_hold_none_of_the_runs_open_files(tmp_path):
    """A pack worker is not a copy of the run (it forks from a server started fresh): a file the run holds open (its
    warehouse build, say) is not open in the worker, which could otherwise keep it after the run lets it go."""
    from concurrent.futures import ProcessPoolExecutor

    from pipeline.publication import workers_context

    held = tmp_path / "held.duckdb"
    with held.open("wb"), ProcessPoolExecutor(max_workers=1, mp_context=workers_context()) as pool:
        pid = pool.submit(os.getpid).result()
        worker_files, own_files = open_files(pid), open_files(os.getpid())
    assert pid != os.getpid()
    assert str(held) in own_files
    assert str(held) not in worker_files


def test_a_pack_that_cannot_be_written_fails_the_export(sample_run, tmp_path):
    """Whichever process writes it (the run's own or a worker), the error reaches the export."""
    from pipeline.publication import write_packs

    jobs = sample_jobs(sample_run, tmp_path, 4)
    (jobs[2].folder / "csv").mkdir(parents=True)  # a pack cannot be written where one already is
    with pytest.raises(FileExistsError):
        write_packs(jobs, processes=2)
