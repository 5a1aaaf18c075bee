"""The best use of a budget across levers and segments under a fitted trust model.

**Levers file** (TOML, documented in docs/dynamics.md with ``docs/levers-example.toml``)::

    [objective]
    adoption = 0.0      # value of one unit of adoption per event
    profit = 1.0        # value of one unit of seller profit per event
    horizon = 50        # events per seller the value is counted over
    sellers = 100000    # optional: sellers the plan is for (default: those of the logs)

    [[lever]]
    name = "error_scale"                 # a lever of cheaptalk.dynamics.investment.levers.LEVERS
    segments = ["mid", "low"]            # where it can be bought (default: every segment)
    levels = [1.0, 0.75, 0.5]            # the values it can take, the status quo first
    cost = [0.0, 0.4, 1.2]               # cost per seller at each level (its cost curve)

**Value.** A policy gives each segment ``s`` one level of every lever available there (a
*combination* ``g``). Its value per seller ``v_{s,g}`` is the mean over the segment's sampled
sellers of ``sum_{t < horizon} (w_adoption a_t + w_profit pi_t)``, replayed on their logged
sequences from their posteriors over initial trust (:func:`cheaptalk.dynamics.investment.levers.replay`,
the same uniforms in every policy: common random numbers), and its cost per seller
``c_{s,g}`` is the sum of the levers' costs at their levels.

**Plan.** With ``N_s`` sellers in segment ``s`` and budget ``B``, the plan solves the
multiple-choice knapsack ``max sum_s N_s v_{s,g_s}`` subject to ``sum_s N_s c_{s,g_s} <= B``
exactly over the grid of levels, as a mixed-integer program (binary ``z_{s,g}``, one
combination per segment) by HiGHS through :func:`scipy.optimize.milp`. The next best plan is
the optimum once the plan itself is excluded (``sum_{(s,g) in plan} z_{s,g} <= S - 1``).
Because the budget only enters the constraint, more budget never lowers the optimum.

**Uncertainty.** The gain of the plan over the status quo (and over the next best plan) is
paired by seller: its standard error over sellers is
``sqrt(sum_s N_s^2 var_s / n_s)`` from the per-seller differences in each segment, and with
``R`` parameter vectors drawn from the fit's sampling distribution the spread of the gain
across draws adds the parameters' share, ``se = sqrt(se_sellers^2 + se_parameters^2)``.
The probability that the plan beats the status quo (the next best plan) is
``Phi(gain / se)``. The marginal value of budget per lever is the best value gained per unit
of cost by raising that lever one level in one segment from the plan.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputError
from .levers import LEVERS, Change, node_posteriors, replay

__all__ = ["Lever", "Objective", "read_levers", "value_table", "solve_plan", "trust_plan", "PLAN_LEVERS"]

# levers a plan can buy (their status quo is a level; feedback_rate's is the logged feedback)
PLAN_LEVERS = ("error_scale", "feedback_added", "initial_trust_shift")
MAX_COMBINATIONS = 5000         # lever-level combinations per segment (each is one replay)


@dataclass(frozen=True)
class Lever:
    name: str
    levels: tuple
    cost: tuple
    segments: tuple | None = None       # None: every segment


@dataclass(frozen=True)
class Objective:
    adoption: float = 0.0
    profit: float = 1.0
    horizon: int = 50
    sellers: int | None = None


@dataclass
class LeversFile:
    objective: Objective
    levers: list = field(default_factory=list)
    path: str = ""


def read_levers(path: str | Path) -> LeversFile:
    """The levers and objective of a TOML file; every mistake is an :class:`InputError`
    naming the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (a levers file, e.g. docs/levers-example.toml)")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a TOML file: {exc}") from None
    unknown = sorted(set(doc) - {"objective", "lever"})
    if unknown:
        raise InputError(f"{path}: unknown section(s) {unknown}; a levers file has [objective] and [[lever]] entries")
    obj = doc.get("objective", {})
    if not isinstance(obj, dict):
        raise InputError(f"{path}: [objective] must be a table")
    bad = sorted(set(obj) - {"adoption", "profit", "horizon", "sellers"})
    if bad:
        raise InputError(f"{path}: [objective] has unknown key(s) {bad}; keys: adoption, profit, horizon, sellers")
    for key in ("adoption", "profit"):
        v = obj.get(key, Objective.__dataclass_fields__[key].default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > 1e12:
            raise InputError(f"{path}: [objective] {key} = {v!r} is not a finite number (a weight)")
    horizon = obj.get("horizon", 50)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= 1_000_000:
        raise InputError(f"{path}: [objective] horizon = {horizon!r} must be a whole number of events from 1")
    sellers = obj.get("sellers")
    if sellers is not None and (isinstance(sellers, bool) or not isinstance(sellers, int) or not 1 <= sellers <= 1e12):
        raise InputError(f"{path}: [objective] sellers = {sellers!r} must be a whole number from 1")
    objective = Objective(float(obj.get("adoption", 0.0)), float(obj.get("profit", 1.0)), horizon, sellers)
    if objective.adoption == 0 and objective.profit == 0:
        raise InputError(f"{path}: [objective] gives adoption and profit both weight 0: nothing to maximise")
    entries = doc.get("lever", [])
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: no [[lever]] entry; each names a lever ({', '.join(PLAN_LEVERS)}), its levels "
                         "and their cost")
    levers, seen = [], set()
    for i, e in enumerate(entries, 1):
        where = f"{path}: [[lever]] {i}"
        if not isinstance(e, dict):
            raise InputError(f"{where}: must be a table")
        bad = sorted(set(e) - {"name", "levels", "cost", "segments"})
        if bad:
            raise InputError(f"{where}: unknown key(s) {bad}; keys: name, levels, cost, segments")
        name = e.get("name")
        if name not in PLAN_LEVERS:
            raise InputError(f"{where}: name = {name!r}; a plan's levers are {', '.join(PLAN_LEVERS)}")
        segs = e.get("segments")
        if segs is not None and (not isinstance(segs, list) or not segs or
                                 not all(isinstance(s, str) and s for s in segs)):
            raise InputError(f"{where}: segments must be a list of segment names")
        key = (name, tuple(segs) if segs else None)
        if any(n == name and (s is None or key[1] is None or set(s) & set(key[1])) for n, s in seen):
            raise InputError(f"{where}: lever {name} is listed twice for the same segment")
        seen.add(key)
        levels, cost = e.get("levels"), e.get("cost")
        for label, values in (("levels", levels), ("cost", cost)):
            if not isinstance(values, list) or not values or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                raise InputError(f"{where}: {label} must be a non-empty list of finite numbers")
        if len(levels) != len(cost):
            raise InputError(f"{where}: {len(levels)} levels but {len(cost)} costs (one cost per level)")
        lo, hi, status_quo, _ = LEVERS[name]
        if float(levels[0]) != status_quo:
            raise InputError(f"{where}: the first level must be the status quo ({name} = {status_quo:g})")
        for v in levels:
            if not lo <= v <= hi:
                raise InputError(f"{where}: level {v} of {name} is outside [{lo:g}, {hi:g}]")
        if len(set(levels)) != len(levels):
            raise InputError(f"{where}: a level is listed twice")
        if any(c < 0 for c in cost) or abs(max(cost)) > 1e12:
            raise InputError(f"{where}: costs must be numbers from 0 (cost per seller at each level)")
        levers.append(Lever(name, tuple(float(v) for v in levels), tuple(float(c) for c in cost),
                            tuple(segs) if segs else None))
    n = math.prod(len(lv.levels) for lv in levers)
    if n > MAX_COMBINATIONS:
        raise InputError(f"{path}: {n:,} combinations of lever levels (the product of the levels' counts), more "
                         f"than {MAX_COMBINATIONS:,}: each is replayed on every sampled seller; give fewer levels")
    return LeversFile(objective, levers, str(path))


