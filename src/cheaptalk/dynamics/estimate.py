"""Maximum likelihood for the dynamic trust model, with seller-clustered standard errors.

The engines sum, per pass over the logs, the log-likelihood, the score, the outer products
of per-seller scores and the exact Hessian (:mod:`cheaptalk.dynamics.kernels`). The
optimizer is Newton-Raphson on the unconstrained vector ``u`` (logit of the rates and the
mean, log of the concentration and the noise scale) inside a wide box; the box keeps it away
from numerically degenerate corners, a parameter ending on it is reported, and L-BFGS-B
(exact gradients) takes over if Newton's steps stall or reach the box.

Standard errors are the cluster-robust sandwich with sellers as clusters,
``V = G/(G-1) H^-1 (sum_i s_i s_i') H^-1`` with ``H`` the Hessian of the total
log-likelihood and ``s_i`` seller ``i``'s score, mapped to the reported scale by the delta
method. A seller's decisions are dependent through its trust path, so clustering by seller
is the natural unit.

At scale, Newton starts from the estimate on a sample of sellers (the first packed batches):
with quadratic convergence from there, three passes over all logs finish the fit. The
first computes only the value and the scores, and steps with the sample's Hessian scaled to
all sellers; the second has the exact Hessian; the last, at the estimate, also gives the
standard errors. When the last Newton
step is a small fraction of a standard error (total decrement ``g' (-H)^-1 g`` below
``FINAL_STEP_DECREMENT``), the pass at its end computes only the value and the scores; the
convergence test there and the sandwich use the Hessian of the pass before, whose change
over such a step is of the order of the step itself (relative 1e-5 or less at scale), far
below the sampling error of the standard errors. The diagnostics say when this was done.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..errors import LogsError, TrustFitError
from ..estimation import inference
from ..estimation.result import EstimationResult, json_number
from .engines import PassResult, evaluate_batches
from .model import TrustDynamics
from .parameters import (ByBaseName, PARAMETER_NAMES, RATE_NAMES, TRANSFORMS, natural_jacobian,
                         parameter_names, rate_names, segment_name, to_natural, to_unconstrained)

__all__ = ["TrustFit", "TrustFitError", "fit_trust", "default_start", "U_BOUNDS", "profile_intervals"]


# box on the unconstrained scale: rates and mean in [1.2e-4, 0.99988], concentration in
# [0.05, 1e4], noise scale / slope within wide limits
U_BOUNDS = ByBaseName({"eta_up": (-9.0, 9.0), "eta_down": (-9.0, 9.0), "eta": (-9.0, 9.0), "eta_confirm": (-9.0, 9.0),
            "eta_disconfirm": (-9.0, 9.0), "prior_strength": (np.log(1e-2), np.log(1e5)),
            "prior_strength_sd": (np.log(1e-3), np.log(5.0)),
            "trust_after_win": (-9.0, 9.0), "trust_after_loss": (-9.0, 9.0), "decay": (-12.0, 9.0),
            "initial_trust_mean": (-9.0, 9.0),
            "initial_trust_concentration": (np.log(0.05), np.log(1e4)),
            "sd_action": (-12.0, 12.0), "follow_slope": (np.log(1e-3), np.log(50.0))})


@dataclass
class TrustFit(EstimationResult):
    kind: str
    u: np.ndarray
    estimates: dict
    se: dict
    cov: np.ndarray
    loglik: float
    n_sellers: int
    n_events: int
    n_decisions: int
    converged: bool
    message: str
    iterations: int
    passes: int
    grad_norm: float
    hessian_eigenvalues: list
    seconds: float
    engine: str
    sample_sellers: int = 0
    sample_passes: int = 0
    prepare_seconds: float = 0.0
    warnings: list = field(default_factory=list)
    exclusions: dict = field(default_factory=dict)
    se_model_based: dict | None = None
    hessian_from_previous_pass: bool = False
    read_in_order: bool | None = None
    seller_sample: dict | None = None     # fraction, seed, rows of other sellers
    cov_unconstrained: np.ndarray | None = None   # seller-clustered, of u (what-if draws)
    at_bound: dict = field(default_factory=dict)
    flat: list = field(default_factory=list)
    rule: str = "asymmetric"
    n_nodes: int = 20                      # initial-trust quadrature nodes of the reported fit
    fixed: dict = field(default_factory=dict)     # parameters held at a value (--fix)
    unidentified: dict = field(default_factory=dict)   # held because the design cannot identify them
    starts: list = field(default_factory=list)    # each start and where it ended
    quadrature: dict | None = None         # the check against twice the nodes (fit_trust)
    segments: tuple = ()                   # initial trust by segment: the segments, in order

    cluster_unit = "seller"
    se_method = "cluster-robust by seller (sandwich), delta method from the unconstrained scale"

    # --- what the base class reads -----------------------------------------------------
    @property
    def name(self) -> str:
        return f"trust-dynamics-{self.kind}"

    @property
    def param_names(self) -> list[str]:
        return list(self.estimates)

    @property
    def estimate_vector(self) -> np.ndarray:
        return np.array([self.estimates[n] for n in self.param_names], float)

    @property
    def se_vector(self) -> np.ndarray:
        return np.array([self.se[n] for n in self.param_names], float)

    @property
    def n_obs(self) -> int:
        return self.n_decisions

    n_groups: int | None = None    # subjects sharing initial trust (None: each seller its own)

    @property
    def n_subjects(self) -> int:
        return self.n_groups if self.n_groups is not None else self.n_sellers

    profile: dict | None = None            # profile-likelihood intervals (profile_intervals)

    def bounds(self) -> np.ndarray:
        """(0, 1) for the parameters on a logit scale, (0, inf) for those on a log scale;
        none for the others."""
        limits = {"logit": (0.0, 1.0), "log": (0.0, np.inf)}
        return np.array([limits.get(TRANSFORMS.get(n), (-np.inf, np.inf)) for n in self.param_names],
                        float).reshape(-1, 2)

    def to_json(self) -> dict:
        """The fit JSON (same fields as ``cheaptalk fit --json``, ``docs/results.md``)."""
        return self.to_dict()

    def _header(self) -> dict:
        return {"adoption": self.kind, "rule": self.rule, "engine": self.engine, "n_events": self.n_events,
                **({"initial_trust_by": "segment", "segments": list(self.segments)} if self.segments else {})}

    @property
    def n_params(self) -> int:
        """Parameters estimated (those held fixed, or held because the design cannot identify
        them, do not count in AIC and BIC)."""
        return len(self.param_names) - len(self.fixed) - len(self.unidentified)

    def not_identified(self) -> dict:
        return {**super().not_identified(), **self.unidentified}

    def _param_extras(self, i: int, name: str) -> dict:
        if name in self.fixed:
            return {"fixed": True}
        if self.se_model_based is None:
            return {}
        return {"se_model": self.se_model_based.get(name)}

    def _diagnostics(self) -> dict:
        return {"at_bound": dict(self.at_bound), "flat": list(self.flat),
                "gradient_norm": self.grad_norm, "hessian_eigenvalues": list(self.hessian_eigenvalues),
                "optimizer_message": self.message, "iterations": self.iterations,
                "passes_over_logs": self.passes,
                "warm_start_sample_sellers": self.sample_sellers,
                "passes_over_sample": self.sample_passes,
                "seconds": round(self.seconds, 3),
                "prepare_seconds": round(self.prepare_seconds, 3),
                "logs_read_in_stored_order": self.read_in_order,
                "hessian_from_previous_pass": self.hessian_from_previous_pass,
                "quadrature": self.quadrature or {"nodes": self.n_nodes, "checked": False},
                "starts": list(self.starts),
                **({"fixed": dict(self.fixed)} if self.fixed else {}),
                **({"covariance_unconstrained": {
                    "names": list(self.estimates),
                    "transforms": {n: TRANSFORMS[n] for n in self.estimates},
                    "estimate": [float(x) for x in self.u],
                    "matrix": [[json_number(x) for x in row] for row in self.cov_unconstrained]}}
                   if self.cov_unconstrained is not None else {}),
                **({"se_model_based": self.se_model_based} if self.se_model_based is not None else {})}

    def _trailer(self) -> dict:
        return {"exclusions": self.exclusions,
                **({"seller_sample": self.seller_sample} if self.seller_sample else {})}

    def summary(self) -> str:
        lines = [f"Dynamic trust model ({self.rule} learning rule, {self.kind} adoption), engine {self.engine}",
                 f"  sellers {self.n_sellers:,}  events {self.n_events:,}  decisions {self.n_decisions:,}"
                 + (f"  subjects {self.n_groups:,} (each sharing one initial trust)" if self.n_groups else ""),
                 *([f"  a random sample of sellers: each kept with probability "
                    f"{self.seller_sample['fraction']:g} (seed {self.seller_sample['seed']}); "
                    f"{self.seller_sample['rows_of_other_sellers']:,} events of other sellers not used"]
                   if self.seller_sample else []),
                 f"  log-likelihood {self.loglik:,.3f}  AIC {self.aic:,.1f}  BIC {self.bic:,.1f}",
                 f"  converged {self.converged} ({self.message}); {self.iterations} iterations, "
                 f"{self.passes} passes over all logs"
                 + (f" after {self.sample_passes} over a sample of {self.sample_sellers:,} sellers"
                    if self.sample_sellers else "")
                 + f"; |gradient| {self.grad_norm:.2e}",
                 f"  {self.prepare_seconds:.1f} s reading and packing the logs, "
                 f"{self.seconds:.1f} s estimating; {self._quadrature_line()}",
                 "",
                 f"  {'parameter':<28}{'estimate':>12}{f'se ({self.cluster_unit})':>14}  95% interval",
                 ]
        missing = self.not_identified()
        ci = self.ci()
        for i, (k, v) in enumerate(self.estimates.items()):
            if k in self.fixed:
                lines.append(f"  {k:<28}{v:>12.5g}{'fixed':>14}")
                continue
            if k in missing:
                lines.append(f"  {k:<28}{'not identified':>26}")
                continue
            interval = f"[{ci[i, 0]:.4g}, {ci[i, 1]:.4g}]" if np.isfinite(ci[i, 0]) else ""
            lines.append(f"  {k:<28}{v:>12.5g}{self.se[k]:>14.4g}  {interval:<22}")
        if self.warnings:
            lines += [""] + [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


    def model(self) -> TrustDynamics:
        """The model this fit's vector ``u`` belongs to (rule, nodes, segments)."""
        return TrustDynamics(self.kind, self.n_nodes, self.rule, self.segments)

    def _quadrature_line(self) -> str:
        q = self.quadrature or {}
        if not q.get("checked"):
            return f"{self.n_nodes} initial-trust nodes (not checked against more)"
        last = q["checks"][-1]
        return (f"{self.n_nodes} initial-trust nodes (with {last['against']}, the log-likelihood moves by "
                f"{last['loglik_change']:.1g} and the estimates by at most {last['max_change_se']:.1g} se)"
                + ("" if q.get("stable") else " (NOT stable)"))


