"""The quarterly review pack's tables, built from the marts and passed through disclosure control.

Every count the packs publish is registered once under its key (however many tables show it), with the additive
relations that tie it to other published counts, over every complete quarter at once: a trend table, a rolling
table and the quarterly table then all show one consistent pattern of withheld cells, and no combination of
packs reveals what one pack withholds. Rates, intervals and medians are then published or withheld by what they
depend on. The workbook, the CSV files, the HTML page and its narrative are all rendered from these tables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline import disclosure
from pipeline.partitions import export_label

ALL = "ALL"
ALL_SCHEMES = "All schemes"  # the marts' and tables' label for both schemes together
WITHHELD = "[c]"
PROVISIONAL = "[p]"
REVISED = "[r]"
NOT_APPLICABLE = "[z]"
SYMBOLS = {
    WITHHELD: "confidential: withheld to protect the people counted (disclosure control)",
    PROVISIONAL: "provisional: the figure can still change as investigations close and requests arrive",
    REVISED: "revised: differs from the figure published in the previous pack for the same quarter",
    NOT_APPLICABLE: "not applicable: a rate or median with nothing to count (for example no review completed)",
}
UPTAKE_COUNTS_ALL_DIMENSIONS = ("eligible_decisions", "decisions_with_request")
UPTAKE_COUNTS_BY_SCHEME = ("requests", "reviews_completed", "reviews_stands", "reviews_overturned")
SCHEME_DIMENSIONS = ("all", "scheme")
COHORT_LABELS = {
    "all": "All victims",
    "scheme": "Scheme",
    "age_band": "Age band",
    "sex": "Sex",
    "ethnicity_group": "Ethnic group",
    "disability": "Disability",
    "offence_group": "Offence group",
}
# The category of each recorded characteristic that means "not recorded", in vrr_uptake's cohorts.
NOT_RECORDED = {
    "age": ("age_band", "Unknown"),
    "sex": ("sex", "Unknown"),
    "ethnicity": ("ethnicity_group", "Not stated"),
    "disability": ("disability", "Unknown"),
}
POPULATION_LABELS = {"all_decisions": "All decisions", "vrr_eligible": "VRR-eligible decisions", "rape": "Rape"}
CHARACTERISTIC_LABELS = {"age": "Age", "sex": "Sex", "ethnicity": "Ethnicity", "disability": "Disability"}
RAPE_GROUPS = ("Adult rape", "Child rape")
PERIOD_COUNTS = (
    "requests_received",
    "requests_after_three_months",
    "reviews_completed",
    "reviews_overturned",
    "completed_within_target",
)
NOTIFICATION_COUNTS = ("notified", "not_notified", "notified_within_target")


# --------------------------------------------------------------------------- quarters


def add_quarters(quarter: dt.date, n: int) -> dt.date:
    months = quarter.year * 12 + quarter.month - 1 + 3 * n
    return dt.date(months // 12, months % 12 + 1, 1)


def is_complete(quarter: dt.date, as_at: dt.date) -> bool:
    """A quarter is complete once it has ended by the as-at date (the extract was taken after its last day)."""
    return add_quarters(quarter, 1) <= as_at


def quarter_name(quarter: dt.date) -> str:
    end = add_quarters(quarter, 1) - dt.timedelta(days=1)
    return f"{quarter:%B} to {end:%B %Y}" if quarter.year == end.year else f"{quarter:%B %Y} to {end:%B %Y}"


# --------------------------------------------------------------------------- the data read from the marts

MART_QUERIES = {
    "vrr_uptake": "select * from marts.vrr_uptake",
    "vrr_uptake_rolling": "select * from marts.vrr_uptake_rolling",
    "vrr_requests_by_period": "select * from marts.vrr_requests_by_period",
    "nfa_notification_timeliness": "select * from marts.nfa_notification_timeliness",
    "characteristics_completeness": "select * from marts.characteristics_completeness",
    "victim_withdrawal_rate": "select * from marts.victim_withdrawal_rate",
    "victim_withdrawal": "select * from marts.victim_withdrawal",
}


@dataclass
class MartData:
    """The quarterly marts' rows for the complete quarters, and the warehouse's as-at date."""

    as_at: dt.date
    rows: dict[str, list[dict[str, Any]]]
    eligibility_rules: list[dict[str, Any]]

    @property
    def quarters(self) -> list[dt.date]:
        """The complete quarters in which any packed mart has a row (a quarter may have only period-basis events)."""
        return sorted({r["period_start"] for rows in self.rows.values() for r in rows})


def read_marts(con) -> MartData:
    as_at = con.execute("select max(extract_date) from raw.extract_files").fetchone()[0]
    rows = {}
    for mart, query in MART_QUERIES.items():
        relation = con.execute(
            f"{query} where period_start + interval 3 month <= $as_at order by all", {"as_at": as_at}
        )
        names = [d[0] for d in relation.description]
        rows[mart] = [dict(zip(names, r, strict=True)) for r in relation.fetchall()]
    relation = con.execute("select * from reference.vrr_eligibility_rules order by scheme, outcome_code")
    names = [d[0] for d in relation.description]
    rules = [dict(zip(names, r, strict=True)) for r in relation.fetchall()]
    return MartData(as_at=as_at, rows=rows, eligibility_rules=rules)


# --------------------------------------------------------------------------- published counts and relations


# The grain of each mart's counts beyond quarter and force. A published count's key is (mart, measure,
# period_start, force_code, *the mart's grain columns): one key for it in the relations and in the tables.
GRAIN = {
    "vrr_uptake": ("cohort_dimension", "cohort_value"),
    "vrr_uptake_rolling": ("cohort_dimension", "cohort_value"),
    "nfa_notification_timeliness": ("scheme",),
    "vrr_requests_by_period": ("scheme",),
    "victim_withdrawal_rate": ("offence_group",),
    "victim_withdrawal": ("offence_group", "withdrawal_stage", "withdrawal_reason"),
    "characteristics_completeness": ("population", "characteristic"),
}


def count_key(mart: str, measure: str, row: dict) -> tuple:
    """The key of the count `measure` of a row of `mart`."""
    return (mart, measure, row["period_start"], row["force_code"], *(row[column] for column in GRAIN[mart]))


def eligible_by_scheme_key(row: dict) -> tuple:
    """vrr_uptake's count of the eligible decisions of a row's quarter, force and scheme."""
    return ("vrr_uptake", "eligible_decisions", row["period_start"], row["force_code"], "scheme", row["scheme"])


@dataclass
class Counts:
    values: dict[tuple, int] = field(default_factory=dict)
    relations: list[disclosure.Relation] = field(default_factory=list)

    def add(self, key: tuple, value: int) -> None:
        if key in self.values and self.values[key] != value:
            raise ValueError(f"one count, two values: {key}: {self.values[key]} and {value}")
        self.values[key] = int(value)

    def relate(self, total: tuple, parts: list[tuple]) -> None:
        self.relations.append(disclosure.Relation(total, tuple(sorted(set(parts), key=repr))))

    def relate_forces(self, keys: list[tuple], force_at: int = 3) -> None:
        """For keys that differ only in their force, the forces add up to ALL."""
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for key in keys:
            groups[key[:force_at] + key[force_at + 1 :]].append(key)
        for group in groups.values():
            totals = [k for k in group if k[force_at] == ALL]
            parts = [k for k in group if k[force_at] != ALL]
            if totals:
                self.relate(totals[0], parts)


def published_counts(data: MartData) -> Counts:
    counts = Counts()
    uptake = data.rows["vrr_uptake"]
    uptake_keys: list[tuple] = []
    for row in uptake:
        measures = UPTAKE_COUNTS_ALL_DIMENSIONS + (
            UPTAKE_COUNTS_BY_SCHEME if row["cohort_dimension"] in SCHEME_DIMENSIONS else ()
        )
        for measure in measures:
            value = (
                row["reviews_completed"] - row["reviews_overturned"] if measure == "reviews_stands" else row[measure]
            )
            counts.add(count_key("vrr_uptake", measure, row), value)
            uptake_keys.append(count_key("vrr_uptake", measure, row))
        if row["cohort_dimension"] in SCHEME_DIMENSIONS:
            counts.relate(
                count_key("vrr_uptake", "reviews_completed", row),
                [count_key("vrr_uptake", "reviews_stands", row), count_key("vrr_uptake", "reviews_overturned", row)],
            )
    relate_dimensions(counts, uptake_keys)
    counts.relate_forces(uptake_keys)

    rolling_keys: list[tuple] = []
    sliding: list[tuple] = []
    present = set(counts.values)
    for row in data.rows["vrr_uptake_rolling"]:
        for measure in UPTAKE_COUNTS_ALL_DIMENSIONS:
            key = count_key("vrr_uptake_rolling", measure, row)
            counts.add(key, row[measure])
            rolling_keys.append(key)
            window = [add_quarters(row["period_start"], -k) for k in range(4)]
            parts = [("vrr_uptake", measure, q, *key[3:]) for q in window]
            counts.relate(key, [p for p in parts if p in present])
            # Consecutive windows share three quarters: their difference is this quarter less the one that left.
            before = ("vrr_uptake_rolling", measure, add_quarters(row["period_start"], -1), *key[3:])
            left = ("vrr_uptake", measure, add_quarters(row["period_start"], -4), *key[3:])
            sliding.append((key, before, parts[0], left))
    relate_dimensions(counts, rolling_keys)
    counts.relate_forces(rolling_keys)
    for key, before, entered, left in sliding:
        counts.relations.append(
            disclosure.Relation(
                key,
                tuple(k for k in (before, entered) if k in counts.values),
                tuple(k for k in (left,) if k in present),
            )
        )

    keys = []
    for row in data.rows["nfa_notification_timeliness"]:
        eligible = eligible_by_scheme_key(row)
        counts.add(eligible, row["decisions"])
        parts = []
        for measure in NOTIFICATION_COUNTS:
            key = count_key("nfa_notification_timeliness", measure, row)
            counts.add(key, row[measure])
            keys.append(key)
            parts.append(key)
        counts.relate(eligible, parts[:2])
    counts.relate_forces(keys)

    keys = []
    schemes: dict[tuple, list[tuple]] = defaultdict(list)
    for row in data.rows["vrr_requests_by_period"]:
        for measure in PERIOD_COUNTS:
            key = count_key("vrr_requests_by_period", measure, row)
            counts.add(key, row[measure])
            keys.append(key)
            if row["scheme"] != ALL_SCHEMES:
                schemes[key[:4]].append(key)
    counts.relate_forces(keys)
    for (mart, measure, period, force), parts in schemes.items():  # the schemes add up to both together
        counts.relate((mart, measure, period, force, ALL_SCHEMES), parts)

    keys = []
    assigned: dict[tuple, list[tuple]] = defaultdict(list)
    for row in data.rows["victim_withdrawal_rate"]:
        for measure in ("outcomes_assigned", "victim_does_not_support"):
            key = count_key("victim_withdrawal_rate", measure, row)
            counts.add(key, row[measure])
            keys.append(key)
        assigned[(row["period_start"], row["force_code"])].append(
            count_key("victim_withdrawal_rate", "outcomes_assigned", row)
        )
    counts.relate_forces(keys)

    keys = []
    by_group: dict[tuple, list[tuple]] = defaultdict(list)
    for row in data.rows["victim_withdrawal"]:
        key = count_key("victim_withdrawal", "decisions", row)
        counts.add(key, row["decisions"])
        keys.append(key)
        by_group[(row["period_start"], row["force_code"], row["offence_group"])].append(key)
    counts.relate_forces(keys)
    for (period, force, group), parts in by_group.items():
        counts.relate(("victim_withdrawal_rate", "victim_does_not_support", period, force, group), parts)

    keys = []
    for row in data.rows["characteristics_completeness"]:
        decisions = completeness_decisions_key(row)
        counts.add(decisions, row["decisions"])
        keys.append(decisions)
        recorded = count_key("characteristics_completeness", "recorded", row)
        counts.add(recorded, row["recorded"])
        keys.append(recorded)
        period, force = row["period_start"], row["force_code"]
        if row["population"] == "vrr_eligible":
            dimension, value = NOT_RECORDED[row["characteristic"]]
            unknown = ("vrr_uptake", "eligible_decisions", period, force, dimension, value)
            counts.relate(decisions, [recorded] + ([unknown] if unknown in counts.values else []))
        elif row["population"] == "all_decisions":
            counts.relate(decisions, assigned[(period, force)])
        elif row["population"] == "rape":
            counts.relate(decisions, [k for k in assigned[(period, force)] if k[4] in RAPE_GROUPS])
    counts.relate_forces(sorted(set(keys), key=repr))
    return counts


def completeness_decisions_key(row: dict) -> tuple:
    """The decisions behind a completeness row: for VRR-eligible decisions, vrr_uptake's count of them."""
    if row["population"] == "vrr_eligible":
        return ("vrr_uptake", "eligible_decisions", row["period_start"], row["force_code"], "all", "All")
    return ("characteristics_completeness", "decisions", row["period_start"], row["force_code"], row["population"])


