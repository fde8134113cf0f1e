"""The files of one quarter's review pack, rendered from its disclosure-controlled tables: the accessible workbook
(gptables), tidy CSV files with a marker column per figure and a data dictionary, and the HTML page's data.

Nothing here computes a figure: every value comes from a `pack.Figure` that disclosure control has already
decided on, so the workbook, the CSV files, the charts and the narrative can only show published values.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import multiprocessing
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from pipeline import __version__, atomic, disclosure, warehouse
from pipeline.pack import (
    NOT_APPLICABLE,
    PROVISIONAL,
    REVISED,
    SYMBOLS,
    Column,
    Figure,
    Table,
    period_label,
    quarter_name,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TITLE = "Victims' Right to Review: quarterly review pack"
BASIS_TEXT = {
    "cohort": "Cohort basis: decisions made in the quarter, and what has happened to them since.",
    "rolling": "Cohort basis, rolling: decisions made in the four quarters ending with the quarter, pooled.",
    "period": "Period basis: requests received and reviews completed in the quarter, whatever the quarter of the "
    "decision (as the CPS publishes). Its totals differ from the cohort basis, which counts by the "
    "quarter of the decision.",
}


@dataclass(frozen=True)
class PackInfo:
    """What the cover, notes and manifest say about a pack."""

    quarter: dt.date
    label: str
    as_at: dt.date
    threshold: int
    contact: str
    version: str
    eligibility_rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def period_label(self) -> str:
        return period_label(self.quarter)

    @property
    def period_name(self) -> str:
        return quarter_name(self.quarter)

    @property
    def stem(self) -> str:
        return f"vrr_review_pack_{self.label}"


# --------------------------------------------------------------------------- cell values


def percent(fraction: float) -> Decimal:
    """A fraction as a percentage with one decimal place, halves rounded up (4.25% -> 4.3%)."""
    return (Decimal(repr(float(fraction))) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def one_decimal(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def shown(column: Column, figure: Figure) -> int | float | None:
    """The published number of a figure (None when withheld or not applicable)."""
    if figure.value is None:
        return None
    if column.kind == "rate":
        return float(percent(figure.value))
    if column.kind == "median":
        return float(one_decimal(figure.value))
    return int(figure.value)


def markers(figure: Figure, provisional: bool, revised: bool) -> str:
    out = list(figure.markers)
    if provisional:
        out.append(PROVISIONAL)
    if revised:
        out.append(REVISED)
    return "".join(dict.fromkeys(out))


def text_cell(value: Any) -> str:
    """A CSV cell: text a spreadsheet would run as a formula is neutralised with a leading quote."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def figure_columns(table: Table) -> list[Column]:
    return [c for c in table.columns if c.kind != "dimension"]


def dimension_columns(table: Table) -> list[Column]:
    return [c for c in table.columns if c.kind == "dimension"]


def row_id(table: Table, row: dict) -> tuple:
    return tuple(row[c.name] for c in dimension_columns(table))


# --------------------------------------------------------------------------- revisions against the previous pack

Figures = dict[tuple[str, tuple, str], str]  # (table, row id, figure) -> the value as shown, or its marker


def current_figures(tables: list[Table]) -> Figures:
    out: Figures = {}
    for table in tables:
        for row in table.rows:
            for column in figure_columns(table):
                figure = row[column.name]
                value = shown(column, figure)
                out[(table.name, row_id(table, row), column.name)] = (
                    text_cell(value) if value is not None else "".join(figure.markers)
                )
    return out


def read_previous(folder: Path | None, tables: list[Table]) -> tuple[Figures | None, list[dict]]:
    """The figures of the pack published before for this quarter (None when there is none), and its revisions."""
    if folder is None or not (folder / "csv").is_dir():
        return None, []
    out: Figures = {}
    for table in tables:
        path = folder / "csv" / f"{table.name}.csv"
        if not path.exists():
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                key = tuple(record[c.name] for c in dimension_columns(table))
                for column in figure_columns(table):
                    value = record.get(column.name, "")
                    marker = record.get(f"{column.name}_marker", "")
                    base = marker.replace(PROVISIONAL, "").replace(REVISED, "")
                    out[(table.name, key, column.name)] = value if value != "" else base
    revisions_path = folder / "csv" / "revisions.csv"
    revisions = []
    if revisions_path.exists():
        with revisions_path.open(newline="", encoding="utf-8") as handle:
            revisions = list(csv.DictReader(handle))
    return out, revisions


