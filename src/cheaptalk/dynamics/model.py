"""The dynamic trust model of docs/models.md, section 6.

A sender (a platform) sends recommendations ``m_t`` to a receiver (a seller). After acting,
the seller may see how accurate the recommendation was (fidelity ``f_t in [0, 1]``,
``feedback_t = 1``). Trust moves with that experience, with separate rates for trust gained
and trust lost::

    alpha_{t+1} = alpha_t + eta_up   (f_t - alpha_t)   if feedback_t and f_t >= alpha_t
    alpha_{t+1} = alpha_t + eta_down (f_t - alpha_t)   if feedback_t and f_t <  alpha_t
    alpha_{t+1} = alpha_t                              without feedback

That is the default, ``asymmetric`` learning rule; the others (``symmetric``,
``confirmation``, ``bayes``, ``wsls``, and the decay option ``RULE+decay`` that lets trust
drift back toward ``alpha_1`` after events without feedback) are defined in
:mod:`cheaptalk.dynamics.parameters` and docs/dynamics.md, and :func:`simulate_path`
implements each.

Adoption at decision ``t`` uses ``alpha_t`` (trust before that event's feedback):

* continuous: ``a_t = alpha_t m_t + (1 - alpha_t) own_t + sd_action * e``, ``e ~ N(0, 1)``,
  i.e. ``a_t - own_t ~ N(alpha_t (m_t - own_t), sd_action^2)``;
* binary: ``logit P(follow_t) = follow_slope * logit(alpha_t)``, so ``follow_slope = 1`` is
  ``P(follow) = alpha_t`` and larger slopes make the follow decision sharper.

Initial trust ``alpha_1`` is heterogeneous across sellers: a Beta with mean
``initial_trust_mean`` and concentration ``initial_trust_concentration`` (``a + b``),
discretized on fixed Gauss-Legendre nodes ``x_q`` in (0, 1) with weights proportional to
the Beta density times the node weight (as in the static trust model). Given ``alpha_1 = x_q``
the whole path is deterministic, so a seller's likelihood is the finite mixture
``L_i = sum_q w_q prod_t p(y_t | alpha_t^(q))``. The update is a monotone map of
``alpha_t`` (slopes ``1 - eta`` >= 0 on both sides of ``f_t``), so node order is kept along
the path: the posterior over nodes gives each ``alpha_t`` a discrete distribution whose
quantiles are read off the cumulative posterior in node order.

This module is the one definition of the model (:class:`TrustDynamics`: the adoption kind
and the number of initial-trust nodes; plain numpy, so Spark's workers need not import JAX).
Its likelihood is evaluated on an unconstrained vector ``u`` (logit for rates and the mean,
log for the concentration and the noise scale) in two independent implementations: the
compiled passes of :mod:`cheaptalk.dynamics.kernels` (exact derivatives carried along the
paths), which the fit uses, and the reference by automatic differentiation
(:mod:`cheaptalk.dynamics.reference`, JAX), which the tests hold the passes to and which
computes the filtered trust trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from .parameters import (ADOPTION_KINDS, DEFAULT_NODES, DESCRIPTIONS, PARAMETER_NAMES, RULES,  # noqa: F401
                         check_rule, expansion_matrix, initial_trust_nodes, leaning, natural_jacobian,
                         split_rule,
                         parameter_names, to_natural, to_unconstrained)

__all__ = ["ADOPTION_KINDS", "PARAMETER_NAMES", "DEFAULT_NODES", "TrustDynamics", "simulate_path",
           "to_natural", "to_unconstrained", "initial_trust_nodes"]


@dataclass(frozen=True)
class TrustDynamics:
    """The dynamic trust model for one adoption kind, on ``n_nodes`` initial-trust nodes.

    :meth:`evaluate` runs a compiled pass over a packed batch of logs (what the fit and
    both engines use); :attr:`reference` is the same likelihood by automatic
    differentiation (JAX, imported on first use).
    """

    kind: str = "continuous"
    n_nodes: int = DEFAULT_NODES
    rule: str = "asymmetric"

    def __post_init__(self):
        if self.kind not in ADOPTION_KINDS:
            raise ModelError(f"adoption must be one of {ADOPTION_KINDS}, got {self.kind!r}")
        check_rule(self.rule)

    @property
    def names(self) -> tuple[str, ...]:
        return parameter_names(self.kind, self.rule)

    @property
    def expansion(self) -> np.ndarray:
        """``A``: the rule's vector ``w`` to the passes' six coordinates, ``u = A w``."""
        return expansion_matrix(self.rule)

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Initial-trust nodes in (0, 1) and their log Gauss-Legendre weights."""
        return initial_trust_nodes(self.n_nodes)

    def grid(self, u) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The nodes a seller's likelihood mixes over at the rule's vector ``u``
        (:func:`~cheaptalk.dynamics.parameters.node_grid`): each node's initial trust, its
        population log weight and, under ``bayes``, its prior strength ``n0`` (else None)."""
        from .kernels import grid_weights
        alpha0, log_w, _, _, n0, _ = grid_weights(self.expansion @ np.asarray(u, float), self.n_nodes, self.rule)
        return alpha0, log_w, (n0 if split_rule(self.rule)[0] == "bayes" else None)

    def batch_pass(self, u, batch: dict, hessian: bool = False):
        """Per-seller log-likelihoods and scores (and the batch's Hessian) of one packed
        batch at the rule's vector ``u``, from the compiled pass
        (:func:`cheaptalk.dynamics.kernels.batch_pass`, in its six coordinates ``A u``;
        scores ``S A`` and Hessian ``A' H A`` by the chain rule)."""
        from .kernels import batch_pass
        A = self.expansion
        ll, scores, H = batch_pass(self.kind, A @ np.asarray(u, float), batch, hessian, self.n_nodes,
                                   rule=self.rule)
        return ll, scores @ A, (A.T @ H @ A if H is not None else None)

    @property
    def reference(self):
        """The likelihood by automatic differentiation
        (:class:`cheaptalk.dynamics.reference.AutodiffReference`)."""
        from .reference import AutodiffReference
        return AutodiffReference(self)

    def loglik_and_scores(self, u, batch):
        """(per-seller log-likelihood (B,), per-seller scores (B, P)) by automatic
        differentiation: the reference for the compiled passes."""
        return self.reference.loglik_and_scores(u, batch)

    def hessian(self, u, batch):
        """Hessian of the batch's summed log-likelihood by automatic differentiation."""
        return self.reference.hessian(u, batch)

    def filtered(self, u, batch, levels=(0.05, 0.95)):
        """Filtered trust at every decision: mean and interval (B, T arrays), and the
        posterior mean of initial trust (B,).

        The interval is the (levels) quantiles of the discrete posterior distribution of
        ``alpha_t`` over the initial-trust nodes, at the given parameters (it does not
        include parameter uncertainty).
        """
        post, path = self.reference.posterior(u, batch)   # (B, Q), (T, B, Q)
        path = path.transpose(1, 0, 2)                    # (B, T, Q)
        mean = np.einsum("btq,bq->bt", path, post)
        # quantiles of the discrete distribution at each decision: nodes sorted by their trust
        # there (the asymmetric, symmetric and bayes updates keep the node order; under the
        # confirmation rule paths on either side of 1/2 can cross, under wsls they merge)
        order = np.argsort(path, axis=2, kind="stable")
        values = np.take_along_axis(path, order, axis=2)
        cdf = np.cumsum(np.take_along_axis(np.broadcast_to(post[:, None, :], path.shape), order, axis=2), axis=2)
        alpha0, log_w, _ = self.grid(u)
        out = {"trust": mean, "initial_trust": post @ alpha0,
               "predicted_adoption": self._predicted_adoption(u, path, np.exp(log_w))}
        for level in levels:
            q = np.minimum((cdf < level).sum(axis=2), path.shape[2] - 1)   # first node with cdf >= level
            out[f"q{level:g}"] = np.take_along_axis(values, q[:, :, None], axis=2)[:, :, 0]
        return out


    def _predicted_adoption(self, u, path, w):
        """What the rule predicts for each decision from the feedback alone, before seeing any
        of the seller's decisions: the nodes at their population weights ``w`` (not the
        seller's posterior), ``sum_q w_q alpha_t(q)`` (continuous: the expected weight on the
        recommendation) or ``sum_q w_q P(follow | alpha_t(q))`` (binary). ``path`` is
        (B, T, Q)."""
        if self.kind == "continuous":
            return path @ w
        a = np.clip(path, 1e-9, 1 - 1e-9)
        z = np.exp((self.expansion @ np.asarray(u, float))[4]) * (np.log(a) - np.log1p(-a))
        return (1.0 / (1.0 + np.exp(-z))) @ w


def simulate_path(alpha0, fidelity, feedback, first, second, rule: str = "asymmetric", decay: float = 0.0):
    """Trust path for arrays (S, T) in numpy: trust at each decision, shape (S, T).
    ``first``, ``second``: the rule's two values: the branch rates (gained and lost; confirming
    and disconfirming; equal under ``symmetric``), or wsls' trust after a win and after a loss;
    under ``bayes``, ``first`` is each path's prior strength ``n0`` (a scalar or one per row)
    and ``second`` is unused.
    ``decay`` (a ``RULE+decay`` rule): after each event without feedback, trust moves that
    share of the way back to its initial value."""
    alpha = np.array(alpha0, float)
    start = alpha.copy()
    out = np.empty(fidelity.shape)
    rule, with_decay = split_rule(rule)
    if not with_decay:
        decay = 0.0
    seen = np.zeros(alpha.shape)           # feedback events so far (bayes)
    for t in range(fidelity.shape[1]):
        out[:, t] = alpha
        f = fidelity[:, t]
        fb = feedback[:, t]
        if rule == "bayes":
            new = alpha + (f - alpha) / (first + seen + 1.0)
            seen = seen + fb
        elif rule == "wsls":
            new = np.where(f >= 0.5, first, second)
        elif rule == "confirmation":
            # weight of the confirming rate: the leaning's, toward high trust after good news
            lam = leaning(alpha)
            w = np.where(f >= alpha, lam, 1.0 - lam)
            new = alpha + (w * first + (1.0 - w) * second) * (f - alpha)
        else:
            new = alpha + np.where(f >= alpha, first, second) * (f - alpha)
        alpha = np.where(fb, new, alpha + decay * (start - alpha))
    return out
