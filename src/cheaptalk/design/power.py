"""Power by simulation: how likely the real comparison is to name the true theory.

For each true model, sample size and simulation: draw the model's parameters (from its fit's
sampling distribution, or its defaults), simulate a data set of the design (``n`` subjects
per role in each of its treatments, ``rounds`` rounds), run the comparison a user runs
(:func:`cheaptalk.comparison.compare.compare_models`: every family under each error model,
k-fold cross-validation by subject, the verdict's model confidence set; reduced only by
leaving out held-out treatments and the regularities table) and record its verdict under the
true model's error model:

* ``named``: the confidence set holds the true family alone (the comparison names it);
* ``indistinguishable``: the set holds the true family and others;
* ``wrong``: the set leaves the true family out;
* ``failed``: the comparison could not score a model (a fit that failed or a fold that did
  not converge) and says so.

The power to name the true family is the share ``named``, with its Monte Carlo standard
error ``sqrt(p (1 - p) / S)``. Seeds are fixed per (model, size, simulation), so a run is
reproducible and adding sizes does not change the others' data. Simulations run in worker
processes (each comparison is independent).
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputError

__all__ = ["PowerReport", "power_by_simulation", "OUTCOMES"]

OUTCOMES = ("named", "indistinguishable", "wrong", "failed")


@dataclass
class PowerReport:
    """The verdicts of the simulated comparisons: one row per (true model, size, outcome)."""

    table: pd.DataFrame                 # true, subjects, outcome, share, se, count, simulations
    treatments: list
    rounds: int
    simulations: int
    level: float
    folds: int
    runs: list = field(default_factory=list, repr=False)    # each simulation's verdict

    def power(self) -> pd.DataFrame:
        """The share of simulations naming the true family, by true model and size."""
        named = self.table[self.table["outcome"] == "named"]
        return named.pivot_table(index="subjects", columns="true", values="share").sort_index()

    def smallest_size(self, target: float) -> int | None:
        """The smallest size at which the power to name the true family reaches ``target``
        for every true model (None when no size simulated does)."""
        p = self.power()
        ok = p[(p >= target).all(axis=1)]
        return int(ok.index[0]) if len(ok) else None

    def to_dict(self, target: float | None = None) -> dict:
        out = {"treatments": self.treatments, "rounds": self.rounds, "simulations": self.simulations,
               "level": self.level, "folds": self.folds, "outcomes": list(OUTCOMES),
               "power": self.table.to_dict(orient="records")}
        if target is not None:
            out["target"] = target
            out["smallest_size"] = self.smallest_size(target)
        return out


def _one_run(task: dict) -> dict:
    """One simulated data set and its comparison (runs in a worker process)."""
    from ..comparison.compare import compare_models
    from ..games.loader import game_from_dict
    from ..models import get_model

    game = game_from_dict(task["game"], task["game_source"])
    model = get_model(task["family"], game, **task["options"])
    data = model.simulate(task["params"], task["subjects"], task["rounds"], seed=task["seed"],
                          treatments=task["treatments"])
    try:
        comparison = compare_models(game, data, task["families"], folds=task["folds"], seed=task["seed"],
                                    holdout=False, with_regularities=False, progress=False, workers=1,
                                    errors=task["errors"], level=task["level"],
                                    model_options=task["family_options"])
    except Exception as exc:            # a comparison that cannot run is a failed simulation, counted
        return {"outcome": "failed", "why": f"{type(exc).__name__}: {exc}"[:300], "set": None}
    verdict = comparison.to_dict()["verdict"]
    sets = verdict.get("confidence_sets") or {}
    members = sets.get(task["true_errors"])
    unscored = [lab for lab in (verdict.get("unscored") or {}) if lab.endswith("/" + task["true_errors"])]
    if members is None or unscored:
        return {"outcome": "failed", "why": f"unscored: {unscored}" if unscored else "no confidence set",
                "set": members}
    if task["family"] not in members:
        outcome = "wrong"
    elif len(members) == 1:
        outcome = "named"
    else:
        outcome = "indistinguishable"
    return {"outcome": outcome, "set": list(members)}


def power_by_simulation(candidates, sizes, treatments, rounds: int = 10, simulations: int = 20, seed: int = 0,
                        folds: int = 3, level: float = 0.90, workers: int = 1, progress=None) -> PowerReport:
    """Power of the comparison to name the true family (see the module docstring).
    ``candidates``: :class:`~cheaptalk.design.information.Candidate` objects labelled
    ``family/errors``; ``sizes``: subjects per role and treatment."""
    if not sizes or any(int(n) < 2 for n in sizes):
        raise InputError("sizes must be at least 2 subjects per role and treatment")
    if folds and min(sizes) < folds:
        raise InputError(f"{folds}-fold cross-validation needs at least {folds} subjects per role")
    game = candidates[0].model.game
    families = list(dict.fromkeys(c.label.split("/")[0] for c in candidates))
    errors = list(dict.fromkeys(c.label.split("/")[1] for c in candidates))
    if len(families) < 2:
        raise InputError("power needs at least two families to tell apart")
    # each family's options (but the error model, which the comparison varies)
    family_options = {c.label.split("/")[0]: {k: v for k, v in c.model.options.items() if k != "errors"}
                      for c in candidates}
    tasks, keys = [], []
    for i, c in enumerate(candidates):
        family, err = c.label.split("/")
        options = family_options[family]
        for n in sizes:
            for s in range(simulations):
                tasks.append({"game": game.document, "game_source": game.source, "family": family,
                              "options": {**options, "errors": err}, "family_options": family_options,
                              "params": c.draws[s % len(c.draws)], "subjects": int(n), "rounds": int(rounds),
                              "treatments": list(treatments), "families": families, "errors": errors,
                              "true_errors": err, "folds": folds, "level": level,
                              "seed": int(seed) * 1_000_003 + 7919 * i + 104_729 * int(n) + s})
                keys.append((c.label, int(n), s))
    if workers > 1:
        context = multiprocessing.get_context("spawn")      # (JAX's threads do not survive a fork)
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = []
            for k, r in enumerate(pool.map(_one_run, tasks)):
                results.append(r)
                if progress:
                    progress(k + 1, len(tasks))
    else:
        results = []
        for k, task in enumerate(tasks):
            results.append(_one_run(task))
            if progress:
                progress(k + 1, len(tasks))
    runs = [{"true": lab, "subjects": n, "simulation": s, **r} for (lab, n, s), r in zip(keys, results)]
    rows = []
    frame = pd.DataFrame(runs)
    for (lab, n), g in frame.groupby(["true", "subjects"], sort=False):
        for outcome in OUTCOMES:
            count = int((g["outcome"] == outcome).sum())
            p = count / len(g)
            rows.append({"true": lab, "subjects": int(n), "outcome": outcome, "share": p,
                         "se": math.sqrt(p * (1 - p) / len(g)), "count": count, "simulations": len(g)})
    return PowerReport(table=pd.DataFrame(rows), treatments=list(treatments), rounds=int(rounds),
                       simulations=int(simulations), level=level, folds=folds, runs=runs)


def plot_power(report: PowerReport, path, target: float | None = None):
    """Power curves: the share of simulated comparisons naming the true family, by size, one
    line per true model, with 95% Wilson intervals (inside [0, 1], and not of zero width
    when every simulation agrees, as +-2 binomial standard errors would be)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    named = report.table[report.table["outcome"] == "named"]
    groups = list(named.groupby("true", sort=False))
    span = max(float(named["subjects"].max() - named["subjects"].min()), 1.0)
    for k, (lab, g) in enumerate(groups):
        g = g.sort_values("subjects")
        low, high = _wilson(g["count"].to_numpy(), g["simulations"].to_numpy())
        shift = 0.015 * span * (k - (len(groups) - 1) / 2)      # side by side, so that intervals do not hide
        ax.errorbar(g["subjects"] + shift, g["share"], yerr=[g["share"] - low, high - g["share"]], marker="o",
                    capsize=3, label=f"true: {lab}")
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("subjects per role and treatment")
    ax.set_ylabel("share of comparisons naming the true family")
    ax.set_title(f"Power of the comparison ({report.simulations} simulations per point, 95% Wilson intervals;\n"
                 f"{', '.join(map(str, report.treatments))}, {report.rounds} rounds)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _wilson(count, n, z: float = 1.96):
    """The Wilson score interval of a binomial share ``count / n``."""
    import numpy as np
    count, n = np.asarray(count, float), np.asarray(n, float)
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half
