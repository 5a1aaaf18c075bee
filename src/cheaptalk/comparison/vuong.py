"""Tests between fitted models on subject-level log-likelihood contributions.

Vuong (1989) for non-nested models: with ``d_g = log L_g(A) - log L_g(B)`` over the ``G``
subjects (the independent units of a panel),

    z = (sum_g d_g - (k_A - k_B) log(G) / 2) / (sqrt(G) * sd(d))

(the Schwarz-corrected statistic). ``z > 0`` favours A; ``p`` is two-sided.

For nested models the likelihood-ratio statistic ``LR = 2 (log L_big - log L_small)`` is
referred to the distribution that fits its null (each test row says which, in ``method``,
and why):

* ``chi2``: the restriction is interior (two rates equal): ``LR ~ chi2(k_big - k_small)``.
* ``chi-bar-square``: one parameter on the edge of its range under the null, every other
  parameter identified (a decay of 0): ``LR ~ 1/2 chi2(0) + 1/2 chi2(1)`` (Self & Liang 1987),
  so the p-value is half the chi2(1) one.
* ``bootstrap``: a mixture against one of its families. Under the null the other family's
  share sits on its bound *and* that family's parameters are not identified, so neither
  chi2 nor chi-bar-square holds (Davies 1977). The null distribution comes from a parametric
  bootstrap: ``B`` data sets simulated from the smaller model at its estimate on the design
  of the data, both models refitted to each, ``p = (1 + #{LR_b >= LR}) / (B + 1)``
  (:func:`bootstrap_likelihood_ratio`). Without ``B`` no p-value is given.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from ..errors import InputError

__all__ = ["vuong_test", "likelihood_ratio_test", "bootstrap_likelihood_ratio", "is_nested"]


def vuong_test(ll_a, ll_b, k_a: int, k_b: int, model_a: str = "A", model_b: str = "B") -> dict:
    ll_a, ll_b = np.asarray(ll_a, float), np.asarray(ll_b, float)
    if ll_a.shape != ll_b.shape:
        raise InputError("Vuong test needs the contributions of the same subjects under both models")
    d = ll_a - ll_b
    G = d.size
    correction = (k_a - k_b) * np.log(G) / 2.0
    # fits that coincide subject by subject (two models that both predict uniform choice, or
    # the same model twice) cannot be told apart: no statistic, no winner
    scale = max(1.0, float(np.max(np.abs(ll_a))) if G else 1.0)
    if G == 0 or float(np.max(np.abs(d))) <= 1e-9 * scale:
        return {"model_a": model_a, "model_b": model_b, "z": None, "p_value": None,
                "favours": "indistinguishable", "subjects": int(G), "loglik_difference": float(d.sum()),
                "correction": "schwarz",
                "note": "the two fits give every subject the same log-likelihood: the data cannot tell them apart"}
    sd = d.std(ddof=1) if G > 1 else np.nan
    z = (d.sum() - correction) / (np.sqrt(G) * sd) if sd > 0 else (0.0 if d.sum() == correction else np.inf * np.sign(d.sum() - correction))
    p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else 0.0
    return {"model_a": model_a, "model_b": model_b, "z": float(z), "p_value": p,
            "favours": model_a if z > 0 else model_b if z < 0 else "neither", "subjects": int(G),
            "loglik_difference": float(d.sum()), "correction": "schwarz"}


CHI2_WHY = "the restriction is interior to the parameter space: LR ~ chi2(k_big - k_small)"
CHI_BAR_WHY = ("one parameter sits on the edge of its range under the null and the others are identified: "
               "LR ~ 1/2 chi2(0) + 1/2 chi2(1) (Self & Liang 1987)")
MIXTURE_WHY = ("under the null the other family's share sits on its bound and its parameters are not identified: "
               "neither chi2 nor chi-bar-square applies")


def likelihood_ratio_test(loglik_big: float, loglik_small: float, k_big: int, k_small: int,
                          big: str = "big", small: str = "small", method: str | None = "chi2") -> dict:
    """The LR test of a nested pair; ``method`` ``chi2``, ``chi-bar-square`` (one parameter
    on its bound) or None (no valid reference distribution without a bootstrap)."""
    stat = max(0.0, 2.0 * (loglik_big - loglik_small))
    df = max(1, k_big - k_small)
    out = {"model_big": big, "model_small": small, "statistic": float(stat), "df": int(df)}
    if method == "chi2":
        return {**out, "p_value": float(stats.chi2.sf(stat, df)), "method": "chi2", "why": CHI2_WHY}
    if method == "chi-bar-square":
        return {**out, "df": 1, "p_value": float(0.5 * stats.chi2.sf(stat, 1)) if stat > 0 else 1.0,
                "method": "chi-bar-square", "why": CHI_BAR_WHY}
    return {**out, "df": None, "p_value": None, "method": None,
            "why": MIXTURE_WHY + "; give --bootstrap-lr B for a parametric bootstrap p-value"}


def bootstrap_likelihood_ratio(big_model, small_model, small_params: dict, data, statistic: float,
                               replications: int, seed: int = 0, starts: int = 2) -> dict:
    """Parametric bootstrap of the LR statistic under the smaller model: ``replications``
    data sets simulated from ``small_model`` at ``small_params`` on the design of ``data``
    (subjects, rounds, treatments), both models refitted to each (``starts`` each, stopping
    once two agree). Returns ``p_value``, the draws and how many refits did not converge."""
    from ..estimation import fit
    from .regularities import simulation_design

    design = simulation_design(data)
    draws, failed = [], 0
    for b in range(replications):
        sim = small_model.simulate(small_params, design["n_subjects"], design["n_rounds"], seed=seed + 1 + b,
                                   treatments=design["treatments"])
        small = fit(small_model, sim, starts=starts, seed=seed + b, warn=False, until_agree=True)
        big = fit(big_model, sim, starts=starts, seed=seed + b, warn=False, until_agree=True)
        failed += not (small.converged and big.converged)
        draws.append(max(0.0, 2.0 * (big.loglik - small.loglik)))
    draws = np.asarray(draws)
    p = float((1 + np.sum(draws >= statistic - 1e-9)) / (replications + 1))
    return {"p_value": p, "draws": draws, "replications": int(replications), "not_converged": int(failed)}


def is_nested(model_a, model_b) -> tuple | None:
    """``(big, small)`` when one model contains the other (a mixture and one of its families,
    matched by name, under the same error model), else None."""
    if getattr(model_a, "errors", "logit") != getattr(model_b, "errors", "logit"):
        return None         # different error models: neither contains the other
    fam_a = tuple(getattr(model_a, "families", ()))
    fam_b = tuple(getattr(model_b, "families", ()))
    if model_b.name in fam_a:
        return model_a, model_b
    if model_a.name in fam_b:
        return model_b, model_a
    return None
