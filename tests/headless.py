"""The headless runner (`python -m pipeline.run`, what `make run` starts) as a person meets it: a process with an
exit status and console output. Shared by the tests of overlapping, killed and failed runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from pipeline.warehouse import EXPORTS_MARKER
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


def start_command(run: PipelineRun, command: list[str], **extra: str) -> subprocess.Popen:
    """Start a command of the project in its own process group (so a test can kill the whole run, dbt included),
    its stdout and stderr going to a file (a pipe nobody reads would block it): read them with `output`."""
    out = run.tmp / f"console-{uuid.uuid4().hex[:8]}.txt"
    with out.open("w") as handle:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=runner_env(run, **extra),
            start_new_session=True,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
    process.console = out
    return process


def start_runner(run: PipelineRun, *args: str, **extra: str) -> subprocess.Popen:
    """Start `python -m pipeline.run` with `args` (e.g. --full-refresh) and `extra` in its environment."""
    return start_command(run, [sys.executable, "-m", "pipeline.run", *args], **extra)


def output(process: subprocess.Popen, timeout: float = 600) -> list[str]:
    """Wait for the process to end; its console lines (stdout and stderr together)."""
    process.wait(timeout=timeout)
    return process.console.read_text(encoding="utf-8", errors="replace").splitlines()


def run_runner(run: PipelineRun, **extra: str) -> tuple[int, list[str]]:
    """Run the runner to its end: (exit status, console lines)."""
    process = start_runner(run, **extra)
    lines = output(process)
    return process.returncode, lines


def last_lines(lines: list[str], n: int) -> list[str]:
    return [line for line in lines if line.strip()][-n:]


def leftovers(run: PipelineRun) -> list[str]:
    """Anything a run leaves beside the warehouse or in the export folder that is not published output:
    warehouse builds, write-ahead logs, staging or swapped-out folders (the empty lock file is allowed)."""
    from pipeline.analysts import marker_path

    found = []
    if run.warehouse.parent.exists():
        lock = run.warehouse.with_name(f".{run.warehouse.name}.lock")
        analysts = run.analysts_copy  # the analysts' copy is published output
        source = marker_path(analysts)  # and so is the note of the warehouse it was copied from
        found += [
            p.name
            for p in run.warehouse.parent.iterdir()
            if p not in (run.warehouse, lock, analysts, source) or (p == lock and p.stat().st_size)
        ]
    if run.exports.exists():  # the marker saying which warehouse the exports come from is published state
        found += [p.name for p in run.exports.iterdir() if p.name.startswith(".") and p.name != EXPORTS_MARKER]
    return sorted(found)


def snapshot(run: PipelineRun) -> dict[str, str]:
    """SHA-256 of the published warehouse and of every exported file."""
    files = [run.warehouse, *sorted(run.exports.rglob("*"))]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def sha256sum_check(folder: Path) -> subprocess.CompletedProcess:
    """`sha256sum -c SHA256SUMS` in the folder, as a reader of the pack would run it."""
    return subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
    )
