"""Which learning rule explains how trust evolves: every rule fitted to the same logs, compared.

Each rule (:data:`cheaptalk.dynamics.parameters.RULES`) is fitted by :func:`fit_trust` on the
same engine (the logs are read and packed once). The comparison reports, as the static
``compare`` does:

* log-likelihood, parameters, AIC and BIC, and the best rule by BIC;
* **likelihood-ratio tests** for nested pairs: ``symmetric`` is ``asymmetric`` with
  ``eta_up = eta_down`` and ``confirmation`` with ``eta_confirm = eta_disconfirm``, so
  ``2 (log L_big - log L_symmetric) ~ chi2(1)``;
* **Vuong tests** for the other pairs (``asymmetric`` against ``confirmation``, ``bayes``
  and ``wsls`` against every other rule) on the
  sellers' log-likelihood contributions at each rule's estimate, Schwarz-corrected,
  computed in one extra pass over the logs that evaluates every rule on each batch, so the
  contributions are paired seller by seller on either engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..comparison.vuong import likelihood_ratio_test, vuong_test
from ..errors import InputError
from .estimate import TrustFit, fit_trust
from .model import TrustDynamics
from .parameters import RATE_NAMES, RULES

__all__ = ["RuleComparison", "compare_rules", "NESTED"]

# (bigger rule, nested rule): the nested rule is the bigger one with its two rates equal
NESTED = (("asymmetric", "symmetric"), ("confirmation", "symmetric"))


@dataclass
class RuleComparison:
    fits: dict                      # rule -> TrustFit
    likelihood_ratio: list = field(default_factory=list)
    vuong: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    seconds: float = 0.0
    logs: str = ""

    @property
    def best(self) -> str:
        return min(self.fits, key=lambda r: self.fits[r].bic)

    def table(self):
        import pandas as pd
        rows = {}
        for rule, f in self.fits.items():
            rows[rule] = {"loglik": f.loglik, "k": f.n_params, "AIC": f.aic, "BIC": f.bic,
                          "converged": f.converged,
                          "rule's parameters (SE)": ", ".join(f"{n} {f.estimates[n]:.4g} ({f.se[n]:.2g})"
                                                              for n in RATE_NAMES[rule])}
        return pd.DataFrame(rows).T.fillna("")

    def to_dict(self) -> dict:
        from ..estimation.result import json_header
        models = []
        for rule, f in self.fits.items():
            entry = f.to_dict()
            entry["label"] = rule
            models.append(entry)
        return {**json_header("comparison"), "data": self.logs, "models": models, "likelihood_ratio": self.likelihood_ratio,
                "vuong": self.vuong, "best": self.best, "best_label": self.best, "best_by": "BIC",
                "failed": [{"label": k, "reason": v} for k, v in self.failed.items()],
                "cross_validation": None, "seconds": round(self.seconds, 2)}

    def __str__(self) -> str:
        import pandas as pd
        first = next(iter(self.fits.values()))
        lines = [f"Learning rules of trust on {self.logs}: {first.n_sellers:,} sellers, "
                 f"{first.n_events:,} events, {first.n_decisions:,} decisions ({first.kind} adoption), "
                 f"{self.seconds:.1f} s", "",
                 self.table().to_string(float_format=lambda v: f"{v:,.2f}"), "",
                 f"best by BIC: {self.best}"]
        if self.likelihood_ratio:
            lines += ["", "Likelihood-ratio tests (nested rules)",
                      pd.DataFrame(self.likelihood_ratio).to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        if self.vuong:
            lines += ["", "Vuong tests (seller-level contributions; z > 0 favours rule A)",
                      pd.DataFrame(self.vuong)[["model_a", "model_b", "z", "p_value", "favours"]]
                      .to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        for rule, reason in self.failed.items():
            lines.append(f"FAILED {rule}: {reason}")
        for rule, f in self.fits.items():
            lines.extend(f"warning ({rule}): {w}" for w in f.warnings)
        return "\n".join(lines)


def seller_logliks(engine, fits: dict, n_nodes: int = 20) -> dict:
    """Each seller's log-likelihood under every fitted rule, in one pass over the packed
    batches (the same sellers in the same order for every rule)."""
    models = {rule: TrustDynamics(f.kind, n_nodes, rule) for rule, f in fits.items()}
    out = {rule: [] for rule in fits}
    for batch in engine.batches():
        nb = int(batch["n_sellers"])
        for rule, f in fits.items():
            ll, _, _ = models[rule].batch_pass(f.u, batch)
            out[rule].append(np.asarray(ll)[:nb])
    return {rule: np.concatenate(v) if v else np.zeros(0) for rule, v in out.items()}


def compare_rules(engine, rules=RULES, kind: str | None = None, n_nodes: int = 20,
                  warm_start_sellers: int = 10_000, progress: bool = False,
                  maxiter: int = 300) -> RuleComparison:
    """Fit every rule in ``rules`` to the logs behind ``engine`` and compare them.

    The confirmation rule's log-likelihood jumps wherever a trust path crosses 1/2 (the rate
    switches there while trust is away from the feedback), so Newton's steps stall and
    L-BFGS-B finishes its fits, slowly: at 1e7 events a comparison of the three rules takes
    about 19 times one fit (``benchmarks/README.md``). ``maxiter`` caps the L-BFGS-B
    iterations per fit; a fit stopped there is reported as not converged."""
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise InputError(f"unknown learning rule(s) {', '.join(map(repr, unknown))}; rules are {', '.join(RULES)}")
    if len(set(rules)) < 2:
        raise InputError("a comparison needs at least two different rules")
    t0 = time.perf_counter()
    comparison = RuleComparison(fits={}, logs=str(engine.source.events))
    for rule in dict.fromkeys(rules):
        try:
            fit: TrustFit = fit_trust(engine, kind=kind, n_nodes=n_nodes, rule=rule, maxiter=maxiter,
                                      warm_start_sellers=warm_start_sellers, progress=progress)
        except (ValueError, RuntimeError, FloatingPointError) as exc:
            comparison.failed[rule] = str(exc)
            continue
        comparison.fits[rule] = fit
    if len(comparison.fits) < 2:
        raise InputError("fewer than two rules could be fitted: " + "; ".join(f"{k}: {v}" for k, v in
                                                                             comparison.failed.items()))
    fits = comparison.fits
    for big, small in NESTED:
        if big in fits and small in fits:
            comparison.likelihood_ratio.append(likelihood_ratio_test(
                fits[big].loglik, fits[small].loglik, fits[big].n_params, fits[small].n_params, big, small))
    nested = {frozenset(p) for p in NESTED}
    pairs = [(a, b) for i, a in enumerate(fits) for b in list(fits)[i + 1:] if frozenset((a, b)) not in nested]
    if pairs:
        contributions = seller_logliks(engine, fits, n_nodes)
        for a, b in pairs:
            comparison.vuong.append(vuong_test(contributions[a], contributions[b], fits[a].n_params,
                                               fits[b].n_params, a, b))
    comparison.seconds = time.perf_counter() - t0
    return comparison
