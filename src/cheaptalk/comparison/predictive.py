"""Predictive performance: k-fold cross-validation by subject and held-out treatments.

Both refit the model on part of the data (warm-started at the full-sample estimate, with
the same compiled likelihood: held-out subjects get weight 0, held-out decisions mask 0)
and score the rest by the mean predictive log-likelihood per decision,

    cv_loglik = (1 / N_test) sum_{g in test} log sum_t pi_t(theta_train) prod_{d in D_g} f(d | t, theta_train),

the panel log-likelihood of each held-out subject (her type fixed across her rounds, as in
estimation) divided by the number of held-out decisions. Scoring each decision on its own
(``cv_loglik_decision``: types integrated out per decision) is reported too, but it throws
away what distinguishes type models: a subject who inflated in round 1 will inflate in
round 2. With a two-type model whose types are 2.5 sd apart, the per-decision score cannot
tell it from a single wider normal, while the panel score (and the Vuong test) can.
"""

from __future__ import annotations


import numpy as np

from ..estimation import Likelihood, maximize
from ..estimation.mle import WARM_FTOL

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


def cross_validate(lik: Likelihood, theta_full, k: int = 5, seed: int = 0, progress=None, curvature=None) -> dict:
    """k-fold cross-validation by subject. Returns ``cv_loglik`` (mean predictive
    log-likelihood per held-out decision, pooled over folds), per-fold values and how many
    fold fits did not converge."""
    folds = subject_folds(lik.n_clusters, k, seed)
    total, per_decision, count, per_fold, failed = 0.0, 0.0, 0, [], 0
    n_by_cluster = sum(np.bincount(lik.decision_cluster[r], minlength=lik.n_clusters) for r in lik.roles)
    for f in range(k):
        weights = (folds != f).astype(float)
        run = maximize(lik, theta_full, weights=weights, ftol=WARM_FTOL, restarts=1, curvature=curvature)
        failed += not run["converged"]
        test = folds == f
        panel = float(lik.cluster_loglik(run["theta"])[test].sum())
        decisions = lik.decision_loglik(run["theta"])
        per_decision += sum(float(decisions[r][test[lik.decision_cluster[r]]].sum()) for r in lik.roles)
        fold_n = int(n_by_cluster[test].sum())
        total += panel
        count += fold_n
        per_fold.append(panel / max(fold_n, 1))
        if progress is not None:
            progress.update(1)
    return {"cv_loglik": total / count, "cv_loglik_decision": per_decision / count, "folds": k,
            "per_fold": per_fold, "not_converged": failed, "seed": seed}


def holdout_treatments(lik: Likelihood, theta_full, progress=None, curvature=None) -> dict:
    """For each treatment: fit on the others, report the held-out treatment's panel
    log-likelihood per decision. Empty when the data have a single treatment."""
    treatments = sorted(set(np.concatenate([lik.decision_treatment[r] for r in lik.roles])))
    out = {}
    if len(treatments) < 2:
        return out
    for t in treatments:
        run = maximize(lik, theta_full, masks=lik.treatment_masks(t), ftol=WARM_FTOL, restarts=1,
                       curvature=curvature)
        only_t = tuple((lik.decision_treatment[r] == t).astype(float) for r in lik.roles)
        panel = float(lik.cluster_loglik(run["theta"], masks=only_t).sum())
        n = sum(int((lik.decision_treatment[r] == t).sum()) for r in lik.roles)
        out[t] = {"loglik_per_decision": panel / n, "decisions": n, "converged": bool(run["converged"])}
        if progress is not None:
            progress.update(1)
    return out
