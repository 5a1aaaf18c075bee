"""Predictive performance: k-fold cross-validation by subject and held-out treatments.

Both refit the model on part of the data (the same compiled likelihood: held-out subjects
get weight 0, held-out decisions mask 0) and score the rest by the mean predictive
log-likelihood per held-out decision,

    cv_loglik = (1 / N_test) sum_{g in test} log sum_t pi_t(theta_train) prod_{d in D_g} f(d | t, theta_train),

the panel log-likelihood of each held-out subject (her type fixed across her rounds, as in
estimation) divided by the number of held-out decisions: the one held-out score of the
toolkit. (Scoring each decision on its own, types integrated out per decision, would throw
away what distinguishes type models: a subject who inflated in round 1 will inflate in
round 2.)

**The test data never choose the basin.** Several of these likelihoods have more than one
local maximum. A refit started only at the full-sample estimate (which saw the held-out
subjects) would stay in the basin the held-out subjects favoured. Each refit therefore runs
from several starts, as a first fit does: the model's defaults and seeded random points, with
the full-sample estimate as one more start, never the only one. The best by the *training*
log-likelihood is kept (:func:`refit`); starts stop once two reach the same maximum. A refit
that does not converge is retried once from where it stopped; a model with a fold that still
does not converge gets no CV score (``cv_loglik`` None) and takes no part in the verdict.
"""

from __future__ import annotations


import numpy as np

from ..errors import InputError
from ..estimation import Likelihood, maximize
from ..estimation.mle import WARM_FTOL, same_maximum, starting_points

__all__ = ["cross_validate", "holdout_treatments", "subject_folds", "paired_cv_difference", "refit",
           "REFIT_STARTS"]

REFIT_STARTS = 3     # cold starts of a refit at most (defaults, then seeded random points), as a first fit


def refit(lik: Likelihood, theta_full, *, weights=None, masks=None, starts: int = REFIT_STARTS, seed: int = 0,
          curvature=None) -> dict:
    """Refit on the training part (``weights`` of subjects, ``masks`` of decisions) from the
    full-sample estimate and from up to ``starts`` cold starts (the model's defaults, then
    seeded random points); stop once two runs reach the same training maximum. The best run
    by the training log-likelihood is returned, retried once from its end point when it did
    not converge, with ``starts_run`` (how many runs)."""
    runs = [maximize(lik, theta_full, weights=weights, masks=masks, ftol=WARM_FTOL, restarts=1,
                     curvature=curvature)]
    for theta0 in starting_points(lik.model, starts, seed=seed):
        try:
            finite = np.isfinite(lik.loglik(theta0, weights, masks))
        except (FloatingPointError, ValueError):
            finite = False
        if not finite:
            continue
        runs.append(maximize(lik, theta0, weights=weights, masks=masks))
        values = sorted((r["loglik"] for r in runs if np.isfinite(r["loglik"])), reverse=True)
        if len(values) >= 2 and same_maximum(values[0], values[1]):
            break
    best = max(runs, key=lambda r: r["loglik"] if np.isfinite(r["loglik"]) else -np.inf)
    if not best["converged"]:
        # a converged run at the same maximum is as good (on a likelihood with small kinks
        # the projected gradient of one run may stay above the threshold where another's is not)
        best = next((r for r in runs if r["converged"] and same_maximum(r["loglik"], best["loglik"])), best)
    if not best["converged"] and np.isfinite(best["loglik"]):
        again = maximize(lik, best["theta"], weights=weights, masks=masks, restarts=2)
        if again["loglik"] >= best["loglik"] - 1e-9 * max(1.0, abs(best["loglik"])):
            best = again
    return {**best, "starts_run": len(runs)}


