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
  contributions are paired seller by seller on either engine;
* with ``folds``, **k-fold cross-validation by seller** (:func:`cross_validate_rules`): each
  rule refitted without one fold of sellers, the held-out sellers' log-likelihood at the
  refitted parameters, ``cv_loglik`` per held-out decision; the best rule is then the one
  that predicts held-out sellers best, and the lead over the runner-up has a standard error
  from the sellers' paired differences. On large logs it runs on a sample of the sellers
  (stated in the results), in the driver's memory on either engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..comparison.predictive import paired_cv_difference
from ..comparison.confidence_set import DEFAULT_LEVEL, model_confidence_set, set_statement
from ..comparison.vuong import likelihood_ratio_test, vuong_test
from ..errors import InputError
from .estimate import TrustFitError, engine_segments, fit_trust, nested_rule
from .parameters import DECAY, RULES, rate_names, split_rule

__all__ = ["RuleComparison", "compare_rules", "check_rules", "cross_validate_rules", "NESTED", "CV_SELLERS"]

CV_SELLERS = 20_000   # default size of the seller sample that cross-validation runs on

# (bigger rule, nested rule): the nested rule is the bigger one with its two rates equal; each
# rule is also nested in its decay option (decay 0)
NESTED = (("asymmetric", "symmetric"), ("confirmation", "symmetric"))


def nested_pairs(rules) -> list[tuple[str, str, bool]]:
    """(bigger, nested, on the boundary) for the pairs among ``rules`` where one contains the
    other: the equal-rates pairs of :data:`NESTED`, with or without decay, and each rule in
    its decay option. Decay 0 is at the edge of its range, so that test's statistic is a
    50:50 mixture of chi2(0) and chi2(1) (Self and Liang, 1987): its p-value is half the
    chi2(1) one."""
    present = set(rules)
    out = [(big + d, small + d, False) for d in ("", DECAY) for big, small in NESTED
           if big + d in present and small + d in present]
    out += [(r + DECAY, r, True) for r in RULES if r in present and r + DECAY in present]
    return out


