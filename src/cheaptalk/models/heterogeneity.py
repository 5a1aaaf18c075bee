"""Heterogeneous trust and trustworthiness: the zero-one-inflated Beta (ZOIB) on fixed nodes.

A subject's trust ``alpha`` (or trustworthiness ``beta``) is drawn once from

    P(x = 0)              = p0                              (``<attr>_at_0``)
    P(x = 1)              = (1 - p0) p1                     (``<attr>_at_1`` = P(x = 1 | x > 0))
    x | 0 < x < 1         ~ Beta(mean * kappa, (1 - mean) * kappa)
                                                            (``<attr>_mean``, ``<attr>_concentration``)

The Beta part is discretized on fixed Gauss-Legendre nodes ``x_1..x_n`` in (0, 1), with
weights proportional to the Beta density times the node's quadrature weight,

    w_j = (1 - p0)(1 - p1) * f_Beta(x_j) q_j / sum_k f_Beta(x_k) q_k,

so the type grid ``(0, x_1, ..., x_n, 1)`` does not depend on the parameters and every
type-conditional prediction can be computed once, outside the likelihood. Only the type
weights move with the parameters; :func:`zoib_log_weights` computes them in ``jax.numpy``
so gradients are exact.

The normalizing constant of the Beta density cancels in the ratio, so only the kernel
``x^(a-1) (1-x)^(b-1)`` is evaluated.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from .._jax import jax, jnp
from .base import Option, Parameter

__all__ = ["TRUST_OPTIONS", "DEFAULT_INTERIOR_NODES", "zoib_nodes", "zoib_log_weights", "zoib_weights",
           "zoib_parameters", "zoib_parameter_names", "zoib_log_weights_from", "sample_types"]

DEFAULT_INTERIOR_NODES = 12

# the options of the trust model, in every game
TRUST_OPTIONS = [
    Option("convex", False, "bool", "convex lying cost: adds lying_cost_exponent gamma >= 1"),
    Option("n_nodes", DEFAULT_INTERIOR_NODES, "int",
           "interior quadrature nodes of the trust and trustworthiness distributions", minimum=1,
           maximum=200)]

# Probabilities are floored at this value inside logs: a point mass set exactly to 0 gets
# log weight log(1e-12) instead of -inf, which keeps gradients finite (and correct to
# within 1e-12) when an estimate sits on the bound 0 or 1.
_FLOOR = 1e-12


def _gauss_legendre_unit(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on (0, 1)."""
    if n < 1:
        raise ModelError(f"the Beta part needs at least 1 interior node, got {n}")
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1.0) / 2.0, w / 2.0


def zoib_nodes(n_interior: int = DEFAULT_INTERIOR_NODES) -> np.ndarray:
    """The fixed type values ``(0, x_1, ..., x_n, 1)``, ``n = n_interior`` Gauss-Legendre nodes."""
    x, _ = _gauss_legendre_unit(n_interior)
    return np.concatenate([[0.0], x, [1.0]])


def _safe_log(p):
    return jnp.log(_FLOOR + (1.0 - 2.0 * _FLOOR) * p)


def zoib_log_weights(at_0, at_1, mean, concentration, n_interior: int = DEFAULT_INTERIOR_NODES):
    """Log probabilities of the nodes :func:`zoib_nodes` (``jax.numpy``, differentiable).

    ``at_0`` = P(x = 0), ``at_1`` = P(x = 1 | x > 0), ``mean`` and ``concentration`` (a + b)
    of the Beta part. Returns an array of length ``n_interior + 2`` that sums to one after
    exponentiation (up to the 1e-12 floor on point masses).
    """
    x, q = _gauss_legendre_unit(n_interior)
    a = mean * concentration
    b = (1.0 - mean) * concentration
    kernel = (a - 1.0) * jnp.log(x) + (b - 1.0) * jnp.log1p(-x) + jnp.log(q)
    interior = kernel - jax.scipy.special.logsumexp(kernel)
    log_zero = _safe_log(at_0)
    log_pos = _safe_log(1.0 - at_0)
    log_one = log_pos + _safe_log(at_1)
    log_beta = log_pos + _safe_log(1.0 - at_1)
    return jnp.concatenate([jnp.atleast_1d(log_zero), log_beta + interior, jnp.atleast_1d(log_one)])


def zoib_weights(at_0, at_1, mean, concentration, n_interior: int = DEFAULT_INTERIOR_NODES) -> np.ndarray:
    """:func:`zoib_log_weights` exponentiated and renormalized, as a numpy array (for simulation)."""
    w = np.exp(np.asarray(zoib_log_weights(at_0, at_1, mean, concentration, n_interior), float))
    return w / w.sum()


def zoib_parameter_names(attribute: str) -> list[str]:
    """``[<attribute>_at_0, <attribute>_at_1, <attribute>_mean, <attribute>_concentration]``."""
    return [f"{attribute}_at_0", f"{attribute}_at_1", f"{attribute}_mean", f"{attribute}_concentration"]


def zoib_parameters(attribute: str, *, at_0: float = 0.1, at_1: float = 0.1, mean: float = 0.5,
                    concentration: float = 2.0) -> list[Parameter]:
    """The four parameters of a ZOIB distribution of ``attribute`` (``trust`` or
    ``trustworthiness``), with shared bounds and descriptions so every model names them alike.

    The Beta mean is kept inside [0.005, 0.995] and the concentration inside [0.2, 500]:
    beyond these the interior nodes cannot resolve the density and the mass at the
    end points is already modelled by ``_at_0`` and ``_at_1``.
    """
    n0, n1, nm, nc = zoib_parameter_names(attribute)
    return [
        Parameter(n0, at_0, 0.0, 1.0, f"P({attribute} = 0): share with no {attribute} at all"),
        Parameter(n1, at_1, 0.0, 1.0, f"P({attribute} = 1 | {attribute} > 0): share with full {attribute} "
                                      f"among the rest"),
        Parameter(nm, mean, 0.005, 0.995, f"mean of {attribute} strictly between 0 and 1 (Beta part)"),
        Parameter(nc, concentration, 0.2, 500.0, f"concentration a + b of the Beta part of {attribute} "
                                                 f"(larger = less dispersed)"),
    ]


def zoib_log_weights_from(values, attribute: str, n_interior: int = DEFAULT_INTERIOR_NODES):
    """:func:`zoib_log_weights` reading the four parameters from a mapping ``values``
    (a dict of floats or of traced jax scalars) by their conventional names."""
    n0, n1, nm, nc = zoib_parameter_names(attribute)
    return zoib_log_weights(values[n0], values[n1], values[nm], values[nc], n_interior)


def sample_types(rng: np.random.Generator, weights, size: int) -> np.ndarray:
    """Draw ``size`` type indices with probabilities ``weights`` (numpy), e.g. one per subject."""
    w = np.asarray(weights, float)
    return rng.choice(len(w), size=size, p=w / w.sum())