def revisions_between(
    previous: Figures | None, previous_revisions: list[dict], current: Figures, tables: list[Table]
) -> list[dict]:
    """Figures published in both packs whose values differ. When nothing differs from the previous pack (a rerun),
    the previous pack's own revisions stand, so a rerun writes the same files."""
    if previous is None:
        return []
    if previous == current:
        return previous_revisions
    labels = {(t.name, c.name): c.label for t in tables for c in t.columns}
    titles = {t.name: t.sheet for t in tables}
    dims = {t.name: dimension_columns(t) for t in tables}
    out = []
    for key in sorted(current, key=repr):
        old, new = previous.get(key), current[key]
        if old is None or old == new or not _is_number(old) or not _is_number(new):
            continue
        table, ident, name = key
        out.append(
            {
                "table": titles[table],
                "breakdown": "; ".join(f"{c.label}: {v}" for c, v in zip(dims[table], ident, strict=True)),
                "figure": labels[(table, name)],
                "previous": old,
                "revised": new,
                "change": text_cell(float(Decimal(new) - Decimal(old))),
                "_key": f"{table}|{'|'.join(ident)}|{name}",
            }
        )
    return out


def revised_keys(revisions: list[dict]) -> set[str]:
    return {r["_key"] for r in revisions}


def is_revised(keys: set[str], table: Table, row: dict, column: Column) -> bool:
    return f"{table.name}|{'|'.join(row_id(table, row))}|{column.name}" in keys


# --------------------------------------------------------------------------- CSV files


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows([text_cell(v) for v in row] for row in rows)


def write_tidy_csv(path: Path, table: Table, revised: set[str]) -> None:
    """One row per table row; each figure followed by its own marker column ([c], [z], [p], [r])."""
    header = [c.name for c in dimension_columns(table)]
    for column in figure_columns(table):
        header += [column.name, f"{column.name}_marker"]
    rows = []
    for row in table.rows:
        out: list[Any] = [row[c.name] for c in dimension_columns(table)]
        for column in figure_columns(table):
            figure = row[column.name]
            out += [shown(column, figure), markers(figure, row["provisional"], is_revised(revised, table, row, column))]
        rows.append(out)
    write_csv(path, header, rows)


def write_revisions_csv(path: Path, revisions: list[dict]) -> None:
    header = ["table", "breakdown", "figure", "previous", "revised", "change", "_key"]
    write_csv(path, header, [[r[h] for h in header] for r in revisions])


def write_dictionary(path: Path, tables: list[Table]) -> None:
    rows = []
    for table in tables:
        for column in table.columns:
            unit = "percentage, one decimal place" if column.kind == "rate" else column.unit
            rows.append([f"{table.name}.csv", column.name, column.label, column.kind, unit, column.description])
            if column.kind != "dimension":
                rows.append(
                    [
                        f"{table.name}.csv",
                        f"{column.name}_marker",
                        f"{column.label}: markers",
                        "marker",
                        "",
                        "Shorthand for the figure: " + "; ".join(f"{k} {v}" for k, v in SYMBOLS.items()),
                    ]
                )
    rows.append(["revisions.csv", "table", "Table", "dimension", "", "The table (worksheet) of the revised figure."])
    rows.append(["revisions.csv", "breakdown", "Breakdown", "dimension", "", "The row of the revised figure."])
    rows.append(["revisions.csv", "figure", "Figure", "dimension", "", "The revised figure."])
    rows.append(["revisions.csv", "previous", "Previous value", "number", "", "As published in the previous pack."])
    rows.append(["revisions.csv", "revised", "Revised value", "number", "", "As published in this pack."])
    rows.append(["revisions.csv", "change", "Change", "number", "", "Revised minus previous."])
    rows.append(["revisions.csv", "_key", "Key", "text", "", "Machine key of the figure (table|row|figure)."])
    write_csv(path, ["file", "column", "label", "kind", "unit", "description"], rows)


# --------------------------------------------------------------------------- the workbook


def cell(column: Column, figure: Figure) -> Any:
    value = shown(column, figure)
    return value if value is not None else "".join(figure.markers) or NOT_APPLICABLE


