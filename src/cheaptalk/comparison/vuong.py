"""Tests between fitted models on subject-level log-likelihood contributions.

Vuong (1989) for non-nested models: with ``d_g = log L_g(A) - log L_g(B)`` over the ``G``
subjects (the independent units of a panel),

    z = (sum_g d_g - (k_A - k_B) log(G) / 2) / (sqrt(G) * sd(d))

(the Schwarz-corrected statistic). ``z > 0`` favours A; ``p`` is two-sided. For nested
models (a mixture and one of its families) the likelihood-ratio test
``2 (log L_big - log L_small) ~ chi2(k_big - k_small)`` applies instead; it is conservative
when the restriction puts a share on its bound.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from ..errors import InputError

__all__ = ["vuong_test", "likelihood_ratio_test", "is_nested"]


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


def likelihood_ratio_test(loglik_big: float, loglik_small: float, k_big: int, k_small: int,
                          big: str = "big", small: str = "small") -> dict:
    stat = max(0.0, 2.0 * (loglik_big - loglik_small))
    df = max(1, k_big - k_small)
    return {"model_big": big, "model_small": small, "statistic": float(stat), "df": int(df),
            "p_value": float(stats.chi2.sf(stat, df))}


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