@dataclass
class RuleComparison:
    fits: dict                      # rule -> TrustFit
    likelihood_ratio: list = field(default_factory=list)
    vuong: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    seconds: float = 0.0
    logs: str = ""
    cv: dict = field(default_factory=dict)           # rule -> cross_validate_rules' result
    cv_design: dict | None = None                    # folds, seed, sellers, the sample
    _verdict: dict | None = field(default=None, repr=False)

    @property
    def best_by(self) -> str:
        return "cv_loglik" if self.cv else "BIC"

    def _scored(self) -> list:
        """The rules with a CV score (every fold converged), best first."""
        return sorted((r for r in self.cv if self.cv[r]["cv_loglik"] is not None),
                      key=lambda r: self.cv[r]["cv_loglik"], reverse=True)

    @property
    def best(self) -> str:
        if self.cv and self._scored():
            return self._scored()[0]
        return min(self.fits, key=lambda r: self.fits[r].bic)

    @property
    def verdict(self) -> dict | None:
        """With cross-validation: the model confidence set (level :data:`DEFAULT_LEVEL`) of
        the scored rules on the held-out log-likelihoods of the sellers (or subjects), and
        the sentence that states it."""
        if not self.cv:
            return None
        if self._verdict is None:
            ranked = self._scored()
            unscored = [r for r in self.cv if r not in ranked]
            if not ranked:
                self._verdict = {"confidence_set": [], "excluded": [], "level": DEFAULT_LEVEL, "unscored": unscored,
                                 "statement": "No rule has a CV score: every rule had a fold that did not converge."}
                return self._verdict
            mcs = model_confidence_set({r: -np.asarray(self.cv[r]["by_subject"], float) for r in ranked},
                                       level=DEFAULT_LEVEL, seed=self.cv_design.get("seed", 0))
            statement = set_statement(mcs["members"], mcs["excluded"], DEFAULT_LEVEL) + "."
            if unscored:
                statement += " Not in the verdict (a fold did not converge): " + ", ".join(unscored) + "."
            self._verdict = {"confidence_set": mcs["members"], "excluded": mcs["excluded"],
                             "p_values": mcs["p_values"], "level": DEFAULT_LEVEL, "method": mcs["method"],
                             "unscored": unscored, "statement": statement}
        return self._verdict

    def cv_lead(self) -> dict | None:
        """Held-out log-likelihood per decision of the best rule minus the runner-up's, with
        its standard error from the sellers' paired differences. The runner-up is the best
        of the other rules (a rule and its decay option count as one)."""
        ranked = self._scored()
        if not ranked:
            return None
        base = split_rule(ranked[0])[0]
        second = next((r for r in ranked[1:] if split_rule(r)[0] != base), None)
        if second is None:
            return None
        return {"best": ranked[0], "second": second,
                **paired_cv_difference(self.cv[ranked[0]], self.cv[second])}

    def table(self):
        import pandas as pd
        rows = {}
        for rule, f in self.fits.items():
            rows[rule] = {"loglik": f.loglik, "k": f.n_params, "AIC": f.aic, "BIC": f.bic,
                          "converged": f.converged,
                          **({f"CV loglik/decision ({self.cv_design['folds']}-fold)":
                                            (self.cv.get(rule, {}).get("cv_loglik") if self.cv.get(rule, {}).get("cv_loglik")
                               is not None else "none")} if self.cv else {}),
                          "rule's parameters (SE)": ", ".join(f"{n} {f.estimates[n]:.4g} ({f.se[n]:.2g})"
                                                              for n in rate_names(rule) + (("decay",) if rule.endswith(DECAY) else ()))}
        return pd.DataFrame(rows).T.fillna("")

    def to_dict(self) -> dict:
        from ..estimation.result import json_header
        models = []
        for rule, f in self.fits.items():
            entry = f.to_dict()
            entry["label"] = rule
            entry["cv_loglik"] = self.cv[rule]["cv_loglik"] if rule in self.cv else None
            if rule in self.cv:
                entry["cv"] = {k: v for k, v in self.cv[rule].items()
                               if k not in ("cv_loglik", "by_subject", "decisions_by_subject")}
            models.append(entry)
        cross_validation = None
        if self.cv:
            cross_validation = {**self.cv_design, "lead": self.cv_lead()}
            if self.verdict is not None:
                cross_validation["verdict"] = self.verdict
        return {**json_header("comparison"), "data": self.logs, "models": models, "likelihood_ratio": self.likelihood_ratio,
                "vuong": self.vuong, "best": self.best, "best_label": self.best, "best_by": self.best_by,
                "failed": [{"label": k, "reason": v} for k, v in self.failed.items()],
                "cross_validation": cross_validation, "seconds": round(self.seconds, 2)}

    def __str__(self) -> str:
        import pandas as pd
        first = next(iter(self.fits.values()))
        lines = [f"Learning rules of trust on {self.logs}: {first.n_sellers:,} sellers, "
                 f"{first.n_events:,} events, {first.n_decisions:,} decisions ({first.kind} adoption), "
                 f"{self.seconds:.1f} s", "",
                 self.table().to_string(float_format=lambda v: f"{v:,.2f}" if abs(v) >= 10 else f"{v:.4f}"), "",
                 f"best by {'held-out log-likelihood' if self.cv else 'BIC'}: {self.best}"]
        if self.cv:
            d, lead = self.cv_design, self.cv_lead()
            lines.append(f"cross-validation: {d['folds']} folds of sellers (by a hash of the seller id, seed "
                         f"{d['seed']}) on {d['sample']}")
            if lead:
                lines.append(f"lead of {lead['best']} over {lead['second']}: {lead['difference']:.4f} "
                             f"({lead['se']:.4f}) per held-out decision")
            lines.append("verdict: " + self.verdict["statement"])
            for rule, r in self.cv.items():
                if r["not_converged"]:
                    lines.append(f"warning ({rule}): {r['not_converged']} of {d['folds']} fold fits did not converge")
        if self.likelihood_ratio:
            frame = pd.DataFrame(self.likelihood_ratio)
            lines += ["", "Likelihood-ratio tests (nested rules)",
                      frame.drop(columns=["why"]).to_string(index=False, float_format=lambda v: f"{v:.4g}")]
            lines += [f"  {m}: {why}" for m, why in dict.fromkeys(zip(frame["method"], frame["why"]))]
        if self.vuong:
            lines += ["", "Vuong tests (seller-level contributions; z > 0 favours rule A)",
                      pd.DataFrame(self.vuong)[["model_a", "model_b", "z", "p_value", "favours"]]
                      .to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        for rule, reason in self.failed.items():
            lines.append(f"FAILED {rule}: {reason}")
        for rule, f in self.fits.items():
            lines.extend(f"warning ({rule}): {w}" for w in f.warnings)
        return "\n".join(lines)


def seller_logliks(engine, fits: dict) -> dict:
    """Each seller's (or, with a shared initial trust, each subject's) log-likelihood under
    every fitted rule (on its fit's nodes), in one pass over the packed batches (the same
    sellers in the same order for every rule)."""
    models = {rule: f.model() for rule, f in fits.items()}
    out = {rule: [] for rule in fits}
    for batch in engine.batches():
        nb = int(batch["n_sellers"])
        # with a shared initial trust, one contribution per subject (in its last seller's row)
        keep = batch["group_end"][:nb] if "group_end" in batch else slice(None)
        for rule, f in fits.items():
            ll, _, _ = models[rule].batch_pass(f.u, batch)
            out[rule].append(np.asarray(ll)[:nb][keep])
    return {rule: np.concatenate(v) if v else np.zeros(0) for rule, v in out.items()}


def cross_validate_rules(engine, fits: dict, folds: int = 5, max_sellers: int = CV_SELLERS,
                         seed: int = 0, n_nodes: int = 20, maxiter: int = 300,
                         progress: bool = False) -> tuple[dict, dict]:
    """k-fold cross-validation by seller of every fitted rule in ``fits`` (rule -> TrustFit).

    Runs on the packed batches of the first ``max_sellers`` sellers or so of ``engine`` (all
    of them on smaller logs), in memory. A seller's fold is a 64-bit hash of its id and
    ``seed`` modulo ``folds``, so that every rule is held out on the same sellers. For each
    fold, each rule is refitted on the other folds from two starts, its estimate on all logs and
    its default start, and the better by the training log-likelihood is kept (so the held-out
    sellers never choose the basin); the held-out sellers' log-likelihoods are evaluated at the
    refitted parameters. A rule with a fold that did not converge gets no score
    (``cv_loglik`` None). Returns
    ``({rule: result}, design)``; a result holds ``cv_loglik`` (held-out log-likelihood per
    held-out decision), ``per_fold``, ``not_converged``, and per seller ``by_subject`` and
    ``decisions_by_subject`` (for :func:`~cheaptalk.comparison.predictive.paired_cv_difference`).
    """
    import pyarrow as pa

    from .engines.memory import MemoryEngine, take_sellers
    from .logs.sampling import seller_hashes
    if folds < 2:
        raise InputError(f"--folds must be at least 2 (got {folds})")
    sample = engine.sample(max_sellers)
    n_sample = sum(int(b["n_sellers"]) for b in sample)
    if n_sample < 2 * folds:
        raise InputError(f"cross-validation needs at least {2 * folds} sellers for {folds} folds; the logs have "
                         f"{n_sample}")
    # folds of sellers, or of subjects when sellers share their initial trust (whole groups)
    unit = "subject" if "group_end" in sample[0] else "seller"
    fold_of = [(seller_hashes(pa.array(list(b[unit][:int(b["n_sellers"])])), seed) % np.uint64(folds)).astype(int)
               for b in sample]
    ends = np.concatenate([b["group_end"][:int(b["n_sellers"])] if unit == "subject"
                           else np.ones(int(b["n_sellers"]), bool) for b in sample])
    # decisions of each unit (in the row of its last seller)
    per_seller = np.concatenate([b["observed"][:int(b["n_sellers"])].sum(axis=1) for b in sample])
    decisions = np.add.reduceat(per_seller, np.r_[0, np.flatnonzero(ends)[:-1] + 1])
    n_all = engine.n_sellers()
    design = {"folds": int(folds), "seed": int(seed), "sellers": n_sample, "sellers_in_logs": n_all, "by": unit,
              "sample": (f"all {n_sample:,} sellers" if n_sample >= n_all else
                         f"a sample of {n_sample:,} of the {n_all:,} sellers (the first in the packed logs)")}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=folds * len(fits), desc="cross-validation", unit="fit", file=__import__("sys").stderr)
    models = {rule: fit.model() for rule, fit in fits.items()}
    held_out = {rule: [np.full(int(b["n_sellers"]), np.nan) for b in sample] for rule in fits}
    per_fold = {rule: [] for rule in fits}
    not_converged = dict.fromkeys(fits, 0)
    try:
        for k in range(folds):
            # the fold's split, made once for every rule
            train = [t for t in (take_sellers(b, f != k) for b, f in zip(sample, fold_of)) if t is not None]
            tests = [(i, f == k, t) for i, (b, f) in enumerate(zip(sample, fold_of))
                     if (t := take_sellers(b, f == k)) is not None]
            for rule, fit in fits.items():
                # two starts, the better by the training likelihood alone: the full-sample
                # estimate (which saw the held-out sellers) and the rule's default start
                # (on the nodes of the full-sample fit)
                try:
                    fk = fit_trust(MemoryEngine(engine, train), kind=fit.kind, n_nodes=fit.n_nodes, rule=rule,
                                   start=fit.estimates, maxiter=maxiter, warm_start_sellers=n_sample,
                                   segments=fit.segments,
                                   extra_starts=0, nested=False, check_quadrature=False)
                except TrustFitError:
                    fk = None
                u = fk.u if fk is not None else fit.u
                not_converged[rule] += fk is None or not fk.converged
                fold_ll = fold_n = 0.0
                for i, in_fold, test in tests:
                    n = int(test["n_sellers"])
                    ll = models[rule].batch_pass(u, test)[0][:n]
                    held_out[rule][i][in_fold] = ll
                    fold_ll += float(ll.sum())
                    fold_n += float(test["observed"][:n].sum())
                per_fold[rule].append(fold_ll / max(fold_n, 1.0))
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    out = {}
    for rule in fits:
        by_unit = np.concatenate(held_out[rule])[ends]
        score = float(by_unit.sum() / max(decisions.sum(), 1)) if not not_converged[rule] else None
        out[rule] = {"cv_loglik": score, "folds": int(folds),
                     "per_fold": per_fold[rule], "not_converged": int(not_converged[rule]), "seed": int(seed),
                     "by_subject": by_unit, "decisions_by_subject": decisions}
    return out, design