def status(provisional: bool, revised: bool) -> str:
    text = "Provisional [p]" if provisional else "Final"
    return text + (", revised [r]" if revised else "")


def symbols_used(tables: list[Table], revisions: list[dict]) -> list[str]:
    used = set()
    for table in tables:
        for row in table.rows:
            if row["provisional"]:
                used.add(PROVISIONAL)
            for column in figure_columns(table):
                used.update(row[column.name].markers)
    if revisions:
        used.add(REVISED)
    return [s for s in SYMBOLS if s in used]


def notes_rows(info: PackInfo) -> list[tuple[str, str]]:
    rules = "; ".join(
        f"{r['scheme'].upper() if r['scheme'] == 'cps' else r['scheme'].title()} scheme: outcome {r['outcome_code']} "
        f"decided by the {r['decision_maker'] if r['decision_maker'] == 'police' else 'CPS'}"
        f"{', suspect interviewed under caution' if r['requires_suspect_interviewed'] else ''}, "
        f"decisions from {r['scheme_start_date']:%d %B %Y}"
        for r in info.eligibility_rules
    )
    return [
        ("cohort", BASIS_TEXT["cohort"]),
        (
            "rolling",
            BASIS_TEXT["rolling"] + " Counts are added up over the window and the rate and interval "
            "recomputed on the totals, never averaged.",
        ),
        ("period", BASIS_TEXT["period"]),
        (
            "eligibility",
            "A decision is VRR-eligible when a rule in force covers it. Rules in force for this pack: "
            + rules
            + ". These rules are inferred from the schemes' published guidance; no official mapping of "
            "outcome codes to VRR eligibility is published.",
        ),
        (
            "uptake",
            "Uptake is decisions with at least one VRR request as a percentage of eligible decisions. A "
            "request counts when its decision is known and it is dated on or after the decision. The 95% interval "
            "is the Wilson score interval.",
        ),
        (
            "provisional",
            "Figures for a quarter are provisional [p] until six months after its start: decisions "
            "can still be recorded or corrected, and victims have three months from being told to ask for a review.",
        ),
        (
            "disclosure",
            f"Disclosure control: counts from 1 to {info.threshold - 1} are withheld [c]; 0 is shown. "
            "Where a withheld count could be worked out from the totals published in this pack or another pack "
            "(by subtraction across categories, forces or the quarters of a rolling window), another count is "
            "withheld as well. Rates, intervals and medians that depend on a withheld count are withheld, and a "
            f"median over fewer than {info.threshold} values is withheld.",
        ),
        (
            "rounding",
            "Percentages are shown to one decimal place, halves rounded up. Medians are in days or "
            "working days; a median of an even number of values is the mean of the two middle values.",
        ),
        ("working_days", "Working days are Monday to Friday, excluding bank holidays in England and Wales."),
        ("decisions", "The tables count decisions, not victims: a victim with two eligible decisions counts twice."),
        ("symbols", "Symbols used: " + "; ".join(f"{k} {v}" for k, v in SYMBOLS.items()) + "."),
        (
            "revisions",
            "A figure marked [r] differs from the one published in the previous pack for this quarter; "
            "the Revisions worksheet lists each with its previous value and the change. A pack is issued again "
            "only when something it shows changes (a figure, a marker or a note), not for a later extract that "
            "leaves its figures as they were: its as-at date is that of the extract it was made from.",
        ),
    ]


GENERAL_NOTES = (
    "eligibility",
    "uptake",
    "provisional",
    "disclosure",
    "rounding",
    "working_days",
    "decisions",
    "symbols",
    "revisions",
)


