"""What-if: seller adoption and profit under more accurate recommendations or more feedback.

Counterfactuals are run on the sellers' own logged sequences (a sample of sellers):

* ``error_scale`` k multiplies every recommendation's error, ``m' = truth + k (m - truth)``
  (k < 1 is higher fidelity); fidelity is recomputed from the same formula
  (``f' = 1 - k (1 - f)`` when fidelity was given directly, without truth);
* ``feedback_rate`` p shows the outcome after each event with probability p (``None``
  keeps the logged feedback).

Each seller starts from its posterior over initial-trust nodes given its logged
behaviour (at the fitted parameters); trust then follows the model under the scenario.
Adoption is the expected trust (continuous) or the follow probability (binary). The
seller's profit per event is the newsvendor ``price * min(q, truth) - unit_cost * q`` of
the expected quantity ``q = alpha m' + (1 - alpha) own`` (continuous) or of ``m'`` if
followed and ``own`` if not (binary, when ``own_estimate`` is logged).
"""

from __future__ import annotations

import numpy as np

from .model import TrustDynamics, simulate_path, to_unconstrained

__all__ = ["whatif"]


def _profit(q, truth, price, unit_cost):
    return price * np.minimum(q, truth) - unit_cost * q


def whatif(batches: list[dict], params: dict, kind: str, error_scales=(1.0, 0.75, 0.5),
           feedback_rates=(None,), fidelity_scale: float | None = None, price: float = 1.0,
           unit_cost: float = 0.6, seed: int = 0, n_nodes: int = 20) -> list[dict]:
    model = TrustDynamics(kind, n_nodes)
    u = to_unconstrained(params, kind)
    nodes, _ = model._nodes()
    nodes = np.asarray(nodes)
    rows = []
    for k in error_scales:
        for rate in feedback_rates:
            rng = np.random.default_rng(seed)
            acc = {"trust": 0.0, "adoption": 0.0, "profit": 0.0, "abs_error": 0.0,
                   "events": 0, "profit_events": 0}
            for b in batches:
                nb = int(b["n_sellers"])
                post = _posterior(model, u, b)[:nb]                   # (nb, Q)
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
                Q = len(nodes)
                paths = simulate_path(np.tile(nodes, nb), np.repeat(fid, Q, axis=0),
                                      np.repeat(feedback, Q, axis=0), params["eta_up"],
                                      params["eta_down"]).reshape(nb, Q, T)
                trust = np.einsum("bqt,bq->bt", paths, post)
                if kind == "continuous":
                    adoption = trust
                    q = np.einsum("bqt,bq->bt", paths, post) * rec_k + (1 - trust) * own
                    profit = _profit(q, truth, price, unit_cost)
                    err = np.abs(q - truth)
                else:
                    a = np.clip(paths, 1e-9, 1 - 1e-9)
                    pf = 1 / (1 + np.exp(-params["follow_slope"] * (np.log(a) - np.log1p(-a))))
                    adoption = np.einsum("bqt,bq->bt", pf, post)
                    profit = adoption * _profit(rec_k, truth, price, unit_cost) + \
                        (1 - adoption) * _profit(own, truth, price, unit_cost)
                    err = adoption * np.abs(rec_k - truth) + (1 - adoption) * np.abs(own - truth)
                acc["trust"] += trust[valid].sum()
                acc["adoption"] += adoption[valid].sum()
                ok = valid & np.isfinite(profit)
                acc["profit"] += profit[ok].sum()
                acc["abs_error"] += err[ok].sum()
                acc["events"] += int(valid.sum())
                acc["profit_events"] += int(ok.sum())
            n, npf = max(acc["events"], 1), acc["profit_events"]
            rows.append({"error_scale": k, "feedback_rate": "logged" if rate is None else rate,
                         "mean_trust": acc["trust"] / n, "mean_adoption": acc["adoption"] / n,
                         "profit_per_event": acc["profit"] / npf if npf else float("nan"),
                         "abs_error_per_event": acc["abs_error"] / npf if npf else float("nan"),
                         "events": acc["events"]})
    base = rows[0]
    for r in rows:
        r["profit_change"] = r["profit_per_event"] - base["profit_per_event"]
    return rows


def _posterior(model, u, batch):
    from .model import _filtered
    nodes, log_gl = model._nodes()
    post, _ = _filtered(np.asarray(u, float), model._jax_batch(batch), nodes, log_gl, model.kind)
    return np.asarray(post)
