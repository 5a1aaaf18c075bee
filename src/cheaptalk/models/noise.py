"""Response noise shared by every model, so that comparisons are fair (docs/models.md, section 4).

* Continuous choices (G1 report and capacity): each type's deterministic prediction plus
  normal error with a standard deviation per role, censored at the bounds of the choice
  space: an observation at a bound has the probability mass beyond it.
* Finite choices (G2): logit choice with a precision per role, on payoffs normalized to a
  unit range per role.

A truthful sender gets the same tremble whether she is a level-0 type or a trust type
with ``beta = 1``: both call the same function with the same ``sd``.
"""

from __future__ import annotations

import numpy as np

from .._jax import jax, jnp

__all__ = ["censored_normal_logpdf", "censored_uniform_normal_logpdf", "logit_logprob",
           "boundary_flags", "BOUND_TOL"]

BOUND_TOL = 1e-6
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def boundary_flags(x, low, high, tol: float = BOUND_TOL):
    """Which observations sit at the lower and upper bound (relative tolerance of the range)."""
    x = np.asarray(x, float)
    low = np.broadcast_to(np.asarray(low, float), x.shape)
    high = np.broadcast_to(np.asarray(high, float), x.shape)
    eps = tol * (high - low)
    return x <= low + eps, x >= high - eps


def censored_normal_logpdf(x, mu, sd, at_low, at_high, low, high):
    """Log density of ``x = clip(mu + sd * e, low, high)``, ``e ~ N(0, 1)``.

    ``x``, ``low`` and ``high`` are (N, 1); ``mu`` is (N, T). ``at_low``/``at_high`` are
    boolean numpy arrays (N,) saying which observations sit at a bound: that is data, known
    before the parameters, so the normal tail probabilities are computed only for those
    rows, which keeps the likelihood cheap.
    """
    z = (x - mu) / sd
    out = -0.5 * z ** 2 - _LOG_SQRT_2PI - jnp.log(sd)
    for rows, tail in ((np.flatnonzero(at_low), lambda r: (low[r] - mu[r]) / sd),
                       (np.flatnonzero(at_high), lambda r: (mu[r] - high[r]) / sd)):
        if rows.size:
            out = out.at[rows].set(jax.scipy.special.log_ndtr(tail(rows)))
    return out


def _integrated_ndtr(z):
    """``int_{-inf}^z Phi(t) dt = z Phi(z) + phi(z)``."""
    return z * jax.scipy.special.ndtr(z) + jnp.exp(-0.5 * z ** 2 - _LOG_SQRT_2PI)


def censored_uniform_normal_logpdf(x, left, right, sd, at_low, at_high, low, high):
    """Log density of ``clip(U + sd * e, low, high)`` with ``U ~ Uniform[left, right]``.

    This is how a type indifferent among all reports in ``[left, right]`` (the level-1
    sender of forecast sharing) reports under noise; ``right - left -> 0`` gives the
    censored normal.
    """
    width = jnp.maximum(right - left, 1e-9 * sd)
    ndtr = jax.scipy.special.ndtr
    # interior: (Phi((x-left)/sd) - Phi((x-right)/sd)) / width
    dens = (ndtr((x - left) / sd) - ndtr((x - right) / sd)) / width
    # mass at or below `low`: E_U Phi((low-U)/sd) = sd/width * [I((low-left)/sd) - I((low-right)/sd)]
    mass_low = sd / width * (_integrated_ndtr((low - left) / sd) - _integrated_ndtr((low - right) / sd))
    mass_high = sd / width * (_integrated_ndtr((right - high) / sd) - _integrated_ndtr((left - high) / sd))
    tiny = 1e-300
    return jnp.where(at_low, jnp.log(jnp.maximum(mass_low, tiny)),
                     jnp.where(at_high, jnp.log(jnp.maximum(mass_high, tiny)), jnp.log(jnp.maximum(dens, tiny))))


def logit_logprob(utility, precision, axis: int = -1):
    """Log choice probabilities ``log softmax(precision * utility)`` along ``axis``.

    Utilities must already be normalized to a unit range for their role.
    """
    return jax.nn.log_softmax(precision * utility, axis=axis)
