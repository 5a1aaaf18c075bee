"""What a static fit returns: estimates, standard errors, diagnostics, per-subject posteriors.

A :class:`FitResult` is an :class:`~cheaptalk.estimation.result.EstimationResult`: it prints
like a paper's table, converts to a DataFrame (:meth:`FitResult.to_frame`) and to the fit
JSON (:meth:`FitResult.to_dict`, the fields in ``docs/results.md``), saves and loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..models.likelihood import type_posteriors
from ..labels import parameter_words
from .result import EstimationResult, json_number

__all__ = ["FitResult", "subject_posteriors"]

_num = json_number


@dataclass
class FitResult(EstimationResult):
    model: object
    likelihood: object
    theta: np.ndarray
    loglik: float
    cov: np.ndarray
    se: np.ndarray
    se_model: np.ndarray
    at_bound: dict
    flat: list
    hessian_eigenvalues: np.ndarray
    converged: bool
    grad_norm: float
    message: str
    iterations: int
    starts: list
    warnings: list = field(default_factory=list)
    bootstrap: dict | None = None
    seconds: float = 0.0
    smooth: bool = True
    curvature: np.ndarray | None = None    # diagonal of the information per decision (warm refits)
    degenerate: str | None = None          # "uniform choice": the fit explains nothing beyond chance
    profile: dict | None = None            # profile-likelihood intervals (fit(..., intervals="profile"))

    # --- what the base class reads -----------------------------------------------------
    @property
    def name(self) -> str:
        return self.model.name

    @property
    def param_names(self) -> list[str]:
        return self.model.param_names

    @property
    def estimate_vector(self) -> np.ndarray:
        return self.theta

    @property
    def se_vector(self) -> np.ndarray:
        return self.se

    @property
    def params(self) -> dict:
        return self.model.to_dict(self.theta)

    @property
    def n_obs(self) -> int:
        return self.likelihood.n_obs

    @property
    def n_subjects(self) -> int:
        return self.likelihood.n_clusters

    def bounds(self) -> np.ndarray:
        return np.array(self.model.bounds(), float).reshape(-1, 2)

    def subject_loglik(self) -> pd.Series:
        """Each subject's log-likelihood contribution (what Vuong tests compare)."""
        return pd.Series(self.likelihood.cluster_loglik(self.theta), index=self.likelihood.clusters,
                         name=self.name)

    def implied_type_shares(self) -> dict:
        """The share of each level type implied by the continuation shares (level-k).

        The parameters ``ROLE_level{k}_share`` are continuation shares,
        ``q_k = P(level >= k | level >= previous k)``; the types' shares are
        ``(1 - q_1, q_1 (1 - q_2), ..., q_1 q_2 ... q_n)``, with delta-method standard errors
        from the cluster-robust covariance. ``{role: [{"type", "share", "se"}]}``; empty
        for models without such parameters."""
        return implied_type_shares(self.param_names, self.theta, self.cov)

    # --- conversions -------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        frame = super().to_frame()
        frame["se_model"] = self.se_model
        frame["at_bound"] = [self.at_bound.get(n, "") for n in self.param_names]
        if self.bootstrap is not None:
            frame["se_bootstrap"] = self.bootstrap["se"]
            frame["boot_ci_low"] = self.bootstrap["ci"][:, 0]
            frame["boot_ci_high"] = self.bootstrap["ci"][:, 1]
        return frame

    def _header(self) -> dict:
        return {"game": self.model.game.name, "errors": getattr(self.model, "errors", "logit"),
                "options": self.model.recorded_options()}

    def _after_loglik(self) -> dict:
        return {"loglik_by_role": {r: _num(v) for r, v in self.likelihood.role_loglik(self.theta).items()}}

    def _trailer(self) -> dict:
        shares = self.implied_type_shares()
        return {"implied_type_shares": {r: [{**row, "share": _num(row["share"]), "se": _num(row["se"])}
                                            for row in rows] for r, rows in shares.items()}} if shares else {}

    def _param_extras(self, i: int, name: str) -> dict:
        extra = {"se_model": _num(self.se_model[i])}
        if self.bootstrap is not None:
            extra["se_bootstrap"] = _num(self.bootstrap["se"][i])
        return extra

    def _diagnostics(self) -> dict:
        return {"at_bound": dict(self.at_bound), "flat": list(self.flat), "smooth": self.smooth,
                "degenerate": self.degenerate,
                "gradient_norm": _num(self.grad_norm),
                "hessian_eigenvalues": [_num(v) for v in np.atleast_1d(self.hessian_eigenvalues)],
                "optimizer_message": self.message, "iterations": self.iterations,
                "starts": [{"loglik": _num(s["loglik"]), "converged": s["converged"]} for s in self.starts],
                "bootstrap_replications": self.bootstrap["replications"] if self.bootstrap else 0,
                "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        return str(self)

    def __str__(self) -> str:
        frame = self.to_frame()
        eig = np.atleast_1d(self.hessian_eigenvalues)
        options = ", ".join(f"{k}={','.join(v) if isinstance(v, list) else v}"
                            for k, v in self.model.recorded_options().items() if v is not None)
        lines = [f"Maximum likelihood: {self.name} on {self.model.game.name}" + (f" ({options})" if options else ""),
                 f"  decisions {self.n_obs}, subjects {self.n_subjects}, log-likelihood {self.loglik:.3f}, "
                 f"AIC {self.aic:.1f}, BIC {self.bic:.1f}",
                 f"  converged: {'yes' if self.converged else 'NO'} (L-BFGS-B, {len(self.starts)} start(s), "
                 f"projected gradient {self.grad_norm:.1e}"
                 + (f", Hessian eigenvalues {eig.min():.2e} .. {eig.max():.2e}" if eig.size else "")
                 + f", {self.seconds:.1f} s)",
                 "  standard errors: cluster-robust by subject"
                 + (f"; bootstrap by subject ({self.bootstrap['replications']} replications)" if self.bootstrap else ""),
                 ""]
        width = max(len(n) for n in self.param_names + ["parameter"])
        head = f"  {'parameter':<{width}}  {'estimate':>10}  {'(se)':>10}  {'95% CI':>23}"
        if self.bootstrap is not None:
            head += f"  {'(boot se)':>10}"
        lines.append(head)
        missing = self.not_identified()
        for name, row in frame.iterrows():
            if name in missing:
                lines.append(f"  {name:<{width}}  {'not identified':>21}  {'':>23}  {parameter_words(name)}")
                continue
            se = f"({row['se']:.4g})" if np.isfinite(row["se"]) else "(--)"
            ci = f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}]" if np.isfinite(row["ci_low"]) else ""
            line = f"  {name:<{width}}  {row['estimate']:>10.4g}  {se:>10}  {ci:>23}  {parameter_words(name)}"
            if self.bootstrap is not None:
                line += f"  {'(' + format(row['se_bootstrap'], '.4g') + ')':>10}"
            if row["at_bound"]:
                line += f"  at {row['at_bound']} bound"
            lines.append(line)
        shares = self.implied_type_shares()
        if shares:
            lines.append("")
            lines.append("  implied shares of the level types (delta-method se)")
            for role, rows in shares.items():
                lines.append(f"    {role}s: " + ", ".join(
                    f"{r['type']} {r['share']:.3f}" + (f" ({r['se']:.3f})" if np.isfinite(r["se"]) else " (--)")
                    for r in rows))
        if self.warnings:
            lines.append("")
            lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    # --- individuals -------------------------------------------------------------------
    def subject_posteriors(self, level: float = 0.90) -> pd.DataFrame:
        return subject_posteriors(self, level=level)

    def type_membership(self) -> pd.DataFrame:
        return type_membership(self)


