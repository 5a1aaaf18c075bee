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
                         segment_name, split_rule,
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
    # initial trust by segment: one mean per segment (sellers' ``segment`` labels)
    segments: tuple = ()

    def __post_init__(self):
        if self.kind not in ADOPTION_KINDS:
            raise ModelError(f"adoption must be one of {ADOPTION_KINDS}, got {self.kind!r}")
        check_rule(self.rule)
        object.__setattr__(self, "segments", tuple(self.segments))

    @property
    def names(self) -> tuple[str, ...]:
        return parameter_names(self.kind, self.rule, self.segments)

    @property
    def expansion(self) -> np.ndarray:
        """``A``: the rule's vector ``w`` to the passes' six coordinates, ``u = A w`` (the
        first segment's, with initial trust by segment)."""
        return expansion_matrix(self.rule, self.segments)

    def one_segment(self) -> "TrustDynamics":
        """The same model with one mean of initial trust (what each segment's sellers follow)."""
        return TrustDynamics(self.kind, self.n_nodes, self.rule)

    def segment_projection(self, k: int) -> np.ndarray:
        """``P_k`` with ``w_one = P_k w``: the vector of :meth:`one_segment` for the sellers of
        segment ``k`` (its own mean, everything else shared)."""
        names = self.names
        one = parameter_names(self.kind, self.rule)
        P = np.zeros((len(one), len(names)))
        for i, n in enumerate(one):
            P[i, names.index(segment_name(n, self.segments[k]) if n == "initial_trust_mean" else n)] = 1.0
        return P

    def split_by_segment(self, batch: dict):
        """``(k, rows, sub-batch)`` for each segment present in ``batch``; a seller outside every
        segment is a :class:`ModelError`. Sellers that share initial trust cannot be split."""
        from .logs.packing import take_sellers
        if "group_end" in batch:
            raise ModelError("initial trust by segment with a shared initial trust per subject is not available: "
                             "a subject's sellers in different segments would need one initial trust each")
        nb = int(batch["n_sellers"])
        labels = batch.get("segment")
        if labels is None:
            raise ModelError("initial trust by segment needs the sellers' segment (a segment column in the logs or "
                             "the seller table)")
        labels = np.asarray(labels[:nb], object)
        index = {s: k for k, s in enumerate(self.segments)}
        unknown = sorted({str(x) for x in labels if x not in index})
        if unknown:
            raise ModelError(f"sellers in segment(s) {unknown[:5]} that the model has no initial trust for "
                             f"(its segments: {list(self.segments)})")
        codes = np.array([index[x] for x in labels], int)
        for k in range(len(self.segments)):
            rows = np.flatnonzero(codes == k)
            if len(rows):
                keep = np.zeros(len(batch["length"]), bool)
                keep[rows] = True
                yield k, rows, take_sellers(batch, keep)

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
        scores ``S A`` and Hessian ``A' H A`` by the chain rule). With initial trust by
        segment, each segment's sellers are passed at their own vector ``P_k u`` and their
        scores and Hessian mapped back by ``P_k``."""
        from .kernels import batch_pass
        u = np.asarray(u, float)
        if self.segments:
            one = self.one_segment()
            nb = int(batch["n_sellers"])
            ll, scores = np.zeros(nb), np.zeros((nb, len(u)))
            H = np.zeros((len(u), len(u))) if hessian else None
            for k, rows, sub in self.split_by_segment(batch):
                P = self.segment_projection(k)
                ll_k, s_k, H_k = one.batch_pass(P @ u, sub, hessian)
                ll[rows] = ll_k[:len(rows)]
                scores[rows] = s_k[:len(rows)] @ P
                if hessian:
                    H += P.T @ H_k @ P
            return ll, scores, H
        A = self.expansion
        ll, scores, H = batch_pass(self.kind, A @ u, batch, hessian, self.n_nodes, rule=self.rule)
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
        if self.segments:
            one = self.one_segment()
            out = None
            for k, rows, sub in self.split_by_segment(batch):
                part = one.filtered(self.segment_projection(k) @ np.asarray(u, float), sub, levels)
                if out is None:
                    out = {key: np.full((len(batch["length"]),) + v.shape[1:], np.nan) for key, v in part.items()}
                for key, v in part.items():
                    out[key][rows] = v[:len(rows)]
            return out
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
