"""The dynamic trust model of docs/models.md, section 6.

A sender (a platform) sends recommendations ``m_t`` to a receiver (a seller). After acting,
the seller may see how accurate the recommendation was (fidelity ``f_t in [0, 1]``,
``feedback_t = 1``). Trust moves with that experience, with separate rates for trust gained
and trust lost::

    alpha_{t+1} = alpha_t + eta_up   (f_t - alpha_t)   if feedback_t and f_t >= alpha_t
    alpha_{t+1} = alpha_t + eta_down (f_t - alpha_t)   if feedback_t and f_t <  alpha_t
    alpha_{t+1} = alpha_t                              without feedback

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

Everything here is in ``jax.numpy`` on an unconstrained vector ``u`` (logit for rates and
the mean, log for the concentration and the noise scale), so that gradients, per-seller
scores and Hessians come from automatic differentiation. The fit itself runs the compiled
passes of :mod:`cheaptalk.dynamics.kernels` (same likelihood, exact derivatives carried
along the paths); this module is their reference in the tests and computes the filtered
trust trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .._jax import jax, jnp
from .parameters import (ADOPTION_KINDS, DEFAULT_NODES, DESCRIPTIONS, PARAMETER_NAMES,  # noqa: F401
                         initial_trust_nodes, natural_jacobian, to_natural, to_unconstrained)

__all__ = ["ADOPTION_KINDS", "PARAMETER_NAMES", "DEFAULT_NODES", "TrustDynamics",
           "to_natural", "to_unconstrained", "initial_trust_nodes"]

_EPS_TRUST = 1e-9   # keeps logit(alpha) finite for the binary link


def _beta_log_weights(mean, conc, nodes, log_gl):
    """log w_q = log(Beta pdf(x_q) * gl_q), normalized over q. ``mean``/``conc`` are (B,)."""
    a = (mean * conc)[:, None]
    b = ((1 - mean) * conc)[:, None]
    lw = (a - 1) * jnp.log(nodes)[None, :] + (b - 1) * jnp.log1p(-nodes)[None, :] + log_gl[None, :]
    return lw - jax.scipy.special.logsumexp(lw, axis=1, keepdims=True)


def _unpack(u_b, kind):
    """Per-seller natural parameters from per-seller unconstrained copies ``u_b`` (B, P)."""
    sig = jax.nn.sigmoid
    return (sig(u_b[:, 0])[:, None], sig(u_b[:, 1])[:, None], sig(u_b[:, 2]), jnp.exp(u_b[:, 3]),
            jnp.exp(u_b[:, 4])[:, None])


def _decision_logpdf(alpha, gap, act, scale, kind):
    """log p(decision | alpha) for all nodes; ``gap``/``act`` are (B, 1), alpha (B, Q)."""
    if kind == "continuous":
        # act = a - own, gap = m - own
        z = (act - alpha * gap) / scale
        return -0.5 * z * z - jnp.log(scale) - 0.5 * np.log(2 * np.pi)
    a = jnp.clip(alpha, _EPS_TRUST, 1 - _EPS_TRUST)
    z = scale * (jnp.log(a) - jnp.log1p(-a))
    return jnp.where(act > 0.5, jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z))


def _paths(u_b, batch, nodes, log_gl, kind, keep_path):
    """Scan over time. Returns (log w (B,Q), loglik per node (B,Q), alpha path (T,B,Q) or None)."""
    eta_up, eta_down, mean, conc, scale = _unpack(u_b, kind)
    log_w = _beta_log_weights(mean, conc, nodes, log_gl)
    B = u_b.shape[0]
    alpha0 = jnp.broadcast_to(nodes[None, :], (B, nodes.shape[0]))

    def step(carry, inp):
        alpha, ll = carry
        gap, act, fid, feedback, observed = inp
        lp = _decision_logpdf(alpha, gap[:, None], act[:, None], scale, kind)
        ll = ll + jnp.where(observed[:, None], lp, 0.0)
        fid = fid[:, None]
        eta = jnp.where(fid >= alpha, eta_up, eta_down)
        new_alpha = jnp.where(feedback[:, None], alpha + eta * (fid - alpha), alpha)
        return (new_alpha, ll), (alpha if keep_path else None)

    # time-major inputs (T, B); compute in float64 whatever the storage type
    xs = (batch["gap"].T.astype(jnp.float64), batch["act"].T.astype(jnp.float64),
          batch["fidelity"].T.astype(jnp.float64), batch["feedback"].T, batch["observed"].T)
    (_, ll), path = jax.lax.scan(step, (alpha0, jnp.zeros_like(alpha0)), xs)
    return log_w, ll, path


def _seller_loglik(u_b, batch, nodes, log_gl, kind):
    log_w, ll, _ = _paths(u_b, batch, nodes, log_gl, kind, keep_path=False)
    return jax.scipy.special.logsumexp(log_w + ll, axis=1)


@partial(jax.jit, static_argnames=("kind",))
def _loglik_and_scores(u, batch, nodes, log_gl, kind):
    """Per-seller log-likelihood and scores by reverse-mode AD on per-seller copies of ``u``."""
    B = batch["gap"].shape[0]
    u_b = jnp.broadcast_to(u[None, :], (B, u.shape[0]))
    f = lambda ub: _seller_loglik(ub, batch, nodes, log_gl, kind)  # noqa: E731
    ll, vjp = jax.vjp(f, u_b)
    (scores,) = vjp(jnp.ones_like(ll))
    return ll, scores


@partial(jax.jit, static_argnames=("kind",))
def _hessian(u, batch, nodes, log_gl, kind):
    """Hessian of the batch's summed log-likelihood (P, P) by automatic differentiation."""
    B = batch["gap"].shape[0]

    def total(v):
        return jnp.sum(_seller_loglik(jnp.broadcast_to(v[None, :], (B, v.shape[0])), batch, nodes,
                                      log_gl, kind))
    h = jax.hessian(total)(u)
    return 0.5 * (h + h.T)


