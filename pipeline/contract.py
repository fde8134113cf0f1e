"""The landing contract: extract file names, columns, value parsing and the reasons a row is refused.

Pure functions only (no database, no Dagster), so every rule here is unit-tested directly.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import hmac
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

FILE_NAME = re.compile(r"^(?P<kind>decisions|vrr_requests)_(?P<date>\d{4}-\d{2}-\d{2})\.csv$")

DECISION_COLUMNS = (
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
)
REQUEST_COLUMNS = (
    "request_id",
    "decision_id",
    "request_date",
    "scheme",
    "review_stage",
    "review_completed_date",
    "review_result",
)
COLUMNS = {"decisions": DECISION_COLUMNS, "vrr_requests": REQUEST_COLUMNS}
KEYS = {"decisions": "decision_id", "vrr_requests": "request_id"}
# Direct identifiers replaced by keyed pseudonyms at ingest; their raw values are never stored.
IDENTIFIER_COLUMNS = ("victim_id", "crime_reference")
# Date columns: canonicalised to YYYY-MM-DD on the way in.
DATE_COLUMNS = {
    "decisions": ("decision_date", "victim_notified_date"),
    "vrr_requests": ("request_date", "review_completed_date"),
}

DECISION_MAKERS = ("police", "cps")
ALL_FORCES = "ALL"  # the force_code of the marts' rows over all forces
SCHEMES = ("police", "cps")
REVIEW_RESULTS = ("decision_stands", "decision_overturned", "out_of_scope", "withdrawn")

# Row-level reason codes, in order of precedence: a row's first reason is its reason_code.
REASONS = {
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


class ExtractError(Exception):
    """A file-level problem: the run stops before anything is published."""


@dataclass(frozen=True)
class ExtractFile:
    path: Path
    kind: str
    extract_date: dt.date

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class LandingFolder:
    extracts: list[ExtractFile]
    skipped: list[dict] = field(default_factory=list)

    @property
    def as_at_date(self) -> dt.date | None:
        return max((e.extract_date for e in self.extracts), default=None)


def today_in_england() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/London")).date()


def refuse_future_extracts(extracts: list[ExtractFile], today: dt.date) -> None:
    """An extract cannot be dated after the day of the run: a typo in the name (2031 for 2021) would otherwise
    become the warehouse's as-at date."""
    future = [e for e in extracts if e.extract_date > today]
    if future:
        raise ExtractError(
            "; ".join(f"{e.name}: the date in its name, {e.extract_date}, is after today ({today})" for e in future)
            + ". Correct the file name (a mistyped year?) and run again."
        )


def refuse_repeated_columns(name: str, header: list[str]) -> None:
    """A header naming a column twice is ambiguous: which of the two holds the value?"""
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise ExtractError(f"{name}: the header names column(s) {', '.join(repeated)} more than once")


def scan_landing(folder: Path, today: dt.date | None = None) -> LandingFolder:
    """List the extracts in a landing folder, oldest first; every other entry is listed as skipped.

    ExtractError when an extract's name is dated after `today` (default: today in England)."""
    if not folder.is_dir():
        raise ExtractError(f"landing folder {folder} does not exist or is not a folder")
    extracts, skipped = [], []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        match = FILE_NAME.match(path.name)
        if not path.is_file():
            skipped.append({"file": path.name, "reason": "not a regular file"})
            continue
        if match is None:
            skipped.append(
                {
                    "file": path.name,
                    "reason": "name does not match decisions_YYYY-MM-DD.csv or vrr_requests_YYYY-MM-DD.csv",
                }
            )
            continue
        try:
            extract_date = dt.date.fromisoformat(match["date"])
        except ValueError:
            skipped.append({"file": path.name, "reason": f"{match['date']} in the name is not a real date"})
            continue
        extracts.append(ExtractFile(path, match["kind"], extract_date))
    extracts.sort(key=lambda e: (e.extract_date, e.kind, e.name))
    refuse_future_extracts(extracts, today or today_in_england())
    return LandingFolder(extracts, skipped)


# --------------------------------------------------------------------------- values

_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@functools.lru_cache(maxsize=1 << 16)
def parse_date(text: str) -> dt.date | None:
    """YYYY-MM-DD or DD/MM/YYYY (the usual UK export) to a date; None when blank; ValueError when not a real date."""
    text = text.strip()
    if not text:
        return None
    if m := _ISO_DATE.match(text):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _UK_DATE.match(text):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    else:
        raise ValueError(f"not a date: {text!r}")
    return dt.date(year, month, day)  # raises ValueError for 2024-02-30


def canonical_date(text: str) -> str:
    """A parseable date as YYYY-MM-DD; anything else returned trimmed, for the data-quality checks downstream."""
    try:
        value = parse_date(text)
    except ValueError:
        return text.strip()
    return value.isoformat() if value else ""


def pseudonymise(value: str, key: bytes) -> str:
    """Keyed pseudonym (HMAC-SHA256, hex) of a direct identifier; blank stays blank."""
    return Pseudonymiser(key)(value)


