"""Deterministic generator of a SYNTHETIC landing folder of VRR extracts.

ALL DATA THIS MODULE MAKES IS SYNTHETIC. Every decision, request, crime reference,
victim identifier, age, sex, ethnicity and date is made up by a seeded random number
generator. The files describe no real person, no real crime and no real police force;
the force codes (NTH, STH, EST, WST, CEN) are invented. The distributions are only
loosely shaped on published orders of magnitude (CPS VRR take-up of 1-2 per cent,
around one review in ten overturned, outcomes 14/15/16 the bulk of no-further-action
decisions) so that the pipeline has something realistic-looking to work on.

The folder follows the landing-folder contract of the project:

* ``decisions_YYYY-MM-DD.csv`` and ``vrr_requests_YYYY-MM-DD.csv``, one pair per extract
  ("as at") date: quarterly on the 6th of January, April, July and October from
  July 2021, and always the ``as_at`` date itself last;
* each extract is a cumulative snapshot of what was known on its date, so extracts
  overlap heavily;
* records change between extracts: a few decisions get a corrected decision date
  (sometimes into another quarter), corrected victim details, or a notification date
  entered late; requests get their review stage, completion date and result once the
  review completes (blank while it is pending).

Only the standard library is used, with the contract's columns from ``pipeline.contract``, and the same
seed and ``as_at`` give byte-identical files (UTF-8 without BOM, ``\\n`` line ends, the contract's column
order, rows sorted by key).

Usage: ``python -m pipeline.synthetic OUT_DIR [--seed N] [--as-at YYYY-MM-DD]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from bisect import bisect
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path

from pipeline.contract import DECISION_COLUMNS, REQUEST_COLUMNS


class Weighted:
    """A fixed discrete distribution: keys drawn with probability proportional to weight."""

    def __init__(self, weights: Mapping[Hashable, float]):
        self.keys = list(weights)
        self.cumulative = list(accumulate(weights.values()))

    def pick(self, rng: random.Random):
        return self.keys[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


class Deck:
    """Draws keys in exact proportions: a shuffled deck of cards, reshuffled when used up."""

    def __init__(self, counts: Mapping[Hashable, int]):
        self.cards = [key for key, count in counts.items() for _ in range(count)]
        self.left: list = []

    def pick(self, rng: random.Random):
        if not self.left:
            self.left = list(self.cards)
            rng.shuffle(self.left)
        return self.left.pop()


# --------------------------------------------------------------------------------------
# File layout
# --------------------------------------------------------------------------------------

DECISIONS_PREFIX = "decisions_"
REQUESTS_PREFIX = "vrr_requests_"

DEFAULT_SEED = 20250401
DEFAULT_AS_AT = date(2025, 10, 6)

FIRST_EXTRACT_DATE = date(2021, 7, 6)
EXTRACT_DAY = 6  # extracts are taken on the 6th of January, April, July and October

# --------------------------------------------------------------------------------------
# Volumes and timing of decisions
# --------------------------------------------------------------------------------------

FIRST_DECISION_DATE = date(2019, 4, 1)
DECISIONS_PER_YEAR = 920  # all five forces together
VOLUME_GROWTH = 0.30  # the last day is 30% busier than the first
WEEKEND_WEIGHT = 0.35  # decisions are mostly recorded on weekdays

FORCES = Weighted({"NTH": 30, "STH": 22, "EST": 18, "WST": 16, "CEN": 14})

DAYS_CRIME_TO_DECISION = (20, 500)  # the crime was recorded this long before
NOTIFICATION_BLANK = 0.08
DAYS_TO_NOTIFICATION = Weighted({(0, 5): 70, (6, 20): 30})  # after the decision

# --------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------

OUTCOMES = Weighted(
    {
        "16": 38.0,
        "15": 24.0,
        "14": 12.0,
        "1": 6.0,
        "18": 4.0,
        "10": 4.0,
        "9": 3.5,
        "20": 2.0,
        "21": 2.0,
        "0": 2.0,
        "1A": 0.8,
        "8": 0.6,
        "3A": 0.4,
    }
)
CPS_DECISION_SHARE = {"9": 1.0, "15": 0.25, "1": 0.8, "1A": 0.8}  # the rest: police

# Probability that the suspect was interviewed under caution.
INTERVIEWED_POLICE_NFA = 0.85  # police decisions with outcome 10 or 15
INTERVIEWED_BY_OUTCOME = {
    "14": 0.03,
    "18": 0.0,
    "20": 0.3,
    "1": 0.97,
    "1A": 0.97,
    "9": 0.95,
    "15": 0.95,
    "16": 0.45,
    "3A": 0.9,
    "8": 0.8,
}
INTERVIEWED_DEFAULT = 0.6
INTERVIEWED_BLANK = 0.03

WITHDRAWAL_OUTCOMES = ("14", "16")
WITHDRAWAL_RECORDED = 0.70
WITHDRAWAL_STAGES = {
    # Outcome 14 means no suspect was identified, so only the early stages fit.
    "14": Weighted({"at_initial_report": 65, "before_suspect_interview": 35}),
    "16": Weighted(
        {
            "at_initial_report": 30,
            "before_suspect_interview": 33,
            "after_suspect_interview": 30,
            "after_charge": 5,
            "at_trial": 2,
        }
    ),
}
WITHDRAWAL_REASONS = Weighted(
    {
        "length_of_process": 22,
        "wants_other_outcome": 16,
        "health_wellbeing": 14,
        "fear_of_court": 11,
        "relationship_to_suspect": 9,
        "fear_of_suspect": 8,
        "third_party_material": 7,
        "lack_of_support": 6,
        "other": 7,
    }
)

# --------------------------------------------------------------------------------------
# Offences and victims
# --------------------------------------------------------------------------------------

RAPE_SHARE = 0.72
OTHER_OFFENCES = Weighted({"20": 35, "22B": 20, "17A": 15, "21": 15, "8N": 15})
RAPE_CODES = {  # (female victim?, age group) -> Home Office offence code
    (True, "16+"): "19C",
    (True, "13-15"): "19D",
    (True, "under 13"): "19E",
    (False, "16+"): "19F",
    (False, "13-15"): "19G",
    (False, "under 13"): "19H",
}

AGE_RANGES = Weighted(
    {  # skewed young: 16-34 most common
        (10, 12): 3,
        (13, 15): 10,
        (16, 17): 7,
        (18, 24): 26,
        (25, 34): 24,
        (35, 44): 14,
        (45, 54): 9,
        (55, 64): 4,
        (65, 85): 3,
    }
)
AGE_BLANK = 0.10
SEXES = Weighted({"F": 84.0, "M": 11.0, "X": 0.7, "U": 1.3, "": 3.0})
ETHNICITIES = Weighted(
    {
        "W1": 58,
        "W2": 1,
        "W3": 0.3,
        "W9": 3,
        "M1": 1,
        "M2": 0.5,
        "M3": 0.8,
        "M9": 1,
        "A1": 2.5,
        "A2": 1.5,
        "A3": 0.7,
        "A4": 0.3,
        "A9": 1,
        "B1": 1.5,
        "B2": 1.5,
        "B9": 0.5,
        "O2": 0.5,
        "O9": 1,
        "NS": 5,
        "O1": 0.3,
        "": 15,
    }
)
DISABILITIES = Weighted({"N": 55, "Y": 12, "U": 15, "": 18})

# --------------------------------------------------------------------------------------
# Corrections between extracts (each a share of all decisions)
# --------------------------------------------------------------------------------------

DECISION_DATE_CORRECTION = 0.02
DATE_SHIFTS = Weighted({(1, 19): 50, (20, 60): 50})  # days the first entry was out by
VICTIM_DETAILS_CORRECTION = 0.02
LATE_NOTIFICATION = 0.02
DAYS_TO_CORRECTION = (30, 300)  # after the later of the two decision dates
DAYS_TO_LATE_NOTIFICATION = (30, 250)  # after the notification itself

# --------------------------------------------------------------------------------------
# VRR requests
# --------------------------------------------------------------------------------------

REQUESTABLE_OUTCOMES = ("9", "10", "15")
TAKE_UP = 0.04
SECOND_REQUEST = 0.08  # after a first review that let the NFA stand
DAYS_TO_REQUEST = (1, 80)  # after notification (or the decision)
DAYS_TO_SECOND_REQUEST = (1, 30)  # after the first review completed
DAYS_TO_COMPLETE = (10, 70)
POLICE_STAGES = Weighted({"review": 90, "local_resolution": 10})
CPS_STAGES = Weighted({"local_resolution": 85, "independent_review": 15})
# Review results are dealt from a shuffled deck with these exact counts, so that even the
# few dozen reviews of the sample come out close to one in ten overturned.
# Never a bare "upheld": in CPS data that word means the victim won.
RESULT_DECK = {"decision_stands": 39, "decision_overturned": 5, "out_of_scope": 4, "withdrawn": 2}


# --------------------------------------------------------------------------------------
# Records with a history
# --------------------------------------------------------------------------------------


@dataclass
class Record:
    """One record as first entered, plus the changes that become known later."""

    values: dict[str, str]
    revisions: list[tuple[date, dict[str, str]]] = field(default_factory=list)

    def revise(self, known_from: date, **changes: str) -> None:
        self.revisions.append((known_from, changes))
        self.revisions.sort(key=lambda revision: revision[0])

    def as_known_on(self, day: date) -> dict[str, str]:
        row = dict(self.values)
        for known_from, changes in self.revisions:
            if known_from <= day:
                row.update(changes)
        return row

    def versions(self, columns: Sequence[str]) -> list[tuple[date, tuple[str, ...]]]:
        """Each distinct state of the record as a row, with the date it became known."""
        dates = [date.min] + [known_from for known_from, _ in self.revisions]
        rows = [(day, self.as_known_on(day)) for day in dict.fromkeys(dates)]
        return [(day, tuple(row[column] for column in columns)) for day, row in rows]


def _iso(day: date) -> str:
    return day.isoformat()


def _days(rng: random.Random, bounds: tuple[int, int]) -> timedelta:
    return timedelta(days=rng.randint(*bounds))


# --------------------------------------------------------------------------------------
# Extract dates
# --------------------------------------------------------------------------------------


def extract_dates(as_at: date) -> list[date]:
    """Quarterly extract dates from July 2021 up to ``as_at``, always ending on ``as_at``."""
    dates = []
    day = FIRST_EXTRACT_DATE
    while day < as_at:
        dates.append(day)
        month = day.month + 3
        day = date(day.year + (month > 12), (month - 1) % 12 + 1, EXTRACT_DAY)
    dates.append(as_at)
    return dates


# --------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------


def _decision_dates(rng: random.Random, as_at: date) -> list[date]:
    span = (as_at - FIRST_DECISION_DATE).days + 1
    days = [FIRST_DECISION_DATE + timedelta(days=i) for i in range(span)]
    weights = [
        (1 + VOLUME_GROWTH * i / span) * (WEEKEND_WEIGHT if day.weekday() >= 5 else 1.0) for i, day in enumerate(days)
    ]
    count = round(DECISIONS_PER_YEAR * span / 365.25)
    return sorted(rng.choices(days, weights=weights, k=count))


def _offence_code(rng: random.Random, age: int, sex: str) -> str:
    if rng.random() >= RAPE_SHARE:
        return OTHER_OFFENCES.pick(rng)
    age_group = "16+" if age >= 16 else "13-15" if age >= 13 else "under 13"
    return RAPE_CODES[(sex != "M", age_group)]


def _decision_maker(rng: random.Random, outcome: str) -> str:
    return "cps" if rng.random() < CPS_DECISION_SHARE.get(outcome, 0.0) else "police"


def _suspect_interviewed(rng: random.Random, outcome: str, maker: str) -> str:
    if rng.random() < INTERVIEWED_BLANK:
        return ""
    if maker == "police" and outcome in ("10", "15"):
        p_yes = INTERVIEWED_POLICE_NFA
    else:
        p_yes = INTERVIEWED_BY_OUTCOME.get(outcome, INTERVIEWED_DEFAULT)
    return "Y" if rng.random() < p_yes else "N"


def _withdrawal(rng: random.Random, outcome: str) -> tuple[str, str]:
    if outcome not in WITHDRAWAL_OUTCOMES or rng.random() >= WITHDRAWAL_RECORDED:
        return "", ""
    return WITHDRAWAL_STAGES[outcome].pick(rng), WITHDRAWAL_REASONS.pick(rng)


class _CrimeReferences:
    """Unique made-up crime references, numbered upwards per force and year."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.last: dict[tuple[str, int], int] = {}

    def next(self, force: str, recorded: date) -> str:
        key = (force, recorded.year)
        number = self.last.get(key, 0) + self.rng.randint(1, 60)
        self.last[key] = number
        return f"CR/{force}/{recorded.year}/{number:06d}"


