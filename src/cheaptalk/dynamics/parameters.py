"""Parameters of the dynamic trust model: names, descriptions, the unconstrained scale the
optimizer works on, and the initial-trust quadrature nodes.

Plain numpy, so that the compiled likelihood passes (and Spark's Python workers, which run
them) need not import JAX; :mod:`cheaptalk.dynamics.model` re-exports all of it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ADOPTION_KINDS", "PARAMETER_NAMES", "DESCRIPTIONS", "DEFAULT_NODES", "to_natural",
           "to_unconstrained", "natural_jacobian", "initial_trust_nodes", "TRANSFORMS"]

ADOPTION_KINDS = ("continuous", "binary")
DEFAULT_NODES = 20

PARAMETER_NAMES = {
    "continuous": ("eta_up", "eta_down", "initial_trust_mean", "initial_trust_concentration",
                   "sd_action"),
    "binary": ("eta_up", "eta_down", "initial_trust_mean", "initial_trust_concentration",
               "follow_slope"),
}

DESCRIPTIONS = {
    "eta_up": "rate at which trust moves up towards a fidelity above it",
    "eta_down": "rate at which trust moves down towards a fidelity below it",
    "initial_trust_mean": "mean of the Beta distribution of initial trust across sellers",
    "initial_trust_concentration": "a + b of the Beta distribution of initial trust",
    "sd_action": "sd of the normal error of the continuous action",
    "follow_slope": "slope of logit P(follow) on logit(trust)",
}

# transforms: 'logit' maps (0, 1), 'log' maps (0, inf) to the real line
_TRANSFORMS = {"eta_up": "logit", "eta_down": "logit", "initial_trust_mean": "logit",
               "initial_trust_concentration": "log", "sd_action": "log", "follow_slope": "log"}


TRANSFORMS = _TRANSFORMS


def to_natural(u, kind: str) -> dict:
    """Unconstrained vector -> {name: value} (numpy)."""
    u = np.asarray(u, float)
    out = {}
    for name, v in zip(PARAMETER_NAMES[kind], u):
        out[name] = float(1 / (1 + np.exp(-v))) if _TRANSFORMS[name] == "logit" else float(np.exp(v))
    return out


def to_unconstrained(params: dict, kind: str) -> np.ndarray:
    out = []
    for name in PARAMETER_NAMES[kind]:
        v = float(params[name])
        out.append(np.log(v / (1 - v)) if _TRANSFORMS[name] == "logit" else np.log(v))
    return np.array(out)


def natural_jacobian(u, kind: str) -> np.ndarray:
    """Diagonal of d natural / d u (for delta-method standard errors)."""
    u = np.asarray(u, float)
    d = []
    for name, v in zip(PARAMETER_NAMES[kind], u):
        if _TRANSFORMS[name] == "logit":
            p = 1 / (1 + np.exp(-v))
            d.append(p * (1 - p))
        else:
            d.append(np.exp(v))
    return np.array(d)


def initial_trust_nodes(n: int = DEFAULT_NODES):
    """Gauss-Legendre nodes mapped to (0, 1) and their log weights."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) / 2, np.log(w / 2)
