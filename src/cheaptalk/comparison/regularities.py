"""Behavioural regularities: what the data show and what each fitted model reproduces.

By treatment and pooled (``all``):

* ``truthful_share``: share of reports equal to the sender's state (within 0.5% of the
  message range in forecast sharing, where reports are typed numbers; exactly in finite games);
* ``top_share``: share of reports at the top of the message space (same tolerance);
* ``mean_inflation``: mean of report minus state;
* ``report_slope``: OLS slope of report on state (sender decisions);
* ``capacity_slope``: OLS slope of the receiver's action (capacity) on the report.

In finite games the last two are named for that game's terms: ``message_slope`` and
``action_slope``.

A model's prediction of them is computed the same way on data simulated from the fitted
parameters with the design of the real data (subjects per treatment, rounds), seeded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["regularities", "model_regularities", "regularity_table", "STATISTICS"]

STATISTICS = ("truthful_share", "top_share", "mean_inflation", "report_slope", "capacity_slope")
_FINITE_NAMES = {"report_slope": "message_slope", "capacity_slope": "action_slope"}


def _slope(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def _stats(frame: pd.DataFrame, game) -> dict:
    senders = frame[frame["role"] == "sender"]
    receivers = frame[frame["role"] == "receiver"]
    lo, hi = game.message_range
    tol = 0.005 * (hi - lo) if game.kind == "forecast" else 1e-9
    m, s = senders["message"].to_numpy(float), senders["state"].to_numpy(float)
    return {"truthful_share": float(np.mean(np.abs(m - s) <= tol)) if m.size else np.nan,
            "top_share": float(np.mean(m >= hi - tol)) if m.size else np.nan,
            "mean_inflation": float(np.mean(m - s)) if m.size else np.nan,
            "report_slope": _slope(s, m),
            "capacity_slope": _slope(receivers["message"], receivers["action"])}


def regularities(frame: pd.DataFrame, game_spec) -> pd.DataFrame:
    """The regularities of a clean long-format frame, one row per treatment plus ``all``."""
    rows = {}
    treatments = list(dict.fromkeys(frame["treatment"].astype(str))) if "treatment" in frame else ["default"]
    for t in treatments:
        part = frame[frame["treatment"].astype(str) == t] if "treatment" in frame else frame
        rows[t] = _stats(part, game_spec.game(t))
    if len(treatments) > 1:
        rows["all"] = _stats(frame, game_spec.game(treatments[0]))
    out = pd.DataFrame.from_dict(rows, orient="index")[list(STATISTICS)]
    if game_spec.kind == "finite":
        out = out.rename(columns=_FINITE_NAMES)
    out.index.name = "treatment"
    return out


def simulation_design(frame: pd.DataFrame) -> dict:
    """Subjects per role and treatment, rounds and treatments of a data set (to mimic it)."""
    per = frame.groupby(["treatment", "role"])["subject"].nunique()
    rounds = frame.groupby(["treatment", "role", "subject"]).size()
    return {"n_subjects": int(per.max()), "n_rounds": int(rounds.max()),
            "treatments": list(dict.fromkeys(frame["treatment"].astype(str)))}


def model_regularities(model, params: dict, frame: pd.DataFrame, game_spec, seed: int = 0,
                       replications: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The regularities of data simulated from ``model`` at ``params`` with the design of
    ``frame``; returns ``(table, simulated_frame)``."""
    design = simulation_design(frame)
    sims = [model.simulate(params, design["n_subjects"], design["n_rounds"], seed=seed + i,
                           treatments=design["treatments"]) for i in range(replications)]
    sim = pd.concat(sims, ignore_index=True) if len(sims) > 1 else sims[0]
    return regularities(sim, game_spec), sim


def regularity_table(data_table: pd.DataFrame, model_tables: dict) -> pd.DataFrame:
    """Long table ``treatment, statistic, data, <model>...`` with the data beside each model."""
    rows = []
    for t in data_table.index:
        for stat in data_table.columns:
            row = {"treatment": t, "statistic": stat, "data": data_table.loc[t, stat]}
            for name, table in model_tables.items():
                row[name] = table.loc[t, stat] if t in table.index and stat in table.columns else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def data_welfare(game_spec, data: pd.DataFrame) -> dict:
    """Welfare of the data's own behaviour (finite games), as the models' welfare is computed:
    the empirical sender strategy ``sigma(m | s)`` and receiver strategy ``rho(a | m)`` of each
    treatment, a random sender meeting a random receiver under the game's prior, efficiency
    their total payoff over the first best. A state or message never seen gets a uniform
    row. ``{treatment: {...}}``; empty for continuous games."""
    if getattr(game_spec, "kind", "") != "finite":
        return {}
    from ..models.finite_common import FiniteModel

    out = {}
    treatments = data["treatment"].astype(str).unique() if "treatment" in data else [None]
    for t in treatments:
        game = game_spec.game(t if t in game_spec.treatments else None)
        part = data if t is None else data[data["treatment"].astype(str) == t]
        senders, receivers = part[part["role"] == "sender"], part[part["role"] == "receiver"]
        sig = np.zeros((game.n_states, game.n_messages))
        rho = np.zeros((game.n_messages, game.n_actions))
        if len(senders):
            np.add.at(sig, (game.state_index(senders["state"].to_numpy(float)),
                            game.message_index(senders["message"].to_numpy(float))), 1.0)
        if len(receivers):
            np.add.at(rho, (game.message_index(receivers["message"].to_numpy(float)),
                            game.action_index(receivers["action"].to_numpy(float))), 1.0)
        for table in (sig, rho):
            empty = table.sum(axis=1) == 0
            table[empty] = 1.0
            table /= table.sum(axis=1, keepdims=True)
        out[str(t)] = FiniteModel._welfare(game, sig, rho)
    return out