def _combinations(levers: list, segment: str) -> list[tuple]:
    """Every combination of levels (one index per lever, -1 where the lever is not available
    in ``segment``) with its change and cost per seller."""
    available = [lv if lv.segments is None or segment in lv.segments else None for lv in levers]
    ranges = [range(len(lv.levels)) if lv is not None else [-1] for lv in available]
    out = []
    for idx in itertools.product(*ranges):
        values, cost = {}, 0.0
        for lv, i in zip(available, idx):
            if lv is None:
                continue
            values[lv.name] = lv.levels[i]
            cost += lv.cost[i]
        out.append((idx, Change(**values), cost))
    return out


def _segments_of(batches) -> np.ndarray:
    parts = []
    for b in batches:
        nb = int(b["n_sellers"])
        seg = b.get("segment")
        parts.append(np.asarray(seg[:nb], object) if seg is not None else np.full(nb, None, object))
    labels = np.concatenate(parts) if parts else np.zeros(0, object)
    return np.array(["all" if x is None else str(x) for x in labels], object)


def _per_seller_value(run: dict, objective: Objective) -> np.ndarray:
    profit = np.where(run["profit_events"] > 0, run["profit"], 0.0)
    return objective.adoption * run["adoption"] + objective.profit * profit


def segment_parameters(params: dict, segment: str, segments=()) -> dict:
    """The parameters a segment's sellers follow: ``params`` itself, or, for a fit with initial
    trust by segment, the shared ones with the segment's own ``initial_trust_mean``."""
    if not segments:
        return params
    if segment not in segments:
        raise InputError(f"sellers of segment {segment!r}, which the fit has no initial trust for (its segments: "
                         f"{', '.join(segments)})")
    out = {k: v for k, v in params.items() if not k.startswith("initial_trust_mean[")}
    out["initial_trust_mean"] = params[f"initial_trust_mean[{segment}]"]
    return out