def _profile_point(evaluate, u_start, j: int, value: float, lo, hi, tol: float = 1e-9):
    """``max over u_-j`` of the log-likelihood with ``u_j = value``: Newton on the other
    coordinates (the exact Hessian of every pass), halving steps that lower the
    log-likelihood, from ``u_start``. Returns ``(loglik, u)``."""
    u = np.clip(np.array(u_start, float), lo, hi)
    u[j] = value
    free = np.arange(len(u)) != j
    r = evaluate(u, hessian=True)
    for _ in range(40):
        g, H = r.score[free], r.hessian[np.ix_(free, free)]
        info = -0.5 * (H + H.T)
        eig = np.linalg.eigvalsh(info)
        shift = 0.0 if eig.min() > 1e-10 * max(eig.max(), 1e-300) else 1e-6 * max(eig.max(), 1.0) - eig.min()
        step = np.linalg.solve(info + shift * np.eye(len(g)), g)
        if g @ step < tol * max(r.n_clusters or r.n_sellers, 1):
            break
        t, moved = 1.0, False
        while t > 1e-6:
            cand = u.copy()
            cand[free] = np.clip(u[free] + t * step, lo[free], hi[free])
            rc = evaluate(cand, hessian=True)
            if np.isfinite(rc.loglik) and rc.loglik >= r.loglik - 1e-12 * max(1.0, abs(r.loglik)):
                moved = rc.loglik > r.loglik
                u, r = cand, rc
                break
            t /= 2
        if not moved:
            break
    return r.loglik, u


def profile_intervals(engine, fit: "TrustFit", n_nodes: int = 20, level: float = 0.95,
                      progress: bool = False) -> dict:
    """Profile-likelihood intervals of a trust fit's parameters.

    On each parameter's unconstrained scale ``u_j`` (where the reported parameter is a
    monotone function of it alone), the interval is ``{x : 2 (log L_hat - max_{u_-j} log L(x,
    u_-j)) <= chi2_1(level)}``; each end is bracketed by stepping out from the estimate (first
    to the Wald end on that scale, then doubling) and found by Brent's method, every profile
    point re-maximized by Newton over the other parameters (:func:`_profile_point`), warm-started
    at the previous one. An end the profile does not reach before the box of the
    unconstrained scale is that box's edge, mapped back (``open_at``). Parameters the fit
    does not identify, or without a standard error, get none. Returns ``{"intervals"
    (P, 2) on the reported scale, "open_at", "passes", "level"}``."""
    from scipy import stats as _stats

    model = TrustDynamics(fit.kind, n_nodes, fit.rule, fit.segments)
    names = list(fit.estimates)
    lo = np.array([U_BOUNDS[n][0] for n in names])
    hi = np.array([U_BOUNDS[n][1] for n in names])
    counter = {"passes": 0}

    def evaluate(u, hessian=True):
        counter["passes"] += 1
        return engine.evaluate(model, np.asarray(u, float), hessian=hessian)

    crit = float(_stats.chi2.ppf(level, 1)) / 2
    V = np.asarray(fit.cov_unconstrained, float) if fit.cov_unconstrained is not None else None
    out = np.full((len(names), 2), np.nan)
    open_at = {}
    missing = fit.not_identified()
    for j, name in enumerate(names):
        se_u = float(np.sqrt(V[j, j])) if V is not None and np.isfinite(V[j, j]) and V[j, j] > 0 else np.nan
        if name in missing or name in fit.at_bound or not np.isfinite(se_u):
            continue
        ends = []
        for side in (-1.0, 1.0):
            state = {"u": fit.u}
            edge = lo[j] if side < 0 else hi[j]

            def drop(x):
                ll, state["u"] = _profile_point(evaluate, state["u"], j, x, lo, hi)
                return fit.loglik - ll - crit

            end, opened = inference.profile_end(drop, fit.u[j], fit.u[j] + side * 1.96 * se_u, edge, xtol=1e-6,
                                                maxiter=100)
            if opened or np.isnan(end):
                end = edge
                open_at[name] = " and ".join(filter(None, [open_at.get(name), "lower" if side < 0 else "upper"]))
            ends.append(end)
        natural = [to_natural(np.where(np.arange(len(names)) == j, e, fit.u), fit.kind, fit.rule, fit.segments)[name]
                   for e in ends]
        out[j] = sorted(natural)
        if progress:
            print(f"  profile of {name}: [{out[j, 0]:.4g}, {out[j, 1]:.4g}]", file=sys.stderr)
    return {"intervals": out, "open_at": open_at, "passes": counter["passes"], "level": level}


