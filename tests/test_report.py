"""The review pack's HTML page: rendered from a realistic pack, then opened in a real browser."""

import re

import pytest

from pipeline.report import NO_FIGURES, render_report
from tests.browser import check_page

QUARTERS = [
    ("2022-07-01", "2022/23 Q2"),
    ("2022-10-01", "2022/23 Q3"),
    ("2023-01-01", "2022/23 Q4"),
    ("2023-04-01", "2023/24 Q1"),
    ("2023-07-01", "2023/24 Q2"),
    ("2023-10-01", "2023/24 Q3"),
    ("2024-01-01", "2023/24 Q4"),
    ("2024-04-01", "2024/25 Q1"),
]
PROVISIONAL = "2024/25 Q1"
# True values of the cells the pack withholds: distinctive, so that any trace of them in the page shows.
WITHHELD_TREND = ("CPS scheme", "2023/24 Q1", 0.0864197, 0.0567891, 0.1234567)
WITHHELD_COHORT = ("Ethnicity group", "Mixed or multiple ethnic groups", 0.0975309, 0.0678912, 0.1456789)
# How a withheld value would show if it leaked: as a percentage or a fraction, not part of a longer number.
WITHHELD_TEXTS = [
    rf"(?<![\d.]){re.escape(text)}(?!\d)"
    for value in (*WITHHELD_TREND[2:], *WITHHELD_COHORT[2:])
    for text in (f"{value * 100:.1f}%", f"{value * 100:.2f}", f"{value:.4f}", f"{value:.3f}", repr(value))
]


def _trend_rows() -> list[dict]:
    levels = {"All victims": 0.021, "Police scheme": 0.024, "CPS scheme": 0.013}
    rows = []
    for series, level in levels.items():
        for i, (start, label) in enumerate(QUARTERS):
            rate = round(level + 0.0011 * i - 0.0004 * (i % 3), 4)
            lower, upper = round(rate * 0.78, 4), round(rate * 1.27, 4)
            provisional = label == PROVISIONAL
            marker = "[p]" if provisional else ""
            if (series, label) == WITHHELD_TREND[:2]:
                rate = lower = upper = None
                marker = "[c]"
            if series == "CPS scheme" and provisional:
                rate = lower = upper = None
                marker = "[c][p]"
            rows.append(
                {
                    "period_start": start,
                    "period_label": label,
                    "series": series,
                    "rate": rate,
                    "lower": lower,
                    "upper": upper,
                    "provisional": provisional,
                    "marker": marker,
                }
            )
    return rows


def _cohort_rows() -> list[dict]:
    figures = {
        "Scheme": [("Police", 0.0268, 0.0231, 0.0311), ("CPS", 0.0149, 0.0112, 0.0198)],
        "Sex": [
            ("Female", 0.0291, 0.0249, 0.034),
            ("Male", 0.0187, 0.0142, 0.0246),
            ("Not recorded", None, None, None),
        ],
        "Age band": [
            ("Under 18", 0.0122, 0.0071, 0.0209),
            ("18 to 24", 0.0255, 0.0191, 0.034),
            ("25 to 39", 0.0302, 0.0247, 0.0369),
            ("40 to 59", 0.0241, 0.0183, 0.0317),
            ("60 and over", 0.0157, 0.0083, 0.0294),
        ],
        "Ethnicity group": [
            ("Asian, Asian British or Asian Welsh", 0.0213, 0.0133, 0.034),
            ("Black, Black British, Black Welsh, Caribbean or African", 0.0198, 0.0114, 0.0342),
            (WITHHELD_COHORT[1], None, None, None),
            ("White", 0.0264, 0.0227, 0.0307),
            ("Other ethnic group", 0.0, 0.0, 0.1073),
            ("Not stated", 0.0178, 0.0112, 0.0282),
        ],
        "Disability": [
            ("Disabled", 0.0335, 0.0257, 0.0436),
            ("Not disabled", 0.0236, 0.0199, 0.0279),
            ("Not recorded", 0.0201, 0.0141, 0.0285),
        ],
        "Offence group": [
            ("Rape", 0.0412, 0.0338, 0.0501),
            ("Other sexual offences", 0.0317, 0.0248, 0.0404),
            ("Domestic abuse related", 0.0196, 0.0158, 0.0243),
            ("Other violence against the person", 0.0121, 0.0093, 0.0157),
        ],
    }
    return [
        {
            "dimension": dimension,
            "category": category,
            "rate": rate,
            "lower": lower,
            "upper": upper,
            "marker": "[c]" if rate is None else "",
        }
        for dimension, cells in figures.items()
        for category, rate, lower, upper in cells
    ]