def _first_decision_values(
    rng: random.Random, number: int, day: date, victim_id: str, crime_refs: _CrimeReferences
) -> dict[str, str]:
    force = FORCES.pick(rng)
    outcome = OUTCOMES.pick(rng)
    maker = _decision_maker(rng, outcome)
    low, high = AGE_RANGES.pick(rng)
    age = rng.randint(low, high)
    sex = SEXES.pick(rng)
    stage, reason = _withdrawal(rng, outcome)
    return {
        "decision_id": f"D{number:06d}",
        "crime_reference": crime_refs.next(force, day - _days(rng, DAYS_CRIME_TO_DECISION)),
        "force_code": force,
        "offence_code": _offence_code(rng, age, sex),
        "decision_date": _iso(day),
        "outcome_code": outcome,
        "decision_maker": maker,
        "suspect_interviewed": _suspect_interviewed(rng, outcome, maker),
        "victim_notified_date": "",  # filled by a revision once the victim is told
        "victim_id": victim_id,
        "victim_age": "" if rng.random() < AGE_BLANK else str(age),
        "victim_sex": sex,
        "victim_ethnicity": ETHNICITIES.pick(rng),
        "victim_disability": DISABILITIES.pick(rng),
        "withdrawal_stage": stage,
        "withdrawal_reason": reason,
    }