_CONTINUATION = re.compile(r"^(sender|receiver)_level(\d+)_share$")


def implied_type_shares(names, theta, cov) -> dict:
    """See :meth:`FitResult.implied_type_shares`."""
    theta, cov = np.asarray(theta, float), np.asarray(cov, float)
    out = {}
    for role in ("sender", "receiver"):
        found = sorted((int(m.group(2)), i) for i, n in enumerate(names) if (m := _CONTINUATION.match(n))
                       and m.group(1) == role)
        if not found:
            continue
        levels = [k for k, _ in found]
        idx = [i for _, i in found]
        q = theta[idx]
        n = len(q)
        # share_j = prod_{i<j} q_i * (1 - q_j) for j < n; share_n = prod q
        shares, jac = np.zeros(n + 1), np.zeros((n + 1, len(theta)))
        for j in range(n + 1):
            head = np.prod(q[:j])
            shares[j] = head * (1 - q[j]) if j < n else head
            for i in range(min(j + 1, n)):
                if i < j:
                    others = np.prod(np.delete(q[:j], i))
                    jac[j, idx[i]] = others * (1 - q[j]) if j < n else others
                else:
                    jac[j, idx[i]] = -head
        # only the continuation shares enter: their block of the covariance (other
        # parameters without a standard error must not spread NaN into these)
        block = cov[np.ix_(idx, idx)]
        se = np.sqrt(np.clip(np.diag(jac[:, idx] @ block @ jac[:, idx].T), 0, None))
        bounds = [0] + levels
        labels = []
        for j in range(n + 1):
            lo = bounds[j]
            if j == n:
                labels.append(f"level {lo}+")
            else:
                hi = bounds[j + 1] - 1
                labels.append(f"level {lo}" if hi == lo else f"levels {lo}-{hi}")
        out[role] = [{"type": lab, "share": float(v), "se": float(e)} for lab, v, e in zip(labels, shares, se)]
    return out


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w) / w.sum()
    return float(v[min(np.searchsorted(cum, q - 1e-12), len(v) - 1)])


