"""`make docs`: dbt's documentation site (models, columns, tests and the lineage graph) as one static HTML file,
built offline.

`dbt docs generate --static` reads the catalog (tables, columns, comments) from a database, and dbt-duckdb opens
it for writing: it is pointed at a throwaway copy of the published warehouse, never at the warehouse itself, so
it takes no lock and a run can go on beside it. The site is written to VRR_DOCS_DIR (default data/docs/), as
`index.html`: open it in a browser from the file system; it makes no network request (dbt's page-view tracking
stays off with `send_anonymous_usage_stats: false`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline.resources import DBT_PROJECT_DIR, dbt_executable
from pipeline.settings import PROJECT_ROOT


def build(warehouse_path: Path, out_dir: Path) -> Path:
    """Build the static site from the warehouse at `warehouse_path` into `out_dir`/index.html."""
    if not warehouse_path.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse_path}: run `make run` first")
    with tempfile.TemporaryDirectory(prefix="vrr-docs-") as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(warehouse_path, copy)
        target = Path(tmp) / "target"
        env = {**os.environ, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        done = subprocess.run(
            [
                dbt_executable(),
                "docs",
                "generate",
                "--static",
                "--quiet",
                "--target-path",
                str(target),
                "--vars",
                json.dumps({"warehouse_path": str(copy)}),
            ],
            cwd=DBT_PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dbt docs generate failed:\n{done.stdout}{done.stderr}")
        out_dir.mkdir(parents=True, exist_ok=True)
        site = out_dir / "index.html"
        shutil.copyfile(target / "static_index.html", site)
    return site


def main() -> int:
    warehouse = Path(os.environ.get("VRR_WAREHOUSE_PATH") or PROJECT_ROOT / "data/warehouse/vrr.duckdb")
    out_dir = Path(os.environ.get("VRR_DOCS_DIR") or PROJECT_ROOT / "data/docs")
    try:
        site = build(warehouse.absolute(), out_dir.absolute())
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"vrr: {exc}", file=sys.stderr)
        return 2
    print(f"vrr: dbt documentation written to {site} (open it in a browser; it works offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
