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

from ..errors import InputError
from ..estimation import Likelihood, maximize
from ..estimation.mle import WARM_FTOL

__all__ = ["cross_validate", "holdout_treatments", "subject_folds", "paired_cv_difference"]


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


def cross_validate(lik: Likelihood, theta_full, k: int = 5, seed: int = 0, progress=None, curvature=None) -> dict:
    """k-fold cross-validation by subject. Returns ``cv_loglik`` (mean predictive
    log-likelihood per held-out decision, pooled over folds), per-fold values and how many
    fold fits did not converge."""
    folds = subject_folds(lik.n_clusters, k, seed)
    total, per_decision, count, per_fold, failed = 0.0, 0.0, 0, [], 0
    by_subject = np.zeros(lik.n_clusters)
    n_by_cluster = sum(np.bincount(lik.decision_cluster[r], minlength=lik.n_clusters) for r in lik.roles)
    for f in range(k):
        weights = (folds != f).astype(float)
        run = maximize(lik, theta_full, weights=weights, ftol=WARM_FTOL, restarts=1, curvature=curvature)
        failed += not run["converged"]
        test = folds == f
        held_out = lik.cluster_loglik(run["theta"])[test]
        by_subject[test] = held_out
        panel = float(held_out.sum())
        decisions = lik.decision_loglik(run["theta"])
        per_decision += sum(float(decisions[r][test[lik.decision_cluster[r]]].sum()) for r in lik.roles)
        fold_n = int(n_by_cluster[test].sum())
        total += panel
        count += fold_n
        per_fold.append(panel / max(fold_n, 1))
        if progress is not None:
            progress.update(1)
    # by_subject: each subject's held-out panel log-likelihood (in the order of lik.clusters),
    # what paired differences between models are computed from
    return {"cv_loglik": total / count, "cv_loglik_decision": per_decision / count, "folds": k,
            "per_fold": per_fold, "not_converged": failed, "seed": seed,
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
