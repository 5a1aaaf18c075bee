"""The dynamic trust model by automatic differentiation (JAX): the reference.

The same likelihood as :class:`cheaptalk.dynamics.model.TrustDynamics` evaluates with the
compiled passes of :mod:`cheaptalk.dynamics.kernels`, written directly from its definition in
``jax.numpy``: per-seller scores by reverse-mode differentiation, the Hessian by
``jax.hessian``. The tests hold the kernels to it; the filtered trust trajectories (posterior
over initial-trust nodes along each seller's path) are computed here.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .._jax import jax, jnp
from .parameters import LEANING_WIDTH, STRENGTH_NODES, expansion_matrix, initial_trust_nodes, split_rule

__all__ = ["AutodiffReference"]

_EPS_TRUST = 1e-9   # keeps logit(alpha) finite for the binary link


def _beta_log_weights(mean, conc, nodes, log_gl):
    """log w_q = log(Beta pdf(x_q) * gl_q), normalized over q. ``mean``/``conc`` are (B,)."""
    a = (mean * conc)[:, None]
    b = ((1 - mean) * conc)[:, None]
    lw = (a - 1) * jnp.log(nodes)[None, :] + (b - 1) * jnp.log1p(-nodes)[None, :] + log_gl[None, :]
    return lw - jax.scipy.special.logsumexp(lw, axis=1, keepdims=True)


def _unpack(u_b, kind, rule):
    """Per-seller natural parameters from per-seller unconstrained copies ``u_b`` (B, P) in
    the six coordinates: the rule's two values (bayes: the log median prior strength and
    the sd of log prior strength), the
    initial-trust mean and concentration, the noise scale, the decay rate."""
    sig = jax.nn.sigmoid
    if rule == "bayes":      # log of the median prior strength, sd of log prior strength
        first, second = u_b[:, 0], jnp.exp(u_b[:, 1])
    else:
        first, second = sig(u_b[:, 0]), sig(u_b[:, 1])
    return (first[:, None], second[:, None], sig(u_b[:, 2]), jnp.exp(u_b[:, 3]),
            jnp.exp(u_b[:, 4])[:, None], sig(u_b[:, 5])[:, None])


def _decision_logpdf(alpha, gap, act, scale, kind):
    """log p(decision | alpha) for all nodes; ``gap``/``act`` are (B, 1), alpha (B, Q)."""
    if kind == "continuous":
        # act = a - own, gap = m - own
        z = (act - alpha * gap) / scale
        return -0.5 * z * z - jnp.log(scale) - 0.5 * np.log(2 * np.pi)
    a = jnp.clip(alpha, _EPS_TRUST, 1 - _EPS_TRUST)
    z = scale * (jnp.log(a) - jnp.log1p(-a))
    return jnp.where(act > 0.5, jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z))


def _paths(u_b, batch, nodes, log_gl, spec, keep_path):
    """Scan over time. Returns (log w (B,Q), loglik per node (B,Q), alpha path (T,B,Q) or None)."""
    kind, full_rule = spec
    rule, decay = split_rule(full_rule)
    u_b = u_b @ jnp.asarray(expansion_matrix(full_rule)).T      # the rule's vector -> the six coordinates
    first, second, mean, conc, scale, delta = _unpack(u_b, kind, rule)
    log_w = _beta_log_weights(mean, conc, nodes, log_gl)
    B = u_b.shape[0]
    alpha0 = jnp.broadcast_to(nodes[None, :], (B, nodes.shape[0]))
    if rule == "bayes":
        # every initial trust with every prior strength n0 = exp(mu + sd z_k), z_k the
        # Gauss-Hermite nodes of a standard normal
        z, log_wz = np.polynomial.hermite_e.hermegauss(STRENGTH_NODES)
        log_wz = np.log(log_wz / log_wz.sum())
        K, n = len(z), nodes.shape[0]
        alpha0 = jnp.tile(alpha0, (1, K))
        log_w = jnp.tile(log_w, (1, K)) + jnp.repeat(jnp.asarray(log_wz), n)[None, :]
        prior_n0 = jnp.exp(first + second * jnp.repeat(jnp.asarray(z), n)[None, :])

    def updated(alpha, fid, seen):
        """Trust after feedback ``fid`` (B, 1), by the rule's definition."""
        if rule == "bayes":
            # posterior mean of the fidelity: prior Beta of mean alpha_1 and strength n0, the
            # (seen + 1)-th observation
            return alpha + (fid - alpha) / (prior_n0 + seen[:, None] + 1.0)
        if rule == "wsls":
            return jnp.broadcast_to(jnp.where(fid >= 0.5, first, second), alpha.shape)
        if rule == "confirmation":
            # the confirming rate's weight: how strongly trust leans high, after good news
            lean = jax.nn.sigmoid((alpha - 0.5) / LEANING_WIDTH)
            w = jnp.where(fid >= alpha, lean, 1.0 - lean)
            return alpha + (w * first + (1.0 - w) * second) * (fid - alpha)
        return alpha + jnp.where(fid >= alpha, first, second) * (fid - alpha)

    def step(carry, inp):
        alpha, ll, seen = carry
        gap, act, fid, feedback, observed = inp
        lp = _decision_logpdf(alpha, gap[:, None], act[:, None], scale, kind)
        ll = ll + jnp.where(observed[:, None], lp, 0.0)
        # without feedback trust stays, or drifts back toward its initial value (decay)
        idle = alpha + delta * (alpha0 - alpha) if decay else alpha
        new_alpha = jnp.where(feedback[:, None], updated(alpha, fid[:, None], seen), idle)
        return (new_alpha, ll, seen + feedback), (alpha if keep_path else None)

    # time-major inputs (T, B); compute in float64 whatever the storage type
    xs = (batch["gap"].T.astype(jnp.float64), batch["act"].T.astype(jnp.float64),
          batch["fidelity"].T.astype(jnp.float64), batch["feedback"].T, batch["observed"].T)
    carry = (alpha0, jnp.zeros_like(alpha0), jnp.zeros(B))
    (_, ll, _), path = jax.lax.scan(step, carry, xs)
    return log_w, ll, path


