"""The review pack's HTML page: one self-contained document with static SVG charts and their data tables.

Charts are Altair specifications rendered to SVG by vl-convert (an embedded Vega engine, no browser and no
network), then inlined in the page. The page loads nothing: no scripts, fonts, stylesheets or images.
It receives only published figures (withheld values arrive as None) and plots those rounded to the precision
shown in the tables, so its drawing carries no more than the tables beside it.
"""

import datetime as dt
import functools
import re
import textwrap
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

import altair as alt
import jinja2
import vl_convert
from markupsafe import Markup, escape

# The Vega-Lite release bundled in vl-convert that matches Altair's schema, named so that an upgrade of
# vl-convert cannot change the drawing silently.
VEGALITE_VERSION = "6.4"
# Arial-metric fonts first: vl-convert measures labels with Liberation Sans where Arial is absent, so the
# browser's text fits the space Vega gave it. No web font is ever loaded.
FONT = 'Arial, "Liberation Sans", "Helvetica Neue", Helvetica, sans-serif'
TEXT = "#0b0c0c"
MUTED = "#505a5f"
GRID = "#dcdcdc"
SHADE = "#f0f0f0"
# The Analysis Function's categorical palette (dark blue, turquoise, dark pink, orange), made for white.
PALETTE = ["#12436D", "#28A197", "#801650", "#F46A25"]
DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3]]
SHAPES = ["circle", "square", "triangle-up", "diamond"]
SERIES_ORDER = ["All victims", "Police scheme", "CPS scheme"]
NO_FIGURES = "No published figures for this chart."
ALL_WITHHELD = "No figure in this chart can be published: every value is withheld (see the table)."

CHARTS = {
    "uptake_trend": {
        "heading": "Uptake by quarter",
        "subtitle": [
            "Requests for a review as a percentage of qualifying decisions; shaded band: 95% confidence interval."
        ],
    },
    "uptake_by_cohort": {
        "heading": "Uptake by group of victims",
        "subtitle": [
            "Requests for a review as a percentage of qualifying decisions, four quarters pooled; line: 95% "
            "confidence interval."
        ],
    },
    "review_outcomes": {
        "heading": "Outcomes of completed reviews",
        "subtitle": ["Number of reviews completed, by outcome and scheme."],
    },
    "completeness": {
        "heading": "Completeness of recording",
        "subtitle": ["Percentage of records with each protected characteristic recorded."],
    },
}


def render_report(pack: dict) -> str:
    """The review pack's HTML page for one quarter's pack; the same dict always gives the same text."""
    charts = pack.get("charts", {})
    sections = []
    for key, builder in (
        ("uptake_trend", _trend),
        ("uptake_by_cohort", _cohort),
        ("review_outcomes", _outcomes),
        ("completeness", _completeness),
    ):
        spec = charts.get(key, {"title": CHARTS[key]["heading"], "rows": []})
        sections.append(builder(key, spec, pack))
    return _page().render(
        pack=pack,
        as_at=_long_date(pack["as_at_date"]),
        provisional=pack.get("provisional_quarters", []),
        sections=sections,
        files=[{"href": quote(f["name"]), **f} for f in pack.get("files", [])],
        style=Markup(STYLE),
    )


@functools.cache
def _page() -> jinja2.Template:
    """The page's template, compiled once per process (a process writes one pack after another)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(PAGE)


# ---------------------------------------------------------------- formatting


def _long_date(iso: str) -> str:
    """2024-09-30 -> 30 September 2024 (the GOV.UK style), independent of the machine's locale."""
    day = dt.date.fromisoformat(iso)
    months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    return f"{day.day} {months[day.month - 1]} {day.year}"


