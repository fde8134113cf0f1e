"""Shared fixtures: the dbt manifest, an isolated Dagster instance, and a helper that runs the whole job."""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
TEST_KEY = "test-pseudonym-key"
GROUPS_FILE = pytest.StashKey[Path]()

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# The runs of the suite write their packs in their own process: the suite's workers already keep every core busy.
# tests/test_export.py writes packs side by side and checks they are the same bytes.
os.environ.setdefault("VRR_EXPORT_PROCESSES", "1")


def pytest_sessionstart(session):
    """Prepare the dbt manifest before any test imports the definitions (nothing parses at import time). On
    several processes (pytest-xdist, as `make test` runs) the main process does it once, before the workers start."""
    if hasattr(session.config, "workerinput"):
        return
    from pipeline.resources import dbt_executable

    # (after `make manifest`, vrr-dbt finds the manifest current and parses nothing)
    subprocess.run([dbt_executable(), "parse", "--quiet"], cwd=DBT_DIR, check=True)


# --------------------------------------------------------------------------- several processes (pytest-xdist)
# `make test` runs the suite on two workers with --dist loadgroup. Which tests go to one worker together: every test
# that reads the session's sample run (built once, and run again by some of those tests in the same order as on one
# process), and otherwise a module's tests (its module-scoped fixtures are built once; none of them is shared
# between tests that read the sample run and tests that do not). pytest-xdist's own grouping (xdist_group marks)
# sends the groups to the main process by rewriting test ids, which pytest 9.2 no longer takes, so the groups go
# by a file instead: each worker writes the group of every test it collected, and the scheduler below reads them.
GROUPS = "vrr_test_groups"


def group_of(item: pytest.Item) -> str:
    return "sample_run" if "sample_run" in item.fixturenames else item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before pytest's own, which reads --basetemp
def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return  # a worker: its share of the session's folder comes from the main process
    if config.pluginmanager.hasplugin("xdist"):
        folder = Path(tempfile.mkdtemp(prefix="vrr-test-groups-"))
        config.stash[GROUPS_FILE] = folder / "groups.json"
    root = session_root()
    if root is not None and getattr(config.option, "basetemp", None) is None:
        from pipeline.dbt_cli import held_folder, prune_folders

        prune_folders(root, SESSION_FOLDER.format(suffix="*"), kept=0)  # those of sessions killed before their end
        held = contextlib.ExitStack()
        folder = held.enter_context(held_folder(root / SESSION_FOLDER.format(suffix=uuid.uuid4().hex[:12])))
        held.callback(shutil.rmtree, folder, ignore_errors=True)
        config.stash[SESSION_FILES] = held
        config.option.basetemp = str(folder / "tests")


def pytest_unconfigure(config):
    if GROUPS_FILE in config.stash:
        shutil.rmtree(config.stash[GROUPS_FILE].parent, ignore_errors=True)
    if SESSION_FILES in config.stash:
        config.stash[SESSION_FILES].close()


# --------------------------------------------------------------------------- where the tests' files go
# Every test's files (landing folders, warehouses, exports, Dagster's run storage) go under one folder of the
# session's own, removed at its end: by default on /dev/shm, the machine's memory-backed file system, where it has
# room. A whole-job run commits about a thousand times to Dagster's SQLite run storage, and on a disk each commit
# waits for the disk (3 s of a 15 s run of two decisions on the machine of docs/scaling.md); in memory it does not,
# and nothing else changes: the same files, renames, locks and processes.
# VRR_TEST_TMP names another folder for it; set and empty, pytest's own temporary folder (or --basetemp) is used.
SESSION_FILES = pytest.StashKey[contextlib.ExitStack]()
SESSION_FOLDER = "vrr-tests-{suffix}"
MEMORY_FS = Path("/dev/shm")
MEMORY_FS_ROOM = 4 * 2**30  # bytes free on it, else the disk: the suite writes under 1 GB


def session_root() -> Path | None:
    """Where the session's folder goes: VRR_TEST_TMP when set, else /dev/shm when there with room; None for
    pytest's own temporary folder."""
    chosen = os.environ.get("VRR_TEST_TMP")
    if chosen is not None:
        return Path(chosen).resolve() if chosen else None
    try:
        if os.access(MEMORY_FS, os.W_OK) and shutil.disk_usage(MEMORY_FS).free >= MEMORY_FS_ROOM:
            return MEMORY_FS
    except OSError:
        pass
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """(main process) Tell each worker where to write the groups."""
    node.workerinput[GROUPS] = str(node.config.stash[GROUPS_FILE])