def default_start(kind: str, batches, rule: str = "asymmetric", segments=()) -> np.ndarray:
    """Start: symmetric rates 0.3, initial trust Beta(2, 2); the action noise from the
    pooled regression of ``a - own`` on ``m - own`` in the sample (continuous)."""
    start = {**{n: 0.3 for names in RATE_NAMES.values() for n in names},
             "prior_strength": 4.0, "prior_strength_sd": 0.5, "trust_after_win": 0.7, "trust_after_loss": 0.3,
             "decay": 0.05, "initial_trust_mean": 0.5, "initial_trust_concentration": 4.0, "sd_action": 1.0,
             "follow_slope": 1.0}
    if kind == "continuous":
        sxy = sxx = syy = n = 0.0
        for b in batches:
            o = b["observed"]
            x, y = b["gap"][o].astype(float), b["act"][o].astype(float)
            sxy += x @ y
            sxx += x @ x
            syy += y @ y
            n += o.sum()
        if n > 2 and sxx > 0:
            slope = np.clip(sxy / sxx, 0.05, 0.95)
            start["initial_trust_mean"] = float(slope)
            resid = max(syy - sxy ** 2 / sxx, 1e-12) / n
            start["sd_action"] = float(np.sqrt(resid))
    start.update({segment_name("initial_trust_mean", seg): start["initial_trust_mean"] for seg in segments})
    return to_unconstrained({k: start[k] for k in parameter_names(kind, rule, segments)}, kind, rule, segments)


SAMPLE_TOL = 1e-8   # Newton decrement per seller that ends the warm start on a sample
# total Newton decrement (squared length of the step in standard-error units) below which
# the last pass skips the Hessian: a step of 0.1 standard errors
FINAL_STEP_DECREMENT = 1e-2
# total Newton decrement (with the Levenberg-Marquardt shift) below which iterations on a
# ridge, where the likelihood is flat along some direction, stop: nothing left to gain
RIDGE_DECREMENT = 1e-6
MIN_SAMPLE_SELLERS = 1_000   # below this, the warm start is fitted on all logs


class _Objective:
    """-loglik / n_sellers and its gradient, one pass per new point (cached)."""

    def __init__(self, evaluate, p, progress=None):
        self.evaluate, self.p, self.progress = evaluate, p, progress
        self.passes = 0
        self._last_u = None
        self._last = None
        self.n = None

    def __call__(self, u):
        if self._last_u is None or not np.array_equal(u, self._last_u):
            r: PassResult = self.evaluate(np.array(u))
            self.passes += 1
            self._last_u, self._last = np.array(u), r
            self.n = max(r.n_sellers, 1)
            if self.progress is not None:
                self.progress.update(1)
                self.progress.set_postfix(loglik=f"{r.loglik:.6g}")
        r = self._last
        if not np.isfinite(r.loglik):
            return 1e300, np.zeros(self.p)
        return -r.loglik / self.n, -r.score / self.n


def _names(spec) -> tuple:
    """Parameter names from an adoption kind (the asymmetric rule) or a sequence of names."""
    return PARAMETER_NAMES[spec] if isinstance(spec, str) else tuple(spec)


def _minimize(evaluate, u0, kind, maxiter, gtol, progress_desc=None, progress=False):
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc=progress_desc, unit="pass", file=sys.stderr, leave=False)
    obj = _Objective(evaluate, len(u0), bar)
    bounds = [U_BOUNDS[n] for n in _names(kind)]
    u0 = np.clip(u0, [b[0] + 1e-6 for b in bounds], [b[1] - 1e-6 for b in bounds])
    try:
        res = optimize.minimize(obj, u0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": maxiter, "ftol": 1e-13, "gtol": gtol,
                                         "maxcor": 20})
    finally:
        if bar is not None:
            bar.close()
    return res, obj.passes


def _on_box(u, lo, hi, held=None) -> bool:
    """Whether a parameter of ``u`` (other than those ``held`` on the box) is on its edge."""
    at = (u <= lo + 1e-9) | (u >= hi - 1e-9)
    if held is not None:
        at &= ~held
    return bool(np.any(at))


def _held_on_box(u, score, lo, hi) -> np.ndarray:
    """Parameters on the edge of the box whose score points out of it: Newton holds them
    there and steps in the others (an active set), so a parameter running to the edge of its
    range (a flagged estimate) does not hand the whole fit to L-BFGS-B."""
    return ((u <= lo + 1e-9) & (score < 0)) | ((u >= hi - 1e-9) & (score > 0))


def _guessed_first_step(evaluate, u, hessian_guess, lo, hi, bar):
    """The step ``u + (-H_guess)^-1 g(u)`` from a pass without the Hessian. Returns the pass
    at the new point (with the Hessian), the point and the number of passes made; the pass
    and the point are None when there is no usable guess or the step does not raise the
    log-likelihood."""
    if hessian_guess is None or not np.all(np.isfinite(hessian_guess)) \
            or np.linalg.eigvalsh(-hessian_guess)[0] <= 0:
        return None, None, 0
    r0 = evaluate(u, hessian=False)
    if bar is not None:
        bar.update(1)
    if not (np.isfinite(r0.loglik) and np.all(np.isfinite(r0.score))):
        return None, None, 1
    cand = np.clip(u + np.linalg.solve(-hessian_guess, r0.score), lo, hi)
    rc = evaluate(cand)
    if bar is not None:
        bar.update(1)
    if np.isfinite(rc.loglik) and rc.loglik >= r0.loglik - 1e-12 * abs(r0.loglik) \
            and not _on_box(cand, lo, hi):
        return rc, cand, 2
    return None, None, 2


def _decrement_message(decrement: float, moved: float) -> str:
    """``moved``: standard errors between the point and that of its Hessian (0: the same)."""
    return (f"Newton decrement {decrement:.1e} per seller"
            + (f", with the Hessian of the previous pass, {moved:.1e} standard errors away"
               if moved else ""))


MAX_STEP = 3.0   # largest change of any unconstrained parameter in one Newton step
# halvings of a Newton step that lowers the log-likelihood before L-BFGS-B takes over
MAX_HALVINGS = 30
# on the warm-start sample, which only has to give a start: a Newton step that still lowers
# the log-likelihood after this many halvings ends the sample's iterations there (the
# confirmation rule's log-likelihood jumps, and 30 halvings at every stalled step were most
# of the cost of its fit)
SAMPLE_HALVINGS = 6