def subject_folds(n_clusters: int, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) of each subject: a seeded random partition into near-equal folds."""
    if k < 2:
        raise InputError(f"cross-validation needs at least 2 folds, got {k}")
    if k > n_clusters:
        raise InputError(f"{k} folds but only {n_clusters} subjects")
    order = np.random.default_rng(seed).permutation(n_clusters)
    folds = np.empty(n_clusters, dtype=int)
    folds[order] = np.arange(n_clusters) % k
    return folds


def cross_validate(lik: Likelihood, theta_full, k: int = 5, seed: int = 0, progress=None, curvature=None,
                   starts: int = REFIT_STARTS) -> dict:
    """k-fold cross-validation by subject, each fold refitted by :func:`refit`. Returns
    ``cv_loglik`` (mean held-out panel log-likelihood per held-out decision, pooled over
    folds; None when a fold's refit did not converge), per-fold values, how many fold refits
    did not converge and how many starts each ran."""
    folds = subject_folds(lik.n_clusters, k, seed)
    total, count, per_fold, failed, starts_run = 0.0, 0, [], 0, []
    by_subject = np.zeros(lik.n_clusters)
    n_by_cluster = sum(np.bincount(lik.decision_cluster[r], minlength=lik.n_clusters) for r in lik.roles)
    for f in range(k):
        weights = (folds != f).astype(float)
        run = refit(lik, theta_full, weights=weights, starts=starts, seed=seed + 1 + f, curvature=curvature)
        failed += not run["converged"]
        starts_run.append(run["starts_run"])
        test = folds == f
        held_out = lik.cluster_loglik(run["theta"])[test]
        by_subject[test] = held_out
        panel = float(held_out.sum())
        fold_n = int(n_by_cluster[test].sum())
        total += panel
        count += fold_n
        per_fold.append(panel / max(fold_n, 1))
        if progress is not None:
            progress.update(1)
    # by_subject: each subject's held-out panel log-likelihood (in the order of lik.clusters),
    # what paired differences and the model confidence set are computed from
    return {"cv_loglik": total / count if not failed else None, "folds": k,
            "per_fold": per_fold, "not_converged": failed, "starts_per_fold": starts_run, "seed": seed,
            "by_subject": by_subject, "decisions_by_subject": n_by_cluster}


def paired_cv_difference(cv_a: dict, cv_b: dict) -> dict:
    """CV log-likelihood per decision of model A minus model B, with its standard error from
    the spread of the subjects' paired differences (the same subjects and folds):
    ``diff = sum_g d_g / N``, ``se = sqrt(G / (G - 1) sum_g (d_g - mean d)^2) / N``."""
    d = np.asarray(cv_a["by_subject"]) - np.asarray(cv_b["by_subject"])
    n = float(np.sum(cv_a["decisions_by_subject"]))
    g = d.size
    se = float(np.sqrt(g / max(g - 1, 1) * np.sum((d - d.mean()) ** 2)) / n) if g > 1 else float("nan")
    diff = float(d.sum() / n)
    return {"difference": diff, "se": se, "z": diff / se if se > 0 else float("nan")}


def holdout_treatments(lik: Likelihood, theta_full, progress=None, curvature=None, seed: int = 0) -> dict:
    """For each treatment: refit on the others (:func:`refit`), report the held-out
    treatment's panel log-likelihood per decision. Empty when the data have a single
    treatment."""
    treatments = sorted(set(np.concatenate([lik.decision_treatment[r] for r in lik.roles])))
    out = {}
    if len(treatments) < 2:
        return out
    for t in treatments:
        run = refit(lik, theta_full, masks=lik.treatment_masks(t), seed=seed, curvature=curvature)
        only_t = tuple((lik.decision_treatment[r] == t).astype(float) for r in lik.roles)
        panel = float(lik.cluster_loglik(run["theta"], masks=only_t).sum())
        n = sum(int((lik.decision_treatment[r] == t).sum()) for r in lik.roles)
        out[t] = {"loglik_per_decision": panel / n, "decisions": n, "converged": bool(run["converged"])}
        if progress is not None:
            progress.update(1)
    return out