def review_pack() -> dict:
    """A pack as the export builds it: withheld cells as None with [c], zeros, a provisional quarter."""
    return {
        "title": "Victims' Right to Review: quarterly review pack",
        "label": "2024-25-Q1",
        "period_label": "2024/25 Q1",
        "period_name": "April to June 2024",
        "as_at_date": "2024-09-30",
        "threshold": 5,
        "provisional_quarters": [PROVISIONAL],
        "paragraphs": {
            "summary": [
                "In 2024/25 Q1, 2.9% of victims given a qualifying decision by the police or the CPS asked for "
                "it to be reviewed [p].",
                "Uptake has risen slowly over the last eight quarters; the intervals of most quarters overlap.",
            ],
            "counting_basis": [
                "Uptake is counted by cohort: decisions made in the quarter, and the requests for a review "
                "made about those decisions by the as-at date.",
                "Reviews completed are counted by period: reviews finished in the quarter, whenever requested.",
            ],
            "caveats": [
                "Counts from 1 to 4 are withheld, with a further cell where one could be worked out by "
                "subtraction. Rates and intervals that rest on a withheld count are withheld too.",
                "Eligibility is inferred from outcome codes; a small share of decisions may be misclassified.",
            ],
        },
        "symbols": [
            ["[c]", "confidential: withheld to protect confidentiality"],
            ["[p]", "provisional: can still change as late requests are recorded"],
            ["[r]", "revised since the previous pack"],
            ["[x]", "not available"],
            ["[z]", "not applicable"],
        ],
        "files": [
            {"name": "vrr_review_pack_2024-25-Q1.xlsx", "description": "the tables of this pack (spreadsheet)"},
            {"name": "vrr_uptake_2024-25-Q1.csv", "description": "uptake by cohort (CSV)"},
            {"name": "data_dictionary.csv", "description": "what each CSV column means"},
            {"name": "manifest.json", "description": "inputs, settings and checksums"},
        ],
        "charts": {
            "uptake_trend": {
                "title": "Uptake of the Victims' Right to Review by quarter, England and Wales, "
                "2022/23 Q2 to 2024/25 Q1",
                "rows": _trend_rows(),
            },
            "uptake_by_cohort": {
                "title": "Uptake by group of victims, four quarters to 2024/25 Q1",
                "rows": _cohort_rows(),
            },
            "review_outcomes": {
                "title": "Reviews completed by outcome and scheme, 2024/25 Q1",
                "rows": [
                    {"scheme": "Police", "outcome": "Decision stands", "reviews": 127, "marker": ""},
                    {"scheme": "Police", "outcome": "Decision overturned", "reviews": 0, "marker": ""},
                    {"scheme": "CPS", "outcome": "Decision stands", "reviews": None, "marker": "[c]"},
                    {"scheme": "CPS", "outcome": "Decision overturned", "reviews": None, "marker": "[c]"},
                ],
            },
            "completeness": {
                "title": "Completeness of protected characteristics, 2024/25 Q1",
                "rows": [
                    {
                        "population": population,
                        "characteristic": characteristic,
                        "rate": rate,
                        "marker": "[c]" if rate is None else "",
                    }
                    for population, cells in (
                        (
                            "All decisions",
                            [("Age", 0.991), ("Sex", 0.998), ("Ethnicity", 0.743), ("Disability", 0.412)],
                        ),
                        (
                            "Requests for a review",
                            [("Age", 1.0), ("Sex", 1.0), ("Ethnicity", 0.812), ("Disability", None)],
                        ),
                    )
                    for characteristic, rate in cells
                ],
            },
        },
    }


CHART_AXES = {
    "uptake_trend": ["Quarter (financial year)", "Uptake rate"],
    "uptake_by_cohort": ["Uptake rate, with 95% confidence interval"],
    "review_outcomes": ["Reviews completed (number)"],
    "completeness": ["Records with the characteristic recorded"],
}


def _svgs(html: str) -> dict[str, str]:
    return dict(re.findall(r'<svg [^>]*aria-labelledby="([a-z_]+)-svg-title"[^>]*>(.*?)</svg>', html, re.S))


def test_rendering_is_deterministic():
    assert render_report(review_pack()) == render_report(review_pack())


def test_page_is_self_contained():
    html = render_report(review_pack())
    assert '<html lang="en-GB">' in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert not re.search(r"<(script|iframe|object|embed|img|link rel=\"stylesheet\")\b", html)
    assert "@import" not in html and "url(http" not in html and "@font-face" not in html
    links = re.findall(r'<a href="([^"]+)"', html)
    files = [f["name"] for f in review_pack()["files"]]
    assert [link for link in links if not link.startswith("#")] == files