class Pseudonymiser:
    """HMAC-SHA256 pseudonyms under one key, remembering those already made (identifiers recur across extracts)."""

    def __init__(self, key: bytes):
        self._base = hmac.new(key, digestmod=hashlib.sha256)
        self._seen: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        if (known := self._seen.get(value)) is None:
            mac = self._base.copy()
            mac.update(value.encode("utf-8"))
            known = self._seen[value] = mac.hexdigest()
        return known


def normalise_header(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower()


# --------------------------------------------------------------------------- reading

@dataclass
class ParsedExtract:
    extract: ExtractFile
    encoding: str
    sha256: str
    size_bytes: int
    header: list[str]
    extra_columns: list[str]
    rows: list[tuple[int, list[str], bool]]  # (line number, values in contract order, field count ok)


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Text and encoding of a file: UTF-8 (a byte-order mark is accepted), else Windows-1252."""
    if not data:
        raise ExtractError(f"{name}: the file is empty (zero bytes)")
    if b"\x00" in data[:65536]:
        raise ExtractError(f"{name}: not a CSV text file (it contains binary data)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as exc:
        raise ExtractError(f"{name}: not readable as UTF-8 or Windows-1252 text ({exc.reason} at byte {exc.start})") from exc


def read_extract(extract: ExtractFile) -> ParsedExtract:
    """Read and check one extract file. File-level problems raise ExtractError naming the file and the problem."""
    try:
        data = extract.path.read_bytes()
    except OSError as exc:
        raise ExtractError(f"{extract.name}: the file cannot be read ({exc.strerror})") from exc
    text, encoding = decode(data, extract.name)
    records = []  # (first physical line of the record, values): a quoted field may span several lines
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    try:
        for values in reader:
            records.append((line, values))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ExtractError(f"{extract.name}: not a readable CSV file ({exc}, line {reader.line_num})") from exc
    if not records or not any(v.strip() for v in records[0][1]):
        raise ExtractError(f"{extract.name}: the file has no header row")
    header = [normalise_header(h) for h in records[0][1]]
    refuse_repeated_columns(extract.name, header)
    expected = COLUMNS[extract.kind]
    missing = [c for c in expected if c not in header]
    if missing:
        raise ExtractError(
            f"{extract.name}: missing required column(s) {', '.join(missing)}; "
            f"expected columns: {', '.join(expected)}"
        )
    positions = [header.index(c) for c in expected]
    extra = [h for h in header if h not in expected]
    rows = []
    for start, values in records[1:]:
        if not any(v.strip() for v in values):
            continue  # a blank line is not a row
        ok = len(values) == len(header)
        padded = values + [""] * (len(header) - len(values))
        rows.append((start, [padded[p] for p in positions], ok))
    return ParsedExtract(
        extract=extract,
        encoding=encoding,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        header=header,
        extra_columns=extra,
        rows=rows,
    )


# --------------------------------------------------------------------------- row checks

def row_reasons(kind: str, values: dict[str, str], extract_date: dt.date, outcome_codes: frozenset[str]) -> list[str]:
    """Reasons (codes of REASONS) that a row cannot load, from the row alone."""
    reasons: list[str] = []
    if not values[KEYS[kind]].strip():
        reasons.append("missing_key")
    # Only the required date can refuse a row; a bad optional date is read as null and reported downstream.
    required_date = "decision_date" if kind == "decisions" else "request_date"
    try:
        value = parse_date(values[required_date])
    except ValueError:
        reasons.append("unparseable_date")
    else:
        if value is None:
            reasons.append("missing_required_date")
        elif value > extract_date:
            reasons.append("decision_date_after_extract" if kind == "decisions" else "request_date_after_extract")
    if kind == "decisions":
        if values["outcome_code"].strip().upper() not in outcome_codes:
            reasons.append("unknown_outcome_code")
        if values["decision_maker"].strip().lower() not in DECISION_MAKERS:
            reasons.append("unknown_decision_maker")
        if values["force_code"].strip().upper() == ALL_FORCES:
            reasons.append("reserved_force_code")
    else:
        if not values["decision_id"].strip():
            reasons.append("missing_decision_id")
        if values["scheme"].strip().lower() not in SCHEMES:
            reasons.append("unknown_scheme")
        result = values["review_result"].strip().lower()
        if result and result not in REVIEW_RESULTS:
            reasons.append("unknown_review_result")
        try:
            requested, completed = parse_date(values["request_date"]), parse_date(values["review_completed_date"])
        except ValueError:
            requested = completed = None
        if requested and completed and completed < requested:
            reasons.append("review_completed_before_request")
    return ordered(reasons)


def ordered(reasons: list[str]) -> list[str]:
    precedence = list(REASONS)
    return sorted(set(reasons), key=precedence.index)


def load_outcome_codes(seed: Path) -> frozenset[str]:
    with seed.open(newline="", encoding="utf-8") as handle:
        return frozenset(row["outcome_code"].strip().upper() for row in csv.DictReader(handle))
