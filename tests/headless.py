"""The headless runner (`python -m pipeline.run`, what `make run` starts) as a person meets it: a process with an
exit status and console output. Shared by the tests of overlapping, killed and failed runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, PipelineRun

UNCHANGED = "the previously published warehouse and exports are unchanged."


def dagster_home(run: PipelineRun) -> Path:
    """The run's DAGSTER_HOME, holding the project's dagster.yaml as `make` installs it."""
    home = run.tmp / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def runner_env(run: PipelineRun, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRR_")}
    env.update(run.env(), DAGSTER_HOME=str(dagster_home(run)), **extra)
    return env


def start_runner(run: PipelineRun, **extra: str) -> subprocess.Popen:
    """Start the runner in its own process group (so a test can kill the whole run, dbt included)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.run"], cwd=ROOT, env=runner_env(run, **extra), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def run_runner(run: PipelineRun, **extra: str) -> tuple[int, list[str]]:
    """Run the runner to its end: (exit status, console lines, stdout and stderr together)."""
    process = start_runner(run, **extra)
    output, _ = process.communicate(timeout=600)
    return process.returncode, output.splitlines()


def last_lines(lines: list[str], n: int) -> list[str]:
    return [line for line in lines if line.strip()][-n:]


def leftovers(run: PipelineRun) -> list[str]:
    """Anything a run leaves beside the warehouse or in the export folder that is not published output:
    warehouse builds, write-ahead logs, staging or swapped-out folders (the empty lock file is allowed)."""
    found = []
    if run.warehouse.parent.exists():
        lock = run.warehouse.with_name(f".{run.warehouse.name}.lock")
        found += [p.name for p in run.warehouse.parent.iterdir()
                  if p not in (run.warehouse, lock) or (p == lock and p.stat().st_size)]
    if run.exports.exists():
        found += [p.name for p in run.exports.iterdir() if p.name.startswith(".")]
    return sorted(found)


def snapshot(run: PipelineRun) -> dict[str, str]:
    """SHA-256 of the published warehouse and of every exported file."""
    files = [run.warehouse, *sorted(run.exports.rglob("*"))]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def quarter_folders(run: PipelineRun) -> list[Path]:
    return sorted(p for p in run.exports.iterdir() if p.is_dir() and not p.name.startswith("."))


def sha256sum_check(folder: Path) -> subprocess.CompletedProcess:
    """`sha256sum -c SHA256SUMS` in the folder, as a reader of the pack would run it."""
    return subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=folder, capture_output=True,
                          text=True)