@partial(jax.jit, static_argnames=("kind",))
def _filtered(u, batch, nodes, log_gl, kind):
    """Posterior over initial-trust nodes (B, Q) and the node paths (T, B, Q)."""
    B = batch["gap"].shape[0]
    u_b = jnp.broadcast_to(u[None, :], (B, u.shape[0]))
    log_w, ll, path = _paths(u_b, batch, nodes, log_gl, kind, keep_path=True)
    post = jax.nn.softmax(log_w + ll, axis=1)
    return post, path


@dataclass(frozen=True)
class TrustDynamics:
    """Likelihood pieces of the dynamic trust model for one adoption kind.

    ``batch`` arguments are packed logs (see :mod:`cheaptalk.dynamics.logs`): arrays of
    shape (B sellers, T events) ``gap = m - own`` (continuous; zeros for binary), ``act``
    (``a - own`` or the 0/1 follow decision), ``fidelity``, ``feedback`` and ``observed``.
    """

    kind: str = "continuous"
    n_nodes: int = DEFAULT_NODES

    def __post_init__(self):
        if self.kind not in ADOPTION_KINDS:
            raise ValueError(f"adoption must be one of {ADOPTION_KINDS}, got {self.kind!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return PARAMETER_NAMES[self.kind]

    def _nodes(self):
        x, lw = initial_trust_nodes(self.n_nodes)
        return jnp.asarray(x), jnp.asarray(lw)

    @staticmethod
    def _jax_batch(batch):
        return {k: jnp.asarray(batch[k]) for k in ("gap", "act", "fidelity", "feedback", "observed")}

    def loglik_and_scores(self, u, batch):
        """(per-seller log-likelihood (B,), per-seller scores (B, P)) as numpy arrays, by
        automatic differentiation: the reference for the compiled passes of
        :mod:`cheaptalk.dynamics.kernels`, which the fit uses."""
        nodes, log_gl = self._nodes()
        ll, s = _loglik_and_scores(jnp.asarray(u, jnp.float64), self._jax_batch(batch), nodes, log_gl,
                                   self.kind)
        return np.asarray(ll), np.asarray(s)

    def hessian(self, u, batch):
        nodes, log_gl = self._nodes()
        return np.asarray(_hessian(jnp.asarray(u, jnp.float64), self._jax_batch(batch), nodes, log_gl,
                                   self.kind))

    def filtered(self, u, batch, levels=(0.05, 0.95)):
        """Filtered trust at every decision: mean and interval (B, T arrays), and the
        posterior mean of initial trust (B,).

        The interval is the (levels) quantiles of the discrete posterior distribution of
        ``alpha_t`` over the initial-trust nodes, at the given parameters (it does not
        include parameter uncertainty).
        """
        nodes, log_gl = self._nodes()
        post, path = _filtered(jnp.asarray(u, jnp.float64), self._jax_batch(batch), nodes, log_gl,
                               self.kind)
        post = np.asarray(post)                       # (B, Q)
        path = np.asarray(path).transpose(1, 0, 2)    # (B, T, Q), increasing in q
        mean = np.einsum("btq,bq->bt", path, post)
        cdf = np.cumsum(post, axis=1)
        out = {"trust": mean, "initial_trust": post @ np.asarray(nodes)}
        for level in levels:
            q = np.minimum((cdf < level).sum(axis=1), post.shape[1] - 1)   # first node with cdf >= level
            out[f"q{level:g}"] = np.take_along_axis(path, q[:, None, None], axis=2)[:, :, 0]
        return out


def simulate_path(alpha0, fidelity, feedback, eta_up, eta_down):
    """Trust path for arrays (S, T) in numpy: trust at each decision, shape (S, T)."""
    alpha = np.array(alpha0, float)
    out = np.empty(fidelity.shape)
    for t in range(fidelity.shape[1]):
        out[:, t] = alpha
        f = fidelity[:, t]
        eta = np.where(f >= alpha, eta_up, eta_down)
        alpha = np.where(feedback[:, t], alpha + eta * (f - alpha), alpha)
    return out
