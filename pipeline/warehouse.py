"""The warehouse file's life cycle: every run builds a new file beside the published one and swaps it in
atomically only after every blocking check has passed, so a failed or killed run leaves the last good
warehouse exactly as it was."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

import duckdb

from pipeline import __version__, lock

# Tables carried forward from the published warehouse into each new build (append-only history).
HISTORY_TABLES = ("audit.quarantine_history",)


def build_path(warehouse_path: Path, run_id: str) -> Path:
    """The file a run builds into: hidden, beside the published file (same filesystem, so the swap is atomic)."""
    return warehouse_path.with_name(f".{warehouse_path.name}.build-{run_id}")


def private_umask() -> int:
    """Files written from here on are readable by their owner only; returns the previous mask."""
    return os.umask(0o077)


def _owner_run(name: str, marker: str) -> str:
    """The run id in a leftover's name: `.vrr.duckdb.build-<run id>[.wal]`, `.staging-<run id>`."""
    return name.split(marker, 1)[1].removesuffix(".wal")


def remove_stale(warehouse_path: Path, export_dir: Path | None, run_id: str,
                 also: tuple[Path, ...] = ()) -> list[Path]:
    """Remove what runs that failed or were killed left behind (warehouse builds and their write-ahead logs,
    export staging folders, and builds of the files in `also`, such as the analysts' copy), except this run's and
    that of the run holding the warehouse lock, if alive."""
    holder = lock.live_holder(warehouse_path)
    keep = {run_id, holder.run_id} if holder else {run_id}
    leftovers = [(p, ".build-") for target in (warehouse_path, *also)
                 for p in target.parent.glob(f".{target.name}.build-*")]
    if export_dir is not None and export_dir.is_dir():
        leftovers += [(p, ".staging-") for p in export_dir.glob(".staging-*")]
    removed = []
    for path, marker in leftovers:
        if _owner_run(path.name, marker) in keep:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def discard_build(warehouse_path: Path, run_id: str) -> None:
    """Remove this run's build (and write-ahead log) if it is still there: the run ended without publishing it."""
    build = build_path(warehouse_path, run_id)
    for path in (build, build.with_name(build.name + ".wal")):
        path.unlink(missing_ok=True)


def start_build(warehouse_path: Path, run_id: str) -> Path:
    """Create an empty build file for this run, removing builds left by runs that failed or were killed."""
    private_umask()
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(warehouse_path, None, run_id)
    path = build_path(warehouse_path, run_id)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists audit")
    return path


@contextlib.contextmanager
def published_read_only(warehouse_path: Path):
    """A read-only connection to the published warehouse, or None when nothing is published yet."""
    if not warehouse_path.exists():
        yield None
        return
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def publish(build: Path, warehouse_path: Path) -> None:
    """Swap the finished build in place of the published warehouse (atomic rename)."""
    with duckdb.connect(str(build)) as con:
        con.execute("checkpoint")
    os.chmod(build, 0o600)
    os.replace(build, warehouse_path)
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        wal.unlink()


EXPORTS_MARKER = ".exports-current"
# The modules that make the review packs from the published warehouse.
EXPORT_CODE = ("pack.py", "publication.py", "report.py", "disclosure.py", "export.py", "analysts.py")


def export_code_fingerprint() -> str:
    """SHA-256 of the code that makes the review packs: packs made by other code are made again, even at one
    version."""
    digest = hashlib.sha256(__version__.encode())
    for name in EXPORT_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def warehouse_identity(warehouse_path: Path) -> str:
    """Which published warehouse this is: each publication is a new file (size and modification time in ns)."""
    stat = warehouse_path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def exports_current(warehouse_path: Path, export_dir: Path) -> bool:
    """True when the last export of every complete quarter was made from the published warehouse as it is now,
    by this code."""
    marker = export_dir / EXPORTS_MARKER
    if not warehouse_path.exists():
        return True
    return marker.exists() and marker.read_text(encoding="utf-8").split() == [
        warehouse_identity(warehouse_path), export_code_fingerprint()]


def mark_exports_current(warehouse_path: Path, export_dir: Path) -> None:
    staged = export_dir / f"{EXPORTS_MARKER}.tmp"
    staged.write_text(f"{warehouse_identity(warehouse_path)} {export_code_fingerprint()}\n", encoding="utf-8")
    os.replace(staged, export_dir / EXPORTS_MARKER)