def _numeric_attributes(result) -> dict:
    out = {}
    for role, attrs in (result.model.type_attributes() or {}).items():
        for attr, values in attrs.items():
            arr = np.asarray(values)
            if arr.dtype.kind in "fiub":
                out.setdefault(role, {})[attr] = arr.astype(float)
    return out


def subject_posteriors(result: FitResult, level: float = 0.90) -> pd.DataFrame:
    """Each subject's posterior mean of every numeric type attribute, with an interval.

    With types ``t`` of prior probability ``pi_t`` and subject ``i``'s decisions ``D_i``,
    ``P(t | D_i) ∝ pi_t prod_{d in D_i} f(d | t)`` at the estimated parameters (empirical
    Bayes: parameter uncertainty is not propagated). For an attribute ``x_t`` (trust,
    trustworthiness, level) the row gives ``E[x | D_i]`` over the types that have it, the
    central ``level`` interval of that posterior, and ``p_defined``, the posterior
    probability of being a type that has the attribute at all (below 1 in mixtures).
    """
    lik = result.likelihood
    posts = type_posteriors(result.model, result.theta, lik.prepared)
    rows = []
    lo_q, hi_q = 0.5 - level / 2, 0.5 + level / 2
    for role, attrs in _numeric_attributes(result).items():
        if role not in posts:
            continue
        post = np.asarray(posts[role])
        subjects = np.asarray(lik.prepared.roles[role].subjects, dtype=str)
        counts = np.bincount(lik.prepared.roles[role].subject_codes, minlength=len(subjects))
        for attr, x in attrs.items():
            defined = np.isfinite(x)
            for i, subject in enumerate(subjects):
                w = post[i, defined]
                p_def = float(w.sum())
                if p_def <= 1e-12:
                    mean = low = high = np.nan
                else:
                    mean = float(np.sum(w * x[defined]) / p_def)
                    low = _weighted_quantile(x[defined], w, lo_q)
                    high = _weighted_quantile(x[defined], w, hi_q)
                rows.append({"subject": subject, "role": role, "decisions": int(counts[i]), "attribute": attr,
                             "mean": mean, "low": low, "high": high, "p_defined": p_def})
    return pd.DataFrame(rows, columns=["subject", "role", "decisions", "attribute", "mean", "low", "high",
                                       "p_defined"])


def type_membership(result: FitResult) -> pd.DataFrame:
    """Posterior probability of each value of every discrete type attribute (level, family,
    point masses of trust at 0 and 1), per subject: ``subject, role, attribute, value, probability``.
    Attributes with more than 12 distinct values (quadrature nodes) are summarized by
    :func:`subject_posteriors` instead."""
    lik = result.likelihood
    posts = type_posteriors(result.model, result.theta, lik.prepared)
    rows = []
    for role, attrs in (result.model.type_attributes() or {}).items():
        if role not in posts:
            continue
        post = np.asarray(posts[role])
        subjects = np.asarray(lik.prepared.roles[role].subjects, dtype=str)
        for attr, values in attrs.items():
            arr = np.asarray(values)
            labels = np.array(["n/a" if (arr.dtype.kind == "f" and not np.isfinite(v)) else
                               (format(v, "g") if arr.dtype.kind in "fiu" else str(v)) for v in arr])
            uniq = list(dict.fromkeys(labels))
            if len(uniq) > 12:
                continue
            for k, label in enumerate(uniq):
                p = post[:, labels == label].sum(axis=1)
                rows.extend({"subject": s, "role": role, "attribute": attr, "value": label,
                             "probability": float(p[i])} for i, s in enumerate(subjects))
    return pd.DataFrame(rows, columns=["subject", "role", "attribute", "value", "probability"])
