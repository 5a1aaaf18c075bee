"""Benchmark: fitting and comparing models, side by side with reference implementations.

    python benchmarks/fit_compare.py [--quick] [--json OUT]

(a) ``cheaptalk compare`` on the bundled (synthetic) data with every model, 5-fold
    cross-validation by subject, held-out treatments and cluster-robust SEs, run as a user
    runs it (a fresh process, cold JAX compilation). Target: under 60 s on 2 cores.
(b) Our fit of the trust model on the bundled data (compiled likelihood, exact gradients,
    L-BFGS-B; the optimization, with the standard errors timed apart) against the same
    likelihood fitted by statsmodels' ``GenericLikelihoodModel`` (BFGS with numerical
    derivatives), from the same start, compared at their final log-likelihoods. statsmodels
    optimizes without bounds, so it gets each parameter through a logistic map onto its
    bounds (same likelihood, same maximum). The likelihood it calls is our compiled forward
    pass (no gradient), so the comparison isolates exact versus numerical derivatives. Both
    optimizers run with one BLAS thread (ours always does, see ``estimation/mle.py``; for
    statsmodels' BFGS it makes no measurable difference). The two fits alternate three times
    and the medians are compared. Target: ours at least 10x faster.
(c) Our logit QRE fit (one precision, ``tie_precision=True``) on synthetic Crawford-Sobel
    data against pygambit's agent-QRE ``logit_estimate`` on the same counts. Estimates should
    agree to 1e-3 in the precision. pygambit 16.7's public ``logit_estimate`` crashes on
    behaviour profiles (segfault in the global search; the local search fails when wrapping
    its result), so the benchmark calls the same routine it wraps
    (``_logit_behavior_estimate(local_max=True)``: the first interior maximum along the
    principal branch).

Every figure is printed with its baseline in the same run; ``--json`` writes them too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def bench_compare(quick: bool) -> dict:
    """Run the command twice: cold (empty compilation cache) and warm (the cache the first
    run filled), as a user running it the first and the second time."""
    work = Path(tempfile.mkdtemp())
    env = dict(os.environ, CHEAPTALK_JAX_CACHE=str(work / "jax-cache"))
    runs = {}
    for label in ("cold", "warm"):
        out = work / f"compare-{label}.json"
        cmd = ["cheaptalk", "compare", "--json", str(out), "--quiet"]
        if quick:
            cmd += ["--models", "equilibrium,levelk,ch"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        runs[label] = (time.perf_counter() - t0, json.loads(out.read_text()))
    result = runs["cold"][1]
    per_model = {m["model"]: m["diagnostics"]["seconds"] for m in result["models"]}
    return {"seconds": runs["cold"][0], "warm_seconds": runs["warm"][0], "target_seconds": 60.0,
            "models": [m["model"] for m in result["models"]], "fit_seconds": per_model, "best": result["best"],
            "decisions": result["n_obs"], "cpu_count": os.cpu_count(),
            "same_result": [m["loglik"] for m in result["models"]] == [m["loglik"] for m in runs["warm"][1]["models"]]}


def _logistic_map(bounds):
    lo = np.array([b[0] for b in bounds], float)
    hi = np.array([b[1] for b in bounds], float)

    def to_theta(x):
        return lo + (hi - lo) / (1.0 + np.exp(-np.asarray(x, float)))

    def to_x(theta):
        p = np.clip((np.asarray(theta, float) - lo) / (hi - lo), 1e-9, 1 - 1e-9)
        return np.log(p / (1 - p))

    return to_theta, to_x


def _median_seconds(call, repeats: int = 31) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_trust_vs_statsmodels(quick: bool, repeats: int = 3) -> dict:
    from statsmodels.base.model import GenericLikelihoodModel
    from threadpoolctl import threadpool_limits

    from cheaptalk._jax import jax, jnp
    from cheaptalk.data import clean_decisions, read_decisions
    from cheaptalk.datasets import default_data_path
    from cheaptalk.estimation import Likelihood, maximize, standard_errors
    from cheaptalk.games import load_game
    from cheaptalk.models import get_model
    from cheaptalk.models.likelihood import subject_loglik

    spec = load_game("forecast-sharing")
    model = get_model("trust", spec)
    if quick:
        data, _ = clean_decisions(model.simulate(None, 4, 20, seed=5), spec)     # synthetic
    else:
        data, _ = clean_decisions(read_decisions(default_data_path()), spec)     # bundled, synthetic
    start = model.to_vector()

    t0 = time.perf_counter()
    lik = Likelihood(model, data)
    lik.loglik_and_grad(start)
    compile_ours = time.perf_counter() - t0
    counter = {"n": 0}
    evaluate = lik._evaluate

    def counted(*args, **kwargs):
        counter["n"] += 1
        return evaluate(*args, **kwargs)

    lik._evaluate = counted

    def fit_ours():
        counter["n"] = 0
        t0 = time.perf_counter()
        run = maximize(lik, start)
        return time.perf_counter() - t0, run, counter["n"]

    # the same likelihood, forward only, per subject (statsmodels wants contributions)
    prepared, roles = lik.prepared, lik.roles
    forward = jax.jit(lambda th: jnp.concatenate([v for v in subject_loglik(model, th, prepared).values()]))
    to_theta, to_x = _logistic_map(model.bounds())
    t0 = time.perf_counter()
    forward(jnp.asarray(start)).block_until_ready()
    compile_sm = time.perf_counter() - t0
    evaluations = {"n": 0}

    class TrustLikelihood(GenericLikelihoodModel):
        def loglikeobs(self, params):
            evaluations["n"] += 1
            return np.asarray(forward(jnp.asarray(to_theta(params))), float)

    n = sum(prepared.roles[r].n_subjects for r in roles)
    sm = TrustLikelihood(np.zeros(n), np.ones((n, 1)))

    def fit_statsmodels():
        evaluations["n"] = 0
        t0 = time.perf_counter()
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")
            res = sm.fit(start_params=to_x(start), method="bfgs", maxiter=2000, disp=False)
        return time.perf_counter() - t0, res, evaluations["n"]

    # alternate the two, so that both see the same machine; the medians are compared
    ours_runs, sm_runs = [], []
    for _ in range(repeats):
        ours_runs.append(fit_ours())
        sm_runs.append(fit_statsmodels())
    fit_ours_s = float(np.median([r[0] for r in ours_runs]))
    fit_sm = float(np.median([r[0] for r in sm_runs]))
    _, run, evaluations_ours = ours_runs[-1]
    _, res, evaluations_sm = sm_runs[-1]
    t0 = time.perf_counter()
    standard_errors(lik, run["theta"])
    se_ours = time.perf_counter() - t0
    ll_sm = float(np.sum(sm.loglikeobs(res.params)))
    # cost of one exact gradient against one forward pass (medians of single calls)
    theta = jnp.asarray(run["theta"])
    grad_ms = 1e3 * _median_seconds(lambda: lik.loglik_and_grad(run["theta"]))
    forward_ms = 1e3 * _median_seconds(lambda: forward(theta).block_until_ready())
    return {"decisions": int(len(data)), "ours_seconds": fit_ours_s, "ours_compile_seconds": compile_ours,
            "ours_runs_seconds": [r[0] for r in ours_runs], "statsmodels_runs_seconds": [r[0] for r in sm_runs],
            "ours_evaluations": evaluations_ours, "ours_se_seconds": se_ours,
            "ours_loglik": run["loglik"], "ours_converged": run["converged"],
            "statsmodels_seconds": fit_sm, "statsmodels_compile_seconds": compile_sm,
            "statsmodels_loglik": ll_sm, "statsmodels_evaluations": evaluations_sm,
            "statsmodels_converged": bool(res.mle_retvals.get("converged", False)),
            "loglik_difference": run["loglik"] - ll_sm, "speedup": fit_sm / fit_ours_s, "target_speedup": 10.0,
            "exact_gradient_ms": grad_ms, "forward_ms": forward_ms, "n_params": len(start)}


def bench_qre_vs_gambit(precision: float = 6.0) -> dict:
    from pygambit import gambit as libgbt

    from cheaptalk.estimation import fit
    from cheaptalk.games import load_game
    from cheaptalk.models import get_model
    from cheaptalk.models.finite_standard import to_pygambit

    spec = load_game("crawford-sobel")
    game = spec.game()
    model = get_model("qre", spec, tie_precision=True)
    data = model.simulate({"precision": precision}, 40, 25, seed=2)          # synthetic
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = fit(model, data, starts=1, warn=False)
    seconds_ours = time.perf_counter() - t0

    g = to_pygambit(game)                                # payoffs normalized per role, as ours
    counts = g.mixed_behavior_profile(rational=False)
    senders, receivers = data[data.role == "sender"], data[data.role == "receiver"]
    s_idx, m_idx = game.state_index(senders.state), game.message_index(senders.message)
    for s in range(game.n_states):
        infoset = g.root.children[f"s{s}"].infoset
        for m in range(game.n_messages):
            counts[infoset.actions[f"m{m}"]] = float(np.sum((s_idx == s) & (m_idx == m)))
    rm, ra = game.message_index(receivers.message), game.action_index(receivers.action)
    for m in range(game.n_messages):
        infoset = g.root.children["s0"].children[f"m{m}"].infoset
        for a in range(game.n_actions):
            counts[infoset.actions[f"a{a}"]] = float(np.sum((rm == m) & (ra == a)))
    t0 = time.perf_counter()
    ref = libgbt._logit_behavior_estimate(counts, local_max=True, first_step=0.03, max_accel=1.1)
    seconds_gambit = time.perf_counter() - t0
    est = ours.params["precision"]
    return {"true_precision": precision, "decisions": int(len(data)),
            "ours_precision": est, "ours_se": float(ours.se[0]), "ours_loglik": ours.loglik,
            "ours_seconds": seconds_ours,
            "gambit_precision": float(ref.lam), "gambit_loglik": float(ref.log_like),
            "gambit_seconds": seconds_gambit, "difference": abs(est - float(ref.lam)), "tolerance": 1e-3}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller problems (a smoke run, not the figures)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    args = p.parse_args(argv)
    figures = {}

    print("(a) cheaptalk compare on the bundled synthetic data (all models, 5-fold CV, clustered SEs)")
    a = figures["compare"] = bench_compare(args.quick)
    print(f"    {a['seconds']:.1f} s wall (first run, cold compilation), {a['warm_seconds']:.1f} s (second run, "
          f"compiled likelihoods cached) for {len(a['models'])} models on {a['decisions']} decisions "
          f"({a['cpu_count']} cores); target < {a['target_seconds']:.0f} s; best: {a['best']}; "
          f"same estimates: {a['same_result']}")
    print("    main fit (incl. SEs) per model: " + ", ".join(f"{k} {v:.1f} s" for k, v in a["fit_seconds"].items()))

    print("(b) trust fit: ours (exact gradients) vs statsmodels GenericLikelihoodModel (numerical)")
    b = figures["trust_vs_statsmodels"] = bench_trust_vs_statsmodels(args.quick, repeats=1 if args.quick else 3)
    print(f"    {b['decisions']} decisions, {b['n_params']} parameters, from the model's defaults; "
          f"median of {len(b['ours_runs_seconds'])} alternating runs of each")
    print(f"    ours        {b['ours_seconds']:7.2f} s  log-lik {b['ours_loglik']:.4f}  "
          f"(+{b['ours_compile_seconds']:.1f} s compile, {b['ours_evaluations']} evaluations, "
          f"converged={b['ours_converged']}; clustered SEs +{b['ours_se_seconds']:.1f} s)")
    print(f"    statsmodels {b['statsmodels_seconds']:7.2f} s  log-lik {b['statsmodels_loglik']:.4f}  "
          f"(+{b['statsmodels_compile_seconds']:.1f} s compile, {b['statsmodels_evaluations']} evaluations, "
          f"converged={b['statsmodels_converged']})")
    print(f"    speed-up {b['speedup']:.1f}x (target >= {b['target_speedup']:.0f}x); "
          f"log-lik ours - statsmodels = {b['loglik_difference']:+.4f}")
    print(f"    one exact gradient {b['exact_gradient_ms']:.1f} ms vs one forward pass {b['forward_ms']:.1f} ms "
          f"(a forward-difference gradient needs {b['n_params'] + 1}); per evaluation inside the optimizers: "
          f"ours {1e3 * b['ours_seconds'] / b['ours_evaluations']:.1f} ms, "
          f"statsmodels {1e3 * b['statsmodels_seconds'] / b['statsmodels_evaluations']:.1f} ms")

    print("(c) logit QRE precision: ours vs pygambit logit_estimate (Crawford-Sobel, synthetic)")
    c = figures["qre_vs_gambit"] = bench_qre_vs_gambit()
    print(f"    ours    precision {c['ours_precision']:.6f} (se {c['ours_se']:.3f})  log-lik {c['ours_loglik']:.4f}  "
          f"{c['ours_seconds']:.2f} s")
    print(f"    gambit  precision {c['gambit_precision']:.6f}  log-lik {c['gambit_loglik']:.4f}  "
          f"{c['gambit_seconds']:.2f} s")
    print(f"    |difference| {c['difference']:.2e} (tolerance {c['tolerance']:g}); true precision {c['true_precision']:g}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
