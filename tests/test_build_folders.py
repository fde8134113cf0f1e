"""dbt's files of failed builds and killed runs are kept for their logs, but not for ever: each build removes the
folders of earlier ones beyond the newest few, never one a live run is writing (runs on other warehouses share the
target folder)."""

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline import dbt_cli, transform


def make_folder(root: Path, name: str, age_seconds: float, held_file: bool = True) -> Path:
    folder = root / f"vrr_dbt_models-{name}-abcdef0"
    (folder / "run").mkdir(parents=True)
    (folder / "dbt.log").write_text("log\n")
    if held_file:
        (folder / dbt_cli.IN_USE).touch()
    stamp = time.time() - age_seconds
    os.utime(folder, (stamp, stamp))
    return folder


def test_only_the_newest_finished_folders_stay_and_none_in_use_is_removed(tmp_path):
    root = tmp_path / "target"
    finished = [make_folder(root, f"run{age:04d}", age_seconds=60 * age) for age in range(1, 14)]
    legacy = make_folder(root, "legacy0", age_seconds=60 * 30, held_file=False)  # before folders were held
    live = make_folder(root, "oldlive", age_seconds=60 * 60)  # the oldest, but a live run is writing it
    others = [root / "parsed", root / "compiled", root / "lint"]
    for other in others:
        other.mkdir()
        os.utime(other, (0, 0))
    fd = os.open(live / dbt_cli.IN_USE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert dbt_cli.in_use(live) and not dbt_cli.in_use(finished[0]) and not dbt_cli.in_use(legacy)
        transform.prune_build_folders(root, kept=10)
        assert live.exists()
    finally:
        os.close(fd)
    assert [folder.exists() for folder in finished] == [True] * 10 + [False] * 3
    assert not legacy.exists()  # older than the ten newest
    assert all(other.exists() for other in others)  # dbt's and the project's own folders are never touched


def test_a_killed_run_releases_its_folder(tmp_path):
    """The hold is the operating system's lock: it ends with the process, `kill -9` included."""
    folder = make_folder(tmp_path, "killed0", age_seconds=0)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(600)",
            str(folder / dbt_cli.IN_USE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert dbt_cli.in_use(folder)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not dbt_cli.in_use(folder)


def test_a_build_holds_its_own_folder_and_prunes_the_others_first(tmp_path, monkeypatch):
    root = tmp_path / "target"
    old = [make_folder(root, f"old{age:04d}", age_seconds=60 * age) for age in range(1, 13)]
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    with transform.build_folder(tmp_path, "0123456789abcdef") as folder:
        assert folder.parent == root and folder.name.startswith("vrr_dbt_models-0123456-")
        assert dbt_cli.in_use(folder)
        assert [path.exists() for path in old] == [True] * transform.FAILED_BUILDS_KEPT + [False] * 2
    assert folder.exists() and not dbt_cli.in_use(folder)  # a failed build's folder stays, for its log
