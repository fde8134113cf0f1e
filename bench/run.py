"""The benchmark: `make bench` (or `python -m bench.run 100000 1000000`). Not a test: it prints figures.

For each size N (SYNTHETIC decisions, see bench/generate.py), side by side on the same CSV files:
  full run      the project's whole job as `make run` does it (Dagster, ingest, dbt build with tests, exports),
                from an empty warehouse (`--full-refresh`)
  floor         one DuckDB statement over the CSV files: the newest version of each decision and vrr_uptake for
                the `all` cohort (eligible decisions, decisions with a request, requests) by quarter and force
  floor with pseudonyms
                the same statement, also computing the keyed pseudonyms (HMAC-SHA256) of both identifiers of
                every row read, as the contract requires of any run: the least work a conforming run does
  pandas        the same figures as an analyst would write them in pandas (capped at BENCH_PANDAS_MEMORY_GB of
                address space, 8 by default, so it cannot starve the machine; beyond that it is out of memory)
  nothing new   the job again with the landing folder unchanged
  incremental   the job after one new quarter's extract lands (new decisions and corrections of older ones)
Wall time, peak resident memory of the whole process tree (psutil), the cores it kept busy on average (CPU time of
the process tree over wall time), rows read per second, ratios to both floors (the issue's targets are set against
the first).
Then, unless BENCH_SUITE=0, the whole test suite once (`make test`), timed.
Results are printed and written to bench/results.md with the machine's cores and memory, the commit measured, and
each of the issue's targets judged from the figures of this run (met, not met, or not measured when a size or the
suite was left out). Where the time goes, and what was weighed to cut it, is in docs/scaling.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.generate import add_quarter, generate

ROOT = Path(__file__).resolve().parents[1]
SIZES = (100_000, 1_000_000, 10_000_000)
BENCH_KEY = "benchmark-key-synthetic-data-only"

# The targets of issue 8, on the 2-core 24 GB machine the project is built on.
TARGET_SIZE = 10_000_000  # the size the run-time, floor, memory and incremental targets are set at
TARGET_SECONDS = 120  # the full run at TARGET_SIZE, end to end
TARGET_FLOOR_RATIO = 4.0  # the full run at TARGET_SIZE, against the floor (not the floor with pseudonyms)
TARGET_PEAK_GB = 4.0  # any run of the job at TARGET_SIZE: peak resident memory of the process tree
TARGET_PANDAS_FROM = 1_000_000  # faster than pandas at every size from this one up
TARGET_INCREMENTAL_SHARE = 0.25  # the incremental run at TARGET_SIZE, against the full run
TARGET_NOTHING_NEW_SECONDS = 20  # the run with nothing new, at every size
TARGET_SUITE_MINUTES = 10  # `make test`
JOB_RUNS = ("full run", "incremental", "nothing new")

FLOOR = """
import os, sys, duckdb
landing, rules = sys.argv[1], sys.argv[2]
parameters = {'landing': landing, 'rules': rules}
pseudonyms, kept = '', ''
if sys.argv[3:] == ['pseudonyms']:
    # with the pseudonyms: HMAC-SHA256 of both identifiers of every row read, by the function and expression
    # ingest uses
    from pipeline.contract import create_macros, create_pseudonym_function, pseudonym_sql
    pseudonyms = (f', {pseudonym_sql("victim_id")} as victim_pseudonym, '
                  f'{pseudonym_sql("crime_reference")} as crime_pseudonym')
    kept = ', max(victim_pseudonym) as any_victim_pseudonym, max(crime_pseudonym) as any_crime_pseudonym'
con = duckdb.connect()
if kept:
    create_macros(con)
    create_pseudonym_function(con, os.environ['VRR_PSEUDONYM_KEY'].encode())
