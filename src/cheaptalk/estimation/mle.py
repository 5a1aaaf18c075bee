"""Maximum likelihood: exact gradients, bounds, several starts, honest diagnostics.

The optimizer is scipy's L-BFGS-B on the mean negative log-likelihood per decision, in
coordinates rescaled so that every bounded parameter runs over ``[0, 1]`` (a share and a
standard deviation of 20 then have comparable curvature), positive scale parameters such as
standard deviations in log coordinates (:class:`_Scaling`). Gradients are exact
(``jax.value_and_grad`` of the compiled likelihood, :mod:`.objective`).

Standard errors are cluster-robust by subject (the sandwich)::

    V = G / (G - 1) * H^-1 B H^-1,   B = sum_g s_g s_g',   s_g = d log L_g / d theta

with ``H`` the Hessian of the log-likelihood and ``s_g`` the score of subject ``g``. A
parameter at a bound gets no standard error (its sampling distribution is not normal) and
the covariance of the others is computed with it held fixed. Directions in which the
likelihood is flat (Hessian eigenvalues near zero) are reported, and the parameters that
load on them get no standard error either.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
from scipy import optimize
from threadpoolctl import ThreadpoolController

from . import inference
from .objective import Likelihood
from .fit_result import FitResult
from ..errors import EstimationError, EstimationWarning  # noqa: F401 (defined there, raised here)

__all__ = ["fit", "uniform_loglik", "same_maximum", "maximize", "standard_errors", "bootstrap", "EstimationWarning", "EstimationError", "WARM_FTOL",
           "starting_points"]


BOUND_TOL = 1e-6        # in the rescaled [0, 1] coordinates
WARM_FTOL = 1e-10       # refits warm-started at an estimate (folds, held-out treatments, bootstrap)
GRAD_TOL = 1e-4         # per-decision projected gradient (rescaled coordinates) for convergence
STRICT_FTOL = 1e-13     # L-BFGS-B's relative-reduction tolerance of a first fit


class _Scaling:
    """``theta = offset + scale * u``; bounded parameters map to ``u in [0, 1]``.

    With ``log_scale``, positive scale parameters (lower bound above 0, upper bound at least
    100 times the lower one and above 1: standard deviations, Beta concentrations; not
    proportions such as a Beta mean) run over ``[0, 1]`` in log coordinates instead,
    ``theta = lower * (upper / lower) ** u``. A likelihood changes with such a parameter
    in proportion to its size (an sd of 2 against 2.2 as much as 20 against 22), so equal
    steps in ``u`` are about equally informative wherever the estimate lies, and the
    optimizer needs fewer evaluations to reach the same maximum (figures in
    ``benchmarks/README.md``). With ``curvature`` (warm refits) every coordinate is linear, scaled to unit
    curvature.
    """

    def __init__(self, bounds, curvature=None, log_scale: bool = False):
        lo = np.array([b[0] for b in bounds], float)
        hi = np.array([b[1] for b in bounds], float)
        finite = np.isfinite(lo) & np.isfinite(hi)
        self.offset = np.where(finite, lo, 0.0)
        self.scale = np.where(finite, hi - lo, 1.0)
        self.log = np.zeros(len(lo), bool)
        if curvature is not None:
            # warm refits: unit curvature per decision in every coordinate (the diagonal of
            # the information matrix at the full-sample estimate), which saves iterations
            c = np.asarray(curvature, float)
            ok = np.isfinite(c) & (c > 0)
            self.scale = np.where(ok, 1.0 / np.sqrt(np.where(ok, c, 1.0)), self.scale)
        elif log_scale:
            self.log = finite & (lo > 0) & (hi >= 100 * lo) & (hi > 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.log_width = np.where(self.log, np.log(hi / lo), 1.0)       # log(upper / lower)
        self.u_bounds = [((l - o) / s if np.isfinite(l) else None, (h - o) / s if np.isfinite(h) else None)
                         for l, h, o, s in zip(lo, hi, self.offset, self.scale)]
        self.u_bounds = [(0.0, 1.0) if log else b for log, b in zip(self.log, self.u_bounds)]
        self.lo, self.hi = lo, hi

    def theta(self, u):
        # clipped: offset + scale * u can overshoot a bound by a rounding error
        u = np.asarray(u, float)
        linear = self.offset + self.scale * u
        if self.log.any():
            linear = np.where(self.log, self.lo * np.exp(np.where(self.log, u, 0.0) * self.log_width), linear)
        return np.clip(linear, self.lo, self.hi)

    def u(self, theta):
        theta = np.asarray(theta, float)
        linear = (theta - self.offset) / self.scale
        if self.log.any():
            ratio = np.where(self.log, theta / np.where(self.log, self.lo, 1.0), 1.0)
            linear = np.where(self.log, np.log(np.maximum(ratio, 1.0)) / self.log_width, linear)
        return linear

    def dtheta_du(self, u):
        """Diagonal Jacobian of :meth:`theta`: turns a gradient in ``theta`` into one in ``u``."""
        return np.where(self.log, self.theta(u) * self.log_width, self.scale)

    def at_bound(self, theta, tol=BOUND_TOL):
        u = self.u(theta)
        lo = np.array([b[0] if b[0] is not None else -np.inf for b in self.u_bounds])
        hi = np.array([b[1] if b[1] is not None else np.inf for b in self.u_bounds])
        return (u <= lo + tol) | (u >= hi - tol), np.where(u <= lo + tol, "lower", np.where(u >= hi - tol, "upper", ""))


_blas_controller = None       # finding the BLAS libraries takes ~30 ms: once per process
_blas_state = threading.local()


@contextmanager
def _single_threaded_blas():
    """Run the optimizer's linear algebra on one BLAS thread.

    L-BFGS-B factors small (at most 2 x maxcor) matrices at every iteration through
    LAPACK; a multi-threaded BLAS wakes its worker threads for each of these tiny calls,
    which cost milliseconds per iteration on a 2-core machine that is also evaluating the
    likelihood (more than the likelihood itself for the trust model), against microseconds
    on one thread. Each thread that fits (models are fitted in parallel threads) sets the
    limit itself, because a setting made in one thread does not reliably reach another
    (OpenBLAS keeps a thread's own setting once it has made one), and restores the previous
    setting when its outermost fit ends.
    """
    global _blas_controller
    depth = getattr(_blas_state, "depth", 0)
    if depth == 0:
        if _blas_controller is None:
            _blas_controller = ThreadpoolController()
        _blas_state.limits = _blas_controller.limit(limits=1, user_api="blas")
    _blas_state.depth = depth + 1
    try:
        yield
    finally:
        _blas_state.depth -= 1
        if _blas_state.depth == 0:
            _blas_state.limits.restore_original_limits()
            _blas_state.limits = None


def starting_points(model, n: int, seed: int = 0, start: dict | None = None) -> list[np.ndarray]:
    """The model's defaults (or ``start``) first, then points drawn uniformly in the middle
    90% of each parameter's bounds (seeded), so different runs are reproducible."""
    scaling = _Scaling(model.bounds())
    first = model.to_vector(start)
    u0 = np.clip(scaling.u(first), 0.02, 0.98)
    u0 = np.where(np.isfinite(scaling.lo) & np.isfinite(scaling.hi), u0, scaling.u(first))
    points = [scaling.theta(u0)]
    rng = np.random.default_rng(seed)
    for _ in range(max(0, n - 1)):
        u = rng.uniform(0.05, 0.95, size=len(first))
        theta = np.where(np.isfinite(scaling.lo) & np.isfinite(scaling.hi), scaling.theta(u),
                         first + rng.normal(0.0, 1.0, size=len(first)))
        points.append(theta)
    return points


def maximize(lik: Likelihood, theta0, weights=None, masks=None, maxiter: int = 2000,
             ftol: float = STRICT_FTOL, restarts: int = 5, curvature=None, fixed: dict | None = None) -> dict:
    """One L-BFGS-B run from ``theta0``; returns theta, loglik, convergence information.

    ``ftol`` is L-BFGS-B's relative-reduction tolerance on the mean log-likelihood per
    decision; refits warm-started at an estimate (cross-validation folds, held-out
    treatments, bootstrap) use a looser one (1e-10: the log-likelihood to ~1e-8 relative).
    ``restarts``: how often to restart after a failed line search. ``curvature``: diagonal
    of the information per decision at a previous estimate, to rescale the coordinates.
    ``fixed``: ``{index: value}`` of parameters held at a value (a profile likelihood).
    """
    scaling = _Scaling(lik.model.bounds(), curvature, log_scale=True)
    theta0 = np.array(theta0, float)
    held = np.zeros(len(theta0), bool)
    for j, value in (fixed or {}).items():
        theta0[j] = value
        held[j] = True
    if held.any():
        u_fixed = scaling.u(theta0)
        scaling.u_bounds = [(float(u_fixed[j]), float(u_fixed[j])) if held[j] else b
                            for j, b in enumerate(scaling.u_bounds)]
    n = max(lik.n_used(lik.unit_weights() if weights is None else weights,
                       lik.full_masks() if masks is None else masks), 1.0)
    evals = {"n": 0}
    last = {}

    def objective(u):
        evals["n"] += 1
        theta = scaling.theta(u)
        v, g = lik.loglik_and_grad(theta, weights, masks)
        last.update(theta=theta, v=v, g=g)
        if not (np.isfinite(v) and np.all(np.isfinite(g))):
            return 1e20, np.zeros_like(u)
        return -v / n, -g * scaling.dtheta_du(u) / n

    u0 = scaling.u(theta0)
    if held.any():
        u0 = np.where(held, [b[0] if b[0] is not None else 0.0 for b in scaling.u_bounds], u0)
    # 40 correction pairs: with the 3-15 parameters of these models the quasi-Newton memory
    # then spans most of a run, close to full BFGS, at no cost worth counting, and saves
    # likelihood evaluations (benchmarks/README.md)
    options = {"maxiter": maxiter, "ftol": ftol, "gtol": 1e-9, "maxcor": 40}
    with _single_threaded_blas():
        res = optimize.minimize(objective, u0, jac=True, method="L-BFGS-B", bounds=scaling.u_bounds,
                                options=options)
        # A failed line search ("ABNORMAL") usually means the quasi-Newton memory is stale
        # (likelihoods tabulated on grids have small kinks); restarting from the point reached
        # with a fresh memory often finishes the job. Keep going while it still improves.
        for _ in range(restarts):
            if res.status != 2 or res.nit >= maxiter:
                break
            again = optimize.minimize(objective, res.x, jac=True, method="L-BFGS-B", bounds=scaling.u_bounds,
                                      options=options)
            improved = again.fun < res.fun - 1e-12 * max(1.0, abs(res.fun))
            again.nit += res.nit
            res = again
            if not improved:
                break

    def final_point(res):
        theta = scaling.theta(res.x)
        if "theta" in last and np.array_equal(last["theta"], theta):
            v, g = last["v"], last["g"]          # the optimizer ends at the point it evaluated last
        else:
            v, g = lik.loglik_and_grad(theta, weights, masks)
        # projected gradient in the linear coordinates (bounds mapped to [0, 1], or unit
        # curvature for warm refits), whatever coordinates the optimizer used: components
        # pushing against an active bound do not count
        gu = g * _Scaling(lik.model.bounds(), curvature).scale / n
        at, side = _Scaling(lik.model.bounds()).at_bound(theta)
        projected = np.where((side == "lower") & (gu <= 0) | (side == "upper") & (gu >= 0) | held, 0.0, gu)
        return theta, v, g, float(np.max(np.abs(projected))) if projected.size else 0.0

    theta, v, g, grad_norm = final_point(res)
    if res.status == 0 and grad_norm >= GRAD_TOL and ftol > STRICT_FTOL:
        # a loose relative-reduction tolerance (warm refits) stopped on a flat stretch while
        # the gradient is still too large to call it converged: continue at the strict one
        with _single_threaded_blas():
            again = optimize.minimize(objective, res.x, jac=True, method="L-BFGS-B",
                                      bounds=scaling.u_bounds, options={**options, "ftol": STRICT_FTOL})
        again.nit += res.nit
        res = again
        theta, v, g, grad_norm = final_point(res)
    converged = bool(np.isfinite(v) and grad_norm < GRAD_TOL and res.status in (0,))
    return {"theta": theta, "loglik": float(v), "grad_norm": grad_norm, "converged": converged,
            "message": str(res.message), "iterations": int(res.nit), "evaluations": evals["n"],
            "gradient": g}


def _covariance(H, scores, free, scaling, names, G, weights=None):
    """The covariances of the free parameters (:func:`.inference.cluster_robust`), embedded
    in full matrices with NaN for the parameters held fixed at a bound."""
    P = len(free)
    cov = np.full((P, P), np.nan)
    cov_model = np.full((P, P), np.nan)
    if not free.any():
        return cov, cov_model, [], np.array([])
    sub = np.ix_(free, free)
    c = inference.cluster_robust(H[sub], inference.score_outer_products(scores[:, free], weights), G,
                                 names=[n for n, f in zip(names, free) if f], scale=scaling.scale[free])
    cov[sub], cov_model[sub] = c.robust, c.model_based
    return cov, cov_model, c.flat, c.eigenvalues


def _curvature(H, n_obs):
    """Diagonal of the information per decision (NaN where a parameter was held fixed)."""
    return -np.diag(np.asarray(H, float)) / max(n_obs, 1)


def standard_errors(lik: Likelihood, theta, check_smoothness: bool = True, weights=None) -> dict:
    """Cluster-robust (by subject) and model-based covariance with bound and flatness checks.

    The Hessian and scores are differences of the exact gradient; they are computed with two
    steps (``lik.step`` and ten times it, relative to each parameter's scale, see
    :meth:`Likelihood._steps`). For a smooth likelihood both agree to many digits (the
    difference shrinks with the square of the step); if the standard errors differ by more
    than 10% the likelihood is not smooth at the estimate (a kink or jump, e.g. from a
    tabulated best response), ``smooth`` is False and ``smoothness_parameter`` names the
    parameter whose standard error moved most. Parameters at a bound are held fixed and do
    not enter the check.
    ``weights`` (subject weights of a weighted fit, e.g. one group of subjects): the sandwich
    of that fit, with ``G`` the number of subjects of positive weight.
    """
    names = lik.model.param_names
    scaling = _Scaling(lik.model.bounds())
    at, side = scaling.at_bound(theta)
    free = ~at
    H, scores = lik.derivatives(theta, free, weights)
    if not np.all(np.isfinite(H[np.ix_(free, free)])) or not np.all(np.isfinite(scores[:, free])):
        raise FloatingPointError(f"{lik.model.name}: the Hessian or the subject scores are not finite at the estimate")
    G = lik.n_clusters if weights is None else int(np.sum(np.asarray(weights) > 0))
    cov, cov_model, flat, eig = _covariance(H, scores, free, scaling, names, G, weights)
    se = inference.standard_errors(cov)
    smooth, discrepancy, worst = True, 0.0, None
    if check_smoothness and free.any():
        saved = lik.step
        try:
            lik.step = saved * 10
            H2, scores2 = lik.derivatives(theta, free, weights)
        finally:
            lik.step = saved
        if np.all(np.isfinite(H2[np.ix_(free, free)])):
            cov2, _, flat2, _ = _covariance(H2, scores2, free, scaling, names, G, weights)
            se2 = inference.standard_errors(cov2)
            both = np.isfinite(se) & np.isfinite(se2)
            if both.any():
                change = np.where(both, np.abs(se2 / np.where(both, se, 1.0) - 1.0), -1.0)
                worst = names[int(np.argmax(change))]
                discrepancy = float(np.max(change))
            smooth = discrepancy <= 0.1 and set(flat) == set(flat2)
            if set(flat) != set(flat2) and discrepancy <= 0.1:
                worst = sorted(set(flat) ^ set(flat2))[0]
    return {"cov": cov, "cov_model": cov_model, "se": se, "se_model": inference.standard_errors(cov_model),
            "at_bound": {n: s for n, a, s in zip(names, at, side) if a},
            "flat": flat, "hessian_eigenvalues": eig, "hessian": H, "smooth": smooth,
            "smoothness_discrepancy": discrepancy, "smoothness_parameter": worst}


def bootstrap(lik: Likelihood, theta_hat, replications: int, seed: int = 0, progress: bool = True,
              curvature=None) -> dict:
    """Bootstrap by subject: resample subjects with replacement (weights = times drawn) and
    refit from the estimate. Returns the draws, their standard deviations and 95% percentile
    intervals, and how many refits did not converge."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    G = lik.n_clusters
    draws, failed = [], 0
    bar = tqdm(range(replications), desc=f"bootstrap {lik.model.name}", unit="rep", file=sys.stderr,
               disable=not progress, leave=False)
    for _ in bar:
        weights = np.bincount(rng.integers(0, G, size=G), minlength=G).astype(float)
        run = maximize(lik, theta_hat, weights=weights, ftol=WARM_FTOL, restarts=1, curvature=curvature)
        failed += not run["converged"]
        draws.append(run["theta"])
    draws = np.asarray(draws)
    return {"draws": draws, "se": draws.std(axis=0, ddof=1) if len(draws) > 1 else np.full(draws.shape[1], np.nan),
            "ci": np.percentile(draws, [2.5, 97.5], axis=0).T, "not_converged": failed,
            "replications": replications}


def profile_intervals(lik: Likelihood, result, level: float = 0.95, progress: bool = False) -> dict:
    """Profile-likelihood intervals of every parameter with a standard error.

    The interval of ``theta_j`` is ``{x : 2 (log L(theta_hat) - max_{theta_-j} log L(x, theta_-j))
    <= chi2_1(level)}``: the parameter held at ``x``, the others re-maximized (warm-started
    at the previous point of the profile). Each end is found by stepping outward from the
    estimate (first to the Wald end, then doubling the distance, never past the bound) until the profile has dropped by the critical value, then by Brent's method
    between the last point inside and the first outside. An end that the profile does not
    reach before the parameter's bound is that bound (``open_at``). Parameters at a bound or
    not identified get no interval. Returns ``{"intervals": (P, 2), "open_at": {name:
    side}, "evaluations": n}``.
    """
    from scipy import stats as _stats

    names = lik.model.param_names
    theta_hat = np.asarray(result.theta, float)
    crit = float(_stats.chi2.ppf(level, 1)) / 2
    wald = result.ci(level)
    bounds = np.array(lik.model.bounds(), float)
    out = np.full((len(names), 2), np.nan)
    open_at, evaluations = {}, 0
    missing = result.not_identified()
    for j, name in enumerate(names):
        if name in missing or name in result.at_bound or not np.isfinite(result.se[j]):
            continue
        for side in (0, 1):
            start = {"theta": theta_hat}

            def drop(x):
                nonlocal evaluations
                evaluations += 1
                run = maximize(lik, start["theta"], ftol=WARM_FTOL, restarts=1, fixed={j: x})
                start["theta"] = run["theta"]
                return result.loglik - run["loglik"] - crit

            first = wald[j, side]
            if not np.isfinite(first):
                first = theta_hat[j] + (1 if side else -1) * 2 * result.se[j]
            out[j, side], opened = inference.profile_end(drop, theta_hat[j], first, bounds[j, side],
                                                         xtol=1e-6 * max(1.0, abs(theta_hat[j])))
            if opened:
                open_at[name] = " and ".join(filter(None, [open_at.get(name), "upper" if side else "lower"]))
        if progress:
            print(f"  profile of {name}: [{out[j, 0]:.4g}, {out[j, 1]:.4g}]", file=sys.stderr)
    return {"intervals": out, "open_at": open_at, "evaluations": evaluations, "level": level}


def uniform_loglik(lik: Likelihood) -> float | None:
    """The log-likelihood of choosing every option with equal probability (finite games:
    ``-sum_d log K_d``, ``K_d`` the messages or actions open to decision ``d``); None for a
    continuous choice."""
    model = lik.model
    if getattr(model, "game_kind", "") != "finite":
        return None
    total = 0.0
    for role in lik.roles:
        for treatment, count in zip(*np.unique(lik.decision_treatment[role], return_counts=True)):
            g = model.game.game(treatment if treatment in model.game.treatments else None)
            options = g.n_messages if role == "sender" else g.n_actions
            total -= count * np.log(options)
    return float(total)


SAME_MAXIMUM = 0.05   # log-likelihood points (plus 1e-7 relative) within which two starts agree


def same_maximum(a: float, b: float) -> bool:
    """Two runs reached the same maximum: well below differences that could change a
    ranking (a CV difference of 1e-3 per decision is ~10 points on 10,000 decisions), well
    above the optimizer's tolerance."""
    return abs(a - b) < SAME_MAXIMUM + 1e-7 * max(abs(a), abs(b))


def _two_agree(runs) -> bool:
    """Whether two finite runs reached the same best log-likelihood."""
    values = sorted((r["loglik"] for r in runs if np.isfinite(r["loglik"])), reverse=True)
    return len(values) >= 2 and same_maximum(values[0], values[1])


INTERVALS = ("wald", "profile")


def fit(model, data=None, *, likelihood: Likelihood | None = None, starts: int = 3, seed: int = 0,
        start: dict | None = None, bootstrap_replications: int = 0, progress: bool = False,
        warn: bool = True, maxiter: int = 2000, until_agree: bool = False, intervals: str = "wald") -> FitResult:
    """Fit ``model`` to clean long-format ``data`` by maximum likelihood.

    ``starts``: number of starting points (defaults first, then seeded random points).
    ``until_agree``: stop as soon as two starts reach the same maximum (at least two starts,
    at most ``starts``); when they disagree, the remaining starts run and the best is kept
    (``compare`` fits this way: a model is not ranked on a local optimum, at the cost of
    one extra start where the starts agree).
    ``bootstrap_replications``: if positive, also bootstrap by subject (tqdm progress bar on
    stderr when ``progress``). ``intervals``: ``"wald"`` (on each parameter's unbounded
    scale) or ``"profile"`` (profile likelihood, :func:`profile_intervals`). Diagnostics (non-convergence, parameters at bounds, flat
    directions) are issued as :class:`EstimationWarning` when ``warn`` and always stored in
    the result's ``warnings``.
    """
    if intervals not in INTERVALS:
        raise ValueError(f"intervals must be one of {', '.join(INTERVALS)}, got {intervals!r}")
    t0 = time.perf_counter()
    lik = likelihood or Likelihood(model, data)
    runs = []
    for theta0 in starting_points(model, starts, seed=seed, start=start):
        try:
            v0, why = lik.loglik(theta0), "log-likelihood not finite at the starting point"
        except (FloatingPointError, ValueError) as exc:
            v0, why = np.nan, f"the log-likelihood cannot be computed: {exc}"
        if not np.isfinite(v0):
            runs.append({"theta": theta0, "loglik": -np.inf, "converged": False, "grad_norm": np.inf,
                         "message": why, "iterations": 0, "evaluations": 1})
            continue
        runs.append(maximize(lik, theta0, maxiter=maxiter))
        if progress:
            print(f"  {model.name}: start {len(runs)}/{starts} log-likelihood {runs[-1]['loglik']:.3f}",
                  file=sys.stderr)
        if until_agree and _two_agree(runs):
            break
    finite = [r for r in runs if np.isfinite(r["loglik"])]
    if not finite:
        reasons = sorted({r["message"] for r in runs})
        raise EstimationError(f"{model.name}: the log-likelihood is not finite at any of {starts} starting points "
                              f"({'; '.join(reasons)})")
    best = max(finite, key=lambda r: (r["converged"], r["loglik"]))
    # a non-converged run with a clearly better value is still reported as the best point found
    top = max(finite, key=lambda r: r["loglik"])
    if top["loglik"] > best["loglik"] + 1e-6:
        best = top
    theta = best["theta"]
    ses = standard_errors(lik, theta)
    messages = []
    if not best["converged"]:
        messages.append(f"did not converge: {best['message']} (projected gradient {best['grad_norm']:.2e})")
    for name, side in ses["at_bound"].items():
        messages.append(f"{name} is at its {side} bound; no standard error")
    if ses["flat"]:
        messages.append(inference.flat_warning(ses["flat"]))
    if not ses["smooth"]:
        if ses["smoothness_discrepancy"] > 0.1:
            change = (f"the standard error of {ses['smoothness_parameter']} changes by "
                      f"{100 * ses['smoothness_discrepancy']:.0f}% when the difference step grows tenfold")
        else:
            change = (f"whether {ses['smoothness_parameter']} loads on a flat direction depends on the "
                      "difference step")
        messages.append(f"the likelihood is not smooth at the estimate: {change}; treat the standard errors "
                        "(and the convergence check) with caution, or use the bootstrap")
    if inference.not_concave(ses["hessian_eigenvalues"]):
        messages.append("the Hessian is not negative definite at the estimate (saddle point or not a maximum)")
    uniform = uniform_loglik(lik)
    degenerate = None
    if uniform is not None and abs(best["loglik"] - uniform) <= 1e-6 * max(1.0, abs(uniform)):
        degenerate = "uniform choice"
        messages.append(f"degenerate fit: the model predicts uniform choice (its log-likelihood {best['loglik']:.2f} "
                        f"is that of choosing every option with equal probability); it explains nothing "
                        f"beyond chance in these data, and its parameters say nothing")
    reached = sum(same_maximum(r["loglik"], best["loglik"]) for r in finite)
    if len(runs) > 1 and reached < len(runs):
        others = ", ".join(f"{r['loglik']:.2f}" for r in runs if not same_maximum(r["loglik"], best["loglik"]))
        messages.append(f"{reached} of {len(runs)} starts reached the best log-likelihood (others: {others})")
    boot = None
    if bootstrap_replications > 0:
        boot = bootstrap(lik, theta, bootstrap_replications, seed=seed, progress=progress,
                         curvature=_curvature(ses["hessian"], lik.n_obs))
        if boot["not_converged"]:
            messages.append(f"{boot['not_converged']} of {bootstrap_replications} bootstrap refits did not converge")
    result = FitResult(model=model, likelihood=lik, theta=theta, loglik=best["loglik"], cov=ses["cov"],
                       se=ses["se"], se_model=ses["se_model"], at_bound=ses["at_bound"], flat=ses["flat"],
                       hessian_eigenvalues=ses["hessian_eigenvalues"], converged=bool(best["converged"]),
                       grad_norm=best["grad_norm"], message=best["message"], iterations=best["iterations"],
                       starts=[{"loglik": r["loglik"], "converged": r["converged"]} for r in runs],
                       warnings=messages, bootstrap=boot, seconds=time.perf_counter() - t0,
                       smooth=ses["smooth"], curvature=_curvature(ses["hessian"], lik.n_obs),
                       degenerate=degenerate)
    if intervals == "profile":
        result.profile = profile_intervals(lik, result, progress=progress)
        for name, side in result.profile["open_at"].items():
            result.warnings.append(f"the 95% profile-likelihood interval of {name} reaches its {side} bound "
                                   "(the data do not exclude it)")
        result.seconds = time.perf_counter() - t0
    if warn:
        for msg in result.warnings:
            warnings.warn(f"{model.name}: {msg}", EstimationWarning, stacklevel=2)
    return result