def _seller_loglik(u_b, batch, nodes, log_gl, spec):
    log_w, ll, _ = _paths(u_b, batch, nodes, log_gl, spec, keep_path=False)
    if "group_end" not in batch:
        return jax.scipy.special.logsumexp(log_w + ll, axis=1)
    # a shared initial trust: a group's sellers multiply their likelihoods given each node
    # before the mixture; the group's log-likelihood sits in its last seller's row
    total = jax.scipy.special.logsumexp(log_w + _group_sums(ll, batch["group_end"]), axis=1)
    return jnp.where(batch["group_end"], total, 0.0)


def _group_sums(ll, end):
    """Each seller's row replaced by the sum over its group's sellers (consecutive rows up
    to one where ``end`` is true)."""
    group = jnp.cumsum(jnp.concatenate([jnp.zeros(1, jnp.int32), end[:-1].astype(jnp.int32)]))
    return jax.ops.segment_sum(ll, group, num_segments=ll.shape[0])[group]


@partial(jax.jit, static_argnames=("spec",))
def _loglik_and_scores(u, batch, nodes, log_gl, spec):
    """Per-seller log-likelihood and scores by reverse-mode AD on per-seller copies of ``u``."""
    B = batch["gap"].shape[0]
    u_b = jnp.broadcast_to(u[None, :], (B, u.shape[0]))
    f = lambda ub: _seller_loglik(ub, batch, nodes, log_gl, spec)  # noqa: E731
    ll, vjp = jax.vjp(f, u_b)
    (scores,) = vjp(jnp.ones_like(ll))
    return ll, scores


@partial(jax.jit, static_argnames=("spec",))
def _hessian(u, batch, nodes, log_gl, spec):
    """Hessian of the batch's summed log-likelihood (P, P) by automatic differentiation."""
    B = batch["gap"].shape[0]

    def total(v):
        return jnp.sum(_seller_loglik(jnp.broadcast_to(v[None, :], (B, v.shape[0])), batch, nodes,
                                      log_gl, spec))
    h = jax.hessian(total)(u)
    return 0.5 * (h + h.T)


@partial(jax.jit, static_argnames=("spec",))
def _filtered(u, batch, nodes, log_gl, spec):
    """Posterior over initial-trust nodes (B, Q) and the node paths (T, B, Q)."""
    B = batch["gap"].shape[0]
    u_b = jnp.broadcast_to(u[None, :], (B, u.shape[0]))
    log_w, ll, path = _paths(u_b, batch, nodes, log_gl, spec, keep_path=True)
    if "group_end" in batch:
        # a shared initial trust: every seller of a group has the group's posterior
        ll = _group_sums(ll, batch["group_end"])
    post = jax.nn.softmax(log_w + ll, axis=1)
    return post, path



class AutodiffReference:
    """Likelihood pieces of ``model`` (a :class:`~cheaptalk.dynamics.model.TrustDynamics`)
    by automatic differentiation.

    ``batch`` arguments are packed logs (see :mod:`cheaptalk.dynamics.logs`): arrays of
    shape (B sellers, T events) ``gap = m - own`` (continuous; zeros for binary), ``act``
    (``a - own`` or the 0/1 follow decision), ``fidelity``, ``feedback`` and ``observed``.
    """

    def __init__(self, model):
        self.spec = (model.kind, model.rule)
        x, lw = initial_trust_nodes(model.n_nodes)
        self.nodes, self.log_gl = jnp.asarray(x), jnp.asarray(lw)

    @staticmethod
    def _jax_batch(batch):
        keys = ("gap", "act", "fidelity", "feedback", "observed") + (("group_end",) if "group_end" in batch else ())
        return {k: jnp.asarray(batch[k]) for k in keys}

    def loglik_and_scores(self, u, batch):
        """(per-seller log-likelihood (B,), per-seller scores (B, P)) as numpy arrays (with
        ``group_end``: per group, in the row of its last seller, zeros elsewhere)."""
        ll, s = _loglik_and_scores(jnp.asarray(u, jnp.float64), self._jax_batch(batch), self.nodes,
                                   self.log_gl, self.spec)
        ll, s = np.asarray(ll), np.asarray(s)
        if "group_end" in batch:
            # the gradients of a group's members' copies of u add up to the group's score
            end = np.asarray(batch["group_end"], bool)
            group = np.r_[0, np.cumsum(end[:-1])]
            totals = np.zeros((int(end.sum()), s.shape[1]))
            np.add.at(totals, group, s)
            s = np.zeros_like(s)
            s[end] = totals
        return ll, s

    def hessian(self, u, batch):
        return np.asarray(_hessian(jnp.asarray(u, jnp.float64), self._jax_batch(batch), self.nodes,
                                   self.log_gl, self.spec))

    def posterior(self, u, batch):
        """Posterior over the initial-trust nodes (B, Q) and the node paths (T, B, Q)."""
        post, path = _filtered(jnp.asarray(u, jnp.float64), self._jax_batch(batch), self.nodes,
                               self.log_gl, self.spec)
        return np.asarray(post), np.asarray(path)
