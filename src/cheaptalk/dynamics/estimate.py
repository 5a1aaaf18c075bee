"""Maximum likelihood for the dynamic trust model, with seller-clustered standard errors.

The engines sum, per pass over the logs, the log-likelihood, the score and the outer
products of per-seller scores. The optimizer (scipy L-BFGS-B, exact gradients) works on the
unconstrained vector ``u`` (logit of the rates and the mean, log of the concentration and
the noise scale) inside a wide box; the box keeps it away from numerically degenerate
corners and a parameter ending on it is reported.

Standard errors are the cluster-robust sandwich with sellers as clusters,
``V = G/(G-1) H^-1 (sum_i s_i s_i') H^-1`` with ``H`` the Hessian of the total
log-likelihood and ``s_i`` seller ``i``'s score, mapped to the reported scale by the delta
method. A seller's decisions are dependent through its trust path, so clustering by seller
is the natural unit.

At scale, the optimization starts from the estimate on a sample of sellers (one batch or a
few): the full-data passes then only polish, which saves most of the passes over all logs.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from .engines import PassResult, evaluate_batch
from .model import DESCRIPTIONS, PARAMETER_NAMES, TrustDynamics, natural_jacobian, to_natural, \
    to_unconstrained

__all__ = ["TrustFit", "fit_trust", "default_start", "U_BOUNDS"]

# box on the unconstrained scale: rates and mean in [1.2e-4, 0.99988], concentration in
# [0.05, 1e4], noise scale / slope within wide limits
U_BOUNDS = {"eta_up": (-9.0, 9.0), "eta_down": (-9.0, 9.0), "initial_trust_mean": (-9.0, 9.0),
            "initial_trust_concentration": (np.log(0.05), np.log(1e4)),
            "sd_action": (-12.0, 12.0), "follow_slope": (np.log(1e-3), np.log(50.0))}


@dataclass
class TrustFit:
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

    @property
    def n_params(self) -> int:
        return len(self.u)

    @property
    def aic(self) -> float:
        return 2 * self.n_params - 2 * self.loglik

    @property
    def bic(self) -> float:
        return self.n_params * np.log(max(self.n_decisions, 1)) - 2 * self.loglik

    def to_json(self) -> dict:
        """The fit-JSON shape shared with ``cheaptalk fit --json``, plus diagnostics."""
        return {
            "model": f"trust-dynamics-{self.kind}",
            "loglik": self.loglik, "n_params": self.n_params, "n_obs": self.n_decisions,
            "n_subjects": self.n_sellers, "aic": self.aic, "bic": self.bic,
            "converged": self.converged,
            "params": {k: {"estimate": self.estimates[k], "se": self.se[k]} for k in self.estimates},
            "engine": self.engine, "n_events": self.n_events,
            "se_type": "cluster-robust by seller (sandwich)",
            "diagnostics": {"message": self.message, "iterations": self.iterations,
                            "passes_over_logs": self.passes, "gradient_norm": self.grad_norm,
                            "warm_start_sample_sellers": self.sample_sellers,
                            "passes_over_sample": self.sample_passes,
                            "hessian_eigenvalues": self.hessian_eigenvalues,
                            "seconds": self.seconds,
                            "prepare_seconds": self.prepare_seconds},
            "warnings": self.warnings,
            "exclusions": self.exclusions,
        }

    def summary(self) -> str:
        lines = [f"Dynamic trust model ({self.kind} adoption), engine {self.engine}",
                 f"  sellers {self.n_sellers:,}  events {self.n_events:,}  decisions {self.n_decisions:,}",
                 f"  log-likelihood {self.loglik:,.3f}  AIC {self.aic:,.1f}  BIC {self.bic:,.1f}",
                 f"  converged {self.converged} ({self.message}); {self.iterations} iterations, "
                 f"{self.passes} passes over all logs"
                 + (f" after {self.sample_passes} over a sample of {self.sample_sellers:,} sellers"
                    if self.sample_sellers else "")
                 + f"; |gradient| {self.grad_norm:.2e}",
                 f"  {self.prepare_seconds:.1f} s reading and packing the logs, "
                 f"{self.seconds:.1f} s estimating",
                 "",
                 f"  {'parameter':<28}{'estimate':>12}{'se (seller)':>14}",
                 ]
        for k, v in self.estimates.items():
            lines.append(f"  {k:<28}{v:>12.5g}{self.se[k]:>14.4g}")
        if self.warnings:
            lines += [""] + [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def default_start(kind: str, batches) -> np.ndarray:
    """Start: symmetric rates 0.3, initial trust Beta(2, 2); the action noise from the
    pooled regression of ``a - own`` on ``m - own`` in the sample (continuous)."""
    start = {"eta_up": 0.3, "eta_down": 0.3, "initial_trust_mean": 0.5,
             "initial_trust_concentration": 4.0, "sd_action": 1.0, "follow_slope": 1.0}
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
    return to_unconstrained({k: start[k] for k in PARAMETER_NAMES[kind]}, kind)


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


def _minimize(evaluate, u0, kind, maxiter, gtol, progress_desc=None, progress=False):
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc=progress_desc, unit="pass", file=sys.stderr, leave=False)
    obj = _Objective(evaluate, len(u0), bar)
    bounds = [U_BOUNDS[n] for n in PARAMETER_NAMES[kind]]
    u0 = np.clip(u0, [b[0] + 1e-6 for b in bounds], [b[1] - 1e-6 for b in bounds])
    try:
        res = optimize.minimize(obj, u0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": maxiter, "ftol": 1e-13, "gtol": gtol,
                                         "maxcor": 20})
    finally:
        if bar is not None:
            bar.close()
    return res, obj.passes


class _NewtonResult:
    def __init__(self, x, success, message, nit, passes):
        self.x, self.success, self.message, self.nit, self.passes = x, success, message, nit, passes


def _newton_polish(evaluate, u0, kind, hessian, progress=False, max_iter=25, tol=1e-11):
    """Newton steps on all logs with a fixed Hessian (the sample's, scaled to all sellers).

    Each step costs one pass. The sample Hessian differs from the full one by sampling
    noise, so the iteration contracts linearly and fast (each step gains about the
    log10 of the sample size in digits); a step that lowers the log-likelihood is halved.
    Stops when the Newton decrement per seller falls below ``tol``; reports failure
    (the caller then runs L-BFGS-B) if it stalls or reaches a bound.
    """
    names = PARAMETER_NAMES[kind]
    lo = np.array([U_BOUNDS[n][0] for n in names])
    hi = np.array([U_BOUNDS[n][1] for n in names])
    try:
        neg_h_inv = np.linalg.inv(-hessian)
        np.linalg.cholesky(-hessian)
    except np.linalg.LinAlgError:
        return _NewtonResult(u0, False, "sample Hessian not negative definite", 0, 0)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc="fit (Newton)", unit="pass", file=sys.stderr, leave=False)
    u = np.array(u0, float)
    passes = 0
    r = evaluate(u)
    passes += 1
    try:
        for it in range(1, max_iter + 1):
            step = neg_h_inv @ r.score
            decrement = float(r.score @ step) / max(r.n_sellers, 1)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loglik=f"{r.loglik:.6g}", decrement=f"{decrement:.1e}")
            if decrement < tol:
                return _NewtonResult(u, True, f"Newton decrement {decrement:.1e} per seller", it, passes)
            for _ in range(8):
                cand = np.clip(u + step, lo, hi)
                rc = evaluate(cand)
                passes += 1
                if np.isfinite(rc.loglik) and rc.loglik >= r.loglik - 1e-9 * abs(r.loglik):
                    break
                step = step / 2
            else:
                return _NewtonResult(u, False, "Newton step could not increase the log-likelihood",
                                     it, passes)
            u, r = cand, rc
            if np.any(u <= lo + 1e-9) or np.any(u >= hi - 1e-9):
                return _NewtonResult(u, False, "Newton iterate reached a bound", it, passes)
        return _NewtonResult(u, False, "Newton iterations exhausted", max_iter, passes)
    finally:
        if bar is not None:
            bar.close()


def fit_trust(engine, kind: str | None = None, n_nodes: int = 20, start: dict | None = None,
              warm_start_sellers: int = 20_000, maxiter: int = 300, gtol: float = 1e-7,
              progress: bool = False) -> TrustFit:
    """Fit the dynamic trust model to the logs behind ``engine`` (prepared on demand)."""
    engine.prepare()
    t0 = time.perf_counter()   # estimation only; the engine times its preparation
    kind = kind or engine.source.options.adoption
    model = TrustDynamics(kind, n_nodes)
    names = PARAMETER_NAMES[kind]
    sample = engine.sample(warm_start_sellers)
    if not sample:
        raise ValueError(f"{engine.source.events}: no usable events after exclusions "
                         f"({'; '.join(engine.exclusions.report_lines()) or 'the logs are empty'})")
    u0 = to_unconstrained(start, kind) if start else default_start(kind, sample)
    passes = 0
    sample_sellers = sum(int(b["n_sellers"]) for b in sample)

    def eval_sample(u):
        total = PassResult(len(u))
        for b in sample:
            total += evaluate_batch(model, u, b)
        return total

    full_sellers = engine.n_sellers()
    passes_sample = 0
    newton = None
    if full_sellers > sample_sellers:
        res0, passes_sample = _minimize(eval_sample, u0, kind, maxiter, gtol * 10, "fit on a sample",
                                        progress)
        u0 = res0.x
        h_sample = PassResult(len(u0), True)
        for b in sample:
            h_sample += evaluate_batch(model, u0, b, hessian=True)
        passes_sample += 1
        newton = _newton_polish(lambda u: engine.evaluate(model, u), u0, kind,
                                h_sample.hessian * (full_sellers / sample_sellers), progress)
    if newton is not None and newton.success:
        res, passes = newton, newton.passes
    else:
        start_u = newton.x if newton is not None else u0
        res, passes = _minimize(lambda u: engine.evaluate(model, u), start_u, kind, maxiter, gtol,
                                "fit", progress)
        passes += newton.passes if newton is not None else 0
    u = np.asarray(res.x, float)
    final = engine.evaluate(model, u, hessian=True)
    passes += 1
    H = final.hessian
    G = final.n_sellers
    warn = []
    try:
        eig = np.linalg.eigvalsh(-H)
    except np.linalg.LinAlgError:
        eig = np.full(len(u), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Hinv = np.linalg.inv(H)
            V = Hinv @ final.meat @ Hinv * (G / max(G - 1, 1))
        except np.linalg.LinAlgError:
            V = np.full((len(u), len(u)), np.nan)
    if not np.all(np.isfinite(eig)) or eig.min() <= 1e-8 * max(eig.max(), 1e-300):
        warn.append("the log-likelihood is flat or not concave at the estimate (Hessian "
                    f"eigenvalues of -H: {', '.join(f'{e:.3g}' for e in eig)}); some parameters "
                    "are not identified by these logs")
    J = natural_jacobian(u, kind)
    cov = V * np.outer(J, J)
    se_nat = np.sqrt(np.clip(np.diag(cov), 0, None))
    se_nat = np.where(np.isfinite(np.diag(cov)) & (np.diag(cov) >= 0), se_nat, np.nan)
    for i, n in enumerate(names):
        lo, hi = U_BOUNDS[n]
        if u[i] <= lo + 1e-3 or u[i] >= hi - 1e-3:
            warn.append(f"{n} is at the bound of its range ({to_natural(u, kind)[n]:.4g}); its "
                        "standard error is not meaningful")
    if not res.success:
        warn.append(f"optimizer did not converge: {res.message}")
    ex = engine.exclusions.to_dict()
    if ex["rows_excluded"] or any(ex["counts"].values()):
        warn.append("some log rows were excluded or partly used: " + "; ".join(engine.exclusions.report_lines()))
    if not any(b["feedback"].any() for b in sample):
        warn.append("no feedback in the sampled logs: eta_up and eta_down are not identified")
    est = to_natural(u, kind)
    return TrustFit(
        kind=kind, u=u, estimates=est, se={n: float(se_nat[i]) for i, n in enumerate(names)},
        cov=cov, loglik=final.loglik, n_sellers=final.n_sellers, n_events=final.n_events,
        n_decisions=final.n_decisions, converged=bool(res.success), message=str(res.message),
        iterations=int(res.nit), passes=passes, sample_passes=passes_sample,
        sample_sellers=sample_sellers if full_sellers > sample_sellers else 0,
        prepare_seconds=float(getattr(engine, "prepare_seconds", 0.0)),
        grad_norm=float(np.linalg.norm(final.score) / max(G, 1)),
        hessian_eigenvalues=[float(e) for e in eig], seconds=time.perf_counter() - t0,
        engine=engine.name, warnings=warn, exclusions=ex)
