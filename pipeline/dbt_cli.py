"""`vrr-dbt`: dbt's command line for this project, without parsing the project again when nothing that shapes the
parse has changed.

dbt parses the whole project afresh whenever its `--vars` or its profile differ from those of its last parse, and
every pipeline run hands dbt its own build file (`--vars {"warehouse_path": ...}`, which the profile makes DuckDB's
path) and DuckDB's resources (`duckdb_*`): so every build parsed every model, test and macro again, about 4 s of
each build. Those vars are read by the profile alone, as are environment variables (tests/test_dbt_cli.py holds
the project to both), so what a parse produces depends on them only through the database name DuckDB gives the
build file.

This program keeps each parse result under a key of everything that shapes it, and hands dbt the saved result when
the key matches (dbt's programmatic entry point takes a manifest already parsed, and then parses nothing):

- the path and contents of every file of the dbt project, the project's folder, and the versions of dbt-core,
  dbt-adapters and dbt-duckdb;
- the database name of the run's warehouse file;
- the command's other vars, and its `--target` and `--profile`.

A build whose key has no saved result (the first after any change) is dbt's as it always was, and what it parsed
is kept for the next.

`vrr-dbt parse` (how `make`, `dagster dev` and the tests prepare the manifest that Dagster reads) does nothing when
the manifest in the target folder is the one dbt wrote for the same key: the project's files, the dbt versions, the
command's vars, target and profile, and the values of the environment variables the profile reads (they can change
the warehouse's database name, which the manifest holds). Otherwise dbt parses as ever, but into a folder of the
parse's own, and each file it wrote then replaces the target folder's whole (the manifest last): dbt itself writes
manifest.json in place, and every Dagster process that loads the code location meanwhile (a run starting, the
UI) would read it half written. The manifest's key is noted beside the saved parses.

Any other command, or one with an option outside the few the pipeline gives, is dbt itself. Output and exit codes
are dbt's own in every case.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pipeline.settings import SECRET_VARIABLES

# The commands that build or test, and the options that shape nothing dbt parses (those taking values, and flags).
COMMANDS = {"build", "run", "test", "seed"}
ONE_VALUE = {"--vars", "--threads", "--project-dir", "--target", "-t", "--profile", "--target-path"}
MANY_VALUES = {"--select", "-s", "--exclude", "--resource-type"}
FLAG_OPTIONS = {"--full-refresh", "-f", "--fail-fast", "-x", "--quiet", "-q"}
# The vars the profile (profiles.yml) reads and nothing else does: the run's build file and DuckDB's resources.
PROFILE_VARS = ("warehouse_path",)
PROFILE_VAR_PREFIX = "duckdb_"
# Folders of a dbt project that hold what dbt writes, not what it reads.
NOT_READ = {"target", "logs", "dbt_packages"}
PACKAGES = ("dbt-core", "dbt-adapters", "dbt-duckdb")
KEEP = 8  # saved parse results kept (the newest); each is about 1 MB
# The environment variables a profile reads: their values are in the key of the manifest `dbt parse` writes.
ENV_VAR = re.compile(r"""\benv_var\(\s*['"]([^'"]+)['"]""")
MANIFEST_KEY = "manifest.key"  # beside the saved parses: the key and SHA-256 of the manifest dbt last wrote
PARSE_FOLDER = ".parse-{suffix}"  # in the target folder: where one `vrr-dbt parse` has dbt write
PARTIAL_PARSE = "partial_parse.msgpack"  # dbt's own saved parse, which its next parse starts from
IN_USE = ".in-use"  # a folder of one dbt invocation's own is in use while its process holds an flock on this file


class Command:
    """What of a dbt command line matters here: the command, its options' values, and whether all are known."""

    def __init__(self, argv: list[str]):
        self.name: str | None = None
        self.options: dict[str, list[str]] = {}
        self.known = True
        option = None
        for token in argv:
            if token.startswith("-"):
                name, has_value, value = token.partition("=")
                option = None
                if name in ONE_VALUE | MANY_VALUES:
                    self.options.setdefault(name, [])
                    if has_value:
                        self.options[name].append(value)
                    else:
                        option = name
                elif name in FLAG_OPTIONS:
                    self.options[name] = []
                else:
                    self.known = False
            elif option is not None:
                self.options[option].append(token)
                option = option if option in MANY_VALUES else None
            elif self.name is None:
                self.name = token
            else:
                self.known = False

    def value(self, *names: str) -> str | None:
        for name in names:
            if self.options.get(name):
                return self.options[name][-1]
        return None


def project_dir(command: Command) -> Path:
    """dbt's own order: --project-dir, then DBT_PROJECT_DIR, then the working folder."""
    return Path(command.value("--project-dir") or os.environ.get("DBT_PROJECT_DIR") or os.getcwd()).resolve()


def project_files(project: Path) -> list[Path]:
    """Every file of the project dbt may read, relative to its folder: not what dbt writes, nor hidden files."""
    return [
        relative
        for relative in (path.relative_to(project) for path in project.rglob("*") if path.is_file())
        if relative.parts[0] not in NOT_READ and not any(part.startswith(".") for part in relative.parts)
    ]


def _key(project: Path, command: Command, **more) -> str:
    """SHA-256 of what shapes every parse of the project (its folder, files and dbt's versions, the command's target
    and profile) and of `more`."""
    files = sorted(
        (str(relative), hashlib.sha256((project / relative).read_bytes()).hexdigest())
        for relative in project_files(project)
    )
    shaping = {
        "project": str(project),
        "packages": {name: importlib.metadata.version(name) for name in PACKAGES},
        "target": command.value("--target", "-t") or os.environ.get("DBT_TARGET"),
        "profile": command.value("--profile") or os.environ.get("DBT_PROFILE"),
        "files": files,
        **more,
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()


def _vars(command: Command) -> dict:
    text = command.value("--vars")
    if not text:
        return {}
    from dbt.config.utils import parse_cli_vars

    return parse_cli_vars(text)


def parse_key(command: Command) -> tuple[str, Path] | None:
    """The key of everything that shapes this command's parse, and the project's folder; None when the command is
    not one whose parse is kept (then dbt runs as it is)."""
    if not command.known or command.name not in COMMANDS:
        return None
    from dbt.adapters.duckdb.credentials import DuckDBCredentials

    variables = _vars(command)
    if not isinstance(variables.get("warehouse_path"), str):
        return None
    project = project_dir(command)
    key = _key(
        project,
        command,
        database=DuckDBCredentials.path_derived_database_name(variables["warehouse_path"]),
        vars={k: v for k, v in variables.items() if k not in PROFILE_VARS and not k.startswith(PROFILE_VAR_PREFIX)},
    )
    return key, project


def manifest_key(command: Command) -> tuple[str, Path] | None:
    """The key of everything that shapes the manifest `dbt parse` writes, and the project's folder; None for any
    other command, or a profile outside the project (then dbt runs as it is)."""
    if not command.known or command.name != "parse" or os.environ.get("DBT_PROFILES_DIR"):
        return None
    project = project_dir(command)
    profiles = project / "profiles.yml"
    if not profiles.is_file():
        return None
    names = sorted(set(ENV_VAR.findall(profiles.read_text(encoding="utf-8"))))
    key = _key(project, command, vars=_vars(command), environment={name: os.environ.get(name) for name in names})
    return key, project


def target_folder(project: Path, command: Command) -> Path:
    target = Path(command.value("--target-path") or os.environ.get("DBT_TARGET_PATH") or "target")
    return target if target.is_absolute() else project / target


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def parsed_folder(project: Path) -> Path:
    """Where the kept parses and the manifest's note are."""
    return project / "target" / "parsed"


def written_since(path: Path, started: float) -> bool:
    """Whether dbt wrote path during this invocation."""
    return path.exists() and path.stat().st_mtime >= started


def write_whole(path: Path, data: bytes) -> None:
    """Write path whole or not at all, whatever runs beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, path)


def manifest_note(project: Path, key: str, command: Command, sha256: str | None = None) -> dict:
    """What is noted of the target folder's manifest: the key it was written under, its path and SHA-256 (that of
    the file there now, unless given)."""
    manifest = target_folder(project, command) / "manifest.json"
    return {"key": key, "manifest": str(manifest), "sha256": sha256 or _sha256(manifest)}


def manifest_current(project: Path, key: str, command: Command) -> bool:
    """Whether the target folder's manifest is the one dbt wrote for this key, unchanged since."""
    try:
        noted = json.loads((parsed_folder(project) / MANIFEST_KEY).read_text())
    except (OSError, ValueError):
        return False
    return noted == manifest_note(project, key, command)


def publish_parse(written: Path, project: Path, key: str, command: Command) -> None:
    """Move each file dbt wrote into the target folder, each replacing the one there whole, the manifest last; then
    note the manifest's key, unless something that shapes it changed while dbt parsed. The note holds the SHA-256 of
    this parse's manifest, so a manifest another parse put there meanwhile is not current under this key."""
    note = parsed_folder(project) / MANIFEST_KEY
    note.unlink(missing_ok=True)
    target = target_folder(project, command)
    files = [path for path in written.iterdir() if path.is_file() and path.name != IN_USE]
    manifest = written / "manifest.json"
    sha256 = _sha256(manifest)
    for path in sorted(files, key=lambda path: path == manifest):
        os.replace(path, target / path.name)
    if sha256 is not None and manifest_key(command) == (key, project):
        write_whole(note, json.dumps(manifest_note(project, key, command, sha256)).encode())


def parse(argv: list[str], project: Path, key: str, command: Command) -> None:
    """dbt's parse into a folder of this invocation's own (starting from dbt's saved parse in the target folder, as
    dbt would), then published whole. Exits with dbt's code."""
    target = target_folder(project, command)
    prune_folders(target, PARSE_FOLDER.format(suffix="*"), kept=0)  # those of parses killed before their end
    with held_folder(target / PARSE_FOLDER.format(suffix=uuid.uuid4().hex[:12])) as written:
        try:
            if (target / PARTIAL_PARSE).is_file():
                shutil.copy2(target / PARTIAL_PARSE, written / PARTIAL_PARSE)
            try:
                run_dbt([*argv, "--target-path", str(written)])  # dbt takes the last --target-path given
            except SystemExit as done:
                if done.code in (0, None):
                    try:
                        publish_parse(written, project, key, command)
                    except OSError as exc:
                        say(f"dbt's parse could not be moved into {target} ({exc}).")
                        raise SystemExit(1) from exc
                raise
        finally:
            shutil.rmtree(written, ignore_errors=True)


# --------------------------------------------------------------------------- folders of one invocation's own


@contextlib.contextmanager
def held_folder(folder: Path) -> Iterator[Path]:
    """Create folder and hold it in use until the block ends, or the process does however it ends (the hold is an
    flock, which the operating system releases): prune_folders never removes it meanwhile. The folder is made under
    another name and held before it takes its own, so a prune never finds it not yet held."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    making = Path(tempfile.mkdtemp(prefix=".making-", dir=folder.parent))
    fd = os.open(making / IN_USE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        making.rename(folder)
        yield folder
    finally:
        os.close(fd)  # closing releases the flock


def in_use(folder: Path) -> bool:
    """Whether a live process holds the folder: its flock cannot be taken."""
    try:
        fd = os.open(folder / IN_USE, os.O_RDWR)
    except FileNotFoundError:
        return False  # a folder from before folders were held
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def prune_folders(root: Path, pattern: str, kept: int) -> None:
    """Remove the folders under root matching the glob pattern but the newest `kept`, never one a live process
    holds. Other processes may be pruning, creating or removing such folders at the same time."""
    finished = {}
    for path in root.glob(pattern):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            if path.is_dir() and not in_use(path):
                finished[path] = path.stat().st_mtime
    for old in sorted(finished, key=finished.get, reverse=True)[kept:]:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- saved parses of builds


def saved_path(project: Path, key: str) -> Path:
    return parsed_folder(project) / f"{key}.msgpack"


def load(path: Path):
    """The manifest saved at path, made ready as dbt makes a manifest it reads back for partial parsing."""
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    manifest = Manifest.from_msgpack(path.read_bytes(), decoder=extended_mashumuro_decoder)
    manifest.build_parent_and_child_maps()
    manifest.build_flat_graph()
    return manifest


def keep(project: Path, key: str, started: float, command: Command) -> None:
    """Keep the parse dbt just wrote (partial_parse.msgpack in its target folder) under the key, if it is this
    invocation's and nothing changed while it ran; then keep the newest KEEP only."""
    written = target_folder(project, command) / "partial_parse.msgpack"
    if not written_since(written, started) or parse_key(command) != (key, project):
        return
    destination = saved_path(project, key)
    write_whole(destination, written.read_bytes())
    saved = sorted(destination.parent.glob("*.msgpack"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in saved[KEEP:]:
        old.unlink(missing_ok=True)


def say(message: str) -> None:
    """A line of this program's own, on stderr: dbt's output on stdout stays dbt's alone (dagster-dbt reads both)."""
    print(f"vrr-dbt: {message}", file=sys.stderr, flush=True)


def run_dbt(argv: list[str], manifest=None) -> None:
    """dbt's own command line on argv, from the manifest given (then dbt parses nothing); exits with dbt's code."""
    from dbt.cli.main import cli

    cli.main(argv, prog_name="dbt", obj={"manifest": manifest, "callbacks": [], "dbt_runner_command_args": argv})


def main(argv: list[str] | None = None) -> None:
    # The pseudonym key reaches a run's process (an environment variable) and with it, unasked, every child process
    # dagster-dbt starts. dbt has no use for it: ingest has pseudonymised every identifier before dbt runs. Taken
    # out of this process's environment before dbt starts, no model, macro or log of dbt's can read it (and the
    # project's files read no environment variable but the profile's, tests/test_dbt_cli.py).
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = Command(argv)
    parsing = manifest_key(command)
    if parsing is not None:
        key, project = parsing
        if manifest_current(project, key, command):
            say("the manifest is current: nothing that shapes it has changed since dbt wrote it.")
            return
        parse(argv, project, key, command)
        return
    found = parse_key(command)
    manifest = None
    if found is not None:
        key, project = found
        path = saved_path(project, key)
        if path.exists():
            try:
                manifest = load(path)
            except Exception as exc:  # a file from another dbt version or cut short: parse as dbt does
                say(f"the saved parse {path.name} could not be read ({exc}); dbt parses the project.")
            else:
                path.touch()  # the newest in use
                say("nothing the parse depends on has changed; dbt builds from the saved parse.")
    started = time.time()
    try:
        run_dbt(argv, manifest)
    finally:
        if found is not None and manifest is None:
            try:
                keep(project, key, started, command)
            except OSError as exc:  # not kept: the next build parses again; dbt's exit code stands
                say(f"the parse could not be kept ({exc}).")


if __name__ == "__main__":
    main()