def _capped(step: np.ndarray) -> np.ndarray:
    """The Newton step, shortened (same direction) so that no parameter moves by more than
    ``MAX_STEP`` on the unconstrained scale: far from the optimum, where the quadratic model
    is poor, an uncapped step can land in a corner of the box where the likelihood is
    astronomically low, and halving back costs passes."""
    biggest = float(np.max(np.abs(step))) if len(step) else 0.0
    return step * (MAX_STEP / biggest) if biggest > MAX_STEP else step


# a short step that does not raise the log-likelihood ends the iterations once it is shorter
# than this many standard errors
KINK_STEP = 1e-2


class _ShortStep:
    def __init__(self, point, result, length, passes, message=""):
        self.point, self.result, self.length, self.passes, self.message = point, result, length, passes, message


def _short_step(evaluate, u, r, step, lo, hi, held=None) -> _ShortStep:
    """A Newton step of less than ``sqrt(FINAL_STEP_DECREMENT)`` standard errors, with passes
    without the Hessian: taken if it raises the log-likelihood, else halved; the new point's
    result carries ``r``'s Hessian. Once the step is shorter than ``KINK_STEP`` standard
    errors and still does not raise the log-likelihood, the optimum is within it: the
    iterations end at ``u`` (``point`` None).

    The log-likelihood has many tiny kinks, one wherever a trust path's fidelity crosses its
    trust and the rate switches between ``eta_up`` and ``eta_down``. With few sellers, at the
    scale of such steps the scores no longer point to the optimum, and Newton's steps would go
    back and forth across it; requiring a strict rise makes every step count."""
    neg_h = -r.hessian
    passes = 0
    while True:
        cand = np.clip(u + step, lo, hi)
        length = float(np.sqrt(max((cand - u) @ neg_h @ (cand - u), 0.0)))
        rc = evaluate(cand, hessian=False)
        passes += 1
        if np.isfinite(rc.loglik) and rc.loglik > r.loglik and not _on_box(cand, lo, hi, held):
            rc.hessian = r.hessian
            return _ShortStep(cand, rc, length, passes)
        if length < KINK_STEP:
            return _ShortStep(None, None, 0.0, passes,
                              f"a Newton step of {length:.1e} standard errors no longer raises the "
                              "log-likelihood: the optimum is within it")
        step = (cand - u) / 2


class _NewtonResult:
    def __init__(self, x, success, message, nit, passes, last=None, hessian_moved=False):
        self.x, self.success, self.message, self.nit, self.passes = x, success, message, nit, passes
        self.last = last    # PassResult (with Hessian) at x
        self.hessian_moved = hessian_moved   # last.hessian is from the previous, nearby point


def _newton(evaluate, u0, kind, tol, max_iter=50, desc="fit (Newton)", progress=False,
            hessian_guess=None, max_halvings=MAX_HALVINGS):
    """Newton-Raphson with the exact Hessian of every pass (value, score and Hessian come
    from one pass), halving steps that lower the log-likelihood.

    With ``hessian_guess`` (the sample's Hessian scaled to all sellers) the first step is
    taken from a pass without the Hessian: ``u1 = u0 + (-H_guess)^-1 g(u0)``. A sample of
    ``n`` sellers estimates the Hessian to a relative error of order ``n^-1/2``, so from a
    start a few standard errors away this step lands within a small fraction of one, and
    the exact Newton iterations continue from there. If the step does not raise the
    log-likelihood, the iterations start from ``u0`` as usual (one pass lost).

    Where the Hessian is not negative definite (far from the optimum) the step uses
    ``-H + lambda I`` with ``lambda`` just large enough to make it positive definite (a
    Levenberg-Marquardt modification). Stops when the Newton decrement ``g' (-H)^-1 g`` per
    seller falls below ``tol``; the last pass, at the returned point, then already holds
    everything the standard errors need (on a ridge where the Hessian is not negative
    definite, when the shifted decrement is below ``RIDGE_DECREMENT`` in all; the fit then
    warns that the likelihood is flat). Steps of less than ``sqrt(FINAL_STEP_DECREMENT)``
    standard errors are taken with passes without the Hessian (:func:`_short_step`), only if
    they strictly raise the log-likelihood; the next decrement is measured, and the next
    step taken, with the Hessian before the step. A step shorter than ``KINK_STEP``
    standard errors that still gains nothing ends the iterations at the point before it:
    the optimum is within the step. (The log-likelihood has many tiny kinks, and with a few
    thousand sellers or fewer the scores at that scale no longer point to the optimum.)
    Steps are capped at ``MAX_STEP`` on the unconstrained scale. A parameter on the edge of
    the box whose score points out of it is held there, and the step is taken in the others
    (an active set; the fit then flags the parameter at its bound). Reports failure (the
    caller falls back to L-BFGS-B) if the steps stall.
    """
    names = _names(kind)
    lo = np.array([U_BOUNDS[n][0] for n in names])
    hi = np.array([U_BOUNDS[n][1] for n in names])
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc=desc, unit="pass", file=sys.stderr, leave=False)
    u = np.clip(np.array(u0, float), lo + 1e-6, hi - 1e-6)
    try:
        r, point, passes = _guessed_first_step(evaluate, u, hessian_guess, lo, hi, bar)
        if r is None:
            r = evaluate(u)
            passes += 1
        else:
            u = point
        moved = 0.0   # > 0: r.hessian is that of an earlier point, this many standard errors away
        for it in range(1, max_iter + 1):
            if not np.isfinite(r.loglik) or not np.all(np.isfinite(r.hessian)):
                return _NewtonResult(u, False, "log-likelihood or Hessian not finite", it, passes, r)
            held = _held_on_box(u, r.score, lo, hi)
            free = ~held
            if not free.any():
                return _NewtonResult(u, False, "every parameter is on the edge of its range", it, passes, r)
            neg_h = -r.hessian[np.ix_(free, free)]
            eig = np.linalg.eigvalsh(neg_h)
            shift = 0.0 if eig[0] > 1e-10 * max(eig[-1], 1e-300) else -eig[0] + 1e-6 * max(abs(eig[-1]), 1.0)
            step = np.zeros(len(u))
            step[free] = np.linalg.solve(neg_h + shift * np.eye(int(free.sum())), r.score[free])
            decrement = float(r.score @ step) / max(r.n_sellers, 1)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loglik=f"{r.loglik:.6g}", decrement=f"{decrement:.1e}")
            if shift == 0.0 and decrement < tol:
                return _NewtonResult(u, True, _decrement_message(decrement, moved), it,
                                     passes, r, hessian_moved=moved > 0)
            if shift > 0.0 and decrement * r.n_sellers < RIDGE_DECREMENT:
                # the likelihood is flat along some direction (the fit then warns that a
                # parameter is not identified): nothing left to gain by moving along it
                return _NewtonResult(u, True, _decrement_message(decrement, moved) + " on a ridge "
                                     "where the Hessian is not negative definite", it, passes, r,
                                     hessian_moved=moved > 0)
            if shift == 0.0 and decrement * r.n_sellers < FINAL_STEP_DECREMENT:
                # a small fraction of a standard error: the Hessian barely moves over such a
                # step, so its passes need only the value and the scores, and the next step is
                # taken with the Hessian just computed
                ended = _short_step(evaluate, u, r, step, lo, hi, held)
                passes += ended.passes
                if ended.point is None:
                    return _NewtonResult(u, True, ended.message, it, passes, r, hessian_moved=moved > 0)
                u, r, moved = ended.point, ended.result, moved + ended.length
                continue
            step = _capped(step)
            for _ in range(max_halvings):
                cand = np.clip(u + step, lo, hi)
                rc = evaluate(cand)
                passes += 1
                if np.isfinite(rc.loglik) and rc.loglik >= r.loglik - 1e-12 * abs(r.loglik):
                    break
                step = (cand - u) / 2      # (halving what the box left of the step)
            else:
                return _NewtonResult(u, False, "Newton step could not increase the log-likelihood",
                                     it, passes, r, hessian_moved=moved > 0)
            u, r, moved = cand, rc, 0.0
        return _NewtonResult(u, False, "Newton iterations exhausted", max_iter, passes, r,
                             hessian_moved=moved > 0)
    finally:
        if bar is not None:
            bar.close()


