"""The landing contract: extract file names, columns, file-level checks, and the reasons a row is refused.

No Dagster here. The row checks are SQL (run in bulk by ingest); row_reasons runs them on one row, so every
rule is unit-tested directly.
"""

from __future__ import annotations

import codecs
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

import numpy as np

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
    """Keyed pseudonym (HMAC-SHA256, hex) of a direct identifier; blank stays blank.

    The reference for the bulk computation in SQL (see create_pseudonym_function): both give the same pseudonym
    for a value."""
    value = value.strip()
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest() if value else ""


def create_pseudonym_function(con, key: bytes) -> None:
    """Create the SQL function keyed_pseudonym(value) on a DuckDB connection: HMAC-SHA256 (hex) of the value's
    UTF-8 bytes under the key, as pseudonymise computes it.

    DuckDB hands the function a vector of values at a time (Arrow), and polars-hash computes their HMACs in
    compiled code with the CPU's SHA instructions and without holding Python's lock: under half the CPU time of
    the same HMAC written in SQL with DuckDB's sha256 (tests/test_contract.py compares its pseudonyms with Python's
    hmac). The key lives in the function, never in any SQL text or parameter."""
    import polars as pl
    import polars_hash  # noqa: F401  (registers the chash expressions)
    from duckdb.sqltypes import VARCHAR

    # polars-hash takes the key as text and hashes its UTF-8 bytes; the settings' key always comes from text.
    hmac_of = pl.col("value").chash.hmac_sha256(key=key.decode("utf-8"))

    def keyed_pseudonym(values):
        return pl.DataFrame({"value": values}).select(hmac_of).to_series().to_arrow()

    con.create_function("keyed_pseudonym", keyed_pseudonym, [VARCHAR], VARCHAR, type="arrow", side_effects=False)


def pseudonym_sql(value: str) -> str:
    """SQL: the keyed pseudonym of the trimmed value (keyed_pseudonym, see create_pseudonym_function); blank
    stays blank. Needs the macros of SQL_MACROS. Equal to pseudonymise, value for value (tested)."""
    return f"case when py_strip({value}) = '' then '' else keyed_pseudonym(py_strip({value})) end"


