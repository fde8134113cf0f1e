"""The Dagster UI, as `make dev` serves it from workspace.yaml, shows the assets, checks, partitions and schedule."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT

QUERY = """{
  assetNodes { assetKey { path } groupName description hasAssetChecks partitionDefinition { description } }
  schedulesOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "vrr"}) {
    ... on Schedules { results { name cronSchedule executionTimezone scheduleState { status } } }
  }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def test_webserver_shows_the_code_location(tmp_path):
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        data = None
        while time.monotonic() < deadline:
            try:
                data = graphql(port, QUERY)
                if data["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert data and data["assetNodes"], "the webserver did not load the code location"
    finally:
        server.terminate()
        server.wait(timeout=30)
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    for key in (
        "raw_decisions",
        "raw_vrr_requests",
        "marts/vrr_uptake",
        "marts/fct_vrr_decisions",
        "marts/characteristics_completeness",
        "marts/vrr_requests_by_period",
        "published_warehouse",
        "quarterly_export",
    ):
        assert nodes[key]["description"], key
    assert nodes["raw_decisions"]["hasAssetChecks"] and nodes["marts/vrr_uptake"]["hasAssetChecks"]
    assert nodes["quarterly_export"]["partitionDefinition"]["description"].startswith(
        "0 0 1 */3 *, starting 2013-04 Europe/London"
    )
    assert {n["groupName"] for n in nodes.values()} == {
        "ingest",
        "reference",
        "staging",
        "intermediate",
        "marts",
        "publish",
    }
    schedules = data["schedulesOrError"]["results"]
    assert [
        (s["name"], s["cronSchedule"], s["executionTimezone"], s["scheduleState"]["status"]) for s in schedules
    ] == [("quarterly_schedule", "0 6 1 1,4,7,10 *", "Europe/London", "RUNNING")]
