#!/usr/bin/env python3
"""Validation: how often `trust effect` rejects a right model, and how often it catches a wrong one.

Over ``--seeds`` synthetic experiments (labelled synthetic; each: ``--sellers`` sellers x
``--events`` events, half of them get the change from event ``--start`` on):

* **right**: better recommendations (``error_scale=0.5``) under the asymmetric rule, the model
  fitted with the same rule on the control arm: the share of experiments whose difference test
  gives p < 0.05 (the test's size; near 0.05 if it is calibrated), and the share whose causal
  95% interval covers the true effect;
* **wrong**: more feedback (``feedback_rate`` 0.3 to 0.9) under a rule with decay (0.3),
  the model fitted without decay: the share with p < 0.05 (the test's power).

Each share is printed with its binomial standard error, for adoption and profit.

    python benchmarks/effect_calibration.py --seeds 20
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from cheaptalk.dynamics.engines.local import LocalEngine
from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
from cheaptalk.dynamics.investment.effect import read_treatment, trust_effect
from cheaptalk.dynamics.investment.levers import Change
from cheaptalk.dynamics.logs import resolve_logs

CASES = {
    "right": (SyntheticWorld(), lambda start: Change(error_scale=0.5, start=start)),
    "wrong": (SyntheticWorld(rule="asymmetric+decay", decay=0.3, feedback_rate=0.3),
              lambda start: Change(feedback_rate=0.9, start=start)),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sellers", type=int, default=2000)
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--start", type=int, default=15)
    ap.add_argument("--draws", type=int, default=10, help="parameter draws of the model's se (10)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for case, (world, change_of) in CASES.items():
            change = change_of(args.start)
            counts = {o: {"rejected": 0, "covered": 0} for o in ("adoption", "profit")}
            for seed in range(args.seeds):
                logs = Path(tmp) / f"{case}-{seed}"
                truth = generate_logs(logs, args.sellers, args.events, seed=1000 + seed, world=world,
                                      randomize=(change, 0.5))
                engine = LocalEngine(resolve_logs(logs))
                try:
                    r = trust_effect(engine, read_treatment(logs / "sellers.parquet", "treatment"), change,
                                     parameter_draws=args.draws, seed=seed)
                finally:
                    engine.close()
                for o, e in r["outcomes"].items():
                    counts[o]["rejected"] += e["difference"]["p_value"] < 0.05
                    c = e["causal"]
                    counts[o]["covered"] += abs(c["estimate"] - truth["effect"][o]) < 1.96 * c["se"]
            out[case] = {o: {k: v / args.seeds for k, v in c.items()} for o, c in counts.items()}
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"seeds": args.seeds, "seconds": seconds, **out}, indent=2))
        return 0
    se = lambda p: math.sqrt(max(p * (1 - p), 1e-12) / args.seeds)  # noqa: E731
    print(f"{args.seeds} synthetic experiments per case, {args.sellers} sellers x {args.events} events, "
          f"change from event {args.start}; {seconds:.0f} s")
    print(f"{'case':<7} {'outcome':<9} {'p < 0.05 (se)':>16} {'causal 95% covers truth (se)':>30}")
    for case, by in out.items():
        for o, v in by.items():
            print(f"{case:<7} {o:<9} {v['rejected']:>9.2f} ({se(v['rejected']):.2f}) "
                  f"{v['covered']:>22.2f} ({se(v['covered']):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