def test_no_withheld_value_in_the_page():
    html = render_report(review_pack())
    for pattern in WITHHELD_TEXTS:
        assert not re.search(pattern, html), pattern
    # The check would see a leak: published, the same cells' true values are found.
    leaky = review_pack()
    for row in leaky["charts"]["uptake_trend"]["rows"]:
        if (row["series"], row["period_label"]) == WITHHELD_TREND[:2]:
            row.update(rate=WITHHELD_TREND[2], lower=WITHHELD_TREND[3], upper=WITHHELD_TREND[4], marker="")
    for row in leaky["charts"]["uptake_by_cohort"]["rows"]:
        if row["category"] == WITHHELD_COHORT[1]:
            row.update(rate=WITHHELD_COHORT[2], lower=WITHHELD_COHORT[3], upper=WITHHELD_COHORT[4], marker="")
    leaked = render_report(leaky)
    assert sum(bool(re.search(pattern, leaked)) for pattern in WITHHELD_TEXTS) == 6  # each value as a percentage
    # The withheld cells appear in the tables as their symbol.
    assert '<th scope="row">2023/24 Q1</th><td>CPS scheme</td><td class="num">[c]</td>' in html
    assert f'<td>{WITHHELD_COHORT[1]}</td><td class="num">[c]</td>' in html
    assert '<th scope="row">CPS</th><td>Decision overturned</td><td class="num">[c]</td>' in html


def test_every_chart_has_its_title_axes_and_table():
    pack = review_pack()
    html = render_report(pack)
    svgs = _svgs(html)
    assert sorted(svgs) == sorted(CHART_AXES)
    for key, axes in CHART_AXES.items():
        svg = svgs[key]
        title = pack["charts"][key]["title"].replace("'", "&#39;")
        assert f'<title id="{key}-svg-title">{title}</title>' in svg
        drawn = " ".join(re.sub(r"<[^>]+>", " ", text) for text in re.findall(r"<text[^>]*>(.*?)</text>", svg))
        for axis in axes:
            assert axis in drawn, (key, axis)
        assert pack["charts"][key]["title"].split(",")[0] in drawn  # the visible title
    # Each chart's table lists every row of the chart, with its markers.
    tables = re.findall(r"<table>.*?</table>", html, re.S)
    assert [re.search(r"<tbody>.*?</tbody>", t, re.S).group(0).count("<tr>") for t in tables] == [
        len(pack["charts"][key]["rows"]) for key in CHART_AXES
    ]
    assert "0.0% to 10.7%" in html  # a zero rate is published, with its interval
    assert '<td>Decision overturned</td><td class="num">0</td>' in html
    # A provisional withheld cell shows [c] for its figures and both symbols in the symbols column.
    assert (
        '<th scope="row">2024/25 Q1</th><td>CPS scheme</td><td class="num">[c]</td><td class="num">[c]</td>'
        "<td>[c][p]</td>" in html
    )


def test_provisional_quarters_and_narrative_are_shown():
    pack = review_pack()
    html = render_report(pack)
    assert "<dt>Provisional</dt><dd>2024/25 Q1 (marked [p])</dd>" in html
    assert "Provisional: 2024/25 Q1." in html
    assert ">30 September 2024</time>" in html
    for paragraphs in pack["paragraphs"].values():
        for paragraph in paragraphs:
            assert f"<p>{paragraph.replace(chr(39), '&#39;')}</p>" in html
    for symbol, meaning in pack["symbols"]:
        assert f'<tr><th scope="row">{symbol}</th><td>{meaning}</td></tr>' in html


def test_every_string_is_escaped():
    pack = review_pack()
    pack["title"] = "VRR <script>alert(1)</script> & co"
    pack["paragraphs"]["summary"] = ['<img src="https://example.org/x.png">']
    pack["charts"]["uptake_by_cohort"]["rows"][0]["category"] = "<b>Police</b>"
    pack["charts"]["review_outcomes"]["title"] = "Outcomes </title><script>x()</script>"
    pack["files"][0]["name"] = "javascript:alert(1)"
    html = render_report(pack)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "VRR &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert 'href="javascript:' not in html  # a file name is always a relative path


def test_empty_charts_say_so():
    pack = review_pack()
    for chart in pack["charts"].values():
        chart["rows"] = []
    html = render_report(pack)
    assert html.count(NO_FIGURES) == 4
    assert "<svg" not in html and "<details>" not in html


@pytest.mark.browser
def test_page_in_a_real_browser(tmp_path):
    page = tmp_path / "vrr_review_pack_2024-25-Q1.html"
    page.write_text(render_report(review_pack()), encoding="utf-8")
    result = check_page(page, tmp_path / "screenshots")
    assert result["console_errors"] == []
    assert result["requests"] == []
    assert [c["label"] for c in result["charts"]] == [review_pack()["charts"][key]["title"] for key in CHART_AXES]
    for chart in result["charts"]:
        assert not chart["blank"], chart
    assert not result["overflows_narrow_screen"]
    assert result["violations"] == [], result["violations"]