con.execute(f'''
    create table uptake as
    with decisions as (
        select *, cast(regexp_extract(filename, '(\\d{{4}}-\\d{{2}}-\\d{{2}})') as date) as extract_date{pseudonyms}
        from read_csv($landing || '/decisions_*.csv', all_varchar = true, filename = true)
    ),
    latest as (
        select * replace (cast(decision_date as date) as decision_date) from decisions
        qualify row_number() over (partition by decision_id order by extract_date desc) = 1
    ),
    requests as (
        select * from read_csv($landing || '/vrr_requests_*.csv', all_varchar = true, filename = true)
        qualify row_number() over (partition by request_id order by filename desc) = 1
    ),
    rules as (select * from read_csv($rules)),
    eligible as (
        select distinct latest.* from latest join rules
          on latest.outcome_code = rules.outcome_code and latest.decision_maker = rules.decision_maker
         and (not rules.requires_suspect_interviewed or latest.suspect_interviewed = 'Y')
         and latest.decision_date >= rules.scheme_start_date
    ),
    per_decision as (
        select requests.decision_id, count(*) as requests from requests join latest using (decision_id)
        where cast(requests.request_date as date) >= latest.decision_date group by 1
    )
    select cast(date_trunc('quarter', decision_date) as date) as period_start,
           coalesce(force_code, 'ALL') as force_code, count(*) as eligible_decisions,
           count(per_decision.decision_id) as decisions_with_request, coalesce(sum(requests), 0) as requests{kept}
    from eligible left join per_decision using (decision_id)
    group by grouping sets ((period_start, force_code), (period_start))
''', parameters)
print(con.execute('select count(*), sum(eligible_decisions) from uptake').fetchone())
"""

PANDAS = """
import glob, re, sys
import pandas as pd
landing, rules_path = sys.argv[1], sys.argv[2]
frames = []
for path in sorted(glob.glob(landing + '/decisions_*.csv')):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame['extract_date'] = re.search(r'(\\d{4}-\\d{2}-\\d{2})', path).group(1)
    frames.append(frame)
decisions = pd.concat(frames, ignore_index=True)
latest = decisions.sort_values('extract_date').drop_duplicates('decision_id', keep='last').copy()
latest['decision_date'] = pd.to_datetime(latest['decision_date'])
requests = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False).assign(file=p)
                      for p in sorted(glob.glob(landing + '/vrr_requests_*.csv'))], ignore_index=True)
requests = requests.sort_values('file').drop_duplicates('request_id', keep='last')
rules = pd.read_csv(rules_path, dtype={'outcome_code': str})
rules['scheme_start_date'] = pd.to_datetime(rules['scheme_start_date'])
eligible = latest.merge(rules, on=['outcome_code', 'decision_maker'])
eligible = eligible[(~eligible['requires_suspect_interviewed'] | (eligible['suspect_interviewed'] == 'Y'))
                    & (eligible['decision_date'] >= eligible['scheme_start_date'])].drop_duplicates('decision_id')
counted = requests.merge(latest[['decision_id', 'decision_date']], on='decision_id')
counted = counted[pd.to_datetime(counted['request_date']) >= counted['decision_date']]
per_decision = counted.groupby('decision_id').size().rename('requests').reset_index()
eligible = eligible.merge(per_decision, on='decision_id', how='left')
eligible['period_start'] = eligible['decision_date'].dt.to_period('Q').dt.start_time
eligible['has_request'] = eligible['requests'].notna()
by_force = eligible.groupby(['period_start', 'force_code']).agg(
    eligible_decisions=('decision_id', 'size'), decisions_with_request=('has_request', 'sum'),
    requests=('requests', 'sum')).reset_index()
overall = eligible.groupby(['period_start']).agg(
    eligible_decisions=('decision_id', 'size'), decisions_with_request=('has_request', 'sum'),
    requests=('requests', 'sum')).reset_index().assign(force_code='ALL')
