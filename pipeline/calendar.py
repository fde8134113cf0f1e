"""England and Wales bank holidays for working-day arithmetic, taken from the maintained `holidays` library.

The dbt seed `bank_holidays_england_wales.csv` is generated from the library, never typed by hand, and a test
checks that the committed file still equals what the installed library gives. After upgrading `holidays` (or
when a new one-off bank holiday is announced), regenerate it with `python -m pipeline.calendar` and review the
diff. The dbt model `int_working_days` spans exactly the years this file covers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from pathlib import Path

import holidays

from pipeline.settings import SEEDS_DIR

FIRST_YEAR = 2013  # the CPS scheme started on 5 June 2013
LAST_YEAR = 2036
SEED_PATH = SEEDS_DIR / "bank_holidays_england_wales.csv"
COLUMNS = ("holiday_date", "name")


def bank_holidays(first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> list[tuple[dt.date, str]]:
    """(date, name) of every England and Wales bank holiday in the years, substitute days included, by date."""
    days = holidays.UK(subdiv="ENG", years=range(first_year, last_year + 1), language="en_GB")
    return sorted(days.items())


def seed_text(rows: list[tuple[dt.date, str]]) -> str:
    """The seed file's content: a header, then one line per holiday."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(COLUMNS)
    out.writerows((day.isoformat(), name) for day, name in rows)
    return buffer.getvalue()


def write_seed(path: Path = SEED_PATH) -> Path:
    path.write_text(seed_text(bank_holidays()), encoding="utf-8")
    return path


def main() -> int:
    path = write_seed()
    print(f"Wrote {path} (England and Wales bank holidays {FIRST_YEAR}-{LAST_YEAR}, holidays {holidays.__version__}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
