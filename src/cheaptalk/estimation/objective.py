"""The compiled likelihood of one model on one data set, with subject weights and decision masks.

For subject (cluster) ``g`` with weight ``w_g`` and decisions ``d`` with inclusion mask
``m_d``::

    log L(theta) = sum_g w_g sum_{r, i in g} log sum_t pi_t(theta) prod_{d in D_i} f(d | t, theta)^{m_d}

With all weights and masks equal to one this is :func:`cheaptalk.models.likelihood.total_loglik`
(a test checks it). Weights and masks are *arguments* of the compiled functions, so one
compilation serves the full-sample fit, every cross-validation fold (weights 0 for held-out
subjects), every bootstrap replication (weights = how often a subject was drawn) and the
prediction of a held-out treatment (mask 0 for its decisions).

A cluster is a person: the same subject id (within a session) in both roles is one cluster,
so cluster-robust standard errors allow any correlation among all of her decisions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._jax import jax, jnp
from ..models.likelihood import segment_sum

__all__ = ["Likelihood"]


class Likelihood:
    """Prepared data plus jit-compiled log-likelihood, gradient, Hessian and scores."""

    def __init__(self, model, data: pd.DataFrame):
        self.model = model
        self.data = data
        self.prepared = model.prepare(data)
        roles = self.prepared.roles
        self.roles = [r for r in ("sender", "receiver") if r in roles]
        # clusters: one per person (session/subject), across roles
        keys = np.concatenate([np.asarray(roles[r].subjects, dtype=str) for r in self.roles])
        self.clusters = np.unique(keys)
        index = {k: i for i, k in enumerate(self.clusters)}
        self.cluster_of = {r: np.array([index[k] for k in np.asarray(roles[r].subjects, dtype=str)], dtype=int)
                           for r in self.roles}
        self.n_clusters = len(self.clusters)
        self.n_decisions = {r: roles[r].n_decisions for r in self.roles}
        self.n_obs = int(sum(self.n_decisions.values()))
        self.n_params = len(model.param_names)
        # each decision's cluster and treatment (for masks)
        self.decision_cluster = {r: self.cluster_of[r][roles[r].subject_codes] for r in self.roles}
        self.decision_treatment = {r: roles[r].frame["treatment"].astype(str).to_numpy()
                                   if "treatment" in roles[r].frame else np.full(roles[r].n_decisions, "default")
                                   for r in self.roles}
        self._build()

    # --- compiled functions ----------------------------------------------------------
    def _build(self):
        model, prepared, roles = self.model, self.prepared, self.prepared.roles
        role_names = tuple(self.roles)
        cluster_of = {r: jnp.asarray(self.cluster_of[r]) for r in role_names}
        G = self.n_clusters

        def per_subject(theta, masks):
            comps = model.components(theta, prepared)
            out = {}
            for r, mask in zip(role_names, masks):
                comp = comps[r]
                rd = roles[r]
                logf = jnp.where(mask[:, None] > 0, comp.logf, 0.0)
                per_type = segment_sum(logf, rd.subject_codes, rd.n_subjects)
                out[r] = jax.scipy.special.logsumexp(per_type + comp.log_weights[None, :], axis=1)
            return out

        def cluster_loglik(theta, masks):
            subj = per_subject(theta, masks)
            return sum(jax.ops.segment_sum(subj[r], cluster_of[r], num_segments=G) for r in role_names)

        def weighted(theta, weights, masks):
            return jnp.sum(weights * cluster_loglik(theta, masks))

        def decisions(theta):
            comps = model.components(theta, prepared)
            return tuple(jax.scipy.special.logsumexp(comps[r].logf + comps[r].log_weights[None, :], axis=1)
                         for r in role_names)

        self._value_and_grad = jax.jit(jax.value_and_grad(weighted))
        self._value = jax.jit(weighted)
        self._hessian = jax.jit(jax.hessian(weighted))
        self._cluster = jax.jit(cluster_loglik)
        self._scores = jax.jit(jax.jacrev(cluster_loglik))
        self._decisions = jax.jit(decisions)

    # --- weights and masks -----------------------------------------------------------
    def unit_weights(self) -> np.ndarray:
        return np.ones(self.n_clusters)

    def full_masks(self) -> tuple:
        return tuple(np.ones(self.n_decisions[r]) for r in self.roles)

    def treatment_masks(self, exclude: str) -> tuple:
        """Masks that leave out every decision of treatment ``exclude``."""
        return tuple((self.decision_treatment[r] != exclude).astype(float) for r in self.roles)

    def n_used(self, weights, masks) -> float:
        """Decisions that count (weighted): the N of per-decision averages and BIC."""
        return float(sum(np.sum(np.asarray(m) * np.asarray(weights)[self.decision_cluster[r]])
                         for r, m in zip(self.roles, masks)))

    def _args(self, weights, masks):
        w = jnp.asarray(self.unit_weights() if weights is None else weights, dtype=float)
        m = tuple(jnp.asarray(x, dtype=float) for x in (self.full_masks() if masks is None else masks))
        return w, m

    # --- evaluation ------------------------------------------------------------------
    def loglik(self, theta, weights=None, masks=None) -> float:
        w, m = self._args(weights, masks)
        return float(self._value(jnp.asarray(theta, dtype=float), w, m))

    def loglik_and_grad(self, theta, weights=None, masks=None):
        w, m = self._args(weights, masks)
        v, g = self._value_and_grad(jnp.asarray(theta, dtype=float), w, m)
        return float(v), np.asarray(g, dtype=float)

    def hessian(self, theta, weights=None, masks=None) -> np.ndarray:
        w, m = self._args(weights, masks)
        return np.asarray(self._hessian(jnp.asarray(theta, dtype=float), w, m), dtype=float)

    def cluster_loglik(self, theta, masks=None) -> np.ndarray:
        """``(G,)`` log-likelihood contribution of each subject (cluster)."""
        _, m = self._args(None, masks)
        return np.asarray(self._cluster(jnp.asarray(theta, dtype=float), m), dtype=float)

    def cluster_scores(self, theta, masks=None) -> np.ndarray:
        """``(G, P)`` gradient of each subject's contribution: the pieces of the sandwich."""
        _, m = self._args(None, masks)
        return np.asarray(self._scores(jnp.asarray(theta, dtype=float), m), dtype=float)

    def decision_loglik(self, theta) -> dict:
        """``{role: (N_role,)}`` log-likelihood of each decision on its own (types integrated out)."""
        out = self._decisions(jnp.asarray(theta, dtype=float))
        return {r: np.asarray(v, dtype=float) for r, v in zip(self.roles, out)}
