#!/usr/bin/env python3
"""Benchmark: `cheaptalk trust fit` at scale against the floor of merely scanning the logs.

On synthetic logs (generated once per size and reused), in one run:

* floor: the time DuckDB takes to scan the Parquet columns the fit reads (an aggregate over
  every column, so each value is decoded) and, for reference, to stream them sorted by
  (seller, time) as the local engine does;
* `cheaptalk trust fit --engine local` and `--engine spark` (local[2]) as subprocesses,
  each ``--repeat`` times (3; the median run is reported, with the range over the runs):
  wall time, events per second, the ratio to the scan floor, the number of passes over the
  logs the optimizer needed, and the peak resident memory of the largest process
  (getrusage of the child, as /usr/bin/time -v reports it);
* optionally the local engine's peak memory at a larger size (--memory-events, 5e7 for the
  target) to show that memory stays bounded.

Targets (issue 5): local within 3x of the scan floor; Spark local on 2 cores within 3x of
local; peak memory < 4 GB at 5e7 events. Figures are printed side by side, and as JSON
with --json.

    python benchmarks/trust_scale.py --events 1e6            # quick
    python benchmarks/trust_scale.py --events 1e7 --memory-events 5e7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ("seller", "time", "recommendation", "action", "own_estimate", "truth", "feedback")


def _run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Run ``cmd``; return (wall seconds, peak RSS of the largest process in KiB, stdout)."""
    helper = ("import resource, subprocess, sys, json, time\n"
              "t = time.perf_counter()\n"
              "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)\n"
              "dt = time.perf_counter() - t\n"
              "sys.stderr.write(p.stderr[-4000:])\n"
              "print(json.dumps({'rc': p.returncode, 'seconds': dt, 'maxrss_kib': "
              "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'stdout': p.stdout}))\n")
    out = subprocess.run([sys.executable, "-c", helper, *cmd], stdout=subprocess.PIPE, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {r['rc']}")
    return r["seconds"], r["maxrss_kib"], r["stdout"]


def ensure_logs(root: Path, events: int, events_per_seller: int, seed: int) -> Path:
    sellers = max(1, events // events_per_seller)
    d = root / f"logs-{sellers}x{events_per_seller}-s{seed}"
    if (d / "truth.json").exists():
        return d
    print(f"generating {sellers * events_per_seller:,} synthetic events in {d} ...", file=sys.stderr)
    subprocess.run(["cheaptalk", "trust", "generate", "--sellers", str(sellers), "--events-per-seller",
                    str(events_per_seller), "--seed", str(seed), "--out", str(d), "--quiet"], check=True)
    return d


def scan_floor(logs: Path, repeat: int = 3) -> dict:
    import duckdb
    glob = str(logs / "events" / "**" / "*.parquet")
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    aggs = ", ".join(f"sum(CAST({c} AS DOUBLE))" for c in COLUMNS)
    best_scan = best_sorted = float("inf")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()[0]
    for _ in range(repeat):
        t = time.perf_counter()
        con.execute(f"SELECT {aggs} FROM read_parquet('{glob}')").fetchall()
        best_scan = min(best_scan, time.perf_counter() - t)
    con.execute("SET memory_limit = '1GB'")
    t = time.perf_counter()
    reader = con.sql(f"SELECT {', '.join(COLUMNS)} FROM read_parquet('{glob}') ORDER BY seller, time") \
        .to_arrow_reader(262_144)
    rows = sum(b.num_rows for b in reader)
    best_sorted = time.perf_counter() - t
    assert rows == n
    return {"events": n, "scan_seconds": best_scan, "sorted_stream_seconds": best_sorted}


_SPARK_FLOOR = """
import json, sys, time
t = time.perf_counter()
from cheaptalk.dynamics.engines.spark import spark_session
from cheaptalk.dynamics.logs import direct_read_plan, read_as_stored, resolve_logs
spark = spark_session("local[2]", conf={"spark.ui.showConsoleProgress": "false"})
spark.sparkContext.setLogLevel("ERROR")
session = time.perf_counter() - t
source = resolve_logs(sys.argv[1])
plan = direct_read_plan(source)
paths = [str(f) for f in source.files]

def count(path):        # as the engine's tasks read files: Arrow in the Python worker
    return sum(rb.num_rows for rb in read_as_stored(plan, [path]))

times = []
for _ in range(2):
    t = time.perf_counter()
    rows = spark.sparkContext.parallelize(paths, len(paths)).map(count).sum()
    times.append(time.perf_counter() - t)
print(json.dumps({"session_seconds": session, "first_read_seconds": times[0],
                  "read_seconds": min(times), "events": rows}))
"""


def spark_floor(logs: Path) -> dict:
    """What Spark (local[2]) takes merely to start and to run one job whose tasks read the
    same columns, a task per file, with Arrow in the Python workers as the engine's tasks
    read them (the first job includes starting the Python workers)."""
    out = subprocess.run([sys.executable, "-c", _SPARK_FLOOR, str(logs)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(logs: Path, engine: str, work: Path, repeat: int = 1) -> dict:
    """``trust fit`` as a command, ``repeat`` times: the run with the median in-process time
    (its other figures with it), and the range of both times over the runs."""
    runs = sorted((_fit_once(logs, engine, work) for _ in range(repeat)), key=lambda r: r["in_process_seconds"])
    mid = dict(runs[len(runs) // 2])
    mid["runs"] = len(runs)
    mid["in_process_range"] = [runs[0]["in_process_seconds"], runs[-1]["in_process_seconds"]]
    mid["seconds_range"] = [min(r["seconds"] for r in runs), max(r["seconds"] for r in runs)]
    mid["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    return mid


def _fit_once(logs: Path, engine: str, work: Path) -> dict:
    out = work / f"fit-{engine}-{logs.name}.json"
    cmd = ["cheaptalk", "trust", "fit", "--logs", str(logs), "--engine", engine, "--json", str(out), "--quiet"]
    seconds, rss, _ = _run_measured(cmd)
    fj = json.loads(out.read_text())
    return {"engine": engine, "seconds": seconds, "peak_rss_mib": rss / 1024,
            "passes": fj["diagnostics"]["passes_over_logs"], "converged": fj["converged"],
            "sample_passes": fj["diagnostics"].get("passes_over_sample", 0),
            "estimate_seconds": fj["diagnostics"]["seconds"],
            "prepare_seconds": fj["diagnostics"].get("prepare_seconds", 0.0),
            # reading, checking and packing the logs plus estimation: what the fit does
            # with the data, without the interpreter's start-up and imports
            "in_process_seconds": fj["diagnostics"]["seconds"] + fj["diagnostics"].get("prepare_seconds", 0.0),
            "n_events": fj["n_events"],
            "estimates": {k: v["estimate"] for k, v in fj["params"].items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=float, default=1e7, help="events in the speed comparison (1e7)")
    ap.add_argument("--events-per-seller", type=int, default=100, help="events per seller (100)")
    ap.add_argument("--engines", default="local,spark", help="comma list (local,spark)")
    ap.add_argument("--memory-events", type=float, default=0,
                    help="also measure the local engine's peak memory at this size (e.g. 5e7)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "cheaptalk-trust-bench"),
                    help="where generated logs are kept between runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each fit; the median is reported, with the range (3)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    logs = ensure_logs(work, int(args.events), args.events_per_seller, args.seed)
    floor = scan_floor(logs)
    n = floor["events"]
    rows = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        print(f"fitting {n:,} events with the {engine} engine ...", file=sys.stderr)
        rows.append(fit(logs, engine, work, args.repeat))
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    sfloor = spark_floor(logs) if "spark" in engines else None
    memory = None
    if args.memory_events:
        big = ensure_logs(work, int(args.memory_events), args.events_per_seller, args.seed)
        print(f"fitting {int(args.memory_events):,} events with the local engine (memory) ...", file=sys.stderr)
        memory = fit(big, "local", work)

    local = next((r for r in rows if r["engine"] == "local"), None)
    print(f"\ntrust fit on {n:,} synthetic events ({n // args.events_per_seller:,} sellers x "
          f"{args.events_per_seller}), {os.cpu_count()} cores")
    print(f"  floor: DuckDB scan of {len(COLUMNS)} columns {floor['scan_seconds']:.2f} s "
          f"({n / floor['scan_seconds'] / 1e6:.1f} M events/s); sorted stream "
          f"{floor['sorted_stream_seconds']:.2f} s")
    print(f"  {'engine':<7}{'command s':>10}{'fit s':>8}{'(read':>7}{'+ est.)':>8}{'M events/s':>12}"
          f"{'x floor':>9}{'x local':>9}{'passes':>8}{'sample':>8}{'peak MiB':>10}")
    for r in rows:
        xl = r["in_process_seconds"] / local["in_process_seconds"] if local else float("nan")
        print(f"  {r['engine']:<7}{r['seconds']:>10.1f}{r['in_process_seconds']:>8.2f}"
              f"{r['prepare_seconds']:>7.2f}{r['estimate_seconds']:>8.2f}"
              f"{n / r['in_process_seconds'] / 1e6:>12.3f}"
              f"{r['in_process_seconds'] / floor['scan_seconds']:>9.1f}{xl:>9.2f}{r['passes']:>8}"
              f"{r['sample_passes']:>8}{r['peak_rss_mib']:>10.0f}")
    for r in rows:
        lo, hi = r["in_process_range"]
        clo, chi = r["seconds_range"]
        print(f"  {r['engine']:<7}over {r['runs']} runs: fit {lo:.2f}-{hi:.2f} s ({lo / floor['scan_seconds']:.1f}-"
              f"{hi / floor['scan_seconds']:.1f}x the floor), command {clo:.1f}-{chi:.1f} s")
    print("  (medians of the runs; command s: the whole command, interpreter start-up and imports included; fit s:\n"
          "   reading, checking and packing the logs plus estimation, timed inside the command,\n"
          "   as the floor is timed inside its process; events/s and the ratios use fit s;\n"
          "   passes: over all logs; sample: over the warm-start sample of sellers)")
    if sfloor:
        print(f"  Spark's own floor: session start {sfloor['session_seconds']:.1f} s; a job reading the "
              f"columns in the Python workers, a task per file, {sfloor['first_read_seconds']:.1f} s the "
              f"first time (workers starting), {sfloor['read_seconds']:.1f} s warm")
    if len(rows) == 2:
        a, b = rows[0]["estimates"], rows[1]["estimates"]
        diff = max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in a)
        print(f"  largest relative difference between engines' estimates: {diff:.2e}")
    if memory:
        print(f"  memory: local engine on {memory['n_events']:,} events: peak {memory['peak_rss_mib']:.0f} MiB, "
              f"{memory['seconds']:.0f} s, {memory['passes']} passes")
    targets = {}
    if local:
        targets["local_within_3x_of_scan"] = local["in_process_seconds"] <= 3 * floor["scan_seconds"]
    spark = next((r for r in rows if r["engine"] == "spark"), None)
    if local and spark:
        targets["spark_within_3x_of_local"] = spark["in_process_seconds"] <= 3 * local["in_process_seconds"]
        targets["spark_command_within_3x_of_local_command"] = spark["seconds"] <= 3 * local["seconds"]
    if memory:
        targets["memory_below_4GB_at_size"] = memory["peak_rss_mib"] < 4096
    print("  targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in targets.items()))
    if args.json:
        print(json.dumps({"floor": floor, "spark_floor": sfloor, "fits": rows, "memory": memory,
                          "targets": targets}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
