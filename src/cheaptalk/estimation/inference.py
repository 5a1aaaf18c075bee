"""Inference shared by every fit of the toolkit: covariances, the delta method, diagnostics.

Plain numpy (no JAX), so that the static fits, the trust-over-time fits and any reader of a
saved result use one implementation.

**Cluster-robust covariance (the sandwich).** With ``H`` the Hessian of the total
log-likelihood at the estimate and ``s_g`` the score of cluster ``g`` (a subject of a lab
panel, a seller of a log),

    V = G / (G - 1) * H^-1 B H^-1,    B = sum_g w_g s_g s_g',

``G`` the number of clusters (of positive weight ``w_g``, for weighted fits). The factor
``G / (G - 1)`` is the usual small-sample correction. The model-based covariance is
``(-H)^-1``; with few clusters (below :data:`FEW_CLUSTERS`) the sandwich rests on too few
independent units and tends to be too small, and both are reported.

**Flat directions.** ``-H`` is decomposed in coordinates where the parameters have
comparable units (``scale``: each parameter's range, or 1); eigenvalues below
:data:`FLAT_TOL` times the largest are directions in which the likelihood is flat. The
inverse is taken over the other directions only (a pseudo-inverse), and parameters that
load on a flat direction (absolute loading above 0.3) get no standard error: the data do not
identify them.

**Intervals inside the range.** A bounded parameter's Wald interval is formed where the
parameter is unbounded and mapped back (:func:`wald_intervals`): with bounds ``(l, u)``,
``psi = logit((theta - l) / (u - l))``; with a lower bound only, ``psi = log(theta - l)``;
``se(psi) = se(theta) |d psi / d theta|`` (the delta method) and the interval
``g^-1(psi -/+ z se(psi))``. It lies inside the bounds, contains the estimate and, for a
parameter far from its bounds, equals ``theta -/+ z se``. Nothing is clipped.

**Delta method.** For reported parameters ``psi = g(theta)``, ``Var(psi) = J V J'`` with
``J = d psi / d theta`` (a vector: the diagonal of an element-wise transformation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FLAT_TOL", "FEW_CLUSTERS", "Covariance", "cluster_robust", "score_outer_products",
           "delta_method", "standard_errors", "parameters_at_bounds", "few_clusters_warning",
           "flat_warning", "not_concave", "wald_intervals", "profile_end"]

FLAT_TOL = 1e-7       # Hessian eigenvalue relative to the largest, in comparable units
FEW_CLUSTERS = 30     # below this, model-based standard errors are reported beside the sandwich
FLAT_LOADING = 0.3    # a parameter "loads on" a flat direction above this absolute loading


@dataclass
class Covariance:
    """The outcome of :func:`cluster_robust` (all matrices in the parameters' own units)."""
    robust: np.ndarray                 # the sandwich
    model_based: np.ndarray            # (-H)^-1 over the well-determined directions
    eigenvalues: np.ndarray            # of -H in the comparable units, ascending
    flat: list = field(default_factory=list)   # names of parameters loading on a flat direction
    n_clusters: int = 0

    @property
    def few_clusters(self) -> bool:
        return 0 < self.n_clusters < FEW_CLUSTERS


def score_outer_products(scores, weights=None) -> np.ndarray:
    """``B = sum_g w_g s_g s_g'`` from the cluster scores (G, P)."""
    S = np.asarray(scores, float)
    w = np.ones(len(S)) if weights is None else np.asarray(weights, float)
    return S.T @ (S * w[:, None])


def cluster_robust(hessian, meat, n_clusters: int, names=None, scale=None,
                   flat_tol: float = FLAT_TOL) -> Covariance:
    """The sandwich and the model-based covariance from the Hessian of the total
    log-likelihood and ``meat = sum_g w_g s_g s_g'`` (:func:`score_outer_products`).

    ``scale``: each parameter's typical size (its range for bounded parameters), so that
    "flat" does not depend on units; ``names`` label the flat parameters. Matrices of
    parameters loading on a flat direction are NaN in their rows and columns.
    """
    H = np.asarray(hessian, float)
    P = H.shape[0]
    names = list(names) if names is not None else [str(i) for i in range(P)]
    s = np.ones(P) if scale is None else np.asarray(scale, float)
    info = -0.5 * (H + H.T)
    eig, vec = np.linalg.eigh(info * np.outer(s, s))
    top = max(float(np.max(np.abs(eig))), 1e-300) if P else 1.0
    flat_dir = eig <= flat_tol * top
    keep = ~flat_dir
    flat = []
    if flat_dir.any():
        loading = np.abs(vec[:, flat_dir]).max(axis=1)
        flat = [names[i] for i in np.flatnonzero(loading > FLAT_LOADING)]
    inv = ((vec[:, keep] / eig[keep]) @ vec[:, keep].T) * np.outer(s, s)
    G = int(n_clusters)
    robust = inv @ np.asarray(meat, float) @ inv * (G / (G - 1) if G > 1 else np.nan)
    for name in flat:
        j = names.index(name)
        robust[j, :] = robust[:, j] = np.nan
        inv[j, :] = inv[:, j] = np.nan
    return Covariance(robust=robust, model_based=inv, eigenvalues=eig, flat=flat, n_clusters=G)


def delta_method(cov, jacobian) -> np.ndarray:
    """``J V J'``; ``jacobian`` is a matrix, or a vector for an element-wise transformation."""
    J = np.asarray(jacobian, float)
    V = np.asarray(cov, float)
    return V * np.outer(J, J) if J.ndim == 1 else J @ V @ J.T


def standard_errors(cov) -> np.ndarray:
    """Square roots of the diagonal; NaN where it is negative or not finite."""
    d = np.diag(np.asarray(cov, float))
    ok = np.isfinite(d) & (d >= 0)
    return np.where(ok, np.sqrt(np.where(ok, d, 0.0)), np.nan)


def parameters_at_bounds(names, values, lower, upper, tol: float) -> dict:
    """``{name: "lower" | "upper"}`` for the parameters within ``tol`` of a bound (in the
    coordinates given: the optimizer's)."""
    values, lower, upper = (np.asarray(a, float) for a in (values, lower, upper))
    out = {}
    for name, v, lo, hi in zip(names, values, lower, upper):
        if v <= lo + tol:
            out[name] = "lower"
        elif v >= hi - tol:
            out[name] = "upper"
    return out


def not_concave(eigenvalues, flat_tol: float = FLAT_TOL) -> bool:
    """Whether ``-H`` has a clearly negative eigenvalue (a saddle, or not a maximum)."""
    eig = np.atleast_1d(np.asarray(eigenvalues, float))
    return bool(eig.size and np.min(eig) < -flat_tol * max(np.max(np.abs(eig)), 1e-300))


def flat_warning(flat) -> str:
    return ("the likelihood is flat (Hessian eigenvalue ~0) in a direction loading on "
            + ", ".join(flat) + "; these are not identified by the data")


def few_clusters_warning(n_clusters: int, unit: str, model_se: dict) -> str:
    """The warning given beside the sandwich when clusters are few."""
    G = n_clusters
    shown = ", ".join(f"{n} {v:.3g}" if v is not None and np.isfinite(v) else f"{n} n/a"
                      for n, v in model_se.items())
    return (f"only {G} {unit}{'s' if G != 1 else ''}: the {unit}-clustered standard errors rest on "
            f"{G} cluster{'s' if G != 1 else ''} and tend to be too small; model-based (inverse "
            f"Hessian) standard errors: {shown}")


def wald_intervals(estimates, se, lower=None, upper=None, level: float = 0.95) -> np.ndarray:
    """``(P, 2)`` Wald intervals formed on each parameter's unbounded scale (logit between
    two finite bounds, log above a lower or below an upper bound, the identity otherwise) and
    mapped back; NaN where there is no standard error or the estimate sits on a bound."""
    from scipy import stats

    est = np.asarray(estimates, float)
    s = np.asarray(se, float)
    P = est.size
    lo = np.full(P, -np.inf) if lower is None else np.asarray(lower, float)
    hi = np.full(P, np.inf) if upper is None else np.asarray(upper, float)
    z = stats.norm.ppf(0.5 + level / 2)
    out = np.full((P, 2), np.nan)
    for i in range(P):
        x, e, a, b = est[i], s[i], lo[i], hi[i]
        if not (np.isfinite(x) and np.isfinite(e) and e >= 0):
            continue
        if np.isfinite(a) and np.isfinite(b):
            p = (x - a) / (b - a)
            if not 0 < p < 1:
                continue
            psi, d = np.log(p / (1 - p)), e / ((b - a) * p * (1 - p))
            out[i] = a + (b - a) / (1 + np.exp(-(psi + np.array([-z, z]) * d)))
        elif np.isfinite(a):
            if not x > a:
                continue
            out[i] = a + np.exp(np.log(x - a) + np.array([-z, z]) * e / (x - a))
        elif np.isfinite(b):
            if not x < b:
                continue
            out[i] = b - np.exp(np.log(b - x) + np.array([z, -z]) * e / (b - x))
        else:
            out[i] = x + np.array([-z, z]) * e
    return out


def profile_end(drop, estimate: float, first: float, edge: float, xtol: float, steps: int = 12,
                maxiter: int = 40) -> tuple[float, bool]:
    """One end of a profile-likelihood interval: where ``drop(x)`` (the fall of the profile
    log-likelihood below the critical value, negative inside the interval) crosses zero on
    the side of ``first`` (a first guess, e.g. the Wald end). Steps out from ``estimate`` to
    ``first``, then doubling the distance, never past ``edge`` (the parameter's bound, or
    infinite), and finds the crossing by Brent's method between the last point inside and
    the first outside. Returns ``(end, False)``; ``(edge, True)`` when the profile does not
    fall that far before the edge; ``(nan, False)`` when ``steps`` doublings never left the
    interval."""
    from scipy.optimize import brentq

    upward = first > estimate
    inside, x = estimate, first
    for _ in range(steps):
        if np.isfinite(edge):
            x = min(x, edge) if upward else max(x, edge)
        if drop(x) >= 0:
            return float(brentq(drop, inside, x, xtol=xtol, maxiter=maxiter)), False
        inside = x
        if x == edge:
            return float(edge), True
        x = estimate + 2 * (x - estimate)
    return float("nan"), False
