"""Incremental and full builds agree through a sequence of landing-folder changes: new quarters, a requests-only
extract, old files re-sent with rows dropped, corrected, moved to other quarters and repeated in other spellings,
files removed (the newest too, so that the as-at date goes back) and sent again. After each change one warehouse is
brought up to date incrementally and another, which has followed the same sequence, is rebuilt by a full refresh;
every mart and raw table, the disclosure log included, must be the same in both.

Marked slow (about ten minutes): `make test` leaves it out, `make soak` (run by CI after `make test`) runs it."""

import csv
import random
import shutil
from pathlib import Path

import pytest

from pipeline.synthetic import generate_sample
from tests.conftest import PipelineRun, write_csv
from tests.test_incremental import build_kind, marts_and_raw

pytestmark = pytest.mark.slow

FORCES = ["CEN", "STH", "NTH", "EST", "WST"]


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def other_spelling(rng: random.Random, header: list[str], row: list[str]) -> list[str]:
    """The same values as the contract reads them: dates as DD/MM/YYYY, codes in lower case, padded with spaces."""
    out = list(row)
    for i, (name, value) in enumerate(zip(header, row, strict=True)):
        if name.endswith("_date") and len(value) == 10 and rng.random() < 0.7:
            out[i] = f"{value[8:10]}/{value[5:7]}/{value[:4]}"
        elif name in ("force_code", "outcome_code", "scheme", "review_result", "victim_sex") and value:
            out[i] = f" {value.lower()} "
        elif value and rng.random() < 0.3:
            out[i] = f"  {value} "
    return out


def months_earlier(iso: str, months: int) -> str:
    year, month = int(iso[:4]), int(iso[5:7]) - months
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}-{min(iso[8:10], '28')}"


def spoil(rng: random.Random, path: Path, drop: float, edit: float, repeat: float, conflict: float) -> None:
    """Re-send an extract changed: rows dropped, values corrected (a decision's outcome, force or date, moving it to
    another quarter; a request moved to another decision), rows repeated in another spelling, and a few keys sent
    twice with values that conflict. The rows in another order."""
    header, rows = read(path)
    decisions = header[0] == "decision_id"
    extract_date = path.stem.rsplit("_", 1)[1]
    out = []
    for row in rows:
        if rng.random() < drop:
            continue
        row = list(row)
        if rng.random() < edit:
            if not decisions:
                row[1] = f"D{rng.randint(1, len(rows)):06d}"
            elif (change := rng.choice(["outcome", "force", "date"])) == "outcome":
                row[5] = rng.choice(["14", "15", "16", "18", "21"])
            elif change == "force":
                row[2] = rng.choice(FORCES)
            elif len(row[4]) == 10 and (moved := months_earlier(row[4], rng.choice([3, 6, -3]))) <= extract_date:
                row[4] = moved
        out.append(row)
        if rng.random() < repeat:
            out.append(other_spelling(rng, header, row))
        if rng.random() < conflict:
            twin = list(row)
            twin[5 if decisions else 6] = "99" if decisions else "upheld_twice"
            out.append(twin)
    rng.shuffle(out)
    write_csv(path, header, out)


def test_incremental_and_full_builds_agree_through_a_sequence_of_changes(tmp_path):
    rng = random.Random(20261130)
    source = tmp_path / "source"
    generate_sample(source)
    dates = sorted(p.stem.rsplit("_", 1)[1] for p in source.glob("decisions_*.csv"))
    first, later = dates[:14], dates[14:17]
    landing = tmp_path / "landing"
    landing.mkdir()

    def arrive(date: str) -> None:
        for kind in ("decisions", "vrr_requests"):
            shutil.copyfile(source / f"{kind}_{date}.csv", landing / f"{kind}_{date}.csv")

    for date in first:
        arrive(date)
    incremental, full = PipelineRun(tmp_path / "incremental", landing), PipelineRun(tmp_path / "full", landing)
    (tmp_path / "incremental").mkdir()
    (tmp_path / "full").mkdir()

    def both_agree(change: str) -> None:
        result = incremental()
        assert result.success, change
        assert build_kind(result) == ("full" if change == "first" else "incremental"), change
        assert full(full_refresh=True).success, change
        built, rebuilt = marts_and_raw(incremental), marts_and_raw(full)
        differ = [table for table in sorted(built.keys() | rebuilt.keys()) if built.get(table) != rebuilt.get(table)]
        assert differ == [], f"after {change}: incremental and full builds differ in {differ}"

    def quarantined() -> int:
        return incremental.query("select count(*) as n from marts.quarantine")[0]["n"]

    def as_at() -> str:
        return str(incremental.query("select max(as_at_date) as d from marts.vrr_uptake")[0]["d"])

    both_agree("first")
    assert quarantined() == 0

    arrive(later[0])
    both_agree(f"the extracts of {later[0]} arrive")

    spoil(rng, landing / f"decisions_{first[-1]}.csv", drop=0.03, edit=0.05, repeat=0.03, conflict=0.005)
    both_agree(f"decisions_{first[-1]}.csv re-sent changed")
    assert quarantined() > 0  # the conflicting repeats; the other spellings are the same rows

    requests_only = landing / "vrr_requests_2025-02-01.csv"
    shutil.copyfile(landing / f"vrr_requests_{later[0]}.csv", requests_only)
    spoil(rng, requests_only, drop=0.1, edit=0.1, repeat=0.03, conflict=0.005)
    both_agree("a requests-only extract arrives, some requests moved to other decisions")
    assert incremental.query("select count(*) as n from raw.touched_decisions")[0]["n"] > 0

    (landing / f"decisions_{first[0]}.csv").unlink()
    (landing / f"vrr_requests_{first[2]}.csv").unlink()
    both_agree("two old extracts removed")

    arrive(later[1])
    for kind in ("decisions", "vrr_requests"):
        spoil(rng, landing / f"{kind}_{later[1]}.csv", drop=0.0, edit=0.02, repeat=0.03, conflict=0.005)
    both_agree(f"the extracts of {later[1]} arrive, with repeats in other spellings")

    requests_only.unlink()
    both_agree("the requests-only extract removed")

    spoil(rng, landing / f"vrr_requests_{later[0]}.csv", drop=0.03, edit=0.05, repeat=0.03, conflict=0.005)
    shutil.copyfile(source / f"decisions_{later[2]}.csv", landing / f"decisions_{later[2]}.csv")
    both_agree(f"decisions of {later[2]} arrive alone, requests of {later[0]} re-sent changed")
    newest = as_at()

    kept = tmp_path / "newest.csv"
    shutil.move(landing / f"decisions_{later[2]}.csv", kept)
    both_agree("the newest extract removed")
    assert as_at() < newest  # the as-at date went back, and every quarter's provisional flag with it

    shutil.move(kept, landing / f"decisions_{later[2]}.csv")
    both_agree("the newest extract sent again")
    assert as_at() == newest

    spoil(rng, landing / f"vrr_requests_{first[5]}.csv", drop=0.05, edit=0.2, repeat=0.05, conflict=0.01)
    spoil(rng, landing / f"decisions_{first[8]}.csv", drop=0.05, edit=0.2, repeat=0.1, conflict=0.02)
    both_agree("an old extract of each kind re-sent with many changes")