def batch_values(batch: dict, params: dict, kind: str, rule: str, levers: list, objective: Objective,
                 fidelity_scale, n_nodes: int = 20, price: float = 1.0, unit_cost: float = 0.6, seed: int = 0,
                 only: dict | None = None, segments=()) -> dict:
    """One packed batch's sellers, by segment: each seller's value under each combination of
    the segment (sellers x combinations; NaN for combinations not asked for in ``only``,
    {segment: [combination indices]}). Plain numpy and picklable arguments: this is what
    Spark's executors run on their batches."""
    from ..logs.packing import take_sellers
    from ..model import TrustDynamics
    from ..parameters import to_unconstrained
    model = TrustDynamics(kind, n_nodes, rule)
    labels = _segments_of([batch])
    out = {}
    for s in sorted(set(labels)):
        p = segment_parameters(params, s, segments)
        nodes, log_w, n0 = model.grid(to_unconstrained(p, kind, rule))
        sub = take_sellers(batch, labels == s)
        post = node_posteriors(sub, p, kind, rule, nodes, log_w, n0)
        combos = _combinations(levers, s)
        values = np.full((int(sub["n_sellers"]), len(combos)), np.nan)
        for j in (range(len(combos)) if only is None else only.get(s, [])):
            run = replay([sub], [post], nodes, n0, p, kind, rule, combos[j][1], fidelity_scale, price,
                         unit_cost, seed, horizon=objective.horizon)
            values[:, j] = _per_seller_value(run, objective)
        out[s] = values
    return out


def value_table(batches, params: dict, kind: str, rule: str, levers: list, objective: Objective, fidelity_scale,
                n_nodes: int = 20, price: float = 1.0, unit_cost: float = 0.6, seed: int = 0,
                only: dict | None = None, progress: bool = False, engine=None, segments=()) -> dict:
    """Per segment: the combinations, their cost per seller and each seller's value under
    each (``values``: sellers x combinations), over ``batches`` (a list of packed batches)
    or, with ``engine``, over every batch of its logs where they are (Spark's executors)."""
    from functools import partial
    task = partial(batch_values, params=params, kind=kind, rule=rule, levers=levers, objective=objective,
                   fidelity_scale=fidelity_scale, n_nodes=n_nodes, price=price, unit_cost=unit_cost, seed=seed,
                   only=only, segments=tuple(segments))
    if engine is not None:
        from ..engines import map_batches
        parts = map_batches(engine, task)
    else:
        from tqdm import tqdm
        parts = [task(b) for b in tqdm(batches, desc="sellers replayed under every policy", unit="batch",
                                       leave=False, disable=not progress)]
    table = {}
    for s in sorted({s for part in parts for s in part}):
        combos = _combinations(levers, s)
        table[s] = {"combinations": combos, "cost": np.array([c for _, _, c in combos]),
                    "values": np.concatenate([part[s] for part in parts if s in part])}
    return table


