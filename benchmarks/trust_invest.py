#!/usr/bin/env python3
"""Benchmark: `cheaptalk trust plan` and `cheaptalk trust effect` at scale, each beside a
baseline run of the same size in the same run.

On synthetic logs with a randomised experiment (`trust generate --randomize
error_scale=0.5,share=0.5,from=50`, 100 events per seller; generated once per size and kept
in a work directory):

* `trust plan` with the worked levers file (3 levers x 3 segments: 63 policies) on the
  ``--plan-events`` logs (1e7), 20000 sellers replayed, 30 parameter draws; baseline:
  `trust whatif` of three scenarios on the same sellers with the same draws;
* `trust effect` on the ``--effect-events`` logs (1e6), its fit on the control arm, 30
  parameter draws; baseline: `trust fit` of the same logs.

Each command runs as a subprocess; wall time (and the ratio to its baseline) and peak
resident memory are printed side by side. Targets: plan under 2 minutes on 2 cores at 1e7
events; effect under 1 minute at 1e6 events.

    python benchmarks/trust_invest.py                       # 1e7 and 1e6 (the targets)
    python benchmarks/trust_invest.py --plan-events 1e6     # quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "docs" / "levers-example.toml"
sys.path.insert(0, str(HERE))
from trust_scale import _run_measured  # noqa: E402  (the same measurement as the scale benchmark)


def ensure_logs(root: Path, events: int) -> Path:
    sellers = max(1, events // 100)
    d = root / f"invest-{sellers}x100"
    if (d / "truth.json").exists():
        return d
    print(f"generating {sellers * 100:,} synthetic events in {d} ...", file=sys.stderr)
    subprocess.run(["cheaptalk", "trust", "generate", "--sellers", str(sellers), "--events-per-seller", "100",
                    "--out", str(d), "--quiet", "--randomize", "error_scale=0.5,share=0.5,from=50"], check=True)
    return d


def ensure_fit(logs: Path) -> Path:
    fit = logs.parent / (logs.name + "-fit.json")
    if not fit.exists():
        out = subprocess.run(["cheaptalk", "trust", "fit", "--logs", str(logs), "--json", "--quiet"],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        fit.write_text(out)
    return fit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan-events", type=float, default=1e7)
    ap.add_argument("--effect-events", type=float, default=1e6)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "cheaptalk-bench"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = Path(args.work)
    root.mkdir(parents=True, exist_ok=True)
    rows = []

    plan_logs = ensure_logs(root, int(args.plan_events))
    fit = ensure_fit(plan_logs)
    common = ["--fit", str(fit), "--logs", str(plan_logs), "--parameter-draws", "30", "--sample-sellers", "20000",
              "--json"]
    base_s, base_rss, _ = _run_measured(["cheaptalk", "trust", "whatif", "--error-scale", "1,0.75,0.5", *common])
    plan_s, plan_rss, out = _run_measured(["cheaptalk", "trust", "plan", "--levers", str(EXAMPLE), "--budget",
                                           str(int(args.plan_events) // 100 * 2), "--quiet", *common])
    policies = json.loads(out)["combinations_replayed"]
    rows.append({"command": "trust plan", "events": int(args.plan_events), "seconds": plan_s,
                 "peak_mb": plan_rss / 1024, "baseline": "trust whatif (3 scenarios)", "baseline_seconds": base_s,
                 "baseline_peak_mb": base_rss / 1024, "ratio": plan_s / base_s, "target_seconds": 120,
                 "policies": policies})

    effect_logs = ensure_logs(root, int(args.effect_events))
    base_s, base_rss, _ = _run_measured(["cheaptalk", "trust", "fit", "--logs", str(effect_logs), "--json",
                                         "--quiet"])
    eff_s, eff_rss, _ = _run_measured(["cheaptalk", "trust", "effect", "--logs", str(effect_logs), "--treatment",
                                       "treatment", "--parameter-draws", "30", "--json", "--quiet"])
    rows.append({"command": "trust effect", "events": int(args.effect_events), "seconds": eff_s,
                 "peak_mb": eff_rss / 1024, "baseline": "trust fit (all sellers)", "baseline_seconds": base_s,
                 "baseline_peak_mb": base_rss / 1024, "ratio": eff_s / base_s, "target_seconds": 60})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'command':<14} {'events':>12} {'seconds':>9} {'peak MB':>9} {'target':>8}   {'baseline':<28} "
          f"{'seconds':>9} {'peak MB':>9} {'ratio':>6}")
    for r in rows:
        ok = "met" if r["seconds"] <= r["target_seconds"] else "MISSED"
        print(f"{r['command']:<14} {r['events']:>12,} {r['seconds']:>9.1f} {r['peak_mb']:>9.0f} "
              f"{ok + ' ' + str(r['target_seconds']) + 's':>8}   {r['baseline']:<28} {r['baseline_seconds']:>9.1f} "
              f"{r['baseline_peak_mb']:>9.0f} {r['ratio']:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