def relate_dimensions(counts: Counts, keys: list[tuple]) -> None:
    """Within a quarter, force and measure, the categories of each cohort dimension add up to the 'all' row."""
    groups: dict[tuple, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
    for key in keys:
        groups[key[:4]][key[4]].append(key)
    for head, dimensions in groups.items():
        total = (*head, "all", "All")
        if total not in counts.values:
            continue
        for dimension, parts in dimensions.items():
            if dimension != "all":
                counts.relate(total, parts)


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str  # dimension, count, rate (a fraction, shown as a percentage), median, setting
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class Figure:
    value: Any  # None when withheld or not applicable
    markers: tuple[str, ...] = ()
    rule: str | None = None  # the disclosure rule that withheld it
    true_value: Any = None  # the warehouse's value, kept for the disclosure log only; never rendered

    @property
    def withheld(self) -> bool:
        return self.rule is not None


@dataclass
class Table:
    name: str
    sheet: str
    title: str
    source_mart: str
    basis: str
    description: str
    columns: list[Column]
    rows: list[dict[str, Any]]  # dimension columns: text; figure columns: Figure; plus "provisional": bool
    notes: tuple[str, ...] = ()


FORCE = Column("force", "Force", "dimension", description="Police force code; All forces first.")
QUARTER = Column("quarter", "Quarter", "dimension", description="Financial-year quarter, e.g. 2024/25 Q1.")


def force_label(code: str) -> str:
    return "All forces" if code == ALL else code


def force_order(code: str) -> tuple:
    return (code != ALL, code)


class Builder:
    """Builds one quarter's tables from the marts, with every figure's disclosure decision."""

    def __init__(self, data: MartData, withheld: dict[tuple, str], threshold: int):
        self.data = data
        self.withheld = withheld
        self.threshold = threshold

    # figures
    def count(self, key: tuple, value: int) -> Figure:
        rule = self.withheld.get(key)
        return Figure(None if rule else int(value), (WITHHELD,) if rule else (), rule, int(value))

    def derived(self, value, inputs: list[tuple], values_behind: int | None = None, median: bool = False) -> Figure:
        if median:
            rule = disclosure.median_rule(values_behind, inputs, self.withheld, self.threshold)
        else:
            rule = disclosure.dependent_rule(inputs, self.withheld)
        if rule:
            return Figure(None, (WITHHELD,), rule, value)
        if value is None or value != value:  # null or NaN: nothing to count
            return Figure(None, (NOT_APPLICABLE,), None, None)
        return Figure(value, (), None, value)

    def uptake_figures(self, row: dict, mart: str) -> dict[str, Figure]:
        eligible = count_key(mart, "eligible_decisions", row)
        requested = count_key(mart, "decisions_with_request", row)
        inputs = [eligible, requested]
        return {
            "eligible_decisions": self.count(eligible, row["eligible_decisions"]),
            "decisions_with_request": self.count(requested, row["decisions_with_request"]),
            "uptake_rate": self.derived(row["uptake_rate"], inputs),
            "uptake_ci_lower": self.derived(row["uptake_ci_lower"], inputs),
            "uptake_ci_upper": self.derived(row["uptake_ci_upper"], inputs),
        }

    def rows_of(self, mart: str, quarters: set[dt.date], where=lambda r: True) -> list[dict]:
        return [r for r in self.data.rows[mart] if r["period_start"] in quarters and where(r)]

    # tables
    def tables(self, quarter: dt.date) -> list[Table]:
        return [
            self.uptake_quarter(quarter),
            self.uptake_rolling(quarter),
            self.uptake_trend(quarter),
            self.review_outcomes(quarter),
            self.requests_by_period(quarter),
            self.notification(quarter),
            self.completeness(quarter),
            self.withdrawal_rate(quarter),
            self.withdrawal_reasons(quarter),
        ]

    def uptake_table(self, name, sheet, title, mart, basis, description, rows, lead=()) -> Table:
        out = []
        for row in rows:
            item = {c.name: row_text(c.name, row) for c in lead}
            item |= {
                "force": force_label(row["force_code"]),
                "cohort_dimension": COHORT_LABELS[row["cohort_dimension"]],
                "cohort_value": row["cohort_value"],
            }
            item |= self.uptake_figures(row, mart)
            item["provisional"] = row["is_provisional"]
            item["period_start"] = row["period_start"].isoformat()
            item["_order"] = (
                force_order(row["force_code"]),
                list(COHORT_LABELS).index(row["cohort_dimension"]),
                row["cohort_value"] != "All",
                row["cohort_value"],
                row["period_start"],
            )
            out.append(item)
        columns = [*lead, FORCE, COHORT_DIMENSION, COHORT_VALUE, *UPTAKE_COLUMNS]
        return Table(name, sheet, title, mart, basis, description, columns, sort_rows(out))

    def uptake_quarter(self, quarter: dt.date) -> Table:
        return self.uptake_table(
            "uptake_quarter",
            "Uptake_quarter",
            "VRR uptake in the quarter by victim cohort and force",
            "vrr_uptake",
            "cohort",
            "Eligible decisions made in the quarter and how many the victim asked to have "
            "reviewed, with 95% Wilson score intervals.",
            self.rows_of("vrr_uptake", {quarter}),
        )

    def uptake_rolling(self, quarter: dt.date) -> Table:
        rows = self.rows_of("vrr_uptake_rolling", {quarter})
        table = self.uptake_table(
            "uptake_rolling",
            "Uptake_rolling",
            "VRR uptake over the four quarters to the end of the quarter, by victim cohort and force",
            "vrr_uptake_rolling",
            "rolling",
            "Eligible decisions made in the four quarters ending with this quarter, pooled (the interval is "
            "recomputed on the pooled counts). One force's single quarter is too small to read; these are.",
            rows,
        )
        window = {r["period_start"]: r for r in rows}
        if window:
            first = min(r["window_start"] for r in rows)
            table.notes = (
                f"Window: {quarter_name(first).split(' to ')[0]} to {quarter_name(quarter).split(' to ')[1]}.",
            )
        return table

    def uptake_trend(self, quarter: dt.date) -> Table:
        quarters = {add_quarters(quarter, -k) for k in range(8)}
        rows = self.rows_of("vrr_uptake", quarters, lambda r: r["cohort_dimension"] in SCHEME_DIMENSIONS)
        return self.uptake_table(
            "uptake_trend",
            "Uptake_trend",
            "VRR uptake over eight quarters, all victims and by scheme",
            "vrr_uptake",
            "cohort",
            "The quarterly uptake of the eight quarters ending with this quarter, for all victims and for each scheme.",
            rows,
            lead=(QUARTER,),
        )

    def review_outcomes(self, quarter: dt.date) -> Table:
        rows = []
        for row in self.rows_of("vrr_uptake", {quarter}, lambda r: r["cohort_dimension"] in SCHEME_DIMENSIONS):
            keys = {m: count_key("vrr_uptake", m, row) for m in UPTAKE_COUNTS_BY_SCHEME}
            stands = row["reviews_completed"] - row["reviews_overturned"]
            rows.append(
                {
                    "force": force_label(row["force_code"]),
                    "scheme": ALL_SCHEMES if row["cohort_dimension"] == "all" else row["cohort_value"],
                    "requests": self.count(keys["requests"], row["requests"]),
                    "reviews_completed": self.count(keys["reviews_completed"], row["reviews_completed"]),
                    "reviews_stands": self.count(keys["reviews_stands"], stands),
                    "reviews_overturned": self.count(keys["reviews_overturned"], row["reviews_overturned"]),
                    "overturn_rate": self.derived(
                        row["overturn_rate"], [keys["reviews_completed"], keys["reviews_overturned"]]
                    ),
                    "median_days_to_request": self.derived(
                        row["median_days_to_request"], [], row["decisions_timed_to_request"], median=True
                    ),
                    "provisional": row["is_provisional"],
                    "_order": (force_order(row["force_code"]), row["cohort_dimension"] != "all", row["cohort_value"]),
                }
            )
        return Table(
            "review_outcomes",
            "Review_outcomes",
            "Requests and what the reviews found, by scheme and force",
            "vrr_uptake",
            "cohort",
            "Requests about eligible decisions made in the quarter, and the results of their completed reviews so far.",
            REVIEW_COLUMNS,
            sort_rows(rows),
        )

    def requests_by_period(self, quarter: dt.date) -> Table:
        rows = []
        for row in self.rows_of("vrr_requests_by_period", {quarter}):
            item = {"force": force_label(row["force_code"]), "scheme": row["scheme"]}
            item |= {m: self.count(count_key("vrr_requests_by_period", m, row), row[m]) for m in PERIOD_COUNTS}
            item["median_working_days_to_complete"] = self.derived(
                row["median_working_days_to_complete"],
                [count_key("vrr_requests_by_period", "reviews_completed", row)],
                row["reviews_completed"],
                median=True,
            )
            target = row["target_working_days"]  # none for both schemes together: each has its own
            item["target_working_days"] = Figure(target) if target is not None else Figure(None, (NOT_APPLICABLE,))
            item["provisional"] = row["is_provisional"]
            item["_order"] = (force_order(row["force_code"]), row["scheme"])
            rows.append(item)
        return Table(
            "requests_by_period",
            "Requests_period",
            "Requests received and reviews completed in the quarter, with review timeliness, by scheme and force",
            "vrr_requests_by_period",
            "period",
            "Every counted request received in the quarter, and every review completed in the quarter, "
            "whatever the quarter of the decision.",
            PERIOD_COLUMNS,
            sort_rows(rows),
        )

    def notification(self, quarter: dt.date) -> Table:
        rows = []
        for row in self.rows_of("nfa_notification_timeliness", {quarter}):
            decisions = eligible_by_scheme_key(row)

            item = {
                "force": force_label(row["force_code"]),
                "scheme": row["scheme"],
                "decisions": self.count(decisions, row["decisions"]),
            }
            item |= {
                m: self.count(count_key("nfa_notification_timeliness", m, row), row[m]) for m in NOTIFICATION_COUNTS
            }
            item["notified_within_target_rate"] = self.derived(
                row["notified_within_target_rate"],
                [decisions, count_key("nfa_notification_timeliness", "notified_within_target", row)],
            )
            item["median_working_days_to_notify"] = self.derived(
                row["median_working_days_to_notify"],
                [count_key("nfa_notification_timeliness", "notified", row)],
                row["notified"],
                median=True,
            )
            item["target_working_days"] = Figure(row["target_working_days"])
            item["provisional"] = row["is_provisional"]
            item["_order"] = (force_order(row["force_code"]), row["scheme"])
            rows.append(item)
        return Table(
            "notification",
            "Notification",
            "How soon victims were told of a VRR-eligible decision, by scheme and force",
            "nfa_notification_timeliness",
            "cohort",
            "Working days in England and Wales "
            "from the decision to telling the victim, for eligible decisions made in the quarter.",
            NOTIFICATION_COLUMNS,
            sort_rows(rows),
        )

    def completeness(self, quarter: dt.date) -> Table:
        rows = []
        for row in self.rows_of("characteristics_completeness", {quarter}):
            decisions = completeness_decisions_key(row)
            recorded = count_key("characteristics_completeness", "recorded", row)
            rows.append(
                {
                    "force": force_label(row["force_code"]),
                    "population": POPULATION_LABELS[row["population"]],
                    "characteristic": CHARACTERISTIC_LABELS[row["characteristic"]],
                    "decisions": self.count(decisions, row["decisions"]),
                    "recorded": self.count(recorded, row["recorded"]),
                    "completeness_rate": self.derived(row["completeness_rate"], [decisions, recorded]),
                    "provisional": row["is_provisional"],
                    "_order": (
                        force_order(row["force_code"]),
                        list(POPULATION_LABELS).index(row["population"]),
                        list(CHARACTERISTIC_LABELS).index(row["characteristic"]),
                    ),
                }
            )
        return Table(
            "completeness",
            "Completeness",
            "How completely victims' protected characteristics were recorded, by population and force",
            "characteristics_completeness",
            "cohort",
            "Decisions made in the quarter with an outcome assigned, and how many recorded each characteristic.",
            COMPLETENESS_COLUMNS,
            sort_rows(rows),
        )

    def withdrawal_rate(self, quarter: dt.date) -> Table:
        rows = []
        for row in self.rows_of("victim_withdrawal_rate", {quarter}):
            rows.append(
                {
                    "force": force_label(row["force_code"]),
                    "offence_group": row["offence_group"],
                    "outcomes_assigned": self.count(
                        count_key("victim_withdrawal_rate", "outcomes_assigned", row), row["outcomes_assigned"]
                    ),
                    "victim_does_not_support": self.count(
                        count_key("victim_withdrawal_rate", "victim_does_not_support", row),
                        row["victim_does_not_support"],
                    ),
                    "withdrawal_rate": self.derived(
                        row["withdrawal_rate"],
                        [
                            count_key("victim_withdrawal_rate", "outcomes_assigned", row),
                            count_key("victim_withdrawal_rate", "victim_does_not_support", row),
                        ],
                    ),
                    "provisional": row["is_provisional"],
                    "_order": (force_order(row["force_code"]), row["offence_group"]),
                }
            )
        return Table(
            "withdrawal_rate",
            "Withdrawal_rate",
            "Outcomes where the victim did not support action (outcomes 14 and 16), by offence group and force",
            "victim_withdrawal_rate",
            "cohort",
            "The rape review scorecards' victim-engagement measure, for decisions made in the quarter.",
            WITHDRAWAL_RATE_COLUMNS,
            sort_rows(rows),
        )

    def withdrawal_reasons(self, quarter: dt.date) -> Table:
        rows = []
        for row in self.rows_of("victim_withdrawal", {quarter}):
            key = count_key("victim_withdrawal", "decisions", row)
            rows.append(
                {
                    "force": force_label(row["force_code"]),
                    "offence_group": row["offence_group"],
                    "withdrawal_stage": row["withdrawal_stage"],
                    "withdrawal_reason": row["withdrawal_reason"],
                    "decisions": self.count(key, row["decisions"]),
                    "provisional": row["is_provisional"],
                    "_order": (
                        force_order(row["force_code"]),
                        row["offence_group"],
                        row["withdrawal_stage"],
                        row["withdrawal_reason"],
                    ),
                }
            )
        return Table(
            "withdrawal_reasons",
            "Withdrawal_reasons",
            "When and why victims withdrew support, by offence group and force",
            "victim_withdrawal",
            "cohort",
            "Decisions with outcome 14 or 16 made in the quarter, by the stage and reason of withdrawal recorded.",
            WITHDRAWAL_COLUMNS,
            sort_rows(rows),
        )


def row_text(name: str, row: dict) -> str:
    return row["period_label"] if name == "quarter" else str(row[name])


def sort_rows(rows: list[dict]) -> list[dict]:
    """Rows in a stable order (all forces first), without their sort key."""
    return [{k: v for k, v in r.items() if k != "_order"} for r in sorted(rows, key=lambda r: r["_order"])]


def period_label(quarter: dt.date) -> str:
    """Financial-year label of a quarter start, as the marts' period_label: 2024-04-01 -> 2024/25 Q1."""
    fy = quarter.year if quarter.month >= 4 else quarter.year - 1
    return f"{fy}/{(fy + 1) % 100:02d} Q{((quarter.month - 4) % 12) // 3 + 1}"


COHORT_DIMENSION = Column(
    "cohort_dimension",
    "Cohort dimension",
    "dimension",
    description="The victim characteristic the row splits by (All victims: no split).",
)
COHORT_VALUE = Column("cohort_value", "Cohort", "dimension", description="The group within the dimension.")
UPTAKE_COLUMNS = [
    Column(
        "eligible_decisions",
        "Eligible decisions",
        "count",
        "number",
        "Decisions a victim may ask to have reviewed (eligibility rules on the Notes sheet).",
    ),
    Column(
        "decisions_with_request",
        "Decisions with a request",
        "count",
        "number",
        "Of those, decisions with at least one VRR request.",
    ),
    Column("uptake_rate", "Uptake", "rate", "%", "Decisions with a request as a percentage of eligible decisions."),
    Column("uptake_ci_lower", "Uptake 95% interval lower bound", "rate", "%", "Wilson score interval, lower bound."),
    Column("uptake_ci_upper", "Uptake 95% interval upper bound", "rate", "%", "Wilson score interval, upper bound."),
]
REVIEW_COLUMNS = [
    FORCE,
    Column("scheme", "Scheme", "dimension", description="Police or CPS scheme, or All schemes."),
    Column("requests", "Requests", "count", "number", "VRR requests about the quarter's eligible decisions."),
    Column(
        "reviews_completed",
        "Reviews completed",
        "count",
        "number",
        "Requests whose review found the decision stands or overturned it.",
    ),
    Column(
        "reviews_stands", "Decision stands", "count", "number", "Completed reviews that left the decision as it was."
    ),
    Column(
        "reviews_overturned",
        "Decision overturned",
        "count",
        "number",
        "Completed reviews that overturned the decision (the victim's request succeeded).",
    ),
    Column(
        "overturn_rate",
        "Overturned",
        "rate",
        "% of reviews completed",
        "Decisions overturned as a percentage of reviews completed.",
    ),
    Column(
        "median_days_to_request",
        "Median days from notification to request",
        "median",
        "days",
        "Median calendar days from telling the victim of the decision to the first request.",
    ),
]
PERIOD_COLUMNS = [
    FORCE,
    Column("scheme", "Scheme", "dimension", description="Police or CPS scheme of the request."),
    Column("requests_received", "Requests received", "count", "number", "Requests received in the quarter."),
    Column(
        "requests_after_three_months",
        "Requests received after three months",
        "count",
        "number",
        "Received more than three calendar months after the victim was told of the decision.",
    ),
    Column("reviews_completed", "Reviews completed", "count", "number", "Reviews completed in the quarter."),
    Column(
        "reviews_overturned",
        "Decision overturned",
        "count",
        "number",
        "Of those, reviews that overturned the decision.",
    ),
    Column(
        "completed_within_target",
        "Completed within target",
        "count",
        "number",
        "Reviews completed within the scheme's target in working days.",
    ),
    Column(
        "median_working_days_to_complete",
        "Median working days to complete a review",
        "median",
        "working days",
        "Median working days from the request to the completion of its review.",
    ),
    Column("target_working_days", "Review target", "setting", "working days", "The scheme's review target."),
]
NOTIFICATION_COLUMNS = [
    FORCE,
    Column("scheme", "Scheme", "dimension", description="Police or CPS scheme of the decision."),
    Column("decisions", "Eligible decisions", "count", "number", "VRR-eligible decisions made in the quarter."),
    Column("notified", "Victim told", "count", "number", "Decisions with a date the victim was told."),
    Column(
        "not_notified",
        "No record of the victim being told",
        "count",
        "number",
        "Decisions with no date the victim was told.",
    ),
    Column(
        "notified_within_target",
        "Told within target",
        "count",
        "number",
        "Victim told within the target in working days.",
    ),
    Column(
        "notified_within_target_rate",
        "Told within target",
        "rate",
        "% of eligible decisions",
        "Told within target as a percentage of eligible decisions.",
    ),
    Column(
        "median_working_days_to_notify",
        "Median working days to tell the victim",
        "median",
        "working days",
        "Median working days from the decision to telling the victim, over victims told.",
    ),
    Column("target_working_days", "Notification target", "setting", "working days", "The notification target."),
]
COMPLETENESS_COLUMNS = [
    FORCE,
    Column("population", "Population", "dimension", description="All decisions, VRR-eligible decisions, or rape."),
    Column("characteristic", "Characteristic", "dimension", description="The protected characteristic."),
    Column("decisions", "Decisions", "count", "number", "Decisions made in the quarter with an outcome assigned."),
    Column("recorded", "Recorded", "count", "number", "Of those, decisions with the characteristic recorded."),
    Column("completeness_rate", "Completeness", "rate", "%", "Recorded as a percentage of decisions."),
]
WITHDRAWAL_RATE_COLUMNS = [
    FORCE,
    Column("offence_group", "Offence group", "dimension", description="Adult rape, child rape or other offences."),
    Column("outcomes_assigned", "Outcomes assigned", "count", "number", "Decisions with an outcome other than 0."),
    Column(
        "victim_does_not_support", "Victim did not support action", "count", "number", "Of those, outcomes 14 and 16."
    ),
    Column(
        "withdrawal_rate",
        "Victim did not support action",
        "rate",
        "% of outcomes assigned",
        "Outcomes 14 and 16 as a percentage of outcomes assigned.",
    ),
]
WITHDRAWAL_COLUMNS = [
    FORCE,
    Column("offence_group", "Offence group", "dimension", description="Adult rape, child rape or other offences."),
    Column("withdrawal_stage", "Stage of withdrawal", "dimension", description="When the victim withdrew support."),
    Column("withdrawal_reason", "Reason for withdrawal", "dimension", description="Why, as recorded."),
    Column("decisions", "Decisions", "count", "number", "Decisions with outcome 14 or 16."),
]


# --------------------------------------------------------------------------- the whole control, once


@dataclass
class Control:
    data: MartData
    counts: Counts
    withheld: dict[tuple, str]
    threshold: int
    kept: int = 0  # counts withheld because the previous issue withheld them and their values stand
    _record: dict[str, tuple[int, str | None]] = field(default_factory=dict, repr=False, compare=False)
    _log_rows: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    _tables: dict[dt.date, list[Table]] = field(default_factory=dict, repr=False, compare=False)

    def record(self) -> dict[str, tuple[int, str | None]]:
        """Every count as audit.disclosure_counts keeps it for the next run: `key_text` to its value and rule (None
        where shown)."""
        return dict(self._record)

    def builder(self) -> Builder:
        return Builder(self.data, self.withheld, self.threshold)

    def tables(self, quarter: dt.date) -> list[Table]:
        """One quarter's tables (built once: the disclosure log and the quarter's pack show the same tables)."""
        if quarter not in self._tables:
            self._tables[quarter] = self.builder().tables(quarter)
        return self._tables[quarter]

    def log_rows(self) -> list[dict[str, Any]]:
        """One row per withheld figure of any pack (counts, and the rates, intervals and medians that follow)."""
        if self._log_rows is None:
            self._log_rows = self._make_log_rows()
        return [dict(row) for row in self._log_rows]

    def _make_log_rows(self) -> list[dict[str, Any]]:
        out: dict[tuple, dict] = {}
        for quarter in self.data.quarters:
            for table in self.tables(quarter):
                for row in table.rows:
                    dims = [c for c in table.columns if c.kind == "dimension"]
                    for column in table.columns:
                        figure = row.get(column.name)
                        if not isinstance(figure, Figure) or not figure.withheld:
                            continue
                        breakdown = "; ".join(f"{c.label}: {row[c.name]}" for c in dims if c.name != "quarter")
                        item = {
                            "source_mart": table.source_mart,
                            "figure": column.name,
                            "period_label": row.get("quarter") or period_label(quarter),
                            "breakdown": breakdown,
                            "rule": figure.rule,
                            "rule_description": disclosure.RULE_TEXT[figure.rule],
                            "value": None if figure.true_value is None else float(figure.true_value),
                        }
                        out[(table.source_mart, column.name, item["period_label"], breakdown)] = item
        return [out[k] for k in sorted(out, key=repr)]


def control(data: MartData, threshold: int, previous: Mapping[str, tuple[int, str | None]] | None = None) -> Control:
    """Disclosure control over every published count. `previous`: every count of the last issue (`key_text` to its
    value and rule, None where shown), from `audit.disclosure_counts`. Those it withheld whose values stand are
    withheld again, so that issues read together reveal nothing either withholds; the counts it showed of a quarter
    none of whose counts changed are withheld only where nothing else will do, so that its packs stay as they were.

    The same marts, threshold and previous issue always give the same decisions, and the decisions of a run given
    as `previous` with the same marts give them again. So the last result is kept and given again for such an
    input: in one process (`make run`) the export step reads back exactly the marts and decisions the disclosure
    step made, and need not audit them a second time."""
    previous = dict(previous or {})
    key = (
        threshold,
        data.as_at,
        tuple((mart, tuple(tuple(r.items()) for r in rows)) for mart, rows in sorted(data.rows.items())),
        tuple(tuple(r.items()) for r in data.eligibility_rules),
    )
    if _last_control:
        (last_key, last_previous), last = _last_control[0]
        if last_key == key and previous in (last_previous, last.record()):
            return last
    counts = published_counts(data)
    disclosure.check_relations(counts.values, counts.relations)
    texts = {count: key_text(count) for count in counts.values}
    standing = {}  # the counts of the last issue whose values stand, and whether it withheld them
    for count, text in texts.items():
        value, rule = previous.get(text, (None, None))
        if value == counts.values[count]:
            standing[count] = rule is not None
    kept = [count for count, withheld in standing.items() if withheld]
    # A quarter the last issue published with every one of its counts as they are now (none changed, none new, none
    # gone) is settled: its counts are withheld beside others only where no count of a new or revised quarter will
    # do. Within a quarter the smallest count goes first, as ever (a revised quarter's totals are no more to be
    # withheld than before).
    gone = set(previous) - set(texts.values())
    changed = {count[2] for count in counts.values if count not in standing}
    changed |= {dt.date.fromisoformat(json.loads(text)[2]) for text in gone}
    settled = {count for count, withheld in standing.items() if not withheld and count[2] not in changed}
    withheld = disclosure.withhold(
        counts.values, counts.relations, threshold, follows=windows_containing, kept=kept, settled=settled
    )
    record = {text: (counts.values[count], withheld.get(count)) for count, text in texts.items()}
    result = Control(data, counts, withheld, threshold, kept=len(kept), _record=record)
    _last_control[:] = [((key, previous), result)]
    return result


_last_control: list[tuple[tuple, Control]] = []  # the last input (as immutable values, and previous) and its control


def key_text(key: tuple) -> str:
    """A count's key as text, as audit.disclosure_counts stores it: a JSON list (dates as YYYY-MM-DD)."""
    return json.dumps([v.isoformat() if isinstance(v, dt.date) else v for v in key], ensure_ascii=False)


def windows_containing(key: tuple) -> list[tuple]:
    """The rolling four-quarter counts that contain a quarter's uptake count (withheld with it)."""
    if key[0] != "vrr_uptake":
        return []
    return [("vrr_uptake_rolling", key[1], add_quarters(key[2], k), *key[3:]) for k in range(4)]


def with_markers(figure: Figure, *markers: str) -> Figure:
    return replace(figure, markers=tuple(dict.fromkeys((*figure.markers, *markers))))


__all__ = ["Column", "Control", "Figure", "Table", "control", "export_label", "read_marts"]