def _mistyped_date(rng: random.Random, true_date: date, as_at: date) -> date:
    """A wrongly entered decision date near the true one, inside the data window."""
    shift = timedelta(days=rng.randint(*DATE_SHIFTS.pick(rng)))
    for wrong in rng.choice(((true_date + shift, true_date - shift), (true_date - shift, true_date + shift))):
        if FIRST_DECISION_DATE <= wrong <= as_at:
            return wrong
    return true_date


def _mistype_victim_details(rng: random.Random, values: dict[str, str]) -> dict[str, str]:
    """Replace the true age and/or ethnicity in ``values`` by a wrong first entry.

    Returns the true values, which a later extract restores.
    """
    true_values = {}
    age, ethnicity = values["victim_age"], values["victim_ethnicity"]
    if age:
        true_values["victim_age"] = age
        wrong_age = max(10, int(age) + rng.choice((-2, -1, 1, 2)))
        values["victim_age"] = rng.choice(("", str(wrong_age)))
    if ethnicity not in ("", "NS") and (not true_values or rng.random() < 0.5):
        true_values["victim_ethnicity"] = ethnicity
        values["victim_ethnicity"] = rng.choice(("", "NS"))
    return true_values


def _add_decision_history(rng: random.Random, record: Record, as_at: date) -> None:
    """Corrections and the notification date, each visible from the day it was known."""
    values = record.values
    true_date = latest_date = date.fromisoformat(values["decision_date"])
    if rng.random() < DECISION_DATE_CORRECTION:
        wrong = _mistyped_date(rng, true_date, as_at)
        if wrong != true_date:
            values["decision_date"] = _iso(wrong)
            latest_date = max(true_date, wrong)
            record.revise(latest_date + _days(rng, DAYS_TO_CORRECTION), decision_date=_iso(true_date))
    if rng.random() < VICTIM_DETAILS_CORRECTION:
        true_values = _mistype_victim_details(rng, values)
        if true_values:
            record.revise(latest_date + _days(rng, DAYS_TO_CORRECTION), **true_values)
    if rng.random() >= NOTIFICATION_BLANK:
        notified = latest_date + _days(rng, DAYS_TO_NOTIFICATION.pick(rng))
        entered = notified
        if rng.random() < LATE_NOTIFICATION:
            entered += _days(rng, DAYS_TO_LATE_NOTIFICATION)
        record.revise(entered, victim_notified_date=_iso(notified))