def check_rules(rules) -> None:
    """At least two different known rules (each may carry the decay option), or an
    :class:`InputError` that names the unknown ones."""
    unknown = []
    for r in rules:
        try:
            split_rule(r)
        except ValueError:
            unknown.append(r)
    if unknown:
        raise InputError(f"unknown learning rule(s) {', '.join(map(repr, unknown))}; rules are {', '.join(RULES)}, "
                         f"each also with the decay option (e.g. {RULES[0]}{DECAY})")
    if len(set(rules)) < 2:
        raise InputError("a comparison needs at least two different rules")


def compare_rules(engine, rules=RULES, kind: str | None = None, n_nodes: int | None = None,
                  warm_start_sellers: int = 10_000, progress: bool = False,
                  maxiter: int = 300, folds: int | None = None, cv_sellers: int = CV_SELLERS,
                  cv_seed: int = 0, initial_trust_by: str | None = None) -> RuleComparison:
    """Fit every rule in ``rules`` to the logs behind ``engine`` and compare them.

    ``maxiter`` caps the L-BFGS-B iterations of a fit that Newton's method could not finish;
    a fit stopped there is reported as not converged. With ``folds``,
    the rules are also cross-validated by seller (:func:`cross_validate_rules`, on at most
    ``cv_sellers`` sellers) and the best rule is the one with the highest held-out
    log-likelihood."""
    check_rules(rules)
    t0 = time.perf_counter()
    segments = engine_segments(engine, initial_trust_by) if initial_trust_by else ()
    comparison = RuleComparison(fits={}, logs=str(engine.source.events))
    requested = list(dict.fromkeys(rules))

    def fit_rule(rule):
        """Fit ``rule`` (after the rule it nests, when that is compared too, so that it
        starts also from the nested estimate and never ends below it)."""
        if rule in comparison.fits or rule in comparison.failed:
            return
        inner = nested_rule(rule)
        if inner in requested:
            fit_rule(inner)
        try:
            comparison.fits[rule] = fit_trust(engine, kind=kind, n_nodes=n_nodes, rule=rule, maxiter=maxiter,
                                              warm_start_sellers=warm_start_sellers, progress=progress,
                                              nested=comparison.fits.get(inner) if inner in requested else False,
                                              segments=segments)
        except (ValueError, RuntimeError, FloatingPointError) as exc:
            comparison.failed[rule] = str(exc)

    for rule in requested:
        fit_rule(rule)
    comparison.fits = {r: comparison.fits[r] for r in requested if r in comparison.fits}
    if len(comparison.fits) < 2:
        raise InputError("fewer than two rules could be fitted: " + "; ".join(f"{k}: {v}" for k, v in
                                                                             comparison.failed.items()))
    fits = comparison.fits
    pairs_nested = nested_pairs(fits)
    for big, small, boundary in pairs_nested:
        test = likelihood_ratio_test(fits[big].loglik, fits[small].loglik, fits[big].n_params, fits[small].n_params,
                                     big, small, method="chi-bar-square" if boundary else "chi2")
        test["boundary"] = boundary
        comparison.likelihood_ratio.append(test)
    nested = {frozenset(p[:2]) for p in pairs_nested}
    pairs = [(a, b) for i, a in enumerate(fits) for b in list(fits)[i + 1:] if frozenset((a, b)) not in nested]
    if pairs:
        contributions = seller_logliks(engine, fits)
        for a, b in pairs:
            comparison.vuong.append(vuong_test(contributions[a], contributions[b], fits[a].n_params,
                                               fits[b].n_params, a, b))
    if folds:
        comparison.cv, comparison.cv_design = cross_validate_rules(
            engine, fits, folds, cv_sellers, cv_seed, n_nodes, maxiter, progress)
    comparison.seconds = time.perf_counter() - t0
    return comparison
