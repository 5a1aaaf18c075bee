"""The causal effect of a randomised change in the logs, beside what the trust model predicts.

Some sellers got a change (better recommendations, more visible outcomes, ...) at random from
event ``T`` on; a seller table marks them (``treatment`` 1, the others 0). Per seller, over
its events from ``T`` on, two outcomes:

* **adoption**: binary, the share of recommendations followed; continuous, the seller's
  least-squares weight on the recommendation ``sum_t (a_t - own_t) d_t / sum_t d_t^2`` with
  ``d_t = m_t - own_t`` (under the model its expectation is ``sum_t alpha_t d_t^2 / sum_t d_t^2``);
* **profit** per event: the newsvendor ``price * min(q_t, truth_t) - unit_cost * q_t`` of the
  seller's quantity (its action; binary: the recommendation if followed, its own estimate if not).

**Causal estimate.** The average effect over sellers, ``E[Y(1) - Y(0)]``, by double machine
learning (Chernozhukov et al. 2018) in DoubleML's interactive regression model: outcome
regressions ``g_d(X)`` for each arm and the propensity ``m(X)`` are learnt with 5-fold
cross-fitting (gradient-boosted trees; logistic regression for the propensity) on pre-change
covariates ``X`` (each seller's behaviour before ``T``, its segment), and the effect is the
mean of the doubly robust score ``g_1 - g_0 + d (y - g_1) / m - (1 - d)(y - g_0) / (1 - m)``
with its standard error. When treatment was randomised the covariates only sharpen the
estimate; when it was as good as random given them, they are what makes it causal. By segment:
the group average effects of the same score (DoubleML's ``gate``).

**Model prediction.** The trust model, fitted on the control arm only (or a given fit), replays
the control sellers on their logged sequences with and without the change from ``T`` on
(:func:`cheaptalk.dynamics.investment.levers.replay`, common random numbers), each seller from its
posterior over initial trust. The mean per-seller difference is the predicted effect; its
standard error combines the sampling of sellers (the spread of per-seller differences) and the
parameters' uncertainty (the spread over parameter vectors drawn from the fit's sampling
distribution).

**Check.** ``difference = causal - model`` with ``se = sqrt(se_causal^2 + se_model^2)`` (the
two are treated as independent: the model never sees the treated arm) and a two-sided normal
p-value. A small p-value says the model's counterfactual for this change is contradicted by
the experiment; a large one says the experiment cannot tell them apart at this precision,
and the interval of the difference says how large a disagreement it rules out.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ...errors import InputError
from .levers import Change, expected_profit, posteriors, replay

__all__ = ["seller_outcomes", "read_treatment", "causal_effect", "model_effect", "trust_effect", "OUTCOMES"]

OUTCOMES = ("adoption", "profit")
MIN_SELLERS_PER_ARM = 10


def seller_outcomes(batches, start: int, kind: str, price: float = 1.0, unit_cost: float = 0.6):
    """One row per seller: ``seller``, ``segment``, the outcomes over its events from
    ``start`` on (``adoption``, ``profit``, ``n_after``), and pre-change covariates over its
    earlier events (``n_before``, ``adoption_before``, ``fidelity_before``,
    ``feedback_before``, ``profit_before``, ``truth_before``)."""
    import pandas as pd
    parts = []
    for b in batches:
        nb = int(b["n_sellers"])
        T = b["gap"].shape[1]
        t = np.arange(T)[None, :]
        valid = t < b["length"][:nb, None]
        if "observed" in b:
            valid = valid & b["observed"][:nb].astype(bool)
        rec = b["recommendation"][:nb].astype(float)
        own = b["own"][:nb].astype(float) if "own" in b else np.full((nb, T), np.nan)
        act = b["act"][:nb].astype(float)          # continuous: action minus own estimate
        truth = b["truth"][:nb].astype(float) if "truth" in b else np.full((nb, T), np.nan)
        if kind == "continuous":
            q = act + own
        else:
            q = np.where(act > 0.5, rec, own)
        profit = expected_profit(q, truth, price, unit_cost)
        row = {"seller": b["seller"][:nb],
               "segment": (np.asarray(b["segment"][:nb], object) if "segment" in b else np.full(nb, None, object))}
        for label, part in (("after", valid & (t >= start)), ("before", valid & (t < start))):
            n = part.sum(axis=1)
            row[f"n_{label}"] = n
            with np.errstate(invalid="ignore", divide="ignore"):
                if kind == "continuous":
                    d = b["gap"][:nb].astype(float)     # recommendation minus own estimate
                    adoption = np.where(part, act * d, 0).sum(axis=1) / np.where(part, d * d, 0).sum(axis=1)
                else:
                    adoption = np.where(part, act, 0).sum(axis=1) / n
                ok = part & np.isfinite(profit)
                prof = np.where(ok, profit, 0).sum(axis=1) / ok.sum(axis=1)
                if label == "after":
                    row["adoption"], row["profit"] = adoption, prof
                else:
                    row["adoption_before"], row["profit_before"] = adoption, prof
                    row["fidelity_before"] = np.where(part, b["fidelity"][:nb], 0).sum(axis=1) / n
                    row["feedback_before"] = np.where(part, b["feedback"][:nb], 0).sum(axis=1) / n
                    row["truth_before"] = np.where(part & np.isfinite(truth), truth, 0).sum(axis=1) / n
        parts.append(pd.DataFrame(row))
    if not parts:
        return pd.DataFrame(columns=["seller", "segment", "n_after", "adoption", "profit"])
    return pd.concat(parts, ignore_index=True)


def read_treatment(path: str | Path, column: str):
    """The seller table's ``column`` as 0/1 by seller (a pandas Series); anything else than
    two arms of 0/1 (or true/false) values is an :class:`InputError` naming the file and a
    seller."""
    import pyarrow.parquet as pq
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no seller table (a Parquet file with columns seller and {column!r}); "
                         "give it with --sellers-table")
    try:
        names = pq.read_schema(path).names
    except Exception as exc:          # a damaged or non-Parquet file
        raise InputError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None
    for need in ("seller", column):
        if need not in names:
            raise InputError(f"{path}: no column {need!r} in the seller table (columns: {', '.join(names)[:200]})")
    t = pq.read_table(path, columns=["seller", column]).to_pandas()
    raw = t[column]
    arms = {1: 1, 0: 0, "1": 1, "0": 0, "true": 1, "false": 0, "treated": 1, "control": 0}   # (True == 1)
    values = raw.map(lambda v: arms.get(v.strip().lower() if isinstance(v, str) else
                                        (v if isinstance(v, (bool, int, np.integer)) or
                                         (isinstance(v, float) and v in (0.0, 1.0)) else None)))
    bad = values.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        seller, value = t["seller"].tolist()[i], raw.tolist()[i]
        raise InputError(f"{path}: column {column!r} row {i + 1} (seller {seller!r}): {value!r} is "
                         "not a treatment arm (1/0, true/false, treated/control)")
    out = values.astype(int)
    out.index = t["seller"].to_numpy()
    return out


def read_covariates(path: str | Path, columns: list[str]):
    """Columns of the seller table as covariates by seller: numbers as they are, text as one
    indicator per value. A missing value is an :class:`InputError` naming the row."""
    import pandas as pd
    import pyarrow.parquet as pq
    names = pq.read_schema(path).names
    for c in columns:
        if c not in names or c == "seller":
            raise InputError(f"{path}: no covariate column {c!r} in the seller table (columns: {', '.join(names)[:200]})")
    t = pq.read_table(path, columns=["seller", *columns]).to_pandas()
    parts = []
    for c in columns:
        col = t[c]
        missing = col.isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise InputError(f"{path}: column {c!r} row {i + 1} (seller {t['seller'].tolist()[i]!r}): no value; every "
                             "seller needs each covariate")
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            values = col.astype(float)
            if not np.isfinite(values.to_numpy()).all():
                i = int(np.flatnonzero(~np.isfinite(values.to_numpy()))[0])
                raise InputError(f"{path}: column {c!r} row {i + 1}: {col.tolist()[i]!r} is not a finite number")
            parts.append(values.rename(f"covariate_{c}"))
        else:
            parts.append(pd.get_dummies(col.astype(str), prefix=f"covariate_{c}", dtype=float))
    out = pd.concat(parts, axis=1)
    out.index = t["seller"].to_numpy()
    return out


def _covariates(df):
    """The pre-change covariates usable as features (complete columns), the seller table's
    stated covariates (``covariate_*``) and segment dummies."""
    import pandas as pd
    cols = [c for c in ("n_before", "adoption_before", "fidelity_before", "feedback_before", "profit_before",
                        "truth_before") if c in df and df[c].notna().all() and df["n_before"].gt(0).all()]
    cols += [c for c in df.columns if str(c).startswith("covariate_")]
    X = df[cols].astype(float)
    segments = sorted(df["segment"].dropna().astype(str).unique())
    if len(segments) > 1:
        X = pd.concat([X, pd.get_dummies(df["segment"].astype(str), prefix="segment", dtype=float)], axis=1)
    if X.shape[1] == 0:
        X = pd.DataFrame({"constant": np.ones(len(df))}, index=df.index)
    return X


def causal_effect(df, outcome: str, folds: int = 5, seed: int = 0) -> dict:
    """The average effect of ``treatment`` on ``outcome`` (columns of ``df``) by double machine
    learning (DoubleML's interactive regression model, cross-fitted), with its standard error,
    and by segment (group average effects)."""
    import doubleml as dml
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _covariates(df)
    data = pd.concat([X.reset_index(drop=True), df[[outcome, "treatment"]].reset_index(drop=True)], axis=1)
    obj = dml.DoubleMLData(data, y_col=outcome, d_cols="treatment", x_cols=list(X.columns))
    model = dml.DoubleMLIRM(obj, ml_g=HistGradientBoostingRegressor(max_iter=100, min_samples_leaf=40,
                                                                    random_state=seed),
                            ml_m=make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                            n_folds=folds, score="ATE", draw_sample_splitting=False)
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(data)), data["treatment"])
    model.set_sample_splitting([[(train, test) for train, test in splits]])
    with warnings.catch_warnings():
        # DoubleML's own call of a pandas method pandas 4 will change (not ours to fix)
        warnings.filterwarnings("ignore", message="Starting with pandas version 4")
        model.fit()
    out = {"estimate": float(model.coef[0]), "se": float(model.se[0]),
           "method": f"double machine learning (DoubleML IRM, ATE, {folds}-fold cross-fitting)",
           "covariates": list(X.columns)}
    segments = df["segment"].astype(str).to_numpy()
    labels = sorted(set(segments))
    if len(labels) > 1 and "None" not in labels:
        groups = pd.DataFrame({s: segments == s for s in labels})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Starting with pandas version 4")
            gate = model.gate(groups=groups)
        ci = gate.confint(level=0.95)
        se = np.ravel(np.asarray(gate.se, float))
        out["by_segment"] = {s: {"estimate": float(ci["effect"].iloc[k]), "se": float(se[k]),
                                 "sellers": int((segments == s).sum())} for k, s in enumerate(labels)}
    return out


def _seller_se(d: np.ndarray) -> float:
    return float(np.std(d, ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")


def _per_seller(run: dict, outcome: str, kind: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if outcome == "adoption":
            return run["weight_num"] / run["weight_den"] if kind == "continuous" else run["adoption"] / run["events"]
        return run["profit"] / run["profit_events"]


def model_effect(batches, params: dict, kind: str, rule: str, change: Change, fidelity_scale, n_nodes: int = 20,
                 cov_unconstrained=None, parameter_draws: int = 0, seed: int = 0, price: float = 1.0,
                 unit_cost: float = 0.6, progress: bool = False) -> dict:
    """The trust model's predicted effect of ``change`` on each outcome: the mean over the
    sellers of ``batches`` of their expected outcome with the change minus without it (both
    replayed with the same draws), with seller and parameter standard errors."""
    from ..model import TrustDynamics
    from ..parameters import draw_parameters, to_unconstrained
    model = TrustDynamics(kind, n_nodes, rule)
    status_quo = Change(start=change.start)

    def differences(p):
        u = to_unconstrained(p, kind, rule)
        posts = posteriors(model, u, batches)
        nodes, _, n0 = model.grid(u)
        runs = [replay(batches, posts, nodes, n0, p, kind, rule, c, fidelity_scale, price, unit_cost, seed)
                for c in (status_quo, change)]
        return {o: _per_seller(runs[1], o, kind) - _per_seller(runs[0], o, kind) for o in OUTCOMES}

    diffs = differences(params)
    labels = np.concatenate([np.asarray(b.get("segment", np.full(int(b["n_sellers"]), None))[:int(b["n_sellers"])],
                                        object) for b in batches]).astype(str)
    draws = {o: [] for o in OUTCOMES}
    draws_by_segment = {o: {s: [] for s in set(labels)} for o in OUTCOMES}
    if parameter_draws:
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=parameter_draws, desc="model prediction at parameter draws", unit="draw", leave=False)
        for p in draw_parameters(params, kind, rule, cov_unconstrained, parameter_draws, [seed, 2]):
            d = differences(p)
            for o in OUTCOMES:
                ok = np.isfinite(d[o])
                draws[o].append(float(d[o][ok].mean()) if ok.any() else float("nan"))
                for s in draws_by_segment[o]:
                    k = ok & (labels == s)
                    draws_by_segment[o][s].append(float(d[o][k].mean()) if k.any() else float("nan"))
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
    out = {}
    for o in OUTCOMES:
        d = diffs[o]
        ok = np.isfinite(d)
        entry = _summary(d[ok], draws[o])
        if len(set(labels)) > 1 and "None" not in set(labels):
            entry["by_segment"] = {s: _summary(d[ok & (labels == s)], draws_by_segment[o][s])
                                   for s in sorted(set(labels))}
        out[o] = entry
    return out


def _summary(d: np.ndarray, draws: list) -> dict:
    if len(d) == 0:
        return {"estimate": float("nan"), "se": float("nan"), "sellers": 0}
    se_sellers = _seller_se(d)
    entry = {"estimate": float(d.mean()), "se_sellers": se_sellers, "sellers": int(len(d))}
    finite = [x for x in draws if math.isfinite(x)]
    if len(finite) > 1:
        entry["se_parameters"] = float(np.std(finite, ddof=1))
        entry["se"] = float(math.hypot(se_sellers, entry["se_parameters"]))
        entry["parameter_draws"] = len(finite)
    else:
        entry["se"] = se_sellers
    return entry


def difference(causal: dict, model: dict) -> dict:
    """``causal - model`` with its standard error and two-sided p-value, and the 95% interval."""
    from scipy.stats import norm
    d = causal["estimate"] - model["estimate"]
    se = math.hypot(causal["se"], model["se"])
    p = float(2 * norm.sf(abs(d) / se)) if se > 0 and math.isfinite(se) else float("nan")
    return {"estimate": float(d), "se": float(se), "p_value": p,
            "interval_95": [float(d - 1.96 * se), float(d + 1.96 * se)]}


def trust_effect(engine, treatment, change: Change | None = None, start: int | None = None, fit: dict | None = None,
                 rule: str = "asymmetric", folds: int = 5, seed: int = 0, parameter_draws: int = 30,
                 sample_sellers: int = 20_000, price: float = 1.0, unit_cost: float = 0.6,
                 progress: bool = False, covariates=None) -> dict:
    """The causal effect of the arms in ``treatment`` (0/1 by seller) on each outcome from
    event ``start`` (``change.start`` when a change is given) on, and, with ``change`` (what the
    treated arm got), the trust model's prediction of it and their difference. ``fit``: a
    saved trust fit (its ``params``, ``rule``, covariance); None fits ``rule`` to the control
    arm. ``covariates``: more pre-change covariates by seller (:func:`read_covariates`), given
    which the change was as good as random."""
    from ..engines import sellers_at_random
    from ..logs.packing import take_sellers
    if change is None and start is None:
        raise InputError("give the event the change started at (--from T), or the change itself (--change ...)")
    start = change.start if change is not None else int(start)
    engine.prepare()
    kind = engine.source.options.adoption
    batches = list(engine.batches(event_values=True))
    df = seller_outcomes(batches, start, kind, price, unit_cost)
    arm = treatment.reindex(df["seller"].to_numpy())
    counts = {"sellers": int(len(df)), "without_arm": int(arm.isna().sum()),
              "without_events_after": int((df["n_after"] == 0).sum())}
    keep = arm.notna().to_numpy() & (df["n_after"] > 0).to_numpy()
    df = df[keep].copy()
    df["treatment"] = arm.to_numpy()[keep].astype(int)
    if covariates is not None:
        stated = covariates.reindex(df["seller"].to_numpy())
        lacking = stated.isna().any(axis=1).to_numpy()
        if lacking.any():
            raise InputError(f"{int(lacking.sum())} seller(s) of the logs have no row in the seller table's covariates "
                             f"(first: seller {df['seller'].tolist()[int(np.flatnonzero(lacking)[0])]!r})")
        for c in stated.columns:
            df[c] = stated[c].to_numpy()
    counts.update(treated=int(df["treatment"].sum()), control=int((df["treatment"] == 0).sum()))
    for label in ("treated", "control"):
        if counts[label] < MIN_SELLERS_PER_ARM:
            raise InputError(f"{counts[label]} {label} seller(s) with events from event {start} on: an effect needs "
                             f"at least {MIN_SELLERS_PER_ARM} in each arm")
    result = {"result": "trust-effect", "model": f"trust-dynamics-{kind}", "start": start, "price": price,
              "unit_cost": unit_cost, "sellers": counts, "outcomes": {}, "notes": []}
    if change is not None:
        result["change"] = {k: v for k, v in change.to_dict().items() if v != Change().to_dict()[k] or k == "start"}
    if counts["without_arm"]:
        result["notes"].append(f"{counts['without_arm']} seller(s) of the logs are not in the seller table: left out")
    if counts["without_events_after"]:
        result["notes"].append(f"{counts['without_events_after']} seller(s) have no event from event {start} on: left out")
    for outcome in OUTCOMES:
        usable = df[outcome].notna() & np.isfinite(df[outcome].astype(float))
        if not usable.all():
            dropped = int((~usable).sum())
            if dropped == len(df):
                result["notes"].append(f"{outcome}: not measurable in these logs "
                                       + ("(it needs the truth and the sellers' own estimates)" if outcome == "profit"
                                          else "(no variation in recommendation minus own estimate)"))
                continue
            result["notes"].append(f"{outcome}: {dropped} seller(s) without a measurable {outcome} left out")
        result["outcomes"][outcome] = {"causal": causal_effect(df[usable], outcome, folds, seed)}
    if change is None:
        result["notes"].append("no --change given: the trust model's prediction needs what the treated arm got")
        return result
    arms = dict(zip(df["seller"].to_numpy().tolist(), df["treatment"].to_numpy().tolist()))
    control = [c for c in (take_sellers(b, np.array([arms.get(s, 1) == 0 for s in b["seller"][:int(b["n_sellers"])]]))
                           for b in batches) if c is not None]
    if fit is None:
        from ..engines.memory import MemoryEngine
        from ..estimate import fit_trust
        trust_fit = fit_trust(MemoryEngine(engine, control), kind, rule=rule, progress=progress)
        fit = {"params": {k: {"estimate": v} for k, v in trust_fit.estimates.items()}, "rule": rule,
               "n_nodes": trust_fit.n_nodes, "converged": trust_fit.converged, "warnings": list(trust_fit.warnings),
               "covariance": None if trust_fit.cov_unconstrained is None else np.asarray(trust_fit.cov_unconstrained)}
        fitted_on = "control arm"
    else:
        fitted_on = "given fit"
    params = {k: v["estimate"] for k, v in fit["params"].items()}
    sample = sellers_at_random(control, counts["control"], sample_sellers, seed)
    cov = fit.get("covariance")
    draws = parameter_draws if cov is not None else 0
    predicted = model_effect(sample, params, kind, fit.get("rule", rule), change,
                             engine.source.options.fidelity_scale, int(fit.get("n_nodes", 20)), cov, draws, seed,
                             price, unit_cost, progress=progress)
    result["fit"] = {"rule": fit.get("rule", rule), "fitted_on": fitted_on, "params": params,
                     "n_nodes": int(fit.get("n_nodes", 20)), "converged": fit.get("converged", True),
                     "warnings": fit.get("warnings", []), "sellers_replayed": sum(int(b["n_sellers"]) for b in sample),
                     "parameter_draws": draws}
    if cov is None and parameter_draws:
        result["notes"].append("the fit has no covariance of its parameters: the model's standard error covers the "
                               "sampling of sellers only")
    for outcome, entry in result["outcomes"].items():
        entry["model"] = predicted[outcome]
        entry["difference"] = difference(entry["causal"], entry["model"])
        by_c, by_m = entry["causal"].get("by_segment"), entry["model"].get("by_segment")
        if by_c and by_m:
            entry["difference_by_segment"] = {s: difference(by_c[s], by_m[s]) for s in by_c if s in by_m}
    return result
