#!/usr/bin/env python3
"""Benchmark: `cheaptalk trust compare` (every learning rule) against one `cheaptalk trust fit`
on the same synthetic logs, side by side, on the local engine and on Spark (local[2]).

The comparison fits each rule once (the logs are read and packed once per command) and makes
one more pass for the Vuong tests; the target is a comparison within 6x of one fit.

    python benchmarks/trust_rules.py --events 1e6 [--engines local,spark] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trust_scale import _run_measured, ensure_logs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=float, default=1e6)
    ap.add_argument("--events-per-seller", type=int, default=100)
    ap.add_argument("--engines", default="local")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cheaptalk-bench"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logs = ensure_logs(Path(args.workdir), int(args.events), args.events_per_seller, seed=0)
    rows = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        common = ["--logs", str(logs), "--engine", engine, "--quiet"]
        fit_times, cmp_times = [], []
        for _ in range(args.repeat):
            fit_times.append(_run_measured(["cheaptalk", "trust", "fit", *common, "--json", "-"])[0])
            seconds, _, out = _run_measured(["cheaptalk", "trust", "compare", *common, "--json", "-"])
            cmp_times.append(seconds)
        result = json.loads(out)
        fit, comp = statistics.median(fit_times), statistics.median(cmp_times)
        rows.append({"events": int(args.events), "engine": engine, "fit_s": fit, "compare_s": comp,
                     "ratio": comp / fit, "best": result["best"],
                     "fit_range": [min(fit_times), max(fit_times)], "compare_range": [min(cmp_times), max(cmp_times)]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'events':>10} {'engine':>7} {'trust fit':>18} {'trust compare (5 rules)':>26} {'ratio':>7}  best")
    for r in rows:
        print(f"{r['events']:>10,} {r['engine']:>7} {r['fit_s']:>7.1f} s ({r['fit_range'][0]:.1f}-{r['fit_range'][1]:.1f})"
              f" {r['compare_s']:>12.1f} s ({r['compare_range'][0]:.1f}-{r['compare_range'][1]:.1f})"
              f" {r['ratio']:>6.1f}x  {r['best']}")


if __name__ == "__main__":
    main()