def _shown_rate(rate: float | None) -> float | None:
    """A rate at the precision of the tables (a percentage with one decimal), half away from zero."""
    if rate is None:
        return None
    return float(Decimal(str(rate)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def _percent(rate: float | None, marker: str) -> str:
    if rate is None:
        return _withheld(marker)
    return f"{(Decimal(str(rate)) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _count(value: int | None, marker: str) -> str:
    return _withheld(marker) if value is None else f"{value:,}"


def _withheld(marker: str) -> str:
    """What a table shows in place of a value that is not published: its withholding symbol."""
    symbols = re.findall(r"\[[a-z]\]", marker or "")
    blanks = [s for s in symbols if s in ("[c]", "[x]", "[z]")]
    return "".join(blanks) or "[x]"


def _interval(lower: float | None, upper: float | None, marker: str) -> str:
    if lower is None or upper is None:
        return _withheld(marker)
    return f"{_percent(lower, marker)} to {_percent(upper, marker)}"


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=width, break_long_words=False) or [""]


def _in_order(values) -> list:
    """Distinct values in order of first appearance (the order the pack lists its rows in)."""
    return list(dict.fromkeys(values))


# ---------------------------------------------------------------- the charts


@functools.cache
def _config() -> dict:
    """One sober style for every chart: dark text, light grid, no chart border. The `config` of a chart's
    specification, worked out once: set on each chart's dictionary, not by Altair's configure methods, each of which
    copies the whole chart (with its data)."""
    styled = (
        alt.Chart()
        .configure(font=FONT, background="white", aria=False)
        .configure_view(stroke=None)
        .configure_mark(aria=False)
        .configure_axis(
            labelFontSize=13,
            titleFontSize=13,
            labelColor=TEXT,
            titleColor=TEXT,
            titleFontWeight="bold",
            gridColor=GRID,
            domainColor=MUTED,
            tickColor=MUTED,
            titlePadding=10,
        )
        .configure_title(
            fontSize=17,
            color=TEXT,
            anchor="start",
            subtitleFontSize=13,
            subtitleColor=MUTED,
            subtitlePadding=6,
            offset=16,
        )
        .configure_legend(
            labelFontSize=13,
            titleFontSize=13,
            labelColor=TEXT,
            titleColor=TEXT,
            orient="top",
            direction="horizontal",
            symbolStrokeWidth=0,
            symbolSize=110,
            columnPadding=22,
            labelLimit=260,
            titleOrient="left",
            titlePadding=12,
        )
        .configure_header(
            labelFontSize=14,
            labelColor=TEXT,
            labelFontWeight="bold",
            labelAngle=0,
            labelAlign="left",
            labelOrient="top",
            labelAnchor="start",
            labelPadding=8,
            title=None,
        )
    )
    return styled.to_dict(validate=False)["config"]


def _title(spec: dict, key: str, width: int, extra: tuple[str, ...] = ()) -> alt.TitleParams:
    """The chart's title wrapped to its width (Vega does not wrap), and what it shows as a subtitle."""
    chars = max(40, width // 9)
    subtitle = [line for part in [*CHARTS[key]["subtitle"], *extra] for line in _wrap(part, int(chars * 1.3))]
    return alt.TitleParams(_wrap(spec["title"], chars), subtitle=subtitle)


def _trend(key: str, spec: dict, pack: dict) -> dict:
    rows = spec["rows"]
    quarters = [label for _, label in sorted({(r["period_start"], r["period_label"]) for r in rows})]
    present = _in_order(r["series"] for r in rows)
    series = [s for s in SERIES_ORDER if s in present] + [s for s in present if s not in SERIES_ORDER]
    provisional = [
        q
        for q in quarters
        if q in pack.get("provisional_quarters", []) or any(r["provisional"] and r["period_label"] == q for r in rows)
    ]
    rows = sorted(rows, key=lambda r: (series.index(r["series"]), r["period_start"]))
    table = {
        "columns": ["Quarter", "Series", "Uptake rate", "95% confidence interval", "Symbols"],
        "numeric": [False, False, True, True, False],
        "rows": [
            [
                r["period_label"],
                r["series"],
                _percent(r["rate"], r["marker"]),
                _interval(r["lower"], r["upper"], r["marker"]),
                r["marker"],
            ]
            for r in rows
        ],
    }
    notes = []
    if provisional:
        notes.append(
            "Provisional: " + ", ".join(provisional) + ". Figures for these quarters can still change "
            "as late requests and reviews are recorded; they are marked [p] and drawn as hollow points."
        )
    if any(r["rate"] is None for r in rows):
        notes.append("A gap in a line is a figure that is not published (see the table for its symbol).")
    plotted = [
        {
            "quarter": r["period_label"],
            "series": r["series"],
            "rate": _shown_rate(r["rate"]),
            "lower": _shown_rate(r["lower"]),
            "upper": _shown_rate(r["upper"]),
            "status": "Provisional" if r["provisional"] else "Final",
        }
        for r in rows
    ]
    chart = None
    if any(p["rate"] is not None for p in plotted):
        width = 620

        def by_series(channel, values):
            return channel(
                "series:N", title="Series", sort=series, scale=alt.Scale(domain=series, range=values[: len(series)])
            )

        bands = alt.Scale(type="band", domain=quarters, paddingInner=0, paddingOuter=0)
        x = alt.X(
            "quarter:N",
            title="Quarter (financial year)",
            sort=quarters,
            bandPosition=0.5,
            scale=bands,
            axis=alt.Axis(
                labelAngle=0, labelAlign="center", labelExpr="split(datum.label, ' ')", labelLineHeight=16, grid=False
            ),
        )
        y = alt.Y(
            "rate:Q",
            title="Uptake rate",
            axis=alt.Axis(format=".1~%", tickCount=6),
            scale=alt.Scale(zero=True, nice=True),
        )
        layers = []
        if provisional:
            marks = alt.Data(values=[{"quarter": q, "label": "Provisional"} for q in provisional])
            layers.append(
                alt.Chart(marks).mark_rect(color=SHADE).encode(x=alt.X("quarter:N", sort=quarters, scale=bands))
            )
            layers.append(
                alt.Chart(marks)
                .mark_text(baseline="top", dy=6, fontSize=13, fontStyle="italic", color=TEXT)
                .encode(
                    x=alt.X("quarter:N", sort=quarters, bandPosition=0.5, scale=bands), y=alt.value(0), text="label:N"
                )
            )
        base = alt.Chart(alt.Data(values=plotted))
        # One band per series in its colour, unencoded: a legend-less colour channel would remove the legend.
        for colour, name in zip(PALETTE, series, strict=False):
            layers.append(
                base.mark_area(opacity=0.13, color=colour, invalid="break-paths-filter-domains")
                .encode(x=x, y="lower:Q", y2="upper:Q")
                .transform_filter(alt.datum.series == name)
            )
        layers.append(
            base.mark_line(strokeWidth=2.5, invalid="break-paths-filter-domains").encode(
                x=x, y=y, color=by_series(alt.Color, PALETTE), strokeDash=by_series(alt.StrokeDash, DASHES)
            )
        )
        for status, look in (("Final", {"filled": True}), ("Provisional", {"filled": False, "fill": "white"})):
            layers.append(
                base.mark_point(size=75, strokeWidth=2, opacity=1, **look)
                .encode(
                    x=x,
                    y=y,
                    color=by_series(alt.Color, PALETTE),
                    shape=by_series(alt.Shape, SHAPES),
                )
                .transform_filter(alt.datum.status == status)
            )
        hollow = ("Hollow points: provisional figures.",) if any(p["status"] == "Provisional" for p in plotted) else ()
        chart = alt.layer(*layers).properties(width=width, height=320, title=_title(spec, key, width, hollow))
    description = (
        f"Line chart of the uptake rate in each quarter from {quarters[0]} to {quarters[-1]} for "
        f"{', '.join(series)}, with 95% confidence intervals."
        if quarters
        else ""
    )
    return _section(key, spec, chart, table, notes, description)


def _labelled(group: str, item: str, value, text: str | None, text_at, marker: str, **fields) -> dict:
    """A category of a horizontal chart: its label written beside the mark, or its withholding symbol at zero."""
    return {
        "group": group,
        "item": item,
        "value": value,
        **fields,
        "text": text if value is not None else _withheld(marker),
        "text_at": (value if text_at is None else text_at) if value is not None else 0,
    }


def _horizontal(data: list[dict], marks: list, x: dict, groups: list[str], title, width: int = 420):
    """Categories down the page, one panel per group: the marks, then each category's label or symbol.
    `x` holds the value axis's title, axis and scale."""
    y = alt.Y("item:N", title=None, sort=None, axis=alt.Axis(labelLimit=400, ticks=False, labelPadding=8))
    text = (
        alt.Chart()
        .mark_text(align="left", dx=6, fontSize=13, color=TEXT)
        .encode(x=alt.X("text_at:Q", **x), y=y, text="text:N")
    )
    layers = [text] + [mark.encode(x=alt.X("value:Q", **x), y=y) for mark in marks]
    return (
        alt.layer(*layers, data=alt.Data(values=data))
        .properties(
            width=width,
            height=alt.Step(30),
        )
        .facet(
            row=alt.Row("group:N", sort=groups, title=None),
            spacing=24,
            title=title,
        )
        .resolve_scale(y="independent")
    )


def _cohort(key: str, spec: dict, pack: dict) -> dict:
    rows = spec["rows"]
    groups = _in_order(r["dimension"] for r in rows)
    table = {
        "columns": ["Group", "Category", "Uptake rate", "95% confidence interval", "Symbols"],
        "numeric": [False, False, True, True, False],
        "rows": [
            [
                r["dimension"],
                r["category"],
                _percent(r["rate"], r["marker"]),
                _interval(r["lower"], r["upper"], r["marker"]),
                r["marker"],
            ]
            for r in rows
        ],
    }
    data = [
        _labelled(
            r["dimension"],
            r["category"],
            _shown_rate(r["rate"]),
            _percent(r["rate"], ""),
            _shown_rate(r["upper"]),
            r["marker"],
            lower=_shown_rate(r["lower"]),
            upper=_shown_rate(r["upper"]),
        )
        for r in rows
    ]
    chart = None
    if any(d["value"] is not None for d in data):
        x = {
            "title": "Uptake rate, with 95% confidence interval",
            "axis": alt.Axis(format=".1~%", tickCount=6),
            "scale": alt.Scale(zero=True, nice=True),
        }
        marks = [
            alt.Chart()
            .mark_rule(strokeWidth=2.5, color=PALETTE[0])
            .encode(x2="upper:Q")
            .transform_calculate(value="datum.lower"),
            alt.Chart().mark_point(filled=True, size=75, color=PALETTE[0], opacity=1),
        ]
        chart = _horizontal(data, marks, x, groups, _title(spec, key, 700))
    description = (
        "Chart of the uptake rate with its 95% confidence interval for each category of "
        + ", ".join(g.lower() for g in groups)
        + "."
        if groups
        else ""
    )
    return _section(key, spec, chart, table, [], description)


def _outcomes(key: str, spec: dict, pack: dict) -> dict:
    rows = spec["rows"]
    schemes = _in_order(r["scheme"] for r in rows)
    table = {
        "columns": ["Scheme", "Outcome", "Reviews completed", "Symbols"],
        "numeric": [False, False, True, False],
        "rows": [[r["scheme"], r["outcome"], _count(r["reviews"], r["marker"]), r["marker"]] for r in rows],
    }
    data = [
        _labelled(r["scheme"], r["outcome"], r["reviews"], _count(r["reviews"], ""), r["reviews"], r["marker"])
        for r in rows
    ]
    chart = None
    if any(d["value"] is not None for d in data):
        x = {
            "title": "Reviews completed (number)",
            "axis": alt.Axis(format=",d", tickMinStep=1, tickCount=6),
            "scale": alt.Scale(zero=True, nice=True),
        }
        marks = [alt.Chart().mark_bar(color=PALETTE[0], height=alt.RelativeBandSize(0.65))]
        chart = _horizontal(data, marks, x, schemes, _title(spec, key, 700))
    description = (
        "Bar chart of the number of reviews completed by outcome, for the " + " and ".join(schemes) + " schemes."
        if schemes
        else ""
    )
    return _section(key, spec, chart, table, [], description)


def _completeness(key: str, spec: dict, pack: dict) -> dict:
    rows = spec["rows"]
    populations = _in_order(r["population"] for r in rows)
    table = {
        "columns": ["Population", "Characteristic", "Recorded", "Symbols"],
        "numeric": [False, False, True, False],
        "rows": [[r["population"], r["characteristic"], _percent(r["rate"], r["marker"]), r["marker"]] for r in rows],
    }
    data = [
        _labelled(
            r["population"],
            r["characteristic"],
            _shown_rate(r["rate"]),
            _percent(r["rate"], ""),
            _shown_rate(r["rate"]),
            r["marker"],
        )
        for r in rows
    ]
    chart = None
    if any(d["value"] is not None for d in data):
        x = {
            "title": "Records with the characteristic recorded",
            "axis": alt.Axis(format=".0%", values=[0, 0.2, 0.4, 0.6, 0.8, 1]),
            "scale": alt.Scale(domain=[0, 1]),
        }
        marks = [alt.Chart().mark_bar(color=PALETTE[0], height=alt.RelativeBandSize(0.65))]
        chart = _horizontal(data, marks, x, populations, _title(spec, key, 700))
    description = (
        "Bar chart of the percentage of records with each protected characteristic recorded, for "
        + " and ".join(p.lower() for p in populations)
        + "."
        if populations
        else ""
    )
    return _section(key, spec, chart, table, [], description)


# ---------------------------------------------------------------- SVG and the page


def _svg(chart, key: str, title: str, description: str) -> str:
    """The chart as inline SVG: one accessible image named by its title and described by a sentence."""
    spec = chart.to_dict(validate=False)
    spec["config"] = _config()
    svg = vl_convert.vegalite_to_svg(spec, vl_version=VEGALITE_VERSION)
    # Vega's own ARIA markup is dropped: the picture is one image, its figures are in the table beside it.
    vega_aria = re.compile(r'\s(?:role|aria-[a-z]+)="[^"]*"')
    svg = re.sub(r"<[^>]+>", lambda tag: vega_aria.sub("", tag.group(0)), svg)
    # Ids inside the drawing (clip paths, gradients) are made unique to this chart on the page.
    for old in sorted(set(re.findall(r'\sid="([^"]+)"', svg)), key=len, reverse=True):
        svg = svg.replace(f'id="{old}"', f'id="{key}-{old}"').replace(f"url(#{old})", f"url(#{key}-{old})")
    label = f'<title id="{key}-svg-title">{escape(title)}</title><desc id="{key}-svg-desc">{escape(description)}</desc>'
    svg, found = re.subn(
        r"^<svg ([^>]*)>",
        lambda m: (
            f'<svg {m.group(1)} role="img" aria-labelledby="{key}-svg-title" '
            f'aria-describedby="{key}-svg-desc" focusable="false">{label}'
        ),
        svg,
        count=1,
    )
    if not found:
        raise ValueError("vl-convert gave no <svg> element")
    return svg


def _section(key: str, spec: dict, chart, table: dict, notes: list[str], description: str) -> dict:
    svg = None if chart is None else Markup(_svg(chart, key, spec["title"], description))
    empty = not table["rows"]
    return {
        "id": key.replace("_", "-"),
        "heading": CHARTS[key]["heading"],
        "title": spec["title"],
        "svg": svg,
        "message": NO_FIGURES if empty else (ALL_WITHHELD if svg is None else None),
        "notes": notes,
        "table": None if empty else table,
    }


STYLE = """
*, *::before, *::after { box-sizing: border-box; }
html { font-family: Arial, "Liberation Sans", "Helvetica Neue", Helvetica, sans-serif; font-size: 100%;
  color: #0b0c0c; background: #ffffff; -webkit-text-size-adjust: 100%; }
body { margin: 0; line-height: 1.5; font-size: 1.1875rem; }
.wrap { max-width: 60rem; margin: 0 auto; padding: 0 1.25rem; }
.masthead { border-bottom: 0.625rem solid #12436d; padding: 1.25rem 0 1rem; }
.masthead p { margin: 0; font-weight: bold; font-size: 1rem; }
main { padding: 1.5rem 0 3rem; }
h1 { font-size: 2.25rem; line-height: 1.15; margin: 0 0 1.25rem; max-width: 45rem; }
h2 { font-size: 1.6rem; line-height: 1.2; margin: 2.5rem 0 1rem; padding-top: 1.25rem;
  border-top: 1px solid #b1b4b6; }
h3 { font-size: 1.25rem; margin: 1.5rem 0 0.5rem; }
p, li { max-width: 42rem; }
a { color: #1d70b8; text-decoration: underline; text-underline-offset: 0.15em; }
a:visited { color: #4c2c92; }
a:hover { color: #003078; text-decoration-thickness: 0.15em; }
a:focus, summary:focus, .scroll:focus, .chart:focus { outline: 3px solid #ffdd00; outline-offset: 0;
  background: #ffdd00; color: #0b0c0c; box-shadow: 0 4px #0b0c0c; }
.scroll:focus, .chart:focus { background: transparent; box-shadow: none; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.35rem 1.5rem; margin: 0 0 1.5rem;
  padding: 1rem 1.25rem; background: #f3f2f1; border-left: 0.3rem solid #12436d; }
.meta dt { font-weight: bold; }
.meta dd { margin: 0; }
nav ol { padding-left: 1.25rem; }
.chart { margin: 1rem 0 0; overflow-x: auto; }
.chart svg { display: block; max-width: 100%; min-width: 33rem; height: auto; }
.note { font-size: 1rem; color: #0b0c0c; max-width: 42rem; }
.empty { padding: 0.75rem 1rem; border-left: 0.3rem solid #b1b4b6; background: #f3f2f1; }
details { margin: 1rem 0; border-top: 1px solid #b1b4b6; padding-top: 0.75rem; }
summary { cursor: pointer; color: #1d70b8; text-decoration: underline; font-size: 1.05rem; }
.scroll { overflow-x: auto; margin-top: 0.75rem; }
table { border-collapse: collapse; font-size: 1rem; min-width: 30rem; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.5rem; }
th, td { text-align: left; vertical-align: top; padding: 0.4rem 1rem 0.4rem 0; border-bottom: 1px solid #b1b4b6; }
thead th { border-bottom: 2px solid #0b0c0c; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.symbols { min-width: 0; }
.symbols tr > :first-child { width: 5rem; padding-right: 1.5rem; }
footer { border-top: 1px solid #b1b4b6; padding: 1.25rem 0 2rem; font-size: 1rem; }
@media (max-width: 40rem) {
  body { font-size: 1rem; }
  h1 { font-size: 1.75rem; }
  h2 { font-size: 1.35rem; }
  .meta { grid-template-columns: 1fr; }
  .meta dd { margin-bottom: 0.5rem; }
  table { min-width: 0; }
}
@media print {
  details > :not(summary) { display: block; }
  a { color: #0b0c0c; }
}
"""

PAGE = """<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ pack.title }}: {{ pack.period_label }}</title>
<link rel="icon" href="data:,">
<style>{{ style }}</style>
</head>
<body>
<header class="masthead"><div class="wrap"><p>Victims' Right to Review statistics</p></div></header>
<div class="wrap">
<main id="main">
<h1>{{ pack.title }}</h1>
<dl class="meta">
<dt>Period</dt><dd>{{ pack.period_label }} ({{ pack.period_name }})</dd>
<dt>Data as at</dt><dd><time datetime="{{ pack.as_at_date }}">{{ as_at }}</time></dd>
<dt>Provisional</dt><dd>{% if provisional %}{{ provisional | join(", ") }} (marked [p]){% else %}None{% endif %}</dd>
<dt>Small numbers</dt><dd>Counts from 1 to {{ pack.threshold - 1 }} are withheld (marked [c])</dd>
</dl>
<nav aria-labelledby="contents-heading">
<h2 id="contents-heading">Contents</h2>
<ol>
<li><a href="#summary">Main points</a></li>
{% for s in sections %}<li><a href="#{{ s.id }}">{{ s.heading }}</a></li>
{% endfor %}<li><a href="#counting-basis">Counting basis</a></li>
<li><a href="#caveats">Caveats</a></li>
<li><a href="#symbols">Symbols used</a></li>
<li><a href="#files">Files in this pack</a></li>
</ol>
</nav>
<section aria-labelledby="summary">
<h2 id="summary">Main points</h2>
{% for p in pack.paragraphs.summary %}<p>{{ p }}</p>
{% endfor %}</section>
{% for s in sections %}<section aria-labelledby="{{ s.id }}">
<h2 id="{{ s.id }}">{{ s.heading }}</h2>
{% if s.svg %}<figure class="chart" role="group" aria-label="Chart: {{ s.title }}" tabindex="0">
{{ s.svg }}
</figure>
{% else %}<h3>{{ s.title }}</h3>
<p class="empty">{{ s.message }}</p>
{% endif %}{% for n in s.notes %}<p class="note">{{ n }}</p>
{% endfor %}{% if s.table %}<details>
<summary>Data for this chart (table)</summary>
<div class="scroll" role="region" aria-label="Data for {{ s.title }}" tabindex="0">
<table>
<caption>{{ s.title }}</caption>
<thead><tr>{% for c in s.table.columns %}<th scope="col"{% if s.table.numeric[loop.index0] %} class="num"{% endif %}>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in s.table.rows %}<tr>{% for cell in row %}{% if loop.first %}<th scope="row">{{ cell }}</th>{% else %}<td{% if s.table.numeric[loop.index0] %} class="num"{% endif %}>{{ cell }}</td>{% endif %}{% endfor %}</tr>
{% endfor %}</tbody>
</table>
</div>
</details>
{% endif %}</section>
{% endfor %}<section aria-labelledby="counting-basis">
<h2 id="counting-basis">Counting basis</h2>
{% for p in pack.paragraphs.counting_basis %}<p>{{ p }}</p>
{% endfor %}</section>
<section aria-labelledby="caveats">
<h2 id="caveats">Caveats</h2>
{% for p in pack.paragraphs.caveats %}<p>{{ p }}</p>
{% endfor %}</section>
<section aria-labelledby="symbols">
<h2 id="symbols">Symbols used</h2>
<table class="symbols">
<caption>Symbols used in this pack</caption>
<thead><tr><th scope="col">Symbol</th><th scope="col">Meaning</th></tr></thead>
<tbody>
{% for symbol, meaning in pack.symbols %}<tr><th scope="row">{{ symbol }}</th><td>{{ meaning }}</td></tr>
{% endfor %}</tbody>
</table>
</section>
<section aria-labelledby="files">
<h2 id="files">Files in this pack</h2>
<ul>
{% for f in files %}<li><a href="{{ f.href }}">{{ f.name }}</a>: {{ f.description }}</li>
{% endfor %}</ul>
</section>
</main>
</div>
<footer><div class="wrap">
<p>{{ pack.title }}, {{ pack.period_label }} ({{ pack.label }}). Data as at {{ as_at }}.</p>
</div></footer>
</body>
</html>
"""