def normalise_header(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower()


# --------------------------------------------------------------------------- reading

CHUNK_BYTES = 1 << 24
_NEWLINE, _CR, _QUOTE = 10, 13, 34


@dataclass
class ParsedExtract:
    """A file that passed the file-level checks, ready to be read by the database."""

    extract: ExtractFile
    encoding: str
    sha256: str
    size_bytes: int
    header: list[str]
    extra_columns: list[str]
    # First physical line of each record after the header, in file order (a quoted field may span lines; empty
    # lines are not records). The database's CSV reader numbers records, not lines: this gives each its line.
    record_lines: np.ndarray = field(repr=False)
    spans_lines: bool = False  # some record spans several lines

    @property
    def one_line_per_record(self) -> bool:
        """Record n (from 1) is on line n + 1: no record spans lines and no line is empty (the usual extract)."""
        return bool(np.array_equal(self.record_lines, np.arange(2, len(self.record_lines) + 2)))

    @property
    def positions(self) -> list[int]:
        """Header position of each contract column, in contract order."""
        return [self.header.index(c) for c in COLUMNS[self.extract.kind]]


def fingerprint(path: Path) -> str:
    """SHA-256 of a file, read in blocks (files of any size)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def check_encoding(data: np.ndarray, name: str) -> str:
    """Encoding of a file: UTF-8 (a byte-order mark is accepted), else Windows-1252; ExtractError otherwise."""
    if len(data) == 0:
        raise ExtractError(f"{name}: the file is empty (zero bytes)")
    if (data[:65536] == 0).any():
        raise ExtractError(f"{name}: not a CSV text file (it contains binary data)")
    for encoding, label in (("utf-8", "utf-8"), ("cp1252", "windows-1252")):
        decoder = codecs.getincrementaldecoder(encoding)()
        offset = 0
        try:
            for start in range(0, len(data), CHUNK_BYTES):
                block = data[start : start + CHUNK_BYTES].tobytes()
                offset = start
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return label
        except UnicodeDecodeError as exc:
            error = exc
    raise ExtractError(
        f"{name}: not readable as UTF-8 or Windows-1252 text ({error.reason} at byte {offset + error.start})"
    )


def record_lines(data: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """First physical line of every record after the header, and whether any record spans several lines.

    A line break inside a quoted field does not end a record; an empty line is not a record. Vectorised over
    blocks of the file (no Python object per row)."""
    size = len(data)
    starts, quotes, lines, spans = [], 0, 0, False
    for begin in range(0, size, CHUNK_BYTES):
        block = data[begin : begin + CHUNK_BYTES]
        newlines = np.flatnonzero(block == _NEWLINE)
        quote_at = np.flatnonzero(block == _QUOTE)
        outside = (np.searchsorted(quote_at, newlines) + quotes) % 2 == 0
        line_after = lines + np.arange(2, len(newlines) + 2, dtype=np.int64)
        following = newlines + begin + 1
        nxt = data[np.minimum(following, size - 1)]
        nxt2 = data[np.minimum(following + 1, size - 1)]
        empty = (
            (following >= size) | (nxt == _NEWLINE) | ((nxt == _CR) & ((following + 1 >= size) | (nxt2 == _NEWLINE)))
        )
        spans = spans or bool((~outside).any())
        starts.append(line_after[outside & ~empty])
        quotes += len(quote_at)
        lines += len(newlines)
    if quotes % 2:
        raise ExtractError(f"{name}: not a readable CSV file (unexpected end of data, line {lines + 1})")
    found = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    # the first record is the header: every later record starts after a record-ending line break
    return found, spans


def read_header(data: np.ndarray, encoding: str, name: str) -> list[str]:
    """The header row (the first record), names normalised; ExtractError when there is none."""
    text = data[: 1 << 20].tobytes().decode("utf-8-sig" if encoding == "utf-8" else "cp1252", errors="replace")
    try:
        first = next(csv.reader(io.StringIO(text, newline=""), strict=True), [])
    except csv.Error as exc:
        raise ExtractError(f"{name}: not a readable CSV file ({exc}, line 1)") from exc
    if not any(v.strip() for v in first):
        raise ExtractError(f"{name}: the file has no header row")
    return [normalise_header(h) for h in first]


def check_header(header: list[str], extract: ExtractFile) -> list[str]:
    """Extra (ignored) columns of a header; ExtractError when a contract column is missing or repeated."""
    expected = COLUMNS[extract.kind]
    missing = [c for c in expected if c not in header]
    if missing:
        raise ExtractError(
            f"{extract.name}: missing required column(s) {', '.join(missing)}; expected columns: {', '.join(expected)}"
        )
    refuse_repeated_columns(extract.name, header)
    return [h for h in header if h not in expected]


def read_extract(extract: ExtractFile, sha256: str | None = None) -> ParsedExtract:
    """Check one extract file. File-level problems raise ExtractError naming the file and the problem.

    Reads the bytes once more for the encoding and the record structure (memory-mapped, in blocks); the rows
    themselves are read by the database (see ingest)."""
    try:
        size = extract.path.stat().st_size
        data = np.memmap(extract.path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise ExtractError(
            f"{extract.name}: the file cannot be read ({getattr(exc, 'strerror', None) or exc})"
        ) from exc
    encoding = check_encoding(data, extract.name)
    lines, spans = record_lines(data, extract.name)
    header = read_header(data, encoding, extract.name)
    extra = check_header(header, extract)
    return ParsedExtract(
        extract=extract,
        encoding=encoding,
        sha256=sha256 or fingerprint(extract.path),
        size_bytes=size,
        header=header,
        extra_columns=extra,
        record_lines=lines,
        spans_lines=spans,
    )


# --------------------------------------------------------------------------- row checks (SQL)

# Python's str.strip() whitespace, so a value is trimmed in SQL exactly as it always was.
WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())

# Functions the row checks use, created in each connection that reads extracts (constants only, no data).
# Each has a fast path for the common case (a value already trimmed, a date already YYYY-MM-DD), equal to the
# general one there (tests/test_contract.py compares them); the general path is the definition.
ISO_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
SQL_MACROS = (
    # (the character-set trim, which is slow, runs only when an end is not printable ASCII)
    f"""create or replace temp macro py_strip(x) as (
        case
            when unicode(x) between 33 and 126 and unicode(right(x, 1)) between 33 and 126 then x
            when x = '' then x
            else trim(x, '{WHITESPACE}')
        end
    )""",
    # A required or optional date in YYYY-MM-DD or DD/MM/YYYY form; null when blank or not a real date.
    f"""create or replace temp macro contract_date(x) as (
        case
            when regexp_full_match(py_strip(x), '{ISO_DATE}')
                then try_strptime(py_strip(x), '%Y-%m-%d')
            when regexp_full_match(py_strip(x), '[0-9]{{1,2}}/[0-9]{{1,2}}/[0-9]{{4}}')
                then try_strptime(py_strip(x), '%d/%m/%Y')
        end
    )""",
    f"""create or replace temp macro real_date(x) as (
        case
            when regexp_full_match(x, '{ISO_DATE}') then case when x >= '0001-01-01' then try_cast(x as date) end
            when contract_date(x) >= timestamp '0001-01-01' then cast(contract_date(x) as date)
        end
    )""",
    # A parseable date as YYYY-MM-DD; anything else trimmed, for the data-quality checks downstream.
    f"""create or replace temp macro canonical_date(x) as (
        case
            when regexp_full_match(x, '{ISO_DATE}') then x
            else coalesce(cast(real_date(x) as varchar), py_strip(x))
        end
    )""",
    """create or replace temp macro yes_no(x) as (
        case
            when upper(x) in ('Y', 'YES') then 'Y'
            when upper(x) in ('N', 'NO') then 'N'
            else upper(x)
        end
    )""",
)


def create_macros(con) -> None:
    """The functions of SQL_MACROS in the connection (or cursor) `con`: temporary, so each connection makes its own."""
    for macro in SQL_MACROS:
        con.execute(macro)


# Row-level reasons as SQL conditions over a row as received (identifiers already pseudonymised), by kind.
# Parameters: $extract_date, $outcome_codes, $decision_makers, $schemes, $review_results. Flags computed while
# reading: wrong_field_count (the row's field count differs from the header's), is_conflict (see ingest).
REQUIRED_DATE = {"decisions": "decision_date", "vrr_requests": "request_date"}
ROW_CHECKS = {
    "decisions": {
        "wrong_field_count": "wrong_field_count",
        "missing_key": "py_strip(decision_id) = ''",
        "duplicate_key_conflict": "is_conflict",
        "missing_required_date": "py_strip(decision_date) = ''",
        "unparseable_date": "py_strip(decision_date) <> '' and real_date(decision_date) is null",
        "decision_date_after_extract": "real_date(decision_date) > $extract_date",
        "unknown_outcome_code": "not list_contains($outcome_codes, upper(py_strip(outcome_code)))",
        "unknown_decision_maker": "not list_contains($decision_makers, lower(py_strip(decision_maker)))",
        "reserved_force_code": "upper(py_strip(force_code)) = $all_forces",
    },
    "vrr_requests": {
        "wrong_field_count": "wrong_field_count",
        "missing_key": "py_strip(request_id) = ''",
        "duplicate_key_conflict": "is_conflict",
        "missing_required_date": "py_strip(request_date) = ''",
        "unparseable_date": "py_strip(request_date) <> '' and real_date(request_date) is null",
        "missing_decision_id": "py_strip(decision_id) = ''",
        "request_date_after_extract": "real_date(request_date) > $extract_date",
        "unknown_scheme": "not list_contains($schemes, lower(py_strip(scheme)))",
        "unknown_review_result": (
            "py_strip(review_result) <> '' and not list_contains($review_results, lower(py_strip(review_result)))"
        ),
        "review_completed_before_request": "real_date(review_completed_date) < real_date(request_date)",
    },
}


def reasons_sql(kind: str) -> str:
    """SQL for the list of a row's reasons, in order of precedence (its first is the row's reason_code)."""
    checks = ROW_CHECKS[kind]
    items = ", ".join(f"case when {checks[code]} then '{code}' end" for code in REASONS if code in checks)
    return f"list_filter([{items}], lambda r: r is not null)"


def refused_sql(kind: str) -> str:
    """SQL: whether a row has any reason to be refused (true or false, never null)."""
    return "(" + " or ".join(f"({condition}) is true" for condition in ROW_CHECKS[kind].values()) + ")"


def check_parameters(extract_date: dt.date, outcome_codes: frozenset[str]) -> dict:
    """Values bound to the row checks' parameters."""
    return {
        "extract_date": extract_date,
        "outcome_codes": sorted(outcome_codes),
        "decision_makers": list(DECISION_MAKERS),
        "schemes": list(SCHEMES),
        "review_results": list(REVIEW_RESULTS),
        "all_forces": ALL_FORCES,
    }


def used_parameters(sql: str, parameters: dict) -> dict:
    """The parameters a statement names (DuckDB refuses unused named parameters)."""
    return {name: value for name, value in parameters.items() if f"${name}" in sql}


def row_reasons(kind: str, values: dict[str, str], extract_date: dt.date, outcome_codes: frozenset[str]) -> list[str]:
    """Reasons (codes of REASONS) that one row cannot load, from the row alone: the SQL of ROW_CHECKS run on it."""
    import duckdb

    columns = ", ".join(f"${c}::varchar as {c}" for c in COLUMNS[kind])
    sql = f"select {reasons_sql(kind)} from (select {columns}, false as wrong_field_count, false as is_conflict)"
    with duckdb.connect() as con:
        create_macros(con)
        params = {**used_parameters(sql, check_parameters(extract_date, outcome_codes)), **values}
        return con.execute(sql, params).fetchone()[0]


def ordered(reasons: list[str]) -> list[str]:
    precedence = list(REASONS)
    return sorted(set(reasons), key=precedence.index)


def load_outcome_codes(seed: Path) -> frozenset[str]:
    with seed.open(newline="", encoding="utf-8") as handle:
        return frozenset(row["outcome_code"].strip().upper() for row in csv.DictReader(handle))
