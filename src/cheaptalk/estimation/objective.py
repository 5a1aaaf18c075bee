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

    def __init__(self, model, data: pd.DataFrame, step: float = 1e-4):
        self.model = model
        self.step = step        # relative difference step for the Hessian and the scores (see _steps)
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

    # --- pickling: the compiled function is made again on loading ----------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_value_and_grad", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()

    # --- compiled functions ----------------------------------------------------------
    def _build(self):
        """Compile ONE function: value and exact gradient of the weighted log-likelihood,
        with each subject's contribution and each decision's log-likelihood as by-products.

        Compiling a model's likelihood is what costs time (seconds per model, against
        milliseconds per evaluation); compiling a Hessian (``jax.hessian``) or a Jacobian of
        subject contributions (``jax.jacrev``) as well would triple it. The Hessian and the
        subject scores are therefore central differences of this exact gradient and of the
        exact subject contributions (:meth:`hessian`, :meth:`cluster_scores`), accurate to
        about 1e-8 relative, which is ample for standard errors.
        """
        model, prepared, roles = self.model, self.prepared, self.prepared.roles
        role_names = tuple(self.roles)
        cluster_of = {r: jnp.asarray(self.cluster_of[r]) for r in role_names}
        G = self.n_clusters

        def weighted(theta, weights, masks):
            comps = model.components(theta, prepared)
            cluster = jnp.zeros(G)
            decisions = []
            for r, mask in zip(role_names, masks):
                comp = comps[r]
                rd = roles[r]
                logf = jnp.where(mask[:, None] > 0, comp.logf, 0.0)
                per_type = segment_sum(logf, rd.subject_codes, rd.n_subjects)
                subject = jax.scipy.special.logsumexp(per_type + comp.log_weights[None, :], axis=1)
                cluster = cluster + jax.ops.segment_sum(subject, cluster_of[r], num_segments=G)
                decisions.append(jax.scipy.special.logsumexp(comp.logf + comp.log_weights[None, :], axis=1))
            return jnp.sum(weights * cluster), (cluster, tuple(decisions))

        self._value_and_grad = jax.jit(jax.value_and_grad(weighted, has_aux=True))

    def _evaluate(self, theta, weights=None, masks=None):
        w, m = self._args(weights, masks)
        (v, (cluster, decisions)), g = self._value_and_grad(jnp.asarray(theta, dtype=float), w, m)
        return float(v), np.asarray(g, dtype=float), np.asarray(cluster, dtype=float), decisions

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
        if weights is None and masks is None:
            # the full-sample fit calls this at every evaluation: keep its arrays on the device
            if not hasattr(self, "_unit_args"):
                self._unit_args = (jnp.asarray(self.unit_weights(), dtype=float),
                                   tuple(jnp.asarray(x, dtype=float) for x in self.full_masks()))
            return self._unit_args
        w = jnp.asarray(self.unit_weights() if weights is None else weights, dtype=float)
        m = tuple(jnp.asarray(x, dtype=float) for x in (self.full_masks() if masks is None else masks))
        return w, m

    # --- evaluation ------------------------------------------------------------------
    def loglik(self, theta, weights=None, masks=None) -> float:
        return self._evaluate(theta, weights, masks)[0]

    def loglik_and_grad(self, theta, weights=None, masks=None):
        v, g, _, _ = self._evaluate(theta, weights, masks)
        return v, g

    def cluster_loglik(self, theta, masks=None) -> np.ndarray:
        """``(G,)`` log-likelihood contribution of each subject (cluster)."""
        return self._evaluate(theta, None, masks)[2]

    def role_loglik(self, theta) -> dict:
        """``{role: log-likelihood of that role's decisions}``; they add up to the total, since
        a subject's type in one role is independent of her type in the other. Which side of
        the game tells the theories apart shows here."""
        out = {}
        for r in self.roles:
            masks = tuple(np.ones(self.n_decisions[q]) if q == r else np.zeros(self.n_decisions[q])
                          for q in self.roles)
            out[r] = self.loglik(theta, masks=masks)
        return out

    def decision_loglik(self, theta) -> dict:
        """``{role: (N_role,)}`` log-likelihood of each decision on its own (types integrated out)."""
        decisions = self._evaluate(theta)[3]
        return {r: np.asarray(v, dtype=float) for r, v in zip(self.roles, decisions)}

    def _steps(self, theta, which):
        """Difference steps: ``step`` (default 1e-4) times each parameter's own scale,
        ``min(bound width, max(|theta|, 0.1))``, one-sided next to a bound so the model is
        never evaluated outside it.

        The scale follows the parameter, not its bounds: a Beta concentration of 0.57 allowed
        to range over [0.2, 500] would otherwise be stepped by 0.05 (and by 0.5 in the
        smoothness check), a tenth of its value, where the likelihood's curvature changes
        fast; differences of the exact gradient then have truncation errors of several
        percent that look like a kink. Shares and other parameters of order one keep steps of
        about ``step``.
        """
        bounds = np.array(self.model.bounds(), float)
        lo, hi = bounds[:, 0], bounds[:, 1]
        scale = np.minimum(np.where(np.isfinite(hi - lo), hi - lo, np.inf), np.maximum(np.abs(theta), 0.1))
        for j in which:
            h = self.step * scale[j]
            up, down = theta.copy(), theta.copy()
            up[j] = min(theta[j] + h, hi[j])
            down[j] = max(theta[j] - h, lo[j])
            yield j, up, down, up[j] - down[j]

    def derivatives(self, theta, free=None, weights=None):
        """Hessian ``(P, P)`` of the (weighted) log-likelihood and subject scores ``(G, P)`` at
        ``theta`` by central differences of the exact gradient and subject contributions
        (columns of fixed parameters are NaN)."""
        theta = np.asarray(theta, float)
        P = len(theta)
        free = np.ones(P, bool) if free is None else np.asarray(free, bool)
        H = np.full((P, P), np.nan)
        S = np.full((self.n_clusters, P), np.nan)
        for j, up, down, step in self._steps(theta, np.flatnonzero(free)):
            _, g_up, c_up, _ = self._evaluate(up, weights)
            _, g_dn, c_dn, _ = self._evaluate(down, weights)
            H[:, j] = (g_up - g_dn) / step
            S[:, j] = (c_up - c_dn) / step
        sub = np.ix_(free, free)
        H[sub] = 0.5 * (H[sub] + H[sub].T)
        return H, S

    def hessian(self, theta, weights=None, masks=None) -> np.ndarray:
        return self.derivatives(theta)[0]

    def cluster_scores(self, theta, masks=None) -> np.ndarray:
        """``(G, P)`` gradient of each subject's contribution: the pieces of the sandwich."""
        return self.derivatives(theta)[1]