# starts of every fit: the default, and this many more drawn at random (seeded by the rule),
# each taken to its optimum on the warm-start sample (on all logs when the sample is all)
EXTRA_STARTS = 2
# a start that ends this much below the best is reported as a local optimum
LOCAL_OPTIMUM_GAP = 0.01
# the quadrature check: doubling the nodes may change the log-likelihood by less than this,
# and no identified estimate by more than QUADRATURE_SE standard errors
QUADRATURE_LOGLIK = 0.01
QUADRATURE_SE = 0.05
MAX_NODES = 640          # automatic refinement stops once a check would need more nodes
# which rule nests which, and how the smaller rule's estimate maps to the larger's parameters
NESTED_IN = {"asymmetric": "symmetric", "confirmation": "symmetric"}


def nested_rule(rule: str) -> str | None:
    """The rule that ``rule`` contains as a special case: ``symmetric`` in ``asymmetric``
    and ``confirmation`` (equal rates), ``R`` in ``R+decay`` (no decay); None for the others."""
    from .parameters import split_rule
    base, decay = split_rule(rule)
    if decay:
        return base
    return NESTED_IN.get(base)


def nested_start(nested: "TrustFit", rule: str, segments=()) -> dict:
    """The estimate of a nested fit as a point of ``rule`` (with ``segments``): its rate in
    both branch rates (symmetric in asymmetric or confirmation), no decay (the bottom of the
    decay range), its one mean of initial trust in every segment's."""
    est = dict(nested.estimates)
    names = parameter_names(nested.kind, rule, segments)
    if "eta" in est:
        for n in ("eta_up", "eta_down", "eta_confirm", "eta_disconfirm"):
            est.setdefault(n, est["eta"])
    if "decay" in names and "decay" not in nested.estimates:
        est["decay"] = float(1 / (1 + np.exp(-U_BOUNDS["decay"][0] - 1e-6)))
    for seg in segments:
        est.setdefault(segment_name("initial_trust_mean", seg), est.get("initial_trust_mean"))
    return {n: est[n] for n in names}


def random_starts(kind: str, rule: str, base: np.ndarray, count: int, segments=()) -> list:
    """``count`` starts around ``base`` (unconstrained scale), seeded by the rule's name so
    that a fit is reproducible: each coordinate of the rule and of initial trust moved by a
    draw from N(0, 1) on its unconstrained scale, the noise scale kept."""
    import zlib
    names = parameter_names(kind, rule, segments)
    rng = np.random.default_rng(zlib.crc32(f"{kind}:{rule}".encode()))
    lo = np.array([U_BOUNDS[n][0] for n in names])
    hi = np.array([U_BOUNDS[n][1] for n in names])
    keep = np.array([n in ("sd_action", "follow_slope") for n in names])
    out = []
    for _ in range(count):
        move = np.where(keep, 0.0, rng.normal(0.0, 1.0, len(names)))
        out.append(np.clip(base + move, lo + 1e-3, hi - 1e-3))
    return out


def _restricted(evaluate, full: np.ndarray, free: np.ndarray):
    """An evaluator of the free coordinates only, the others held at ``full``'s values:
    value, scores, outer products and Hessian restricted to the free coordinates."""
    def restricted(u_free, hessian=True):
        u = full.copy()
        u[free] = u_free
        r = evaluate(u, hessian=hessian)
        out = PassResult(int(free.sum()), r.hessian is not None)
        out.loglik, out.score, out.meat = r.loglik, r.score[free], r.meat[np.ix_(free, free)]
        out.hessian = r.hessian[np.ix_(free, free)] if r.hessian is not None else None
        for k in ("n_sellers", "n_events", "n_decisions", "n_clusters"):
            setattr(out, k, getattr(r, k))
        return out
    return restricted