def make_decisions(rng: random.Random, as_at: date) -> list[Record]:
    """All decisions up to ``as_at``, numbered in date order, each with its history."""
    dates = _decision_dates(rng, as_at)
    victim_numbers = rng.sample(range(1, 10_000_000), len(dates))
    crime_refs = _CrimeReferences(rng)
    decisions = []
    for number, (day, victim) in enumerate(zip(dates, victim_numbers, strict=True), start=1):
        record = Record(_first_decision_values(rng, number, day, f"V{victim:07d}", crime_refs))
        _add_decision_history(rng, record, as_at)
        decisions.append(record)
    return decisions


# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------


def _make_request(
    rng: random.Random, results: Deck, decision_id: str, scheme: str, requested: date, stage: str
) -> tuple[Record, date, str]:
    """A request, pending until its review completes; returns it, completion and result."""
    completed = requested + _days(rng, DAYS_TO_COMPLETE)
    result = results.pick(rng)
    record = Record(
        {
            "request_id": "",  # numbered once all requests are known
            "decision_id": decision_id,
            "request_date": _iso(requested),
            "scheme": scheme,
            "review_stage": "",
            "review_completed_date": "",
            "review_result": "",
        }
    )
    record.revise(completed, review_stage=stage, review_completed_date=_iso(completed), review_result=result)
    return record, completed, result


