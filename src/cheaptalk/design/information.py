"""How much a treatment tells the competing models apart, before anyone plays it.

For candidate models ``j = 1..J`` with prior probabilities ``pi_j`` (equal by default) and
data ``D`` of one subject in one treatment (her panel of ``R`` decisions, or one decision),
the expected information about which model generated the data is the mutual information
between model identity and data, as adaptive design optimization uses it::

    I = sum_i pi_i E_{D ~ i} [ log p(D | i) - log sum_j pi_j p(D | j) ]

and the expected log Bayes factor of model ``i`` against ``j`` when ``i`` is true is the
Kullback-Leibler divergence ``KL(i || j) = E_{D ~ i}[log p(D | i) - log p(D | j)]``. The
uncertainty about each model's parameters is averaged over: ``p(D | j)`` is the mean of
``p(D | j, theta)`` over draws ``theta`` from the model's fit (its estimate and covariance)
or, without a fit, its defaults. Both are in nats; ``I`` lies between 0 (the models predict
the same choices, so no data tell them apart) and ``log J`` (every subject's data name the
model).

The expectation is taken by simulation with the toolkit's own ``simulate`` and compiled
likelihood: each model simulates ``subjects`` subjects per role in every treatment (types
drawn once per subject, strangers re-matched each round, receivers answering the true
model's senders), and every model's panel and per-decision log-likelihoods of those data are
evaluated at every draw. The receiver's information is that of her actions given the
messages the true model's senders sent (the messages themselves are the situation, not her
choice). Monte Carlo standard errors come from the spread across simulated subjects.

For a finite game, :func:`decision_information_exact` computes the per-decision sender
information directly from the models' strategy tables (no simulation): the reference the
simulation is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["Candidate", "candidate", "parameter_draws", "treatment_information", "decision_information_exact",
           "InformationReport"]


@dataclass
class Candidate:
    """A competing model with the parameter draws its predictions are averaged over."""

    label: str
    model: object
    draws: list                       # parameter dicts (at least one)
    source: str = "defaults"          # where the draws come from: "defaults" or "fit FILE"


def parameter_draws(model, estimate: dict | None = None, covariance=None, names=None, n: int = 1,
                    seed: int = 0) -> list[dict]:
    """``n`` parameter dicts: the estimate (or the model's defaults) when there is no
    covariance or ``n`` is 1, else draws from the normal distribution of the estimate with
    that covariance, each kept inside the parameters' bounds (redrawn up to 100 times, then
    clipped)."""
    centre = model.resolve(estimate or {})
    if covariance is None or n <= 1:
        return [dict(centre)] * max(1, n)
    names = list(names or model.param_names)
    cov = np.asarray(covariance, float)
    if cov.shape != (len(names), len(names)) or not np.all(np.isfinite(cov)):
        raise InputError(f"the covariance of {model.name} is not a finite {len(names)} x {len(names)} matrix")
    bounds = {p.name: (p.lower, p.upper) for p in model.parameters()}
    lo = np.array([bounds[k][0] for k in names])
    hi = np.array([bounds[k][1] for k in names])
    mean = np.array([centre[k] for k in names])
    rng = np.random.default_rng(seed)
    # a covariance with rounding below zero is made positive semi-definite (eigenvalues >= 0)
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    root = v * np.sqrt(np.clip(w, 0, None))
    out = []
    for _ in range(n):
        for _try in range(100):
            x = mean + root @ rng.standard_normal(len(names))
            if np.all((x >= lo) & (x <= hi)):
                break
        x = np.clip(x, lo, hi)
        out.append({**centre, **dict(zip(names, map(float, x)))})
    return out


def candidate(label: str, model, fit: dict | None = None, n_draws: int = 1, seed: int = 0) -> Candidate:
    """A :class:`Candidate` from a model and, optionally, its saved fit (a fit JSON entry:
    ``params`` estimates, ``covariance`` names and matrix)."""
    if fit is None:
        return Candidate(label, model, parameter_draws(model, n=1), "defaults")
    estimate = {k: v["estimate"] for k, v in fit["params"].items() if v.get("estimate") is not None}
    cov = fit.get("covariance") or {}
    matrix = cov.get("matrix")
    usable = matrix is not None and all(x is not None for row in matrix for x in row)
    return Candidate(label, model, parameter_draws(model, estimate, matrix if usable else None, cov.get("names"),
                                                   n=n_draws, seed=seed),
                     "fit" + ("" if usable else " (estimate only: no covariance)"))


@dataclass
class InformationReport:
    """Information by treatment and role (nats), with Monte Carlo standard errors."""

    table: pd.DataFrame               # treatment, role, unit (decision / panel), information, se, ...
    divergences: pd.DataFrame         # treatment, role, unit, true, other, kl, se
    labels: list
    rounds: int
    subjects: int
    draws: dict = field(default_factory=dict)

    def ranking(self, unit: str = "panel") -> pd.DataFrame:
        """Treatments by the information of one subject of each role (summed over roles), best first."""
        t = self.table[self.table["unit"] == unit]
        total = t.groupby("treatment").agg(information=("information", "sum"),
                                           se=("se", lambda s: float(np.sqrt(np.sum(np.square(s))))))
        return total.sort_values("information", ascending=False).reset_index()

    def to_dict(self) -> dict:
        return {"models": self.labels, "rounds": self.rounds, "subjects_simulated": self.subjects,
                "draws": self.draws, "units": "nats",
                "information": self.table.to_dict(orient="records"),
                "divergences": self.divergences.to_dict(orient="records"),
                "ranking": self.ranking().to_dict(orient="records")}


def _logmeanexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.mean(np.exp(x - m), axis=axis))


def treatment_information(candidates: list[Candidate], treatments: list[str] | None = None, rounds: int = 10,
                          subjects: int = 200, seed: int = 0, prior: dict | None = None,
                          progress=None) -> InformationReport:
    """Mutual information and pairwise divergences per treatment and role, by simulation
    (see the module docstring). ``subjects``: simulated subjects per role, treatment, true
    model and parameter draw; ``rounds``: the panel's length."""
    from ..estimation.objective import Likelihood

    if len(candidates) < 2:
        raise InputError("the information needs at least two models to tell apart")
    labels = [c.label for c in candidates]
    if len(set(labels)) != len(labels):
        raise InputError(f"models named twice: {labels}")
    game = candidates[0].model.game
    treatments = list(treatments or list(game.treatments))
    pi = np.array([(prior or {}).get(lab, 1.0) for lab in labels], float)
    pi = pi / pi.sum()
    log_pi = np.log(pi)
    rows, divs = [], []
    for i, true in enumerate(candidates):
        frames = []
        for k, params in enumerate(true.draws):
            data = true.model.simulate(params, subjects, rounds, seed=seed + 1000 * i + k, treatments=treatments)
            data["session"] = data["treatment"].astype(str) + f"|{k}"
            frames.append(data)
        data = pd.concat(frames, ignore_index=True)
        # every model's panel (per subject) and per-decision log-likelihoods, marginal over its draws
        panel, decision = [], []
        for j, other in enumerate(candidates):
            like = Likelihood(other.model, data)
            w, m = like.unit_weights(), like.full_masks()
            per_draw_p, per_draw_d = [], []
            for params in other.draws:
                _, _, cluster, dec = like._evaluate(other.model.to_vector(params), w, m)
                per_draw_p.append(cluster)
                per_draw_d.append(np.concatenate([np.asarray(d, float) for d in dec]))
            panel.append(_logmeanexp(np.array(per_draw_p), 0))
            decision.append(_logmeanexp(np.array(per_draw_d), 0))
            if progress:
                progress(f"{true.label} simulated, {other.label} evaluated")
        panel, decision = np.array(panel), np.array(decision)          # (J, clusters), (J, decisions)
        keys = like.clusters
        cl_treat = np.array([str(k).split("/", 1)[0].rsplit("|", 1)[0] for k in keys])
        cl_role = np.empty(len(keys), dtype=object)
        for r in like.roles:                        # (a person plays one role in a simulated session)
            cl_role[like.cluster_of[r]] = r
        d_treat = np.concatenate([like.decision_treatment[r] for r in like.roles])
        d_role = np.concatenate([np.full(like.n_decisions[r], r) for r in like.roles])
        for unit, ll, treat_of, role_of in (("panel", panel, cl_treat, cl_role),
                                            ("decision", decision, d_treat, d_role)):
            mix = np.logaddexp.reduce(ll + log_pi[:, None], axis=0)
            gain = ll[i] - mix
            for t in treatments:
                for role in ("sender", "receiver"):
                    sel = (treat_of == t) & (role_of == role)
                    if not sel.any():
                        continue
                    rows.append({"treatment": t, "role": role, "unit": unit, "true": true.label, "pi": pi[i],
                                 "mean": float(gain[sel].mean()), "var": float(gain[sel].var(ddof=1)),
                                 "n": int(sel.sum())})
                    for j, other in enumerate(candidates):
                        if j == i:
                            continue
                        d = ll[i, sel] - ll[j, sel]
                        divs.append({"treatment": t, "role": role, "unit": unit, "true": true.label,
                                     "other": other.label, "kl": float(d.mean()),
                                     "se": float(d.std(ddof=1) / np.sqrt(d.size))})
    parts = pd.DataFrame(rows)
    grouped = []
    for (t, role, unit), g in parts.groupby(["treatment", "role", "unit"], sort=False):
        info = float(np.sum(g["pi"] * g["mean"]))
        se = float(np.sqrt(np.sum(g["pi"] ** 2 * g["var"] / g["n"])))
        grouped.append({"treatment": t, "role": role, "unit": unit, "information": info, "se": se,
                        "share_of_max": info / np.log(len(candidates))})
    table = pd.DataFrame(grouped)
    return InformationReport(table=table, divergences=pd.DataFrame(divs), labels=labels, rounds=rounds,
                             subjects=subjects, draws={c.label: {"n": len(c.draws), "source": c.source}
                                                       for c in candidates})


def decision_information_exact(candidates: list[Candidate], treatment: str, prior: dict | None = None) -> float:
    """The sender's per-decision information in a finite game, from the strategy tables:
    ``sum_s P(s) sum_i pi_i sum_m p_i(m | s) log(p_i(m | s) / sum_j pi_j p_j(m | s))``, with
    ``p_i(m | s)`` each model's population strategy averaged over its parameter draws."""
    pi = np.array([(prior or {}).get(c.label, 1.0) for c in candidates], float)
    pi = pi / pi.sum()
    game = candidates[0].model.game.game(treatment)
    strategies = []
    for c in candidates:
        if c.model.game_kind != "finite":
            raise InputError("the exact information is computed for finite games")
        tables = []
        for params in c.draws:
            sig, _, ws, _ = c.model._numpy_behaviour(c.model.resolve(params), treatment)
            tables.append(np.einsum("t,tsm->sm", ws, sig))
        strategies.append(np.mean(tables, axis=0))
    p = np.array(strategies)                                  # (J, S, M)
    mix = np.einsum("j,jsm->sm", pi, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(p > 0, p * (np.log(p) - np.log(mix)[None]), 0.0)
    return float(np.einsum("j,s,jsm->", pi, game.prior, term))