def fit_trust(engine, kind: str | None = None, n_nodes: int | None = None, start: dict | None = None,
              rule: str = "asymmetric",
              warm_start_sellers: int = 10_000, maxiter: int = 300, gtol: float = 1e-7,
              tol: float = 1e-11, progress: bool = False, fixed: dict | None = None,
              nested: "TrustFit | list | None | bool" = None, extra_starts: int = EXTRA_STARTS,
              check_quadrature: bool = True, initial_trust_by: str | None = None, segments=()) -> TrustFit:
    """Fit the dynamic trust model with learning ``rule`` to the logs behind ``engine``
    (prepared on demand).

    Initial trust by segment (``initial_trust_by="segment"``, or the ``segments`` given): one
    mean of initial trust per segment of sellers, the concentration shared.

    Starts: ``start`` (when given), the default, ``extra_starts`` more at random and the
    estimates of the fits this one contains: the rule it nests (:func:`nested_rule`) and,
    by segment, the same rule with one mean. ``nested`` gives those fits (one or a list),
    None fits them first, False leaves them out. The best optimum is kept, so a larger model
    never ends below one it contains, and a start that ends lower is reported. ``fixed``:
    ``{name: value}`` held at the value.

    Quadrature: with ``n_nodes`` None the fit starts on ``DEFAULT_NODES`` initial-trust
    nodes and is checked against twice as many: first by one Newton step on the finer nodes
    (:func:`_quadrature_step`), then, if that predicts a change, by a refit from its estimate;
    when the log-likelihood moves by ``QUADRATURE_LOGLIK`` or more, or an estimate by
    ``QUADRATURE_SE`` standard errors or more, the nodes are doubled and the check repeated
    (up to ``MAX_NODES``). A given ``n_nodes`` is used as it is, still checked
    (``check_quadrature``) and a failed check warned about. ``fit.quadrature`` records it.
    """
    from .parameters import DEFAULT_NODES
    engine.prepare()
    t0 = time.perf_counter()
    kind = kind or engine.source.options.adoption
    segments = tuple(segments or ())
    if initial_trust_by is not None:
        segments = engine_segments(engine, initial_trust_by)
    names = parameter_names(kind, rule, segments)
    fixed = dict(fixed or {})
    unknown = sorted(set(fixed) - set(names))
    if unknown:
        raise TrustFitError(f"cannot fix {', '.join(unknown)}: the {rule} rule with {kind} adoption has parameters "
                            f"{', '.join(names)}")
    for name, value in fixed.items():
        limits = {"logit": (0.0, 1.0), "log": (0.0, np.inf)}[TRANSFORMS[name]]
        if not limits[0] < value < limits[1]:
            raise TrustFitError(f"cannot fix {name} at {value:g}: it lies in ({limits[0]:g}, {limits[1]:g})")
    nodes = int(n_nodes or DEFAULT_NODES)
    common = dict(warm_start_sellers=warm_start_sellers, maxiter=maxiter, gtol=gtol, tol=tol, progress=progress,
                  extra_starts=extra_starts, check_quadrature=False)
    if nested is None:
        # the fits this one contains: the nested rule, and the same rule with one mean of initial
        # trust. On logs larger than the warm-start sample they are fitted on the sample (a
        # start, cheap), on smaller logs on all of them (a start and a floor)
        from .engines.memory import MemoryEngine
        target = _sample_target(engine, warm_start_sellers)
        inner_engine = engine if engine.n_sellers() <= target else MemoryEngine(engine, engine.sample(target))
        nested = []
        if nested_rule(rule) is not None:
            inner = parameter_names(kind, nested_rule(rule), segments)
            nested.append(fit_trust(inner_engine, kind, nodes, rule=nested_rule(rule), segments=segments,
                                    fixed={k: v for k, v in fixed.items() if k in inner}, **common))
        if segments:
            inner = parameter_names(kind, rule)
            nested.append(fit_trust(inner_engine, kind, nodes, rule=rule,
                                    fixed={k: v for k, v in fixed.items() if k in inner}, **common))
        if inner_engine is not engine:
            for inner in nested:
                inner.loglik = -np.inf       # (a start only: its likelihood is the sample's)
    nested = [] if nested is False else list(nested) if isinstance(nested, (list, tuple)) else [nested]
    starts = [("given", to_unconstrained({**_start_values(kind, rule, engine, segments), **start}, kind, rule,
                                         segments))] if start else []
    starts.append(("default", None))
    fit = _fit_at(engine, kind, nodes, rule, starts, warm_start_sellers, maxiter, gtol, tol, progress, fixed,
                  nested, extra_starts, segments)
    first_starts = fit.starts
    history = []
    while check_quadrature:
        # first one pass on twice the nodes at the estimate: the Newton step from there predicts
        # the refit's log-likelihood and estimates (to second order); only when it does not
        # pass is the fit redone on twice the nodes
        check = _quadrature_step(engine, fit, 2 * nodes)
        if check["stable"]:
            history.append(check)
            break
        finer = _fit_at(engine, kind, 2 * nodes, rule, [("coarser fit", fit.u)], warm_start_sellers, maxiter, gtol,
                        tol, progress, fixed, [], 0, segments)
        check = _quadrature_check(fit, finer)
        history.append(check)
        if check["stable"] or n_nodes is not None or 4 * nodes > MAX_NODES:
            break
        if fit.at_bound and finer.at_bound:
            # the fit runs to the edge of a parameter's range (a limit of the model, e.g. initial
            # trust narrower than any grid resolves): more nodes only chase it; the fit says so
            check["why_not_refined"] = (f"{', '.join(finer.at_bound)} at the edge of its range: the fit tends to a "
                                        f"limit of the model, which more nodes do not settle")
            break
        fit, nodes = finer, 2 * nodes
    fit.starts = first_starts + [s for s in fit.starts if s not in first_starts]
    fit.quadrature = {"nodes": nodes, "checked": bool(history), "fixed_by_user": n_nodes is not None,
                      **({"stable": history[-1]["stable"], "checks": history} if history else {})}
    if history and not history[-1]["stable"]:
        last = history[-1]
        fit.warnings.append(
            f"the quadrature of initial trust is not fine enough: with {2 * nodes} nodes instead of {nodes} the "
            f"log-likelihood moves by {last['loglik_change']:.3g} and an estimate by {last['max_change_se']:.3g} "
            f"standard errors ({last['moved'] or 'none'})"
            + (f"; use more --nodes (at most {MAX_NODES})" if n_nodes is not None else "")
            + (f"; {last['why_not_refined']}" if last.get("why_not_refined") else ""))
    fit.seconds = time.perf_counter() - t0
    return fit


def _quadrature_step(engine, fit: "TrustFit", nodes: int) -> dict:
    """The quadrature check by one pass on ``nodes`` nodes at the fit's estimate: with the
    score ``g`` and Hessian ``H`` there (in the estimated, identified parameters off their
    bounds), the refit would move the estimates by ``(-H)^-1 g`` and raise the
    log-likelihood by ``g' (-H)^-1 g / 2`` over its value at the estimate."""
    model = TrustDynamics(fit.kind, nodes, fit.rule, fit.segments)
    r = engine.evaluate(model, np.asarray(fit.u, float), hessian=True)
    keep = np.array([n not in _unchecked(fit) for n in fit.estimates])
    moves, gain = np.zeros(len(keep)), 0.0
    if keep.any() and np.all(np.isfinite(r.hessian)):
        neg_h = -r.hessian[np.ix_(keep, keep)]
        try:
            moves[keep] = np.linalg.solve(neg_h, r.score[keep])
            gain = 0.5 * float(r.score[keep] @ moves[keep]) if np.linalg.eigvalsh(neg_h)[0] > 0 else np.inf
        except np.linalg.LinAlgError:
            moves[keep], gain = np.inf, np.inf
    finer_ll = r.loglik + gain
    return _check_record(fit, nodes, "one Newton step on the finer nodes", finer_ll, moves)


def _quadrature_check(fit: "TrustFit", finer: "TrustFit") -> dict:
    """How much the fit moves when the nodes are doubled: log-likelihood, and each
    identified estimate in its standard errors (unconstrained scale)."""
    return _check_record(fit, finer.n_nodes, "refit on the finer nodes", finer.loglik, finer.u - fit.u)


def _unchecked(fit: "TrustFit") -> set:
    """Parameters the quadrature check does not measure: not identified, at a bound, fixed."""
    return set(fit.not_identified()) | set(fit.at_bound) | set(fit.fixed)


def _check_record(fit: "TrustFit", against: int, method: str, finer_ll: float, moves: np.ndarray) -> dict:
    """One quadrature check: the change of the log-likelihood and of each measured estimate
    (``moves``, on the unconstrained scale) in its standard errors, and whether both are
    within ``QUADRATURE_LOGLIK`` and ``QUADRATURE_SE``."""
    V = fit.cov_unconstrained
    skip = _unchecked(fit)
    shifts = {}
    for j, name in enumerate(fit.estimates):
        if name in skip or V is None or not np.isfinite(V[j, j]) or V[j, j] <= 0:
            continue
        shifts[name] = abs(float(moves[j])) / float(np.sqrt(V[j, j]))
    dll = abs(finer_ll - fit.loglik) if np.isfinite(finer_ll) else np.inf
    worst = max(shifts.values(), default=0.0)
    return {"nodes": fit.n_nodes, "against": against, "method": method, "loglik": fit.loglik,
            "loglik_finer": json_number(finer_ll), "loglik_change": dll, "max_change_se": worst,
            "moved": ", ".join(f"{n} {v:.2g} se" for n, v in shifts.items() if v >= QUADRATURE_SE),
            "stable": bool(dll < QUADRATURE_LOGLIK and worst < QUADRATURE_SE)}


def _start_values(kind, rule, engine, segments=()) -> dict:
    return to_natural(default_start(kind, engine.sample(MIN_SAMPLE_SELLERS), rule, segments), kind, rule, segments)