def solve_plan(mean_values: dict, costs: dict, sellers: dict, budget: float, exclude: dict | None = None):
    """The combination per segment maximising ``sum_s N_s v_{s,g}`` with ``sum_s N_s c_{s,g} <=
    budget`` (HiGHS mixed-integer program); ``exclude``: a plan ({segment: g}) ruled out.
    Returns ({segment: g}, total value, total cost) or None when no plan fits the budget."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    segs = list(mean_values)
    index = [(s, g) for s in segs for g in range(len(mean_values[s]))]
    n = len(index)
    c = -np.array([sellers[s] * mean_values[s][g] for s, g in index])
    rows, lo, hi = [], [], []
    for s in segs:                                   # one combination per segment
        rows.append([1.0 if t == s else 0.0 for t, _ in index])
        lo.append(1.0)
        hi.append(1.0)
    rows.append([sellers[s] * costs[s][g] for s, g in index])
    lo.append(-np.inf)
    hi.append(budget)
    if exclude is not None:
        rows.append([1.0 if exclude.get(s) == g else 0.0 for s, g in index])
        lo.append(-np.inf)
        hi.append(len(segs) - 1)
    res = milp(c, constraints=LinearConstraint(np.array(rows), lo, hi), integrality=np.ones(n),
               bounds=Bounds(0, 1), options={"mip_rel_gap": 0.0})
    if res.status != 0 or res.x is None:
        return None
    chosen = {s: g for (s, g), x in zip(index, res.x) if x > 0.5}
    total_value = sum(sellers[s] * mean_values[s][g] for s, g in chosen.items())
    total_cost = sum(sellers[s] * costs[s][g] for s, g in chosen.items())
    return chosen, float(total_value), float(total_cost)


def _status_quo(table: dict) -> dict:
    return {s: next(j for j, (idx, _, _) in enumerate(t["combinations"]) if all(i <= 0 for i in idx))
            for s, t in table.items()}


def _gain(table: dict, sellers: dict, a: dict, b: dict) -> tuple[float, float]:
    """Total value of plan ``a`` minus plan ``b`` (paired by seller) and its standard error
    over the sampling of sellers."""
    gain, var = 0.0, 0.0
    for s, t in table.items():
        d = t["values"][:, a[s]] - t["values"][:, b[s]]
        n = len(d)
        gain += sellers[s] * float(d.mean())
        if n > 1:
            var += sellers[s] ** 2 * float(d.var(ddof=1)) / n
    return gain, math.sqrt(var)


def _describe(table: dict, levers: list, plan: dict) -> dict:
    out = {}
    for s, g in plan.items():
        idx, change, cost = table[s]["combinations"][g]
        out[s] = {"levers": {lv.name: lv.levels[i] for lv, i in zip(levers, idx) if i >= 0},
                  "cost_per_seller": cost}
    return out


def trust_plan(batches, params: dict, kind: str, rule: str, levers_file: LeversFile, budget: float, fidelity_scale,
               total_sellers: int, n_nodes: int = 20, cov_unconstrained=None, parameter_draws: int = 0,
               price: float = 1.0, unit_cost: float = 0.6, seed: int = 0, progress: bool = False,
               engine=None, segments=()) -> dict:
    """The plan for ``budget`` under the fitted rule (see the module docstring), with the
    status quo, the next best plan, the value gained and its uncertainty, the marginal value
    of budget per lever and the value of the best plan at a range of budgets."""
    from scipy.stats import norm
    objective, levers = levers_file.objective, levers_file.levers
    table = value_table(batches, params, kind, rule, levers, objective, fidelity_scale, n_nodes, price, unit_cost,
                        seed, progress=progress, engine=engine, segments=segments)
    n_total = objective.sellers or total_sellers
    sample = {s: len(t["values"]) for s, t in table.items()}
    replayed = sum(sample.values())
    sellers = {s: n_total * sample[s] / replayed for s in table}
    means = {s: t["values"].mean(axis=0) for s, t in table.items()}
    costs = {s: t["cost"] for s, t in table.items()}
    status_quo = _status_quo(table)
    sq_cost = sum(sellers[s] * costs[s][g] for s, g in status_quo.items())
    solved = solve_plan(means, costs, sellers, budget)
    if solved is None:
        raise InputError(f"no plan fits a budget of {budget:g}: even the status quo costs {sq_cost:g}")
    plan, value, cost = solved
    runner = solve_plan(means, costs, sellers, budget, exclude=plan)
    next_best = runner[0] if runner else None
    result = {"result": "trust-plan", "model": f"trust-dynamics-{kind}", "rule": rule, "budget": budget,
              "initial_trust_by_segment": list(segments),
              "objective": objective.__dict__, "sellers": {"total": n_total, "sampled": int(replayed),
                                                           "by_segment": {s: round(v, 3) for s, v in sellers.items()}},
              "plan": _describe(table, levers, plan), "cost": cost,
              "value": value, "status_quo_value": sum(sellers[s] * means[s][g] for s, g in status_quo.items()),
              "levers": [{"name": lv.name, "levels": list(lv.levels), "cost": list(lv.cost),
                          "segments": list(lv.segments) if lv.segments else "all"} for lv in levers],
              "notes": []}
    comparisons = {"status_quo": status_quo}
    if next_best is not None:
        result["next_best"] = _describe(table, levers, next_best)
        result["next_best_value"] = runner[1]
        comparisons["next_best"] = next_best
    gains = {k: _gain(table, sellers, plan, other) for k, other in comparisons.items()}
    drawn = {k: [] for k in comparisons}
    if parameter_draws and cov_unconstrained is not None:
        from ..parameters import draw_parameters
        only = {s: sorted({plan[s]} | {c[s] for c in comparisons.values()}) for s in table}
        for p in draw_parameters(params, kind, rule, cov_unconstrained, parameter_draws, [seed, 3], segments):
            t = value_table(batches, p, kind, rule, levers, objective,
                            fidelity_scale, n_nodes, price, unit_cost, seed, only=only, engine=engine,
                            segments=segments)
            for k, other in comparisons.items():
                drawn[k].append(_gain(t, sellers, plan, other)[0])
    elif parameter_draws:
        result["notes"].append("the fit has no covariance of its parameters: intervals cover the sampling of "
                               "sellers only")
    for k, (gain, se_sellers) in gains.items():
        entry = {"gain": gain, "se_sellers": se_sellers}
        if len(drawn[k]) > 1:
            entry["se_parameters"] = float(np.std(drawn[k], ddof=1))
            entry["parameter_draws"] = len(drawn[k])
        se = math.hypot(se_sellers, entry.get("se_parameters", 0.0))
        entry["se"] = se
        entry["interval_95"] = [gain - 1.96 * se, gain + 1.96 * se]
        entry["probability_plan_better"] = float(norm.cdf(gain / se)) if se > 0 else (1.0 if gain > 0 else 0.5)
        result[f"against_{k}"] = entry
    result["marginal_value_per_lever"] = _marginal_values(table, levers, sellers, plan)
    result["frontier"] = _frontier(means, costs, sellers, budget, sq_cost)
    result["combinations_replayed"] = int(sum(len(t["combinations"]) for t in table.values()))
    return result


def _marginal_values(table, levers, sellers, plan) -> dict:
    """Per lever: the most value per unit of cost gained by raising it one level in one
    segment from the plan (None where it is at its last level everywhere)."""
    out = {}
    for k, lv in enumerate(levers):
        best = None
        for s, t in table.items():
            idx = t["combinations"][plan[s]][0]
            if idx[k] < 0 or idx[k] + 1 >= len(lv.levels):
                continue
            up = tuple(i + 1 if j == k else i for j, i in enumerate(idx))
            g = next(j for j, (c, _, _) in enumerate(t["combinations"]) if c == up)
            dv = sellers[s] * (t["values"][:, g].mean() - t["values"][:, plan[s]].mean())
            dc = sellers[s] * (t["cost"][g] - t["cost"][plan[s]])
            ratio = dv / dc if dc > 0 else (math.inf if dv > 0 else 0.0)
            if best is None or ratio > best["value_per_unit_cost"]:
                best = {"value_per_unit_cost": float(ratio), "segment": s, "to_level": lv.levels[idx[k] + 1],
                        "extra_cost": float(dc), "extra_value": float(dv)}
        out[f"{lv.name}" + (f"[{','.join(lv.segments)}]" if lv.segments else "")] = best
    return out


def _frontier(means, costs, sellers, budget, sq_cost, points: int = 25) -> list[dict]:
    """The best plan's value at budgets from the status quo's cost to twice ``budget``."""
    top = max(2 * budget, sq_cost)
    out = []
    for b in sorted(set(np.linspace(sq_cost, top, points).tolist()) | {float(budget)}):
        solved = solve_plan(means, costs, sellers, float(b))
        if solved is not None:
            out.append({"budget": float(b), "value": solved[1], "cost": solved[2]})
    return out
