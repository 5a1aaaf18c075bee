"""Predictive performance: k-fold cross-validation by subject and held-out treatments.

Both refit the model on part of the data (warm-started at the full-sample estimate, with
the same compiled likelihood: held-out subjects get weight 0, held-out decisions mask 0)
and score the rest by the mean log-likelihood per decision,

    (1 / N_test) sum_{d in test} log sum_t pi_t(theta_train) f(d | t, theta_train),

each decision on its own (types integrated out per decision), so models with and without
persistent types are scored on the same footing.
"""

from __future__ import annotations

import sys

import numpy as np

from ..estimation import Likelihood, maximize

__all__ = ["cross_validate", "holdout_treatments", "subject_folds"]


def subject_folds(n_clusters: int, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) of each subject: a seeded random partition into near-equal folds."""
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if k > n_clusters:
        raise ValueError(f"{k} folds but only {n_clusters} subjects")
    order = np.random.default_rng(seed).permutation(n_clusters)
    folds = np.empty(n_clusters, dtype=int)
    folds[order] = np.arange(n_clusters) % k
    return folds


def cross_validate(lik: Likelihood, theta_full, k: int = 5, seed: int = 0, progress=None) -> dict:
    """k-fold cross-validation by subject. Returns ``cv_loglik`` (mean predictive
    log-likelihood per held-out decision, pooled over folds), per-fold values and how many
    fold fits did not converge."""
    folds = subject_folds(lik.n_clusters, k, seed)
    total, count, per_fold, failed = 0.0, 0, [], 0
    for f in range(k):
        weights = (folds != f).astype(float)
        run = maximize(lik, theta_full, weights=weights)
        failed += not run["converged"]
        decisions = lik.decision_loglik(run["theta"])
        fold_sum, fold_n = 0.0, 0
        for r in lik.roles:
            test = folds[lik.decision_cluster[r]] == f
            fold_sum += float(decisions[r][test].sum())
            fold_n += int(test.sum())
        total += fold_sum
        count += fold_n
        per_fold.append(fold_sum / max(fold_n, 1))
        if progress is not None:
            progress.update(1)
    return {"cv_loglik": total / count, "folds": k, "per_fold": per_fold, "not_converged": failed, "seed": seed}


def holdout_treatments(lik: Likelihood, theta_full, progress=None) -> dict:
    """For each treatment: fit on the others, report the mean log-likelihood per decision of
    the held-out one. Empty when the data have a single treatment."""
    treatments = sorted(set(np.concatenate([lik.decision_treatment[r] for r in lik.roles])))
    out = {}
    if len(treatments) < 2:
        return out
    for t in treatments:
        run = maximize(lik, theta_full, masks=lik.treatment_masks(t))
        decisions = lik.decision_loglik(run["theta"])
        s = sum(float(decisions[r][lik.decision_treatment[r] == t].sum()) for r in lik.roles)
        n = sum(int((lik.decision_treatment[r] == t).sum()) for r in lik.roles)
        out[t] = {"loglik_per_decision": s / n, "decisions": n, "converged": bool(run["converged"])}
        if progress is not None:
            progress.update(1)
    return out
