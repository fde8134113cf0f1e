"""The Dagster UI in a real browser: `dagster dev` (webserver and daemon, as `make dev` runs them) on a free local
port with a temporary DAGSTER_HOME and the synthetic sample, driven through Debian's chromium with Playwright.

It opens the asset graph, finds the project's assets, checks, schedule and sensor by name, launches the whole job
for one quarter from the job's page ("Materialize all"), waits for the run to succeed, and looks at the metadata
the run left. Screenshots go to the test's tmp_path. The server runs in its own process group, which is killed
at the end, also when the test fails.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import ROOT
from tests.test_ui import free_port, graphql

pytestmark = pytest.mark.browser

QUARTER = "2024-04"  # a complete quarter of the sample: its pack is 2024-25-Q1
RUN_TIMEOUT = 30 * 60  # the machine may be loaded; a run takes a few minutes
PAGE_TIMEOUT = 120_000  # milliseconds

RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"


@pytest.fixture
def dagster_dev(tmp_path):
    """`dagster dev` on 127.0.0.1 and a free port, in its own process group; yields (port, tmp folder)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("VRR_LANDING_DIR", "VRR_PSEUDONYM_KEY")}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "VRR_WAREHOUSE_PATH": str(tmp_path / "warehouse" / "vrr.duckdb"),
            "VRR_EXPORT_DIR": str(tmp_path / "exports"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DO_NOT_TRACK": "1",
        }
    )
    port = free_port()
    log = (tmp_path / "dagster_dev.log").open("wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert server.poll() is None, f"dagster dev stopped: {(tmp_path / 'dagster_dev.log').read_text()[-3000:]}"
            try:
                if graphql(port, "{ assetNodes { id } }")["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(2)
        else:
            pytest.fail("dagster dev did not load the code location in 5 minutes")
        yield port, tmp_path
    finally:
        stop_group(server)
        log.close()


def stop_group(server: subprocess.Popen) -> None:
    """Stop the server and every process it started (webserver, daemon, code server, run workers, dbt)."""
    group = server.pid  # start_new_session: the group's id is the leader's pid
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if server.poll() is not None:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    return  # the whole group has gone
            time.sleep(0.5)
    server.wait(timeout=10)


def shot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def see(page, *texts: str) -> None:
    for text in texts:
        page.get_by_text(text, exact=True).filter(visible=True).first.wait_for(timeout=PAGE_TIMEOUT)


def wait_for_run(port: int, log: Path) -> dict:
    """The launched run, once finished (polled through the webserver's GraphQL API)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        runs = graphql(port, RUNS)["runsOrError"]["results"]
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(1)
    pytest.fail(f"the run did not finish in {RUN_TIMEOUT} s: {log.read_text()[-3000:]}")


def test_the_ui_shows_the_pipeline_and_runs_it(dagster_dev):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    port, tmp = dagster_dev
    base = f"http://127.0.0.1:{port}"
    shots = tmp / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.set_default_timeout(PAGE_TIMEOUT)

            # the asset graph, with its groups; the first visit may greet with a community dialog
            page.goto(f"{base}/asset-groups")
            see(page, "Global asset lineage")
            page.wait_for_timeout(3000)
            if page.get_by_role("button", name="Skip").count():
                page.get_by_role("button", name="Skip").click()
            see(page, "ingest", "staging", "intermediate", "marts", "publish", "reference")
            shot(page, shots, "asset-graph")

            # the project's assets by name, group by group: the group's graph (drawn only where it is on the
            # screen), then its list of every asset
            for group, names in (
                ("ingest", ("raw_decisions", "raw_vrr_requests", "raw_extract_files", "raw_quarantine")),
                (
                    "marts",
                    (
                        "vrr_uptake_rolling",
                        "fct_vrr_decisions",
                        "vrr_requests_by_period",
                        "characteristics_completeness",
                    ),
                ),
                ("publish", ("disclosure_control", "published_warehouse", "quarterly_export")),
            ):
                page.goto(f"{base}/locations/vrr/asset-groups/{group}")
                see(page, group)
                shot(page, shots, f"group-{group}")
                page.get_by_text("List", exact=True).first.click()
                for name in names:
                    page.get_by_text(name).first.wait_for(timeout=PAGE_TIMEOUT)
                shot(page, shots, f"list-{group}")

            # checks: the project's own reconciliation and the dbt tests
            page.goto(f"{base}/assets/raw_decisions?view=checks")
            see(page, "rows_reconcile")
            page.get_by_text("This is a blocking asset check.").first.wait_for()
            shot(page, shots, "checks-raw_decisions")
            page.goto(f"{base}/assets/marts/vrr_uptake?view=checks")
            # dbt tests' names are long and shown shortened in the list: the check shown first says what it tests
            page.get_by_text("dbt test:", exact=False).filter(visible=True).first.wait_for()
            shot(page, shots, "checks-vrr_uptake")

            # the schedule and the landing-folder sensor
            page.goto(f"{base}/automation")
            see(page, "quarterly_schedule", "landing_folder_sensor")
            shot(page, shots, "automation")

            # launch the whole job for one quarter from the job's page
            page.goto(f"{base}/locations/vrr/jobs/vrr_pipeline")
            page.get_by_role("button", name="Materialize all…").click()
            dialog = page.get_by_role("dialog")
            partitions = dialog.get_by_placeholder("ex: 2013-04", exact=False)
            partitions.fill(QUARTER)
            partitions.press("Enter")
            launch = dialog.get_by_role("button", name="Launch 1 run")
            launch.wait_for()
            shot(page, shots, "launch")
            launch.click()

            run = wait_for_run(port, tmp / "dagster_dev.log")
            page.goto(f"{base}/runs/{run['runId']}")
            see(page, "Success" if run["status"] == "SUCCESS" else run["status"].title())
            shot(page, shots, "run")
            assert run["status"] == "SUCCESS", (tmp / "dagster_dev.log").read_text()[-5000:]
            tags = {t["key"]: t["value"] for t in run["tags"]}
            assert tags["vrr/run_queue"] == "dagster" and tags["dagster/partition"] == QUARTER

            # what the run left: the marts of the published file on published_warehouse, the pack it wrote
            page.goto(f"{base}/assets/published_warehouse")
            see(page, "marts.vrr_uptake")
            shot(page, shots, "published_warehouse")
            page.goto(f"{base}/assets/raw_decisions")
            see(page, "rows_quarantined")
            shot(page, shots, "raw_decisions")
        finally:
            browser.close()
    assert (tmp / "exports" / "2024-25-Q1" / "manifest.json").is_file()
    # the job's steps ran one after another in the run's own process (the executor of pipeline/definitions.py)
    assert "Executing steps in process" in (tmp / "dagster_dev.log").read_text()
    assert len(list(shots.glob("*.png"))) == 14