def pytest_collection_modifyitems(config, items):
    """(each worker) Write the group of every test collected."""
    if GROUPS in getattr(config, "workerinput", {}):
        path = Path(config.workerinput[GROUPS])
        mine = path.with_name(f"{path.name}.{config.workerinput['workerid']}")
        mine.write_text(json.dumps({item.nodeid: group_of(item) for item in items}))
        mine.replace(path)  # whole: the workers collect the same tests, so either one's file will do


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """(main process) --dist loadgroup: xdist's scheduling by scope, the scope of a test being its group."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # all workers have collected (and written) by the time tests are scheduled
                self.groups = json.loads(config.stash[GROUPS_FILE].read_text())
            return self.groups[nodeid]

    return GroupScheduling(config, log)


class PipelineRun:
    """Runs the whole job on a landing folder into a private warehouse and export folder."""

    def __init__(self, tmp: Path, landing: Path | None, key: str | None = TEST_KEY):
        self.tmp = tmp
        self.landing = landing
        self.warehouse = tmp / "warehouse" / "vrr.duckdb"
        self.exports = tmp / "exports"
        self.key = key

    @property
    def analysts_copy(self) -> Path:
        """The analysts' copy of the marts a run writes beside the warehouse (VRR_PUBLISHED_PATH unset)."""
        from pipeline.settings import ANALYSTS_COPY_NAME

        return self.warehouse.with_name(ANALYSTS_COPY_NAME)

    def env(self) -> dict[str, str]:
        env = {"VRR_WAREHOUSE_PATH": str(self.warehouse), "VRR_EXPORT_DIR": str(self.exports)}
        if self.landing is not None:
            env["VRR_LANDING_DIR"] = str(self.landing)
        if self.key:
            env["VRR_PSEUDONYM_KEY"] = self.key
        return env

    @contextlib.contextmanager
    def environment(self):
        """The process environment of a run: this run's locations and key, nothing else of VRR_*."""
        names = ("VRR_LANDING_DIR", "VRR_WAREHOUSE_PATH", "VRR_EXPORT_DIR", "VRR_PUBLISHED_PATH", "VRR_PSEUDONYM_KEY")
        saved = {k: os.environ.pop(k, None) for k in names}
        os.environ.update(self.env())
        try:
            yield
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None)
                if v is not None:
                    os.environ[k] = v

    def instance(self):
        """A real Dagster instance in the test's folder, so its run storage and logs can be inspected afterwards;
        telemetry off, as in the project's dagster.yaml (without it Dagster records each step's events for upload)."""
        import dagster as dg

        (self.tmp / "dagster_home").mkdir(exist_ok=True)
        return dg.DagsterInstance.local_temp(
            str(self.tmp / "dagster_home"), overrides={"telemetry": {"enabled": False}}
        )

    def __call__(self, first: str | None = None, last: str | None = None, full_refresh: bool = False):
        from pipeline.run import run_job

        with self.environment(), self.instance() as instance:
            return run_job(instance, first, last, full_refresh=full_refresh)

    def query(self, sql: str, params=None) -> list[dict]:
        import duckdb

        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def copy_contents(path: Path) -> dict:
    """What an analysts' copy holds: its catalogue (schemas, tables, columns, views, their comments, row counts)
    and every table's rows, sorted."""
    import duckdb

    from pipeline import warehouse

    with duckdb.connect(str(path), read_only=True) as con:
        database = con.execute("select current_database()").fetchone()[0]
        found = warehouse.catalog(con, database)
        for schema, table, _ in found["tables"]:
            found[f"{schema}.{table}"] = con.execute(f'select * from {schema}."{table}" order by all').fetchall()
    return found


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The whole job once on the synthetic sample, shared by every test that only reads what it built."""
    from pipeline.synthetic import generate_sample

    tmp = tmp_path_factory.mktemp("sample")
    landing = tmp / "landing"
    generate_sample(landing)
    run = PipelineRun(tmp, landing)
    result = run()
    assert result.success
    return run


@pytest.fixture
def pipeline_run(tmp_path):
    def make(landing: Path | None, key: str | None = TEST_KEY) -> PipelineRun:
        return PipelineRun(tmp_path, landing, key)

    return make


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """Write a small extract by hand (tests build their landing folders with this)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)
    return path


def packs_in(exports: Path) -> dict[str, Path]:
    """The pack folders of an export folder, by name (not the hidden staging folders)."""
    return {p.name: p for p in sorted(exports.iterdir()) if p.is_dir() and not p.name.startswith(".")}