def gp_table(table: Table, revised: set[str]):
    import gptables as gpt
    import pandas as pd

    dims = dimension_columns(table)
    figures = figure_columns(table)
    records = []
    for row in table.rows:
        any_revised = any(is_revised(revised, table, row, c) for c in figures)
        record = {c.label: row[c.name] for c in dims}
        for column in figures:
            record[header(column)] = cell(column, row[column.name])
        record["Status"] = status(row["provisional"], any_revised)
        records.append(record)
    columns = [c.label for c in dims] + [header(c) for c in figures] + ["Status"]
    if not records:  # gptables refuses an empty table: one row says there is nothing to count
        records = [dict.fromkeys(columns, NOT_APPLICABLE) | {columns[0]: "None: nothing to count in this quarter"}]
    frame = pd.DataFrame.from_records(records, columns=columns)
    units = {header(c): ("%" if c.unit == "%" else c.unit) for c in figures if c.unit and c.unit != "number"}
    return gpt.GPTable(
        table=frame,
        table_name=f"{table.name}_table",
        title=table.title + f"$${table.basis}$$",
        subtitles=[
            table.description,
            *table.notes,
            "Status says whether a row's figures are provisional [p] "
            "or revised [r]; [c] marks a withheld figure, [z] a rate or median with nothing to count.",
            "Notes for every table: " + "".join(f"$${name}$$" for name in GENERAL_NOTES),
        ],
        units=units or None,
        scope="England and Wales police forces in the landing extracts; VRR-eligible decisions unless stated.",
        source="Police and CPS decision and VRR request extracts, through the VRR uptake warehouse.",
        index_columns={2: 0},
    )


def header(column: Column) -> str:
    """Unique header text: a rate sharing its label with a count says so."""
    return (
        f"{column.label} rate"
        if column.kind == "rate" and column.label in {"Told within target", "Victim did not support action"}
        else column.label
    )


def revisions_table(revisions: list[dict]):
    import gptables as gpt
    import pandas as pd

    columns = ["Table", "Breakdown", "Figure", "Previous value", "Revised value", "Change"]
    if revisions:
        records = [
            [r["table"], r["breakdown"], r["figure"], float(r["previous"]), float(r["revised"]), float(r["change"])]
            for r in revisions
        ]
    else:
        records = [["None", "No figure differs from the previous pack for this quarter", "[z]", "[z]", "[z]", "[z]"]]
    return gpt.GPTable(
        table=pd.DataFrame.from_records(records, columns=columns),
        table_name="revisions_table",
        title="Figures revised since the previous pack for this quarter$$revisions$$",
        subtitles=["[z] not applicable: nothing was revised."] if not revisions else [],
        scope="Every figure of this pack that was published in both packs with a different value.",
        source="The previous pack for this quarter and this pack.",
        index_columns={2: 0},
    )


