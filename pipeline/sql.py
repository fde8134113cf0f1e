"""`make sql`: the DuckDB command-line client on the analysts' copy of the warehouse, read-only.

The client is the `duckdb-cli` package (DuckDB's own shell, from the package registry); it reads the copy's storage
format like every DuckDB from 1.2 on. Arguments are passed on to it (for example `-c "show tables"`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipeline.settings import analysts_path


def main(argv: list[str]) -> int:
    path = analysts_path(os.environ)
    if not path.exists():
        print(f"vrr: no analysts' copy at {path}: run `make run` first.", file=sys.stderr)
        return 2
    client = Path(sys.executable).parent / "duckdb"
    os.execv(str(client), [str(client), "-readonly", str(path), *argv])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
