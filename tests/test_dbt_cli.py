"""`vrr-dbt` (pipeline/dbt_cli.py): dbt builds from a saved parse only when nothing that shapes the parse changed."""

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest

from pipeline import dbt_cli
from pipeline.resources import dbt_executable
from pipeline.settings import DBT_PROJECT_DIR

PROFILE_ONLY = re.compile(r"""\bvar\(\s*['"](warehouse_path|duckdb_\w*)['"]""")
ENVIRONMENT = re.compile(r"\benv_var\(")


def readers(pattern: re.Pattern) -> set[str]:
    """The files of those the key covers that match pattern."""
    return {
        str(relative)
        for relative in dbt_cli.project_files(DBT_PROJECT_DIR)
        if pattern.search((DBT_PROJECT_DIR / relative).read_text(errors="replace"))
    }


def test_the_runs_own_vars_are_read_by_the_profile_alone():
    """What the saved parse may differ in (the run's build file, DuckDB's resources) must shape nothing but the
    connection: no model, macro, test, seed or project setting reads those vars."""
    assert readers(PROFILE_ONLY) == {"profiles.yml"}


def test_no_environment_variable_shapes_the_parse():
    """The key holds the project's files, not the environment: only the profile may read environment variables
    (the database name they can lead to is in the key)."""
    assert readers(ENVIRONMENT) == {"profiles.yml"}


def test_the_pipeline_runs_dbt_through_vrr_dbt():
    assert Path(dbt_executable()).name == "vrr-dbt"


def test_dbt_runs_without_the_pseudonym_key(monkeypatch):
    """A run's environment holds the key, and dagster-dbt hands its environment to dbt: vrr-dbt takes the key out
    before dbt starts (what dbt then writes is scanned for it in tests/test_checks_block.py)."""
    seen: dict[str, str] = {}
    monkeypatch.setenv("VRR_PSEUDONYM_KEY", "a-key-dbt-must-not-see")
    monkeypatch.setattr(dbt_cli, "run_dbt", lambda argv, manifest=None: seen.update(os.environ))
    dbt_cli.main(["debug"])
    assert seen and "VRR_PSEUDONYM_KEY" not in seen


def build(warehouse: Path, **more_vars) -> list[str]:
    return ["build", "--vars", json.dumps({"warehouse_path": str(warehouse), **more_vars}), "--select", "fqn:*"]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns(*dbt_cli.NOT_READ, ".user.yml"))
    monkeypatch.setenv("DBT_PROJECT_DIR", str(copy))
    return copy


def test_the_key_follows_what_shapes_the_parse(project, tmp_path):
    key = dbt_cli.parse_key

    def of(argv):
        found = key(dbt_cli.Command(argv))
        return found and found[0]

    here = of(build(tmp_path / "a" / ".vrr.duckdb.build-1"))
    assert here is not None
    # the same for another build file of a warehouse of the same name, and other DuckDB resources
    assert of(build(tmp_path / "b" / ".vrr.duckdb.build-2", duckdb_memory_limit="8GB", duckdb_threads=4)) == here
    assert of(build(tmp_path / "a" / ".vrr.duckdb.build-1") + ["--full-refresh", "--select", "a", "b"]) == here
    # another database name, other vars, another target: another key
    assert of(build(tmp_path / "police.duckdb")) != here
    assert of(build(tmp_path / "vrr.duckdb", provisional_months=3)) != here
    assert of(build(tmp_path / "vrr.duckdb") + ["--target", "lint"]) != here
    # any change to a file of the project, a new one, or one gone
    model = project / "models" / "marts" / "vrr_uptake.sql"
    model.write_text(model.read_text() + "\n")
    changed = of(build(tmp_path / "vrr.duckdb"))
    assert changed not in (None, here)
    (project / "macros" / "new.sql").write_text("{% macro new() %}1{% endmacro %}")
    added = of(build(tmp_path / "vrr.duckdb"))
    assert added not in (None, here, changed)
    (project / "seeds" / "sex_codes.csv").unlink()
    removed = of(build(tmp_path / "vrr.duckdb"))
    assert removed not in (None, here, changed, added)
    # what dbt writes is not read
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("")
    assert of(build(tmp_path / "vrr.duckdb")) == removed