def write_workbook(path: Path, info: PackInfo, tables: list[Table], revisions: list[dict]) -> None:
    import gptables as gpt
    import pandas as pd

    revised = revised_keys(revisions)
    provisional = any(row["provisional"] for row in tables[0].rows) if tables[0].rows else True
    sheets = {table.sheet: gp_table(table, revised) for table in tables}
    sheets["Revisions"] = revisions_table(revisions)
    cover = gpt.Cover(
        title=f"{TITLE}: {info.period_name} ({info.period_label})",
        intro=[
            "Of the decisions to take no further action that a victim may ask to have reviewed, how many victims "
            "ask, how does that differ between groups of victims, and what do the reviews find?",
            f"Period: {info.period_name} ({info.period_label}). Data as at {info.as_at:%d %B %Y}.",
        ],
        about=[
            [{"bold": True}, "Counting bases"],
            BASIS_TEXT["cohort"],
            BASIS_TEXT["rolling"],
            BASIS_TEXT["period"],
            [{"bold": True}, "Status"],
            (
                "The figures for this quarter are provisional [p]: they will change as investigations close and the "
                "three-month request window runs."
                if provisional
                else "The figures for this quarter are final."
            ),
            [{"bold": True}, "Disclosure control"],
            f"Counts from 1 to {info.threshold - 1} are withheld and shown as [c], with other figures withheld where "
            "they would let a withheld count be worked out. The Notes worksheet explains every rule and symbol.",
            [{"bold": True}, "Definitions"],
            "Definitions and the eligibility rules in force are on the Notes worksheet; each CSV column is described "
            "in csv/data_dictionary.csv beside this workbook.",
            f"Produced by vrr-uptake {info.version}.",
        ],
        contact=[info.contact],
    )
    notes = pd.DataFrame(
        {"Note reference": [k for k, _ in notes_rows(info)], "Note text": [t for _, t in notes_rows(info)]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook = gpt.produce_workbook(
            filename=str(path),
            sheets=sheets,
            cover=cover,
            notes_table=notes,
            contentsheet_options={"additional_elements": ["subtitles"]},
        )
        stamp = dt.datetime.combine(info.as_at, dt.time())
        workbook.set_properties(
            {
                "title": f"{TITLE}: {info.period_label}",
                "author": "vrr-uptake",
                "created": stamp,
                "comments": f"Data as at {info.as_at:%d %B %Y}",
            }
        )
        workbook.set_custom_property("Language", "en-GB")
        workbook.close()


# --------------------------------------------------------------------------- the HTML page's data


def published_rate(column_kind: str, figure: Figure) -> float | None:
    return None if figure.value is None else float(percent(figure.value)) / 100


def chart_data(info: PackInfo, tables: dict[str, Table]) -> dict[str, Any]:
    trend_rows = []
    for row in tables["uptake_trend"].rows:
        if row["force"] != "All forces":
            continue
        series = "All victims" if row["cohort_dimension"] == "All victims" else f"{row['cohort_value']} scheme"
        trend_rows.append(
            {
                "period_start": row["period_start"],
                "period_label": row["quarter"],
                "series": series,
                "rate": published_rate("rate", row["uptake_rate"]),
                "lower": published_rate("rate", row["uptake_ci_lower"]),
                "upper": published_rate("rate", row["uptake_ci_upper"]),
                "provisional": bool(row["provisional"]),
                "marker": markers(row["uptake_rate"], row["provisional"], False),
            }
        )
    cohort_rows = [
        {
            "dimension": row["cohort_dimension"],
            "category": row["cohort_value"],
            "rate": published_rate("rate", row["uptake_rate"]),
            "lower": published_rate("rate", row["uptake_ci_lower"]),
            "upper": published_rate("rate", row["uptake_ci_upper"]),
            "marker": markers(row["uptake_rate"], row["provisional"], False),
        }
        for row in tables["uptake_rolling"].rows
        if row["force"] == "All forces"
    ]
    outcome_rows = []
    for row in tables["review_outcomes"].rows:
        if row["force"] != "All forces" or row["scheme"] == "All schemes":
            continue
        for name, label in (("reviews_stands", "Decision stands"), ("reviews_overturned", "Decision overturned")):
            outcome_rows.append(
                {
                    "scheme": row["scheme"],
                    "outcome": label,
                    "reviews": row[name].value,
                    "marker": markers(row[name], row["provisional"], False),
                }
            )
    completeness_rows = [
        {
            "population": row["population"],
            "characteristic": row["characteristic"],
            "rate": published_rate("rate", row["completeness_rate"]),
            "marker": markers(row["completeness_rate"], row["provisional"], False),
        }
        for row in tables["completeness"].rows
        if row["force"] == "All forces"
    ]
    return {
        "uptake_trend": {
            "title": f"VRR uptake by quarter, eight quarters to {info.period_label}, all forces",
            "rows": trend_rows,
        },
        "uptake_by_cohort": {
            "title": f"VRR uptake by victim cohort, four quarters to {info.period_label}, all forces",
            "rows": cohort_rows,
        },
        "review_outcomes": {
            "title": f"Completed reviews by outcome and scheme, decisions made in {info.period_label}",
            "rows": outcome_rows,
        },
        "completeness": {
            "title": f"Recording of protected characteristics, {info.period_label}, all forces",
            "rows": completeness_rows,
        },
    }


def say(column: Column, figure: Figure) -> str:
    """A published figure in a sentence: its value, or its marker."""
    value = shown(column, figure)
    if value is None:
        return "withheld [c]" if figure.withheld else "not applicable [z]"
    if column.kind == "rate":
        return f"{value:.1f}%"
    return f"{value:,}" if isinstance(value, int) else f"{value:.1f}"


def uptake_sentence(columns: dict[str, Column], row: dict, decisions: str, requests: str) -> str:
    """The main uptake figures of a row in words, each withheld figure said once: `decisions` and `requests` are
    phrases with a {} for the count."""
    eligible, asked = row["eligible_decisions"], row["decisions_with_request"]
    rate, lower, upper = row["uptake_rate"], row["uptake_ci_lower"], row["uptake_ci_upper"]
    if eligible.withheld:
        return decisions.format("a small number of") + " (withheld [c]); so are the requests and the uptake."
    opening = decisions.format(say(columns["eligible_decisions"], eligible))
    if asked.withheld:
        return opening + "; the number with a request and the uptake are withheld [c]."
    if rate.withheld or lower.withheld or upper.withheld:
        return (
            opening
            + "; "
            + requests.format(say(columns["decisions_with_request"], asked))
            + " (the uptake is withheld [c])."
        )
    return (
        opening
        + "; "
        + requests.format(say(columns["decisions_with_request"], asked))
        + f" (uptake {say(columns['uptake_rate'], rate)}, 95% interval {say(columns['uptake_ci_lower'], lower)} "
        f"to {say(columns['uptake_ci_upper'], upper)})."
    )


def narrative(info: PackInfo, tables: dict[str, Table], provisional_quarters: list[str]) -> dict[str, list[str]]:
    columns = {c.name: c for t in tables.values() for c in t.columns}
    summary = []
    quarter = next(
        (
            r
            for r in tables["uptake_quarter"].rows
            if r["force"] == "All forces" and r["cohort_dimension"] == "All victims"
        ),
        None,
    )
    if quarter:
        summary.append(
            uptake_sentence(
                columns,
                quarter,
                f"In {info.period_name}, {{}} decisions a victim could ask to have reviewed were made "
                "across all forces",
                "victims asked for a review of {} of them",
            )
        )
    else:
        summary.append(f"No VRR-eligible decision was made in {info.period_name}.")
    rolling = next(
        (
            r
            for r in tables["uptake_rolling"].rows
            if r["force"] == "All forces" and r["cohort_dimension"] == "All victims"
        ),
        None,
    )
    if rolling:
        summary.append(
            uptake_sentence(
                columns,
                rolling,
                "Over the four quarters to the end of the quarter: {} eligible decisions",
                "{} with a request",
            )
        )
    reviews = next(
        (r for r in tables["review_outcomes"].rows if r["force"] == "All forces" and r["scheme"] == "All schemes"), None
    )
    if reviews:
        completed, stood, overturned = (
            reviews[n] for n in ("reviews_completed", "reviews_stands", "reviews_overturned")
        )
        opening = "Of the requests about the quarter's decisions, "
        if completed.withheld:
            summary.append(opening + "the number of reviews completed so far and their outcomes are withheld [c].")
        elif stood.withheld or overturned.withheld:
            summary.append(
                opening + f"{say(columns['reviews_completed'], completed)} reviews have been completed "
                "so far; their outcomes are withheld [c]."
            )
        else:
            summary.append(
                opening + f"{say(columns['reviews_completed'], completed)} reviews have been completed "
                f"so far: the decision stood in {say(columns['reviews_stands'], stood)} and was "
                f"overturned in {say(columns['reviews_overturned'], overturned)}."
            )
    basis = [BASIS_TEXT["cohort"], BASIS_TEXT["rolling"], BASIS_TEXT["period"]]
    caveats = [
        (
            "Provisional quarters [p]: " + ", ".join(provisional_quarters) + ". Their figures will change as "
            "investigations close and the three-month request window runs."
        )
        if provisional_quarters
        else "No quarter shown here is provisional.",
        f"Small numbers: counts from 1 to {info.threshold - 1} are withheld [c], and other figures are withheld "
        "where they would let a withheld count be worked out. Single quarters of one force are small: read the "
        "rolling four-quarter figures.",
        "Eligibility is inferred: no official mapping of outcome codes to VRR eligibility is published. The rules "
        "in force are listed in the workbook's Notes worksheet.",
        "The figures count decisions, not victims.",
    ]
    return {"summary": summary, "counting_basis": basis, "caveats": caveats}


def provisional_quarters(tables: dict[str, Table]) -> list[str]:
    labels = {r["quarter"] for r in tables["uptake_trend"].rows if r["provisional"]}
    return sorted(labels)


def report_data(info: PackInfo, tables: list[Table], files: list[dict]) -> dict[str, Any]:
    by_name = {t.name: t for t in tables}
    quarters = provisional_quarters(by_name)
    if tables[0].rows and tables[0].rows[0]["provisional"] and info.period_label not in quarters:
        quarters.append(info.period_label)
    return {
        "title": TITLE,
        "label": info.label,
        "period_label": info.period_label,
        "period_name": info.period_name,
        "as_at_date": info.as_at.isoformat(),
        "threshold": info.threshold,
        "provisional_quarters": sorted(quarters),
        "paragraphs": narrative(info, by_name, sorted(quarters)),
        "symbols": [[k, v] for k, v in SYMBOLS.items()],
        "files": files,
        "charts": chart_data(info, by_name),
    }


def withheld_counts(tables: list[Table]) -> dict[str, int]:
    """Cells withheld in a pack's tables, by rule."""
    out = dict.fromkeys(disclosure.RULE_TEXT, 0)
    for table in tables:
        for row in table.rows:
            for column in figure_columns(table):
                if row[column.name].withheld:
                    out[row[column.name].rule] += 1
    return out


# --------------------------------------------------------------------------- writing a pack


PACK_FILES = {
    "xlsx": "The accessible spreadsheet: cover, contents, notes and one table per worksheet.",
    "html": "This page: the main figures with charts.",
    "csv": "Tidy CSV files of the same tables, each figure with its own marker column, and a data dictionary.",
    "manifest": "What went into the pack: input files, as-at date, code version, disclosure settings and the "
    "SHA-256 of every file.",
    "sums": "SHA256SUMS: check the folder with `sha256sum -c SHA256SUMS`.",
}


def pack_fingerprint(info: PackInfo, tables: list, revisions: list[dict] | None) -> str:
    """SHA-256 of what a pack reports: its tables (every figure, marker and provisional flag), revisions, notes
    and the code that writes it (the manifest's content_sha256). With revisions None, of all but the revisions (the
    manifest's figures_sha256): a published pack made from the same tables, notes and code shows exactly what this
    one would, its revisions too (they follow from its figures and those of the pack before it), so it is not issued
    again.

    The as-at date and the input files are left out on purpose: a later extract that changes none of a quarter's
    figures leaves its pack as published, with the as-at date and input files it was made from (revisions
    practice: a publication is re-issued when revised, not because newer data confirmed it). Everything that does
    depend on the as-at date, such as whether a quarter is still provisional, is in the tables."""
    content = {
        "code": warehouse.export_code_fingerprint(),
        "info": [
            info.label,
            info.threshold,
            info.contact,
            info.version,
            [sorted((k, str(v)) for k, v in r.items()) for r in info.eligibility_rules],
        ],
        "tables": [
            [
                t.name,
                [
                    [
                        repr(row[c.name])
                        if not isinstance(row[c.name], Figure)
                        else [row[c.name].value, list(row[c.name].markers)]
                        for c in t.columns
                    ]
                    + [row["provisional"]]
                    for row in t.rows
                ],
            ]
            for t in tables
        ],
        "revisions": revisions,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def published_manifest(folder: Path) -> dict | None:
    """The manifest of a published pack whose files are all as its SHA256SUMS says, else None."""
    sums, manifest = folder / atomic.SUMS_NAME, folder / "manifest.json"
    if not sums.exists() or not manifest.exists():
        return None
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        path = folder / name
        if not path.is_file() or atomic.sha256_of(path) != digest:
            return None
    return json.loads(manifest.read_text(encoding="utf-8"))


@dataclass
class PackJob:
    """One quarter's pack to write: what it shows, the staging folder to write it in, and the published pack it
    replaces (None: none yet)."""

    info: PackInfo
    tables: list[Table]
    folder: Path
    previous: Path | None
    inputs: list[dict]


def is_unchanged(job: PackJob) -> bool:
    """Whether the published pack job.previous shows exactly what job would write (see pack_fingerprint)."""
    if job.previous is None:
        return False
    manifest = published_manifest(job.previous)
    return manifest is not None and manifest.get("figures_sha256") == pack_fingerprint(job.info, job.tables, None)


# What a pack writer imports (pandas, gptables, Altair, vl-convert, and Dagster through the quarters' partitions:
# about 2.5 s in a fresh interpreter), imported once by the server the workers fork from. A worker then imports the
# run's own module, as every multiprocessing child does, finding what that imports already loaded.
WORKER_MODULES = ["pipeline.publication", "pipeline.report"]


def workers_context() -> multiprocessing.context.BaseContext:
    """The pack writers' processes: forked from one server process started fresh, which imports WORKER_MODULES
    before it forks any worker, so that a worker starts in milliseconds."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)  # (no effect once the server runs: it has them already)
    return context


def start_workers(processes: int) -> None:
    """Start the pack writers' server now when packs will be written by more than one process, so that it imports
    what they need while this process does other work (the export starts it itself otherwise)."""
    if processes > 1:
        from multiprocessing import forkserver

        workers_context()
        forkserver.ensure_running()


def write_packs(jobs: list[PackJob], processes: int = 1) -> list[dict | None]:
    """Write the packs (see write_pack), `processes` at a time, and return their manifests in the order given; None
    for a pack not written, as the published one already shows exactly what it would (is_unchanged).

    Which packs are unchanged is decided first, in this process, so that workers are started only for packs to
    write. A pack is pure Python work (gptables, Altair), so threads would take turns: the run's own process writes
    packs and so do `processes - 1` worker processes beside it, each taking the next pack not yet taken until none
    is left. Workers are forked from a server process that was itself started fresh (multiprocessing's forkserver:
    nothing of the run's threads or open files is copied into them) and has already imported what a pack needs
    (start_workers), and are sent only a pack's tables. One process writes them one after another with no worker
    at all."""
    results: list[dict | None] = [None] * len(jobs)
    to_write = [i for i, job in enumerate(jobs) if not is_unchanged(job)]
    workers = min(processes, len(to_write)) - 1
    if workers < 1:
        for i in to_write:
            results[i] = write_pack(jobs[i])
        return results
    queue = iter(to_write)
    lock, failed = threading.Lock(), threading.Event()

    def take() -> int | None:
        with lock:
            return None if failed.is_set() else next(queue, None)

    def work(write) -> None:
        try:
            while (i := take()) is not None:
                results[i] = write(jobs[i])
        except BaseException:
            failed.set()  # the others stop after the pack in hand
            raise

    context = workers_context()
    with (
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
        ThreadPoolExecutor(max_workers=workers) as senders,
    ):
        sent = [senders.submit(work, lambda job: pool.submit(write_pack, job).result()) for _ in range(workers)]
        try:
            work(write_pack)
        finally:
            errors = [future.exception() for future in sent]
    for error in errors:
        if error is not None:
            raise error
    return results


def write_pack(job: PackJob) -> dict:
    """Write one quarter's pack into job.folder (a staging folder), with the revisions since the published pack
    job.previous, and return its manifest."""
    info, tables, folder, previous, inputs = job.info, job.tables, job.folder, job.previous, job.inputs
    current = current_figures(tables)
    before, before_revisions = read_previous(previous, tables)
    revisions = revisions_between(before, before_revisions, current, tables)
    fingerprint = pack_fingerprint(info, tables, revisions)
    revised = revised_keys(revisions)
    (folder / "csv").mkdir(parents=True)
    for table in tables:
        write_tidy_csv(folder / "csv" / f"{table.name}.csv", table, revised)
    write_revisions_csv(folder / "csv" / "revisions.csv", revisions)
    write_dictionary(folder / "csv" / "data_dictionary.csv", tables)
    write_workbook(folder / f"{info.stem}.xlsx", info, tables, revisions)
    files = [
        {"name": f"{info.stem}.xlsx", "description": PACK_FILES["xlsx"]},
        {"name": "csv/data_dictionary.csv", "description": PACK_FILES["csv"]},
        {"name": "manifest.json", "description": PACK_FILES["manifest"]},
        {"name": "SHA256SUMS", "description": PACK_FILES["sums"]},
    ]
    from pipeline import report  # the page's charts (Altair, vl-convert): imported by the export only

    html = report.render_report(report_data(info, tables, files))
    (folder / f"{info.stem}.html").write_text(html, encoding="utf-8")
    manifest = {
        "package": "vrr-uptake",
        "package_version": __version__,
        "pack": info.label,
        "period_label": info.period_label,
        "period": info.period_name,
        "as_at_date": info.as_at.isoformat(),
        "provisional": bool(tables[0].rows and tables[0].rows[0]["provisional"]),
        "input_files": inputs,
        "disclosure": {
            "threshold": info.threshold,
            "rules": dict(disclosure.RULE_TEXT),
            "cells_withheld_by_rule": withheld_counts(tables),
        },
        "revised_figures": len(revisions),
        "content_sha256": fingerprint,
        "figures_sha256": pack_fingerprint(info, tables, None),
        "tables": {table.name: len(table.rows) for table in tables},
    }
    manifest["files"] = {
        path.relative_to(folder).as_posix(): atomic.sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    atomic.write_sha256sums(folder)
    return manifest
