"""Fit every model to the same data and compare them on explanatory and predictive power.

:func:`compare_models` returns a :class:`Comparison`: the fits (log-likelihood, parameters
with cluster-robust standard errors, AIC, BIC), Vuong tests between every non-nested pair
and likelihood-ratio tests for nested pairs, k-fold cross-validation by subject, the
prediction of each held-out treatment, the behavioural regularities of the data beside each
model's simulated ones, welfare under each fitted model and each subject's posterior trust
and type. ``best`` is the model with the highest cross-validated log-likelihood per decision.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from ..errors import InputError
from ..labels import parameter_words
from ..estimation import EstimationWarning, Likelihood, fit
from ..estimation.mle import same_maximum
from ..models import MODEL_NAMES, get_model, model_class
from ..models.noise import ERROR_MODELS
from ..models.forecast_common import DEFAULT_EXACT_TOLERANCE
from .confidence_set import DEFAULT_LEVEL, MCS_REPLICATIONS, model_confidence_set, set_statement
from .predictive import cross_validate, holdout_treatments, paired_cv_difference
from .regularities import data_welfare, model_regularities, regularities, regularity_table
from .vuong import bootstrap_likelihood_ratio, is_nested, likelihood_ratio_test, vuong_test

__all__ = ["compare_models", "Comparison", "available_models"]


def available_models(game_spec) -> list[str]:
    """Registered models that exist for this kind of game (in registry order)."""
    out = []
    for name in MODEL_NAMES:
        try:
            model_class(name, game_spec.kind)
        except (KeyError, ImportError, AttributeError):
            continue
        out.append(name)
    return out


def _option_names(name: str, game_spec) -> set:
    return {o.name for o in model_class(name, game_spec.kind).option_specs()}


def _has_rule_types(model) -> bool:
    return any(np.any(mask) for mask in model.rule_types().values()) if hasattr(model, "rule_types") else False


def _error_models(name, game_spec) -> tuple:
    """The error models family ``name`` is defined under on this kind of game (a ready model
    instance: the one it has)."""
    if not isinstance(name, str):
        return (getattr(name, "errors", "logit"),)
    spec = {o.name: o for o in model_class(name, game_spec.kind).option_specs()}.get("errors")
    return tuple(spec.allowed) if spec else ("logit",)


@dataclass
class Comparison:
    game: object
    data: pd.DataFrame
    data_path: str
    fits: dict                                   # name -> FitResult
    cv: dict = field(default_factory=dict)       # name -> cross-validation result
    holdout: dict = field(default_factory=dict)  # name -> {treatment: {...}}
    vuong: list = field(default_factory=list)
    lr_tests: list = field(default_factory=list)
    regularities: pd.DataFrame | None = None     # long table: treatment, statistic, data, models...
    simulations: dict = field(default_factory=dict)
    welfare: dict = field(default_factory=dict)  # name -> {treatment: {quantity: value}}
    data_welfare: dict = field(default_factory=dict)  # {treatment: {quantity: value}}: the data's own (finite games)
    cleaning: object = None
    seconds: float = 0.0
    notes: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)   # label -> why the model could not be fitted
    skipped: dict = field(default_factory=dict)  # label -> why the pair (family, errors) does not exist
    errors: list = field(default_factory=list)   # the error models compared
    label_errors: dict = field(default_factory=dict)  # label -> its error model
    same_as: dict = field(default_factory=dict)  # label -> the label of the identical model fitted once
    level: float = DEFAULT_LEVEL                 # of the model confidence sets
    mcs_replications: int = MCS_REPLICATIONS
    seed: int = 0
    _verdicts: dict = field(default_factory=dict, repr=False)   # (level, replications) -> verdict, computed once

    def _score(self, label) -> float:
        """Held-out log-likelihood per decision (with CV; None-scored models rank last),
        else minus BIC."""
        if self.cv:
            value = self.cv.get(label, {}).get("cv_loglik")
            return value if value is not None else -np.inf
        return -self.fits[label].bic

    def scored(self, label) -> bool:
        """Whether the model takes part in the verdict: it has a CV score (every fold
        converged), or there is no cross-validation."""
        return not self.cv or self.cv.get(label, {}).get("cv_loglik") is not None

    @property
    def best(self) -> str:
        """Highest cross-validated log-likelihood per decision (lowest BIC without CV)."""
        candidates = [lab for lab in self.fits if self.scored(lab)] or list(self.fits)
        return max(candidates, key=self._score)

    def _family(self, label) -> str:
        return self.fits[label].name

    def errors_of(self, label) -> str:
        return self.label_errors.get(label) or getattr(self.fits[label].model, "errors", "logit")

    def _labels_under(self, errors) -> list:
        """The scored fits under ``errors``, best first, one per family (copies fitted once
        under another label left out)."""
        labels = sorted((lab for lab in self.fits if self.errors_of(lab) == errors and self.scored(lab)),
                        key=self._score, reverse=True)
        seen, out = set(), []
        for lab in labels:
            if self._family(lab) not in seen:
                seen.add(self._family(lab))
                out.append(lab)
        return out

    def _confidence_set(self, labels) -> dict | None:
        """The model confidence set of ``labels`` on the subjects' held-out losses."""
        if not self.cv or not labels:
            return None
        losses = {lab: -np.asarray(self.cv[lab]["by_subject"], float) for lab in labels}
        return model_confidence_set(losses, level=self.level, reps=self.mcs_replications, seed=self.seed)

    @property
    def verdict(self) -> dict:
        """What the evidence says, under each error model and over all fits.

        With cross-validation: under each error model, the model confidence set
        (:mod:`.confidence_set`, ``level``) of the families on the subjects' held-out losses:
        the families the held-out data cannot tell apart from the best. ``by_errors`` names
        the family with the highest held-out score (the point estimate), ``confidence_sets``
        what the data support; ``statement`` is the sentence printed, naming one family only
        where its set has one member. ``robust``: the same set under every error model (and
        no model failed or lost its CV score). ``lead``: the held-out difference per decision
        between the two leading families, with its standard error paired by subject.
        Without cross-validation the ranking is by BIC, and no set is formed (the statement
        says so)."""
        key = (self.level, self.mcs_replications)
        if key in self._verdicts:
            return self._verdicts[key]
        by_errors, leads, sets, excluded, p_values = {}, {}, {}, {}, {}
        for errors in self.errors:
            labels = self._labels_under(errors)
            if not labels:
                continue
            by_errors[errors] = self._family(labels[0])
            if self.cv and len(labels) > 1:
                other = labels[1]
                leads[errors] = {"best": self._family(labels[0]), "second": self._family(other),
                                 **paired_cv_difference(self.cv[labels[0]], self.cv[other])}
            mcs = self._confidence_set(labels)
            if mcs is not None:
                sets[errors] = [self._family(lab) for lab in mcs["members"]]
                excluded[errors] = [self._family(lab) for lab in mcs["excluded"]]
                p_values[errors] = {self._family(lab): p for lab, p in mcs["p_values"].items()}
        best = self.best
        unscored = sorted(lab for lab in self.fits if not self.scored(lab))
        out = {"by_errors": by_errors,
               "best": {"model": self._family(best), "errors": self.errors_of(best)},
               "by": self.best_by, "level": self.level}
        if sets:
            overall = self._confidence_set([lab for lab in self.fits if self.scored(lab)
                                            and lab not in self.same_as])
            out["confidence_sets"] = sets
            out["excluded"] = excluded
            out["mcs_p_values"] = p_values
            out["confidence_set"] = [{"model": self._family(lab), "errors": self.errors_of(lab)}
                                     for lab in overall["members"]]
            out["method"] = overall["method"]
            out["same_set_under_every_error_model"] = (len({tuple(sorted(v)) for v in sets.values()}) == 1
                                                       and len(sets) == len(self.errors))
            out["robust"] = out["same_set_under_every_error_model"] and not self.failed and not unscored
        else:
            out["confidence_sets"] = None
            out["robust"] = len(set(by_errors.values())) == 1 and not self.failed
        if unscored:
            out["unscored"] = {lab: f"{self.cv[lab]['not_converged']} of {self.cv[lab]['folds']} fold refits "
                                    "did not converge: no CV score" for lab in unscored}
        if leads:
            out["lead"] = leads
        out["statement"] = self._statement(out)
        self._verdicts[key] = out
        return out

    def _statement(self, v) -> str:
        """The verdict in sentences, resting on the confidence sets alone."""
        if not v.get("confidence_sets"):
            ranking = "; ".join(f"under {e}: {f}" for e, f in v["by_errors"].items())
            return (f"Lowest BIC {ranking}. Without cross-validation (--folds 0) no confidence set is formed: "
                    "the ranking's uncertainty is not assessed.")
        parts = [f"Under {e} errors: " + set_statement(v["confidence_sets"][e], v["excluded"][e], self.level) + "."
                 for e in v["confidence_sets"]]
        if len(self.errors) > 1:
            if v["same_set_under_every_error_model"]:
                parts.append("The same set under every error model" + (": the verdict is robust to the noise."
                             if v["robust"] else ", among the families that could be scored."))
            else:
                parts.append("The sets differ between error models: the verdict depends on the noise.")
        if v.get("unscored"):
            parts.append("Not in the verdict (a cross-validation refit did not converge, so no CV score): "
                         + ", ".join(v["unscored"]) + ".")
        if self.failed:
            parts.append("Not in the verdict (could not be fitted): " + ", ".join(self.failed) + ".")
        return " ".join(parts)

    def verdict_table(self) -> pd.DataFrame:
        """One row per error model: the confidence set, the best family, the runner-up and
        the held-out difference."""
        v = self.verdict
        rows = []
        for errors, family in v["by_errors"].items():
            lead = v.get("lead", {}).get(errors, {})
            row = {"errors": errors}
            if v.get("confidence_sets"):
                row[f"{100 * self.level:.0f}% confidence set"] = ", ".join(v["confidence_sets"].get(errors, []))
            row.update({"highest CV": family, "runner-up": lead.get("second", ""),
                        "CV difference/decision": lead.get("difference", np.nan), "se": lead.get("se", np.nan)})
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def best_by(self) -> str:
        return "cv_loglik" if self.cv else "bic"

    def table(self) -> pd.DataFrame:
        """Paper-style table: estimates with (se) per model, then fit statistics."""
        names = list(self.fits)
        params = list(dict.fromkeys(p for n in names for p in self.fits[n].param_names))
        rows = {}
        for p in params:
            est, se = [], []
            for n in names:
                f = self.fits[n]
                if p in f.param_names:
                    j = f.param_names.index(p)
                    if p in f.not_identified():
                        est.append("not identified")
                        se.append("")
                        continue
                    est.append(f"{f.theta[j]:.4g}")
                    se.append(f"({f.se[j]:.3g})" if np.isfinite(f.se[j]) else
                              ("(bound)" if p in f.at_bound else "(--)"))
                else:
                    est.append("")
                    se.append("")
            label = parameter_words(p)
            rows[label] = est
            rows[f"{label} "] = se        # the se line under the estimate, as papers print it
        stats = {
            "log-likelihood": [f"{self.fits[n].loglik:,.1f}" for n in names],
            "parameters": [str(self.fits[n].n_params) for n in names],
            "AIC": [f"{self.fits[n].aic:,.1f}" for n in names],
            "BIC": [f"{self.fits[n].bic:,.1f}" for n in names],
            "converged": ["yes" if self.fits[n].converged else "NO" for n in names],
        }
        if any(getattr(self.fits[n], "degenerate", None) for n in names):
            stats["degenerate"] = [getattr(self.fits[n], "degenerate", None) or "" for n in names]
        if self.cv:
            k = next(iter(self.cv.values()))["folds"]
            stats[f"held-out log-lik/decision ({k}-fold CV)"] = [
                f"{self.cv[n]['cv_loglik']:.4f}" if self.cv.get(n, {}).get("cv_loglik") is not None else "none"
                for n in names]
        for t in (next(iter(self.holdout.values())) if self.holdout else {}):
            stats[f"held-out {t} log-lik/decision"] = [f"{self.holdout[n][t]['loglik_per_decision']:.4f}"
                                                       for n in names]
        rows.update(stats)
        return pd.DataFrame(rows, index=names).T

    def to_dict(self) -> dict:
        models = []
        for name, f in self.fits.items():
            entry = f.to_dict()
            entry["label"] = name
            entry["errors"] = self.errors_of(name)
            if name in self.same_as:
                entry["same_as"] = self.same_as[name]
            entry["cv_loglik"] = self.cv[name]["cv_loglik"] if name in self.cv else None
            if name in self.cv:
                entry["cv"] = {k: v for k, v in self.cv[name].items()
                               if k not in ("cv_loglik", "by_subject", "decisions_by_subject")}
                if self.cv[name]["cv_loglik"] is None:
                    entry["cv"]["why_no_score"] = (f"{self.cv[name]['not_converged']} of {self.cv[name]['folds']} "
                                                   "fold refits did not converge")
            if name in self.holdout:
                entry["holdout_treatments"] = self.holdout[name]
            if name in self.welfare:
                entry["welfare"] = self.welfare[name]
            models.append(entry)
        best = self.best
        from ..estimation.result import json_header
        out = {**json_header("comparison"), "data": self.data_path, "game": self.game.name, "models": models, "vuong": self.vuong,
               "likelihood_ratio": self.lr_tests, "best": self._family(best), "best_label": best,
               "best_by": self.best_by, "errors": list(self.errors), "verdict": self.verdict,
               "failed": [{"label": k, "reason": v} for k, v in self.failed.items()],
               "skipped": [{"label": k, "reason": v} for k, v in self.skipped.items()],
               "n_obs": int(len(self.data)), "seconds": round(self.seconds, 2), "notes": list(self.notes)}
        if self.data_welfare:
            out["data_welfare"] = self.data_welfare
        if self.regularities is not None:
            out["regularities"] = _records(self.regularities)
        if self.cleaning is not None:
            out["cleaning"] = self.cleaning.to_dict()
        return out

    def __str__(self) -> str:
        lines = [f"Model comparison on {self.game.name}: {self.data_path}",
                 f"  {len(self.data)} decisions, {next(iter(self.fits.values())).n_subjects} subjects, "
                 f"{len(self.fits)} models, {self.seconds:.1f} s", ""]
        v = self.verdict
        lines.append("Verdict" + (f" ({100 * self.level:.0f}% model confidence sets of the families on the subjects' "
                                  "held-out log-likelihoods)" if v.get("confidence_sets") else " (by BIC)"))
        lines.append(self.verdict_table().to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        lines.extend(textwrap.wrap(v["statement"], width=100))
        if self.failed:
            lines.append("(some models could not be fitted: see FAILED below)")
        lines.append("")
        lines.append(self.table().to_string())
        lines.append("")
        if v.get("confidence_set"):
            lines.append(f"highest held-out log-likelihood: {self.best}; {100 * self.level:.0f}% model confidence set "
                         "over all fits: " + ", ".join(f"{m['model']}/{m['errors']}" if len(self.errors) > 1
                                                       else m["model"] for m in v["confidence_set"]))
        else:
            lines.append(f"best by {'cross-validated log-likelihood' if self.cv else 'BIC'}: {self.best}")
        for label, reason in self.failed.items():
            lines.append(f"FAILED {label}: {reason}")
        for label, reason in self.skipped.items():
            lines.append(f"not defined: {label}: {reason}")
        if self.vuong:
            lines.append("\nVuong tests (subject-level contributions; z > 0 favours model A)")
            lines.append(pd.DataFrame(self.vuong)[["model_a", "model_b", "z", "p_value", "favours"]]
                         .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if self.lr_tests:
            lines.append("\nLikelihood-ratio tests (nested pairs)")
            frame = pd.DataFrame(self.lr_tests)
            lines.append(frame[["model_big", "model_small", "statistic", "df", "p_value", "method"]]
                         .to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="--"))
            for why in dict.fromkeys(frame["why"]):
                lines.append(f"  {why}")
        if self.regularities is not None:
            lines.append("\nBehavioural regularities: data and each fitted model (simulated)")
            lines.append(self.regularities.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        warn_lines = [f"  {n}: {w}" for n, f in self.fits.items() for w in f.warnings]
        if warn_lines:
            lines.append("\nwarnings")
            lines.extend(warn_lines)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _records(frame: pd.DataFrame) -> list:
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


FIT_STARTS = 3     # as `fit`: at most this many starts per model, fewer once two agree


def compare_models(game_spec, data: pd.DataFrame, models=None, *, folds: int = 5, starts: int | None = None,
                   seed: int = 0, holdout: bool = True, with_regularities: bool = True,
                   data_path: str = "", cleaning=None, progress: bool = True,
                   model_options: dict | None = None, workers: int | None = None,
                   errors: list[str] | None = None, level: float = DEFAULT_LEVEL,
                   mcs_replications: int = MCS_REPLICATIONS, bootstrap_lr: int = 0,
                   intervals: str = "wald") -> Comparison:
    """Fit ``models`` (registry names or :class:`~cheaptalk.models.Model` instances; default
    all registered models for this game kind) to clean ``data`` and compare.

    ``folds``: k of the k-fold cross-validation by subject (0 to skip). ``holdout``: also
    predict each treatment from the others. ``starts``: starting points per model (the
    model's defaults first, then seeded random points). By default (None) each model is
    fitted from its defaults and a random start, and up to three starts when these two reach
    different maxima (the best is kept, and the comparison notes which models' starts
    disagreed): no model is ranked on a local optimum that another start beats.
    Progress goes to stderr when ``progress``. ``cleaning``: the
    :class:`~cheaptalk.data.validation.CleaningReport` of the data (the report shows it);
    without one the data are used as given and the report says so, with their counts.
    ``workers``: models processed at the same time (threads; default: the number of CPU
    cores, at most 4). ``errors``: the error models every family is fitted under (default:
    all that the families are defined under; see :mod:`cheaptalk.models.noise`). Models
    that cannot be fitted are reported in ``failed`` and the comparison goes on. ``level``:
    of the model confidence sets behind the verdict (``mcs_replications`` bootstrap draws).
    ``bootstrap_lr``: data sets of the parametric bootstrap of each mixture-against-family
    likelihood-ratio test (0: the test row gives the statistic and says why no p-value).
    ``intervals``: ``"wald"`` or ``"profile"`` (profile-likelihood intervals of every fit). Compiling and evaluating a likelihood runs in XLA outside Python's
    lock, so two models on two cores take about the time of one.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    items = list(models) if models else available_models(game_spec)
    if not items:
        raise InputError(f"no models are available for {game_spec.kind} games")
    model_options = model_options or {}
    known = {e for item in items for e in _error_models(item, game_spec)}
    if errors is None:
        errors = [e for e in ERROR_MODELS if e in known]
    unknown = [e for e in errors if e not in ERROR_MODELS]
    if unknown:
        raise InputError(f"unknown error model(s) {unknown}; error models are {', '.join(ERROR_MODELS)}")
    data_path = data_path or data.attrs.get("source") or "a DataFrame given from Python"
    if not 0 < level < 1:
        raise InputError(f"the confidence level must lie strictly between 0 and 1, got {level}")
    comparison = Comparison(game=game_spec, data=data, data_path=str(data_path), fits={}, cleaning=cleaning,
                            errors=list(errors), level=float(level), mcs_replications=int(mcs_replications),
                            seed=int(seed))
    # a name from the registry (fitted under each error model), or a ready Model instance
    instances = []
    for item in items:
        if not isinstance(item, str):
            instances.append((item.name, item))
            comparison.label_errors[item.name] = getattr(item, "errors", "logit")
            continue
        for e in errors:
            label = item if len(errors) == 1 else f"{item}/{e}"
            if e not in _error_models(item, game_spec):
                comparison.skipped[label] = f"{item} is not defined under {e} errors"
                continue
            options = {**model_options.get(item, {}), "errors": e}
            if len(errors) > 1 and "exact_tolerance" in _option_names(item, game_spec):
                # exact choices must count the same way under every error model compared
                options.setdefault("exact_tolerance", DEFAULT_EXACT_TOLERANCE)
            try:
                model = get_model(item, game_spec, **options)
            except ValueError as exc:
                comparison.failed[label] = str(exc)
                continue
            comparison.label_errors[label] = e
            logit_label = f"{item}/logit"
            if e == "mixed" and not _has_rule_types(model) and logit_label in comparison.label_errors:
                # no rule-following types: the same model as under logit, fitted once
                comparison.same_as[label] = logit_label
                continue
            instances.append((label, model))
    n_treat = data["treatment"].nunique() if "treatment" in data else 1
    steps_per_model = (1 + (folds if folds >= 2 else 0) + (n_treat if holdout and n_treat > 1 else 0)
                       + (1 if with_regularities else 0))
    steps = len(instances) * steps_per_model
    bar = tqdm(total=steps, desc="compare", unit="step", file=sys.stderr, disable=not progress, leave=False)

    def run(item) -> dict:
        name, model = item
        out = {"notes": []}
        try:
            lik = Likelihood(model, data)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EstimationWarning)   # kept in the result, printed once
                out["fit"] = result = fit(model, likelihood=lik, starts=starts or FIT_STARTS, seed=seed, warn=False,
                                          until_agree=starts is None, intervals=intervals)
        except (ValueError, RuntimeError, FloatingPointError) as exc:
            # one model that cannot be fitted must not take the others with it
            out["failed"] = str(exc)
            bar.update(steps_per_model)
            return out
        bar.update(1)
        values = [r["loglik"] for r in result.starts if np.isfinite(r["loglik"])]
        if len(values) > 1 and not same_maximum(max(values), min(values)):
            out["notes"].append(f"{name}: starts reached different maxima ({', '.join(f'{v:.2f}' for v in values)}); "
                                f"the best, {max(values):.2f}, is used")
        if folds >= 2:
            out["cv"] = cv = cross_validate(lik, result.theta, folds, seed=seed, progress=bar,
                                            curvature=result.curvature, starts=starts or FIT_STARTS)
            if cv["not_converged"]:
                out["notes"].append(f"{name}: {cv['not_converged']} of {folds} cross-validation refits did not "
                                    "converge (each from several starts, retried): no CV score, not in the verdict")
        if holdout and n_treat > 1:
            out["holdout"] = holdout_treatments(lik, result.theta, progress=bar, curvature=result.curvature,
                                                seed=seed)
        try:
            out["welfare"] = model.predict(result.params).summary
        except Exception as exc:     # welfare is a report, not a reason to lose the fits
            out["notes"].append(f"{name}: welfare prediction failed: {exc}")
        if with_regularities:
            try:
                out["simulation"] = model_regularities(model, result.params, data, game_spec, seed=seed)[1]
            except Exception as exc:
                out["notes"].append(f"{name}: simulation for the regularities failed: {exc}")
            bar.update(1)
        return out

    workers = workers or min(4, os.cpu_count() or 1)
    try:
        if workers > 1 and len(instances) > 1:
            # the costliest models (most parameters) first, so that no long fit starts last
            order = sorted(range(len(instances)), key=lambda i: -len(instances[i][1].param_names))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                done = dict(zip(order, pool.map(run, [instances[i] for i in order])))
            outputs = [done[i] for i in range(len(instances))]
        else:
            outputs = [run(m) for m in instances]
    finally:
        bar.close()
    results = {name: out for (name, _), out in zip(instances, outputs)}
    for name in comparison.label_errors:               # in the order asked for, whatever finished first
        out = results.get(name) or results.get(comparison.same_as.get(name))
        if out is None:
            continue
        if "failed" in out:
            comparison.failed[name] = out["failed"]
            continue
        comparison.fits[name] = out["fit"]
        for key, target in (("cv", comparison.cv), ("holdout", comparison.holdout),
                            ("welfare", comparison.welfare), ("simulation", comparison.simulations)):
            if key in out:
                target[name] = out[key]
        if name in comparison.same_as:
            comparison.notes.append(f"{name}: no rule-following types, so the same model as "
                                    f"{comparison.same_as[name]} (fitted once)")
        else:
            comparison.notes.extend(out["notes"])

    # tests between every pair, on the same subjects (a model and its copy under another label: none)
    fitted = [n for n in comparison.fits if n not in comparison.same_as]
    for a, b in combinations(fitted, 2):
        fa, fb = comparison.fits[a], comparison.fits[b]
        nested = is_nested(fa.model, fb.model)
        if nested is None:
            comparison.vuong.append(vuong_test(fa.subject_loglik().to_numpy(), fb.subject_loglik().to_numpy(),
                                               fa.n_params, fb.n_params, a, b))
        else:
            big, small = (fa, fb) if nested[0] is fa.model else (fb, fa)
            (big_label, small_label) = (a, b) if big is fa else (b, a)
            test = likelihood_ratio_test(big.loglik, small.loglik, big.n_params, small.n_params,
                                         big_label, small_label, method=None)
            if bootstrap_lr:
                if progress:
                    print(f"bootstrap of the LR test {big_label} against {small_label} ({bootstrap_lr} data sets)",
                          file=sys.stderr)
                boot = bootstrap_likelihood_ratio(big.model, small.model, small.params, data, test["statistic"],
                                                  bootstrap_lr, seed=seed)
                test.update(p_value=boot["p_value"], method="bootstrap", replications=boot["replications"],
                            why=test["why"].split("; give")[0] + ": parametric bootstrap of the LR under the "
                                "smaller model", not_converged=boot["not_converged"])
            comparison.lr_tests.append(test)
    try:
        comparison.data_welfare = data_welfare(game_spec, data)
    except (ValueError, KeyError, IndexError) as exc:      # a report, not a reason to lose the fits
        comparison.notes.append(f"the data's welfare could not be computed: {exc}")
    if with_regularities:
        data_table = regularities(data, game_spec)
        model_tables = {n: regularities(sim, game_spec) for n, sim in comparison.simulations.items()}
        comparison.regularities = regularity_table(data_table, model_tables)
    comparison.seconds = time.perf_counter() - t0
    return comparison
