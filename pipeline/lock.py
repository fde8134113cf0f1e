"""One writer at a time: the run that holds the warehouse lock is the only one that may build, publish or export.

The lock is a small file beside the warehouse (`.vrr.duckdb.lock`) naming the run that holds it and the process
that lives for the whole of that run: the runner itself for `make run` (every step in one process), the run
worker for a run under the Dagster UI or daemon (each step in a child process of it). It is read and written
only under an operating-system lock (flock), so two runs can never both take it. A holder counts only while its
process is alive (same process id and the same start time, so a reused id does not count): the lock of a
killed run is taken over by the next run, never waited for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.5


class LockNotObtained(Exception):
    """Another live run held the warehouse for longer than this run was allowed to wait."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    pid: int  # the process that lives for the whole run
    pid_started: float
    step_pid: int  # the process of the step that last entered (a step may outlive a killed run worker)
    step_pid_started: float
    since: str

    def describe(self) -> str:
        return f"run {self.run_id} (process {self.pid}, holding the warehouse since {self.since})"


def lock_path(warehouse_path: Path) -> Path:
    return warehouse_path.with_name(f".{warehouse_path.name}.lock")


def started_at(pid: int) -> float | None:
    """Start time of a live process, or None when there is no such process (or only its zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(process.create_time(), 2)
    except psutil.Error:
        return None


def alive(holder: Holder) -> bool:
    return started_at(holder.pid) == holder.pid_started or started_at(holder.step_pid) == holder.step_pid_started


def run_process_id() -> int:
    """The process that lives for the whole run: this one, or the run worker when this is a step's child process."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


@contextlib.contextmanager
def _locked(path: Path):
    """The lock file, open and flock-ed: only one process at a time reads or changes who holds the warehouse."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the flock


def _read(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 1 << 16).decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        return Holder(**json.loads(text))
    except (ValueError, TypeError):
        return None  # unreadable: nobody can be shown to hold it


def _write(fd: int, holder: Holder | None) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    if holder is not None:
        os.write(fd, json.dumps(asdict(holder)).encode("utf-8"))
    os.fsync(fd)


def live_holder(warehouse_path: Path) -> Holder | None:
    """The run holding the warehouse now, if its process is alive."""
    if not lock_path(warehouse_path).exists():
        return None
    with _locked(lock_path(warehouse_path)) as fd:
        holder = _read(fd)
    return holder if holder is not None and alive(holder) else None


def try_acquire(warehouse_path: Path, run_id: str, owner_pid: int) -> tuple[bool, Holder | None]:
    """Take the lock for run_id unless another live run holds it.

    Returns (taken, other): when taken, `other` is the dead run whose lock was taken over (or None); when not,
    `other` is the live holder.
    """
    with _locked(lock_path(warehouse_path)) as fd:
        current = _read(fd)
        if current is not None and current.run_id != run_id and alive(current):
            return False, current
        me = os.getpid()
        since = current.since if current is not None and current.run_id == run_id else _now()
        _write(fd, Holder(run_id, owner_pid, started_at(owner_pid) or 0.0, me, started_at(me) or 0.0, since))
    dead = current if current is not None and current.run_id != run_id else None
    return True, dead


def acquire(
    warehouse_path: Path, run_id: str, *, wait_seconds: float, say: Callable[[str], None], owner_pid: int | None = None
) -> Holder | None:
    """Wait for the lock up to wait_seconds, saying once which run holds it; LockNotObtained past that.

    Returns the dead run whose lock was taken over, if any (its leftovers are stale).
    """
    owner_pid = owner_pid or run_process_id()
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        taken, other = try_acquire(warehouse_path, run_id, owner_pid)
        if taken:
            return other
        if not told:
            say(
                f"the warehouse is in use by {other.describe()}; waiting for it to finish "
                f"(at most {_duration(wait_seconds)}, VRR_LOCK_WAIT_SECONDS)."
            )
            told = True
        if time.monotonic() >= deadline:
            raise LockNotObtained(
                f"the warehouse is still in use by {other.describe()} after waiting {_duration(wait_seconds)}; "
                "this run stopped without changing anything. Run again when that run has finished (or set "
                "VRR_LOCK_WAIT_SECONDS to wait longer)."
            )
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def release(warehouse_path: Path, run_id: str) -> None:
    """Give the lock up if run_id holds it (a no-op otherwise)."""
    path = lock_path(warehouse_path)
    if not path.exists():
        return
    with _locked(path) as fd:
        current = _read(fd)
        if current is not None and current.run_id == run_id:
            _write(fd, None)


def forget_dead_run(instance, run_id: str) -> None:
    """Close the books on a run found dead holding the lock: mark it failed in this Dagster instance (so a run
    queue does not count it as in progress) and free any concurrency slots it held."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return
    if not run.is_finished:
        instance.report_run_failed(
            run,
            "The process running this run ended before the run finished (killed?); "
            "the next run found it dead and took over the warehouse lock.",
        )
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def _now() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"