@pytest.mark.parametrize(
    "argv",
    [
        ["parse"],
        ["compile", "--vars", '{"warehouse_path": "x.duckdb"}'],
        ["build"],  # no build file of its own: dbt as it is
        ["build", "--vars", '{"warehouse_path": "x.duckdb"}', "--defer"],  # an option not known here
        ["build", "--vars", '{"warehouse_path": "x.duckdb"}', "--no-partial-parse"],
        ["build", "extra", "--vars", '{"warehouse_path": "x.duckdb"}'],
    ],
)
def test_other_commands_are_dbt_as_it_is(project, argv):
    assert dbt_cli.parse_key(dbt_cli.Command(argv)) is None


def test_options_are_read_as_dbt_reads_them():
    command = dbt_cli.Command(
        ["build", "--vars={}", "--select", "a", "b+", "--exclude", "c", "--full-refresh", "-t", "local", "-q"]
    )
    assert command.known and command.name == "build"
    assert command.options["--select"] == ["a", "b+"]
    assert command.options["--exclude"] == ["c"]
    assert command.value("--target", "-t") == "local"
    assert command.value("--vars") == "{}"


def run(project: Path, argv: list[str]) -> str:
    done = subprocess.run([dbt_executable(), *argv], cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stderr


def test_a_build_from_the_saved_parse_is_the_same_and_a_change_is_parsed(project, tmp_path):
    """A new model is parsed and its parse kept; the next build reuses it; an edit to the model is parsed again and
    built as it now is."""
    warehouse = tmp_path / "probe.duckdb"
    probe = project / "models" / "intermediate" / "zz_probe.sql"
    probe.write_text("select 1 as x\n")
    argv = [
        "build",
        "--vars",
        json.dumps({"warehouse_path": str(warehouse)}),
        "--select",
        "zz_probe",
        "--target-path",
        str(tmp_path / "target"),
    ]

    def probed() -> int:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute("select x from intermediate.zz_probe").fetchone()[0]

    first = run(project, argv)
    assert "saved parse" not in first
    assert len(list((project / "target" / "parsed").glob("*.msgpack"))) == 1
    assert probed() == 1

    again = run(project, argv)
    assert "dbt builds from the saved parse" in again
    assert probed() == 1

    probe.write_text("select 2 as x\n")
    edited = run(project, argv)
    assert "saved parse" not in edited
    assert probed() == 2
    assert len(list((project / "target" / "parsed").glob("*.msgpack"))) == 2


def test_the_manifest_key_follows_what_shapes_the_manifest(project, tmp_path, monkeypatch):
    """`vrr-dbt parse` leaves the manifest alone only under the same key: the project's files, the command's vars
    and target, and the environment variables the profile reads (the warehouse's database name)."""
    monkeypatch.delenv("VRR_WAREHOUSE_PATH", raising=False)

    def of(*argv):
        found = dbt_cli.manifest_key(dbt_cli.Command(["parse", *argv]))
        return found and found[0]

    here = of()
    assert here is not None and of("--quiet") == here
    assert of("--target", "lint") != here
    assert of("--vars", '{"provisional_months": 3}') != here
    monkeypatch.setenv("VRR_WAREHOUSE_PATH", str(tmp_path / "police.duckdb"))
    elsewhere = of()
    assert elsewhere not in (None, here)
    model = project / "models" / "marts" / "vrr_uptake.sql"
    model.write_text(model.read_text() + "\n")
    assert of() not in (None, here, elsewhere)
    # not for other commands, options not known here, or a profile outside the project
    assert dbt_cli.manifest_key(dbt_cli.Command(["build", "--vars", '{"warehouse_path": "x.duckdb"}'])) is None
    assert of("--no-partial-parse") is None
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    assert of() is None


def test_a_manifest_changed_since_dbt_wrote_it_is_not_current(project, tmp_path):
    key, folder = dbt_cli.manifest_key(dbt_cli.Command(["parse"]))
    command = dbt_cli.Command(["parse"])
    manifest = project / "target" / "manifest.json"
    manifest.parent.mkdir()
    written = tmp_path / "written"
    written.mkdir()
    (written / "manifest.json").write_text('{"nodes": {}}')
    dbt_cli.publish_parse(written, folder, key, command)
    assert manifest.read_text() == '{"nodes": {}}' and not (written / "manifest.json").exists()
    assert dbt_cli.manifest_current(folder, key, command)
    assert not dbt_cli.manifest_current(folder, "another key", command)
    manifest.write_text('{"nodes": {"x": {}}}')  # e.g. a plain `dbt build` in the folder wrote its own
    assert not dbt_cli.manifest_current(folder, key, command)
    manifest.unlink()
    assert not dbt_cli.manifest_current(folder, key, command)


def test_parse_leaves_a_current_manifest_alone_and_parses_after_a_change(project, monkeypatch):
    monkeypatch.delenv("VRR_WAREHOUSE_PATH", raising=False)
    manifest = project / "target" / "manifest.json"

    def models() -> set[str]:
        return {node["name"] for node in json.loads(manifest.read_text())["nodes"].values()}

    assert "is current" not in run(project, ["parse", "--quiet"])
    written = manifest.stat().st_mtime_ns
    assert "vrr_uptake" in models()

    assert "the manifest is current" in run(project, ["parse", "--quiet"])
    assert manifest.stat().st_mtime_ns == written

    (project / "models" / "intermediate" / "zz_probe.sql").write_text("select 1 as x\n")
    assert "is current" not in run(project, ["parse", "--quiet"])
    assert "zz_probe" in models()
    assert "the manifest is current" in run(project, ["parse", "--quiet"])
    assert not [path.name for path in (project / "target").iterdir() if path.name.startswith((".parse-", ".making-"))]


def test_a_parse_never_shows_a_half_written_manifest(project, tmp_path, monkeypatch):
    """dbt writes manifest.json in place; every process loading the code location reads it (a run starting while
    `dagster dev` or `make run` parses): each parse's files replace the target folder's whole, the manifest last."""
    manifest = project / "target" / "manifest.json"

    def parse_for(name: str) -> None:  # another warehouse file: another database name in the manifest, parsed anew
        monkeypatch.setenv("VRR_WAREHOUSE_PATH", str(tmp_path / f"{name}.duckdb"))
        assert "is current" not in run(project, ["parse", "--quiet"])

    parse_for("first")
    seen, torn = set(), []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            text = manifest.read_text(encoding="utf-8")
            try:
                nodes = json.loads(text)["nodes"].values()
            except ValueError:
                torn.append(len(text))
            else:
                seen.update(node["database"] for node in nodes if node["resource_type"] == "model")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        parse_for("second")
        parse_for("first")
    finally:
        done.set()
        reader.join()
    assert torn == []
    assert seen == {"first", "second"}  # the reader read the manifest of each parse


def test_dagster_dev_prepares_the_manifest_with_vrr_dbt(project, monkeypatch):
    """Under `dagster dev` each process loading the code location prepares the manifest: through `vrr-dbt parse`
    (whole files, nothing parsed when current), not dagster-dbt's plain dbt."""
    from dagster_dbt import DbtProject

    from pipeline.transform import ManifestPreparer

    monkeypatch.delenv("VRR_WAREHOUSE_PATH", raising=False)
    manifest = project / "target" / "manifest.json"
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    ManifestPreparer().prepare_if_dev(DbtProject(project_dir=project))
    assert not manifest.exists()  # outside `dagster dev`, make and the tests prepare it
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    ManifestPreparer().prepare_if_dev(DbtProject(project_dir=project))
    command = dbt_cli.Command(["parse", "--quiet"])
    key, folder = dbt_cli.manifest_key(command)
    assert folder == project and dbt_cli.manifest_current(project, key, command)