uptake = pd.concat([by_force, overall])
print(len(uptake), uptake['eligible_decisions'].sum() // 2)
"""


def measure(command: list[str], env: dict, memory_cap: int | None = None) -> dict:
    """Run a command; wall time, peak resident memory of its whole process tree (sampled), CPU time of the whole
    tree, and success. The CPU time is that of every descendant the command waited for (every process of a run
    is), so nothing else this process starts may run at the same time."""

    def cap():
        if memory_cap:
            resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))

    start = time.perf_counter()
    started_at = dt.datetime.now()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=cap
    )
    root = psutil.Process(process.pid)
    peak = 0
    output = []
    os.set_blocking(process.stdout.fileno(), False)
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        chunk = process.stdout.read()
        if chunk:
            output.append(chunk)
        time.sleep(0.05)
    output.append(process.stdout.read() or b"")
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = b"".join(output).decode(errors="replace")
    return {
        "seconds": seconds,
        "peak_bytes": peak,
        "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "ok": process.returncode == 0,
        "output": text,
        "phases": phases(text, started_at, seconds),
    }


def phases(log: str, started_at: dt.datetime, total: float) -> str:
    """Where a pipeline run's time went (whole seconds), from the run's own log (its path is the console's last
    line; every event there has its time): start-up (the process, Dagster, the run's planned events) before the
    first step, then each step that ran: ingest, dbt, disclosure, publish, export."""
    match = re.search(r"Log: (\S+\.log)", log)
    if not match or not Path(match.group(1)).exists():
        return ""
    started, finished = {}, {}
    for line in Path(match.group(1)).read_text(encoding="utf-8").splitlines():
        step = re.match(r"(\S+) \S+ (\S+): (Started|Finished) execution of step", line)
        if step:
            moment = dt.datetime.fromisoformat(step.group(1)).astimezone().replace(tzinfo=None)
            (started if step.group(3) == "Started" else finished)[step.group(2)] = moment
    if not started:
        return ""
    names = {
        "landing_extracts": "ingest",
        "vrr_dbt_models": "dbt",
        "disclosure_control": "disclosure",
        "published_warehouse": "publish",
        "quarterly_export": "export",
    }
    parts = [f"start {(min(started.values()) - started_at).total_seconds():.0f}"]
    for step, name in names.items():
        if step in started and step in finished:
            parts.append(f"{name} {(finished[step] - started[step]).total_seconds():.0f}")
    return ", ".join(parts)


def rows_in(folder: Path) -> int:
    """Data rows of every extract (lines less the header; the synthetic files have no quoted line breaks)."""
    total = 0
    for path in folder.glob("*.csv"):
        with path.open("rb") as handle:
            total += sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b"")) - 1
    return total


def bench_size(n: int, work: Path) -> dict:
    landing, extra = work / "landing", work / "extra"
    started = time.perf_counter()
    generate(landing, n)
    add_quarter(extra, n)
    generated = time.perf_counter() - started
    env = {
        **os.environ,
        "VRR_LANDING_DIR": str(landing),
        "VRR_WAREHOUSE_PATH": str(work / "warehouse" / "vrr.duckdb"),
        "VRR_EXPORT_DIR": str(work / "exports"),
        "VRR_PSEUDONYM_KEY": BENCH_KEY,
        "DAGSTER_HOME": str(work / "dagster_home"),
        "DO_NOT_TRACK": "1",
    }
    (work / "dagster_home").mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", work / "dagster_home" / "dagster.yaml")
    rules = str(ROOT / "dbt_project" / "seeds" / "vrr_eligibility_rules.csv")
    python = sys.executable
    rows = rows_in(landing)
    cap = int(float(os.environ.get("BENCH_PANDAS_MEMORY_GB", "8")) * 2**30)
    results = {"n": n, "rows_read": rows, "generated_seconds": generated}
    results["full run"] = measure([python, "-m", "pipeline.run", "--full-refresh"], env)
    results["floor"] = measure([python, "-c", FLOOR, str(landing), rules], env)
    results["floor with pseudonyms"] = measure([python, "-c", FLOOR, str(landing), rules, "pseudonyms"], env)
    results["pandas"] = measure([python, "-c", PANDAS, str(landing), rules], env, memory_cap=cap)
    results["nothing new"] = measure([python, "-m", "pipeline.run"], env)
    for path in extra.iterdir():
        shutil.copy(path, landing / path.name)
    results["rows_incremental"] = rows_in(extra)
    results["incremental"] = measure([python, "-m", "pipeline.run"], env)
    for name in ("full run", "nothing new", "incremental"):
        if not results[name]["ok"]:
            print(results[name]["output"][-3000:], file=sys.stderr)
    return results


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GB memory, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at the start {load}"
    )


def busy(m: dict) -> str:
    """Cores busy on average: CPU time of the process tree over wall time."""
    return f"{m['cpu_seconds'] / m['seconds']:.2f}" if m["seconds"] > 0 else ""


def table(all_results: list[dict]) -> str:
    lines = [
        "| decisions | rows read | run | wall s | peak memory GB | cores busy | rows/s | × floor "
        "| × floor with pseudonyms | of which (s) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in all_results:
        floor, hashed = r["floor"]["seconds"], r["floor with pseudonyms"]["seconds"]
        for name in ("full run", "floor", "floor with pseudonyms", "pandas", "incremental", "nothing new"):
            m = r[name]
            rows = r["rows_incremental"] if name == "incremental" else r["rows_read"]
            if not m["ok"]:
                state = "out of memory" if name == "pandas" else "failed"
                lines.append(
                    f"| {r['n']:,} | {rows:,} | {name} | {state} after {m['seconds']:.1f} | "
                    f"{m['peak_bytes'] / 2**30:.2f} | {busy(m)} | | | | |"
                )
                continue
            rate = f"{rows / m['seconds']:,.0f}" if name != "nothing new" else ""
            lines.append(
                f"| {r['n']:,} | {rows:,} | {name} | {m['seconds']:.1f} | {m['peak_bytes'] / 2**30:.2f} | "
                f"{busy(m)} | {rate} | {m['seconds'] / floor:.1f} | {m['seconds'] / hashed:.1f} | "
                f"{m.get('phases', '')} |"
            )
    return "\n".join(lines)


def judge(all_results: list[dict], suite: dict | None) -> list[tuple[str, str, str]]:
    """Each target of issue 8 as (target, what this run measured, verdict): "met", "not met", or "not measured"
    when the run left out the size or the suite it needs. Judged from this run's figures alone."""
    by_size = {r["n"]: r for r in all_results}
    rows = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    big = by_size.get(TARGET_SIZE)
    at = f"{TARGET_SIZE:,}"
    in_time = f"{at} decisions end to end in under {TARGET_SECONDS} s"
    near_floor = f"within {TARGET_FLOOR_RATIO:g} times the floor at {at}"
    in_memory = f"peak memory under {TARGET_PEAK_GB:g} GB at {at}"
    incremental = f"incremental at {at} at most {TARGET_INCREMENTAL_SHARE:.0%} of a full run"
    if not big or not big["full run"]["ok"]:
        state = ("failed", "not met") if big else (f"{at} not run", "not measured")
        rows += [(target, *state) for target in (in_time, near_floor, in_memory, incremental)]
    else:
        full, floor, hashed = (big[name]["seconds"] for name in ("full run", "floor", "floor with pseudonyms"))
        peak = max(big[name]["peak_bytes"] for name in JOB_RUNS) / 2**30
        rows += [
            (in_time, f"{full:.1f} s", verdict(full < TARGET_SECONDS)),
            (
                near_floor,
                f"{full / floor:.1f} times the floor ({floor:.1f} s); {full / hashed:.1f} times the floor with "
                "pseudonyms",
                verdict(full / floor <= TARGET_FLOOR_RATIO),
            ),
            (in_memory, f"{peak:.2f} GB", verdict(peak < TARGET_PEAK_GB)),
        ]
        if big["incremental"]["ok"]:
            share = big["incremental"]["seconds"] / full
            measured = f"{big['incremental']['seconds']:.1f} s = {share:.0%} of {full:.1f} s"
            rows.append((incremental, measured, verdict(share <= TARGET_INCREMENTAL_SHARE)))
        else:
            rows.append((incremental, "failed", "not met"))

    faster = []
    for r in (r for n, r in sorted(by_size.items()) if n >= TARGET_PANDAS_FROM):
        full, pandas = r["full run"], r["pandas"]
        if not pandas["ok"]:
            faster.append((f"{r['n']:,}: pandas out of memory", full["ok"]))
        else:
            faster.append(
                (
                    f"{r['n']:,}: {full['seconds']:.1f} s against {pandas['seconds']:.1f} s",
                    full["ok"] and full["seconds"] < pandas["seconds"],
                )
            )
    rows.append(
        (
            f"faster than pandas from {TARGET_PANDAS_FROM:,} up",
            "; ".join(text for text, _ in faster) or f"no size from {TARGET_PANDAS_FROM:,} run",
            verdict(all(ok for _, ok in faster)) if faster else "not measured",
        )
    )
    out_of_memory = [r for r in all_results if not r["pandas"]["ok"]]
    rows.append(
        (
            "still running where pandas runs out of memory",
            "; ".join(
                f"{r['n']:,}: the job ran in {r['full run']['peak_bytes'] / 2**30:.2f} GB"
                if r["full run"]["ok"]
                else f"{r['n']:,}: the job failed"
                for r in out_of_memory
            )
            or "pandas ran at every size measured",
            verdict(all(r["full run"]["ok"] for r in out_of_memory)) if out_of_memory else "not measured",
        )
    )
    nothing_new = [r["nothing new"] for r in all_results]
    rows.append(
        (
            f"nothing new under {TARGET_NOTHING_NEW_SECONDS} s",
            ", ".join(f"{m['seconds']:.1f} s" if m["ok"] else "failed" for m in nothing_new),
            verdict(all(m["ok"] and m["seconds"] < TARGET_NOTHING_NEW_SECONDS for m in nothing_new)),
        )
    )
    if suite is None:
        rows.append((f"`make test` under {TARGET_SUITE_MINUTES} minutes", "not run (BENCH_SUITE=0)", "not measured"))
    else:
        minutes, seconds = divmod(round(suite["seconds"]), 60)
        rows.append(
            (
                f"`make test` under {TARGET_SUITE_MINUTES} minutes",
                f"{minutes} min {seconds:02d} s" + ("" if suite["ok"] else " (failed)"),
                verdict(suite["ok"] and suite["seconds"] < TARGET_SUITE_MINUTES * 60),
            )
        )
    return rows


def targets_table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | {verdict} |" for target, measured, verdict in rows]
    return "\n".join(lines)


def commit() -> str:
    """The commit measured, marked when the work tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


SETUP = """\
- **Data:** synthetic decisions (bench/generate.py) in two overlapping cumulative extracts, the later correcting 2% of
  the earlier decisions; requests on about 1.7% of decisions.
- **Full run:** `python -m pipeline.run --full-refresh`: Dagster, ingest, the dbt build with its tests, disclosure
  control, the atomic publish with the analysts' copy, and the review pack of every quarter.
- **Floor:** one DuckDB statement computing `vrr_uptake` for the `all` cohort from the CSV files (the newest version
  of each decision), under DuckDB's default memory limit. The issue's targets are judged against it.
- **Floor with pseudonyms:** the same statement, also computing the keyed pseudonyms (HMAC-SHA256, as ingest does)
  of both identifiers of every row read: the least work a run that keeps the contract does. Shown beside the
  floor, not instead of it.
- **pandas:** the same figures as an analyst would write them, capped at BENCH_PANDAS_MEMORY_GB (8) GB of address
  space.
- **Incremental:** the job after one new quarter's extract (that quarter's decisions and corrections of 10% of the
  previous quarter's).
- **Nothing new:** the job again with the landing folder unchanged.
- **Peak memory:** resident memory of the whole process tree, sampled every 50 ms. **Cores busy:** the CPU time of
  the whole process tree (user and system, the worker processes included) over the wall time: 2.00 on two cores
  is both cores busy all the time, so a run near it is short of cores, not waiting on itself. **of which:** each
  step's time from the run's own log, in whole seconds.
"""


def report(info: str, all_results: list[dict], targets: str) -> str:
    """bench/results.md: the commit and machine, the setup, the figures, and `targets` (targets_table)."""
    return (
        f"# Benchmark results\n\nWritten by `make bench` on {dt.date.today()} at commit {commit()}.\n\n"
        f"Machine: {info}.\n\nThe figures vary from run to run on a shared machine: run it with nothing else "
        "running.\n\n"
        f"## Setup\n\n{SETUP}\n## Figures\n\n{table(all_results)}\n\n"
        f"## Against the targets (issue 8)\n\nJudged by the benchmark from the figures above.\n\n"
        f"{targets}\n\n"
        "Where the time goes, what was weighed to cut it, and what the targets not met would take: "
        "docs/scaling.md.\n"
    )


def time_suite() -> dict:
    """`make test` once, timed (its output goes to the console as it runs)."""
    print("the test suite (make test) ...", flush=True)
    started = time.perf_counter()
    done = subprocess.run(["make", "test"], cwd=ROOT)
    return {"seconds": time.perf_counter() - started, "ok": done.returncode == 0}


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or list(SIZES)
    own_root = not os.environ.get("BENCH_DIR")  # a temporary folder of its own, removed at the end
    root = Path(os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="vrr-bench-"))
    info = machine()
    print(f"Machine: {info}")
    all_results = []
    for n in sizes:
        work = root / str(n)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"{n:,} decisions ...", flush=True)
        all_results.append(bench_size(n, work))
        print(table(all_results[-1:]), flush=True)
        shutil.rmtree(work, ignore_errors=True)
    if own_root:
        shutil.rmtree(root, ignore_errors=True)
    suite = time_suite() if os.environ.get("BENCH_SUITE", "1") != "0" else None
    targets = targets_table(judge(all_results, suite))
    (ROOT / "bench" / "results.md").write_text(report(info, all_results, targets), encoding="utf-8")
    print(table(all_results))
    print()
    print(targets)
    needed = ("full run", "floor", "floor with pseudonyms", "incremental", "nothing new")
    return 0 if all(r[k]["ok"] for r in all_results for k in needed) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
