"""Benchmark: what designing an experiment costs (``cheaptalk design``), side by side with a
baseline.

    python benchmarks/design_cost.py [--treatments 100] [--simulations 3]

(a) The information ranking of many candidate treatments: a forecast-sharing game with
    ``--treatments`` treatments (capacity cost and market noise on a grid; synthetic),
    trust against level-k at their defaults, 10 rounds, 100 simulated subjects per role,
    treatment and model. Baseline: the same ranking of the 4 treatments of the preset, so the
    ratio shows how the cost grows with the candidates. Target: 100 treatments under 30 s.
(b) Power by simulation on the bundled forecast-sharing game (treatment HC-HU, 10 rounds):
    ``--simulations`` data sets per true model (trust, level-k) at 3 sizes, each compared as
    ``compare`` would (every family asked for under logit errors, 3-fold cross-validation by
    subject, the model confidence set). Baseline: one such comparison alone. The time per
    comparison gives the figure for the target's 100 simulated data sets per model and size
    (600 comparisons), printed as an extrapolation beside the measured run. Target: under
    15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _forecast_grid(n: int) -> dict:
    from importlib import resources
    import tomllib

    doc = tomllib.loads(resources.files("cheaptalk.games.presets").joinpath("forecast-sharing.toml").read_text())
    costs = np.linspace(0.1, 0.7, int(np.ceil(np.sqrt(n))))
    widths = np.linspace(10, 80, int(np.ceil(n / len(costs))))
    treatments = {}
    for c in costs:
        for w in widths:
            if len(treatments) < n:
                treatments[f"c{c:.3f}-hw{w:.0f}"] = {"parameters": {"c": float(c)}, "noise": {"half_width": float(w)}}
    doc["treatments"] = treatments
    return doc


def bench_information(n_treatments: int) -> dict:
    from cheaptalk.design import candidate, treatment_information
    from cheaptalk.games import load_game
    from cheaptalk.games.loader import game_from_dict
    from cheaptalk.models import get_model

    out = {}
    for label, game in (("preset (4 treatments)", load_game("forecast-sharing")),
                        (f"grid ({n_treatments} treatments)", game_from_dict(_forecast_grid(n_treatments), "grid"))):
        cands = [candidate(f"{f}/logit", get_model(f, game)) for f in ("trust", "levelk")]
        start = time.perf_counter()
        report = treatment_information(cands, rounds=10, subjects=100, seed=0)
        out[label] = {"seconds": time.perf_counter() - start, "treatments": len(game.treatments),
                      "best": report.ranking().iloc[0]["treatment"]}
    return out


def bench_power(simulations: int) -> dict:
    from cheaptalk.design import candidate
    from cheaptalk.design.power import power_by_simulation
    from cheaptalk.games import load_game
    from cheaptalk.models import get_model

    game = load_game("forecast-sharing")
    cands = [candidate(f"{f}/logit", get_model(f, game)) for f in ("trust", "levelk")]
    start = time.perf_counter()
    power_by_simulation(cands[:1] + cands[1:], [20], ["HC-HU"], rounds=10, simulations=1, seed=0, workers=1)
    one = (time.perf_counter() - start) / 2          # two comparisons (one per true model)
    start = time.perf_counter()
    report = power_by_simulation(cands, [10, 20, 40], ["HC-HU"], rounds=10, simulations=simulations, seed=1,
                                 workers=2)
    seconds = time.perf_counter() - start
    runs = 2 * 3 * simulations
    return {"one_comparison_s": one, "runs": runs, "seconds": seconds, "per_run_s": seconds / runs,
            "extrapolated_600_s": 600 * seconds / runs, "power": report.power().round(2).to_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--treatments", type=int, default=100)
    parser.add_argument("--simulations", type=int, default=3)
    args = parser.parse_args()
    info = bench_information(args.treatments)
    (base_label, base), (grid_label, grid) = info.items()
    print(f"(a) information ranking, trust vs level-k, 10 rounds, 100 subjects: {grid_label} {grid['seconds']:.1f} s "
          f"(target < 30), baseline {base_label} {base['seconds']:.1f} s; ratio {grid['seconds'] / base['seconds']:.1f} "
          f"for {grid['treatments'] / base['treatments']:.0f}x the treatments")
    p = bench_power(args.simulations)
    print(f"(b) power by simulation: {p['runs']} simulated comparisons in {p['seconds']:.0f} s on 2 workers "
          f"({p['per_run_s']:.1f} s each; baseline: one comparison alone {p['one_comparison_s']:.1f} s); "
          f"the target's 600 comparisons: about {p['extrapolated_600_s'] / 60:.0f} min (target < 15 min, "
          f"extrapolated); power by size: {p['power']}")


if __name__ == "__main__":
    main()