def _sample_target(engine, warm_start_sellers: int) -> int:
    """Sellers in the warm-start sample: at most a quarter of all, so that the passes over all
    logs (the expensive ones, a job each on Spark) only finish what the sample started."""
    full = engine.n_sellers()
    return warm_start_sellers if full >= 4 * warm_start_sellers else max(full // 4, MIN_SAMPLE_SELLERS)


def engine_segments(engine, column: str = "segment") -> tuple:
    """The segments of the sellers behind ``engine`` (sorted), for initial trust by segment."""
    if column != "segment":
        raise TrustFitError(f"initial trust by {column!r}: the logs carry a seller's segment in the column 'segment' "
                            f"(of the events or the seller table); put {column}'s values there")
    found, missing = set(), 0
    for b in engine.batches():
        labels = b.get("segment")
        nb = int(b["n_sellers"])
        if labels is None:
            raise TrustFitError("initial trust by segment needs a 'segment' column in the logs or the seller table")
        values = [x for x in labels[:nb]]
        missing += sum(x is None for x in values)
        found.update(str(x) for x in values if x is not None)
    if missing:
        raise TrustFitError(f"initial trust by segment: {missing:,} sellers have no segment")
    if len(found) < 2:
        raise TrustFitError(f"initial trust by segment needs at least two segments; the logs have {sorted(found)}")
    return tuple(sorted(found))


def _fit_at(engine, kind, n_nodes, rule, starts, warm_start_sellers, maxiter, gtol, tol, progress, fixed,
            nested, extra_starts, segments=()) -> TrustFit:
    """One fit on ``n_nodes`` nodes from several starts (see :func:`fit_trust`)."""
    t0 = time.perf_counter()   # estimation only; the engine times its preparation
    model = TrustDynamics(kind, n_nodes, rule, segments)
    all_names = parameter_names(kind, rule, segments)
    full_sellers = engine.n_sellers()
    sample = engine.sample(_sample_target(engine, warm_start_sellers))
    opts = engine.source.options
    if not sample:
        why = '; '.join(engine.exclusions.report_lines()) or 'the logs are empty'
        if opts.sampled:
            why += (f"; {engine.exclusions.outside_sample:,} events of sellers outside the sample "
                    f"(fraction {opts.seller_fraction:g}): try a larger fraction")
        raise LogsError(f"{engine.source.events}: no usable events after exclusions ({why})")
    base = default_start(kind, sample, rule, segments)
    starts = [(label, base if u is None else np.asarray(u, float)) for label, u in starts]
    starts += [(f"random {i + 1}", u) for i, u in enumerate(random_starts(kind, rule, base, extra_starts, segments))]
    n_plain = len(starts)
    for inner in nested:
        label = f"the {inner.rule}" + (" by segment" if inner.segments else "") + " estimate"
        starts.append((label, to_unconstrained(nested_start(inner, rule, segments), kind, rule, segments)))
    # decay moves trust only across events without feedback that a later decision of the same
    # seller follows: without any, it is not identified, and is held at the bottom of its range
    unidentified = {}
    drift_events = None
    if "decay" in all_names and "decay" not in fixed:
        drift_events = sum(int((~b["feedback"][:int(b["n_sellers"])]
                                & (np.arange(b["feedback"].shape[1]) < b["length"][:int(b["n_sellers"]), None] - 1)).sum())
                           for b in sample)
        if drift_events == 0:
            unidentified["decay"] = ("every event before a decision has feedback, so trust never drifts between "
                                     "feedback: the data do not identify the decay rate")
            fixed = {**fixed, "decay": float(1 / (1 + np.exp(-U_BOUNDS["decay"][0])))}
    full_u = starts[0][1].copy()
    for name, value in fixed.items():
        full_u[all_names.index(name)] = to_unconstrained({**to_natural(full_u, kind, rule, segments), name: value},
                                                         kind, rule, segments)[all_names.index(name)]
    free = np.array([n not in fixed for n in all_names])
    names = [n for n, f in zip(all_names, free) if f]
    sample_sellers = sum(int(b["n_sellers"]) for b in sample)

    def evaluator(evaluate):
        return _restricted(evaluate, full_u, free) if not free.all() else evaluate

    def batches_evaluator(batches):
        return evaluator(lambda u, hessian=True: evaluate_batches(model, u, batches, hessian))

    eval_full = evaluator(lambda u, hessian=True: engine.evaluate(model, u, hessian=hessian))
    eval_sample = batches_evaluator(sample)
    on_sample = full_sellers > sample_sellers
    passes_sample = passes = 0
    ends = []
    for label, u_start in starts:
        u0 = u_start[free]
        hessian_guess = None
        if on_sample:
            # a start close enough for Newton's quadratic convergence on all logs; the first
            # iterations, far from the optimum, run on the sample's first batches only
            head, n_head = [], 0
            for b in sample:
                if n_head >= MIN_SAMPLE_SELLERS:
                    break
                head.append(b)
                n_head += int(b["n_sellers"])
            if n_head * 4 <= sample_sellers:
                pre = _newton(batches_evaluator(head), u0, names, SAMPLE_TOL * 100, desc="fit on a sample",
                              max_halvings=SAMPLE_HALVINGS, progress=progress)
                passes_sample += pre.passes
                if pre.success:
                    u0 = pre.x
            pre = _newton(eval_sample, u0, names, SAMPLE_TOL, desc="fit on a sample", progress=progress,
                          max_halvings=SAMPLE_HALVINGS)
            passes_sample, u0 = passes_sample + pre.passes, pre.x
            if pre.success and pre.last is not None and pre.last.hessian is not None:
                # the sample's Hessian, scaled to all sellers, for the first step on all logs
                hessian_guess = pre.last.hessian * (full_sellers / max(pre.last.n_sellers, 1))
                sample_ll = pre.last.loglik
            else:
                res0, extra = _minimize(lambda u: eval_sample(u, False), pre.x, names, maxiter, gtol * 10,
                                        "fit on a sample", progress)
                passes_sample += extra
                u0 = res0.x
                sample_ll = eval_sample(np.asarray(u0, float), False).loglik
            ends.append({"label": label, "u": np.asarray(u0, float), "sample_loglik": float(sample_ll),
                         "hessian_guess": hessian_guess})
        else:
            res, final, n = _optimize(eval_full, u0, names, tol, maxiter, gtol, progress, None)
            passes += n
            ends.append({"label": label, "res": res, "final": final, "loglik": float(final.loglik)})
    if on_sample:
        # all logs from the start whose sample optimum is best (and from the nested estimate)
        ranked = sorted(ends, key=lambda e: -e["sample_loglik"] if np.isfinite(e["sample_loglik"]) else np.inf)
        for e in ranked[:1]:
            res, final, n = _optimize(eval_full, e["u"], names, tol, maxiter, gtol, progress, e["hessian_guess"])
            passes += n
            e.update(res=res, final=final, loglik=float(final.loglik))
    finished = [e for e in ends if "final" in e and np.isfinite(e["loglik"])]
    floor = max((inner.loglik for inner in nested), default=-np.inf)
    if nested and (not finished or max(e["loglik"] for e in finished) < floor):
        # a nested estimate is a point of this model: never end below it
        for (label, u_start), e in list(zip(starts, ends))[n_plain:]:
            if "final" not in e:
                res, final, n = _optimize(eval_full, u_start[free], names, tol, maxiter, gtol, progress, None)
                passes += n
                e.update(res=res, final=final, loglik=float(final.loglik))
                finished.append(e)
    if not finished:
        finished = [e for e in ends if "final" in e]
    best = max(finished, key=lambda e: e["loglik"] if np.isfinite(e["loglik"]) else -np.inf)
    res, final = best["res"], best["final"]
    u_free = np.asarray(res.x, float)
    u = full_u.copy()
    u[free] = u_free
    H = final.hessian
    G = final.n_clusters or final.n_sellers       # sellers, or subjects sharing initial trust
    unit = getattr(engine, "grouped_by", "seller")
    warn = []
    # the sandwich on the unconstrained scale (where the likelihood is close to quadratic),
    # mapped to the reported parameters by the delta method
    if np.all(np.isfinite(H)):
        c = inference.cluster_robust(H, final.meat, G, names=names)
        V_free, eig = c.robust, c.eigenvalues
    else:
        c, V_free, eig = None, np.full((len(u_free), len(u_free)), np.nan), np.full(len(u_free), np.nan)
    V = np.full((len(u), len(u)), np.nan)
    V[np.ix_(free, free)] = V_free
    if c is None or c.flat or inference.not_concave(eig):
        warn.append("the log-likelihood is flat or not concave at the estimate (Hessian "
                    f"eigenvalues of -H: {', '.join(f'{e:.3g}' for e in eig)}); "
                    + (", ".join(c.flat) + " are not identified by these logs" if c is not None and c.flat
                       else "some parameters are not identified by these logs"))
    J = natural_jacobian(u, kind, rule, segments)
    cov = inference.delta_method(V, J)
    se_model = None
    if c is not None and c.few_clusters:
        model_free = np.full(len(u), np.nan)
        model_free[free] = inference.standard_errors(inference.delta_method(c.model_based, J[free]))
        if inference.not_concave(eig):
            model_free = np.full(len(u), np.nan)
        se_model = {n: (float(v) if np.isfinite(v) else None) for n, v in zip(all_names, model_free)
                    if n not in fixed}
        warn.append(inference.few_clusters_warning(G, unit, se_model)
                    + ("" if all(v is not None for v in se_model.values())
                       else " (n/a: the log-likelihood is not concave at the estimate)"))
    se_nat = inference.standard_errors(cov)
    lo = np.array([U_BOUNDS[n][0] for n in names])
    hi = np.array([U_BOUNDS[n][1] for n in names])
    at_bound = inference.parameters_at_bounds(names, u_free, lo, hi, tol=1e-3)
    for n in at_bound:
        warn.append(f"{n} is at the bound of its range ({to_natural(u, kind, rule, segments)[n]:.4g}); its "
                    "standard error is not meaningful")
    if not res.success:
        warn.append(f"optimizer did not converge: {res.message}")
    lower = [e for e in finished if e is not best and best["loglik"] - e["loglik"] >= LOCAL_OPTIMUM_GAP]
    if lower:
        gaps = ", ".join(f"{e['loglik'] - best['loglik']:+.3g}" for e in lower)
        warn.append("local optima: from " + ", ".join(f"the {e['label']} start" for e in lower)
                    + f" the fit ends below the best ({gaps} log-likelihood); the best is reported")
    if drift_events:
        n_events = sum(int(b["length"][:int(b["n_sellers"])].sum()) for b in sample)
        warn.append(f"decay rests on the {drift_events:,} events without feedback before a later decision "
                    f"({100 * drift_events / max(n_events, 1):.2g}% of the {'sampled ' if on_sample else ''}events)")
    ex = engine.exclusions.to_dict()
    if ex["rows_excluded"] or any(ex["counts"].values()):
        warn.append("some log rows were excluded or partly used: " + "; ".join(engine.exclusions.report_lines()))
    if not any(b["feedback"].any() for b in sample):
        warn.append(f"no feedback in the sampled logs: {' and '.join(rate_names(rule))} not identified")
    if final.n_decisions == 0:
        raise TrustFitError(f"no usable decision in the logs: {final.n_events:,} events of {final.n_sellers:,} sellers "
                            f"but none with a valid {'action and own estimate' if kind == 'continuous' else 'followed flag'}"
                            + ("; " + "; ".join(engine.exclusions.report_lines()) if ex["rows_excluded"] or
                               any(ex["counts"].values()) else ""))
    if not np.isfinite(final.loglik) or not np.all(np.isfinite(u)):
        raise TrustFitError(f"the log-likelihood is not finite at the estimate ({final.loglik}): the fit has not "
                            f"converged; look for extreme values in the logs")
    est = to_natural(u, kind, rule, segments)
    fit = TrustFit(
        kind=kind, u=u, estimates=est,
        se={n: (float(se_nat[i]) if n not in fixed else float("nan")) for i, n in enumerate(all_names)},
        cov=cov, cov_unconstrained=V, loglik=final.loglik, n_sellers=final.n_sellers, n_events=final.n_events,
        n_decisions=final.n_decisions, converged=bool(res.success), message=str(res.message),
        iterations=int(res.nit), passes=passes, sample_passes=passes_sample,
        sample_sellers=sample_sellers if on_sample else 0,
        prepare_seconds=float(getattr(engine, "prepare_seconds", 0.0)),
        grad_norm=float(np.linalg.norm(final.score) / max(G, 1)),
        hessian_eigenvalues=[float(e) for e in eig], seconds=time.perf_counter() - t0,
        engine=engine.name, warnings=warn, exclusions=ex, se_model_based=se_model,
        at_bound=at_bound, flat=list(c.flat) if c is not None else [], rule=rule,
        read_in_order=getattr(engine, "read_in_order", None),
        hessian_from_previous_pass=bool(getattr(res, "hessian_moved", False)),
        seller_sample={"fraction": opts.seller_fraction, "seed": opts.sample_seed,
                       "method": "a seller is kept when a 64-bit hash of its id and the seed "
                                 "falls below fraction x 2^64",
                       "rows_of_other_sellers": engine.exclusions.outside_sample}
        if opts.sampled else None, n_nodes=n_nodes, fixed={k: v for k, v in fixed.items() if k not in unidentified},
        unidentified=unidentified, segments=segments,
        starts=[{"start": e["label"], "nodes": n_nodes, "loglik": json_number(e.get("loglik")),
                 **({"sample_loglik": json_number(e["sample_loglik"])} if "sample_loglik" in e else {})}
                for e in ends])
    if unit != "seller":
        fit.cluster_unit = unit            # (the class says seller)
        fit.n_groups = G
        fit.se_method = f"cluster-robust by {unit} (sandwich), delta method from the unconstrained scale"
    return fit


def _optimize(evaluate, u0, names, tol, maxiter, gtol, progress, hessian_guess):
    """Newton from ``u0`` on all logs, L-BFGS-B if Newton fails (e.g. a parameter running to
    the edge of its range: L-BFGS-B handles the box); ``(result, pass at the end with the
    Hessian, passes)``."""
    res = _newton(evaluate, u0, names, tol, progress=progress, hessian_guess=hessian_guess)
    passes, final = res.passes, res.last
    if not res.success:
        res, extra = _minimize(lambda u: evaluate(u, hessian=False), res.x, names, maxiter, gtol, "fit", progress)
        final = evaluate(np.asarray(res.x, float), hessian=True)
        passes += extra + 1
    return res, final, passes