def _requests_for(rng: random.Random, results: Deck, decision: Record, as_at: date) -> list[Record]:
    """Zero, one or (rarely) two requests for one decision, all made by ``as_at``."""
    final = decision.as_known_on(date.max)
    if final["outcome_code"] not in REQUESTABLE_OUTCOMES or rng.random() >= TAKE_UP:
        return []
    # Never before any version of the decision date, so every extract stays consistent.
    anchor = max(final["victim_notified_date"], final["decision_date"], decision.values["decision_date"])
    requested = date.fromisoformat(anchor) + _days(rng, DAYS_TO_REQUEST)
    if requested > as_at:
        return []
    scheme, decision_id = final["decision_maker"], final["decision_id"]
    stage = (CPS_STAGES if scheme == "cps" else POLICE_STAGES).pick(rng)
    first, completed, result = _make_request(rng, results, decision_id, scheme, requested, stage)
    requests = [first]
    if result == "decision_stands" and rng.random() < SECOND_REQUEST:
        again = completed + _days(rng, DAYS_TO_SECOND_REQUEST)
        stage = "independent_review" if scheme == "cps" else "review"
        if again <= as_at:
            requests.append(_make_request(rng, results, decision_id, scheme, again, stage)[0])
    return requests


def make_requests(rng: random.Random, decisions: Sequence[Record], as_at: date) -> list[Record]:
    """All VRR requests up to ``as_at``, numbered in order of request date."""
    results = Deck(RESULT_DECK)
    requests = [request for decision in decisions for request in _requests_for(rng, results, decision, as_at)]
    requests.sort(key=lambda r: (r.values["request_date"], r.values["decision_id"]))
    for number, request in enumerate(requests, start=1):
        request.values["request_id"] = f"R{number:06d}"
    return requests


# --------------------------------------------------------------------------------------
# Snapshots and files
# --------------------------------------------------------------------------------------


class _CsvLines:
    """Formats rows as CSV lines ending in "\\n" (each version is formatted only once)."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")

    def __call__(self, row: Sequence[str]) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(row)
        return self.buffer.getvalue()


class _Extracts:
    """Cumulative snapshots of one kind of record: the lines known on an extract date."""

    def __init__(self, records: Sequence[Record], columns: Sequence[str], date_column: str):
        key, date_index = columns[0], columns.index(date_column)
        to_line = _CsvLines()
        self.header = to_line(columns)
        self.histories = [  # per record, sorted by key: (known from, record date, line)
            [(known_from, row[date_index], to_line(row)) for known_from, row in record.versions(columns)]
            for record in sorted(records, key=lambda record: record.values[key])
        ]

    def lines_on(self, extract_date: date) -> list[str]:
        """The lines an extract taken on ``extract_date`` holds, sorted by key."""
        iso_date = _iso(extract_date)
        lines = []
        for versions in self.histories:
            for known_from, record_date, line in reversed(versions):
                if known_from <= extract_date:
                    if record_date <= iso_date:
                        lines.append(line)
                    break
        return lines


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("".join(lines))


def _generate(out_dir: Path, seed: int, as_at: date) -> tuple[list[Path], int]:
    rng = random.Random(seed)
    decisions = make_decisions(rng, as_at)
    requests = make_requests(rng, decisions, as_at)
    kinds = (
        (DECISIONS_PREFIX, _Extracts(decisions, DECISION_COLUMNS, "decision_date")),
        (REQUESTS_PREFIX, _Extracts(requests, REQUEST_COLUMNS, "request_date")),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, rows_written = [], 0
    for extract_date in extract_dates(as_at):
        for prefix, extracts in kinds:
            lines = extracts.lines_on(extract_date)
            path = out_dir / f"{prefix}{_iso(extract_date)}.csv"
            _write_lines(path, [extracts.header, *lines])
            paths.append(path)
            rows_written += len(lines)
    return sorted(paths), rows_written


def generate_sample(out_dir: Path, seed: int = DEFAULT_SEED, as_at: date = DEFAULT_AS_AT) -> list[Path]:
    """Write synthetic extracts into out_dir (created if missing); return the paths written, sorted."""
    return _generate(Path(out_dir), seed, as_at)[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.synthetic",
        description="Write a deterministic SYNTHETIC landing folder of VRR extracts (made-up data; no real person).",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the CSV extracts into")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--as-at",
        type=date.fromisoformat,
        default=DEFAULT_AS_AT,
        help=f"date of the newest extract (default {DEFAULT_AS_AT})",
    )
    args = parser.parse_args(argv)
    paths, rows = _generate(args.out_dir, args.seed, args.as_at)
    print(
        f"Wrote {len(paths)} files ({rows} rows) to {args.out_dir}: SYNTHETIC data made "
        f"up by a seeded generator (seed {args.seed}); it describes no real person."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
