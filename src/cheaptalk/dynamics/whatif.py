"""What-if: seller adoption and profit under more accurate recommendations or more feedback.

Counterfactuals are run on the sellers' own logged sequences (a sample of sellers):

* ``error_scale`` k multiplies every recommendation's error, ``m' = truth + k (m - truth)``
  (k < 1 is higher fidelity); fidelity is recomputed from the same formula
  (``f' = 1 - k (1 - f)`` when fidelity was given directly, without truth);
* ``feedback_rate`` p shows the outcome after each event with probability p (``None``
  keeps the logged feedback).

Each seller starts from its posterior over initial-trust nodes given its logged
behaviour (at the fitted parameters); trust then follows the model under the scenario.
Every scenario replays the same sellers with the same random draws of feedback, so the
changes against the baseline (error scale 1 with the logged feedback, if among the
scenarios; otherwise the first) are paired by seller: their standard errors are
seller-clustered, ``se(d) = sqrt(G/(G-1) sum_i (D_i - d n_i)^2) / sum_i n_i`` for a change
``d = sum_i D_i / sum_i n_i`` with ``D_i`` seller ``i``'s summed change over its ``n_i``
events. They describe the sampling of sellers at the fitted parameters. With
``parameter_draws = R`` and the fit's covariance of the unconstrained parameters, the
scenarios are also replayed at R draws ``u_r ~ N(u_hat, V)`` (same sellers, same feedback
draws): the spread of each change across the draws is the parameters' share of its
uncertainty, and ``se_total = sqrt(se_sellers^2 + se_parameters^2)``.
Adoption is the expected trust (continuous) or the follow probability (binary). The
seller's profit per event is the newsvendor ``price * min(q, truth) - unit_cost * q`` of
the expected quantity ``q = alpha m' + (1 - alpha) own`` (continuous) or of ``m'`` if
followed and ``own`` if not (binary, when ``own_estimate`` is logged).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .investment.levers import expected_profit
from .model import TrustDynamics, simulate_path, to_unconstrained
from .parameters import draw_parameters, rule_values

__all__ = ["whatif"]


MAX_TRUST_EVENTS = 200     # events kept in each scenario's mean trust path (for the figure)


def whatif(batches: list[dict], params: dict, kind: str, error_scales=(1.0, 0.75, 0.5),
           feedback_rates=(None,), fidelity_scale: float | None = None, price: float = 1.0,
           unit_cost: float = 0.6, seed: int = 0, n_nodes: int = 20, parameter_draws: int = 0,
           cov_unconstrained=None, progress: bool = False, rule: str = "asymmetric") -> list[dict]:
    """One row per (error scale, feedback rate): mean trust, adoption, profit and absolute
    error per event, their changes against the baseline with seller-clustered standard
    errors (and, with ``parameter_draws``, the parameters' share), and the mean trust at
    each event index (``trust_by_event``). ``rule``: the learning rule of the fit."""
    model = TrustDynamics(kind, n_nodes, rule)
    scenarios = [(k, rate) for k in error_scales for rate in feedback_rates]
    base_i = next((i for i, (k, rate) in enumerate(scenarios) if k == 1 and rate is None), 0)

    def replay(p):
        u = to_unconstrained(p, kind, rule)
        posteriors = [_posterior(model, u, b)[:int(b["n_sellers"])] for b in batches]   # (nb, Q) each
        nodes, _, n0 = model.grid(u)          # each node's initial trust (and bayes' n0)
        return [_run_scenario(batches, posteriors, nodes, p, kind, rule, k, rate, fidelity_scale, price,
                              unit_cost, seed, n0) for k, rate in scenarios]

    runs = replay(params)
    base = runs[base_i]
    drawn = None
    if parameter_draws:
        if cov_unconstrained is None:
            raise InputError("parameter draws need the fit's covariance of the unconstrained "
                             "parameters (diagnostics.covariance_unconstrained of `trust fit --json`)")
        drawn = _changes_at_draws(replay, params, kind, np.asarray(cov_unconstrained, float),
                                  parameter_draws, base_i, seed, progress, rule)
    rows = []
    for (k, rate), run in zip(scenarios, runs):
        n, m = run["events"].sum(), run["profit_events"].sum()
        row = {"error_scale": k, "feedback_rate": "logged" if rate is None else rate,
               "mean_trust": float(run["trust"].sum() / max(n, 1)),
               "mean_adoption": float(run["adoption"].sum() / max(n, 1)),
               "profit_per_event": float(run["profit"].sum() / m) if m else float("nan"),
               "abs_error_per_event": float(run["abs_error"].sum() / m) if m else float("nan"),
               "events": int(n), "sellers": int(len(run["events"]))}
        row["adoption_change"], row["adoption_change_se"] = _paired_change(
            run["adoption"], base["adoption"], run["events"])
        row["profit_change"], row["profit_change_se"] = _paired_change(   # (NaN without profit)
            run["profit"], base["profit"], run["profit_events"])
        if drawn is not None:
            for what in ("adoption_change", "profit_change"):
                spread = float(np.std(drawn[what][:, len(rows)], ddof=1))
                row[what + "_se_parameters"] = spread
                row[what + "_se_total"] = float(np.hypot(row[what + "_se"], spread))
            row["parameter_draws"] = parameter_draws
        row["baseline"] = (k, rate) == scenarios[base_i]
        row["trust_by_event"] = (run["trust_t"] / np.maximum(run["count_t"], 1))[run["count_t"] > 0].tolist()
        rows.append(row)
    return rows


def _changes_at_draws(replay, params, kind, cov, n_draws, base_i, seed, progress, rule="asymmetric") -> dict:
    """Changes in adoption and profit per event against the baseline, replayed at parameter
    vectors drawn from the fit's asymptotic normal distribution (on the unconstrained scale,
    so every draw is a valid parameter): arrays (draws, scenarios)."""
    draws = draw_parameters(params, kind, rule, cov, n_draws, [seed, 1])
    out = {"adoption_change": [], "profit_change": []}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_draws, desc="what-if at parameter draws", unit="draw", leave=False)
    for p in draws:
        runs = replay(p)
        base = runs[base_i]
        out["adoption_change"].append([_paired_change(r["adoption"], base["adoption"], r["events"])[0]
                                       for r in runs])
        out["profit_change"].append([_paired_change(r["profit"], base["profit"], r["profit_events"])[0]
                                     for r in runs])
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return {k: np.asarray(v, float) for k, v in out.items()}


def _paired_change(totals, base_totals, events):
    """Change per event against the baseline, and its seller-clustered standard error."""
    d_i = totals - base_totals
    n = events.sum()
    if n == 0:
        return float("nan"), float("nan")
    d = d_i.sum() / n
    g = len(d_i)
    if g < 2:
        return float(d), float("nan")
    return float(d), float(np.sqrt(g / (g - 1) * np.sum((d_i - d * events) ** 2)) / n)


def _run_scenario(batches, posteriors, nodes, params, kind, rule, k, rate, fidelity_scale, price,
                  unit_cost, seed, n0=None) -> dict:
    """Per-seller totals (trust, adoption, profit, absolute error, events) under one scenario,
    and trust summed by event index."""
    rng = np.random.default_rng(seed)      # the same feedback draws in every scenario
    per_seller = {name: [] for name in ("trust", "adoption", "profit", "abs_error", "events",
                                        "profit_events")}
    trust_t, count_t = np.zeros(MAX_TRUST_EVENTS), np.zeros(MAX_TRUST_EVENTS)
    Q = len(nodes)
    for b, post in zip(batches, posteriors):
        nb = int(b["n_sellers"])
        T = b["gap"].shape[1]
        valid = np.arange(T)[None, :] < b["length"][:nb, None]
        rec, truth, own = (b[c][:nb].astype(float) for c in ("recommendation", "truth", "own"))
        if np.isfinite(truth[valid]).all():
            rec_k = truth + k * (rec - truth)
            fid = 1 - np.minimum(1, np.abs(rec_k - truth) / fidelity_scale) \
                if fidelity_scale else 1 - k * (1 - b["fidelity"][:nb])
        else:
            rec_k = rec
            fid = 1 - k * (1 - b["fidelity"][:nb].astype(float))
        fid = np.clip(fid, 0, 1)
        feedback = b["feedback"][:nb] if rate is None else (rng.random((nb, T)) < rate)
        feedback = feedback & valid
        values = rule_values(params, rule) if n0 is None else (np.tile(n0, nb), 0.0)
        paths = simulate_path(np.tile(nodes, nb), np.repeat(fid, Q, axis=0),
                              np.repeat(feedback, Q, axis=0), *values,
                              rule, decay=params.get("decay", 0.0)).reshape(nb, Q, T)
        trust = np.einsum("bqt,bq->bt", paths, post)
        if kind == "continuous":
            adoption = trust
            q = trust * rec_k + (1 - trust) * own
            profit = expected_profit(q, truth, price, unit_cost)
            err = np.abs(q - truth)
        else:
            a = np.clip(paths, 1e-9, 1 - 1e-9)
            pf = 1 / (1 + np.exp(-params["follow_slope"] * (np.log(a) - np.log1p(-a))))
            adoption = np.einsum("bqt,bq->bt", pf, post)
            profit = adoption * expected_profit(rec_k, truth, price, unit_cost) + \
                (1 - adoption) * expected_profit(own, truth, price, unit_cost)
            err = adoption * np.abs(rec_k - truth) + (1 - adoption) * np.abs(own - truth)
        ok = valid & np.isfinite(profit)
        per_seller["trust"].append(np.where(valid, trust, 0).sum(axis=1))
        per_seller["adoption"].append(np.where(valid, adoption, 0).sum(axis=1))
        per_seller["profit"].append(np.where(ok, profit, 0).sum(axis=1))
        per_seller["abs_error"].append(np.where(ok, err, 0).sum(axis=1))
        per_seller["events"].append(valid.sum(axis=1))
        per_seller["profit_events"].append(ok.sum(axis=1))
        t = min(T, MAX_TRUST_EVENTS)
        trust_t[:t] += np.where(valid[:, :t], trust[:, :t], 0).sum(axis=0)
        count_t[:t] += valid[:, :t].sum(axis=0)
    out = {name: np.concatenate(v) if v else np.zeros(0) for name, v in per_seller.items()}
    out["trust_t"], out["count_t"] = trust_t, count_t
    return out


def _posterior(model, u, batch):
    post, _ = model.reference.posterior(u, batch)
    return post
