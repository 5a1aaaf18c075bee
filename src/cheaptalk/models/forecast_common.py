"""Shared machinery of the forecast-sharing (G1) models.

Every G1 model describes, for each *type* of sender and receiver, a deterministic choice
given the context: a sender type's report given her forecast ``xi``, a receiver type's
capacity given the report ``m``. A sender type may be indifferent over an interval of
reports (the level-1 sender); such a type's report is uniform on ``[low, high]``. Under
the common noise of docs/models.md the observed choice is::

    report   = clip(U[low, high] + sd_report * e,   m_lo, m_hi)
    capacity = clip(K_type(m)   + sd_capacity * e,  0,    K_max)

This module holds the receiver's capacity for a belief that mixes "the report is true" with
another distribution of the forecast (the trust model's prior, a level-k posterior), the
base class :class:`ForecastModel` (prepare, components, predict, simulate, welfare) and
helpers to tabulate schedules once per treatment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ModelError
from .._jax import jax, jnp
from .base import Model, Option, Parameter, Prediction, RoleComponents
from .likelihood import split_roles
from .noise import boundary_flags, censored_normal_logpdf, censored_uniform_normal_logpdf

DEFAULT_EXACT_TOLERANCE = 0.005
_RULES = {"sender": "a truthful sender (report = forecast)",
          "receiver": "a credulous receiver (capacity = report + z*)"}

__all__ = ["ForecastModel", "TypeChoices", "capacity_for_belief", "noise_parameters",
           "interp_rows", "interp_uniform_grid"]

_BISECTION_STEPS = 60


class TypeChoices(NamedTuple):
    """Deterministic choices of each type in each decision's context.

    ``low``/``high`` are (N, T); equal where the type makes a point choice.
    """

    log_weights: object
    low: object
    high: object


def noise_parameters(game) -> list[Parameter]:
    """The two noise parameters every G1 model has, with the same bounds everywhere."""
    lo, hi = game.message_range
    width = hi - lo
    return [
        Parameter("sd_report", 0.08 * width, 0.002 * width, width,
                  "sd of the normal error on reports (censored at the message bounds)"),
        Parameter("sd_capacity", 0.06 * width, 0.002 * width, width,
                  "sd of the normal error on capacity (censored at 0 and at maximum demand)"),
    ]


def capacity_for_belief(game, m, alpha, other_cdf, lo=None, hi=None):
    """Capacity ``K`` solving ``alpha G(K - m) + (1 - alpha) H(K) = rho``.

    The receiver believes the report ``m`` with probability ``alpha`` (demand is then
    ``m + eps``) and otherwise that demand follows the cdf ``H`` (the prior ``F_D`` for the
    trust model, a level-k posterior for level-k receivers). The left side rises in ``K``
    from 0 to 1, so vectorized bisection finds the newsvendor quantile of the mixture.
    ``m`` and ``alpha`` broadcast; ``other_cdf(K)`` must accept arrays of their shape.
    """
    m = np.asarray(m, float)
    alpha = np.asarray(alpha, float)
    shape = np.broadcast(m, alpha).shape
    lo_k = np.full(shape, game.capacity_range[0] - 1.0 if lo is None else lo)
    hi_k = np.full(shape, game.capacity_range[1] + 1.0 if hi is None else hi)
    lo_k = np.minimum(lo_k, m + game.noise.support[0]) if lo is None else lo_k
    hi_k = np.maximum(hi_k, m + game.noise.support[1]) if hi is None else hi_k
    rho = game.rho
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo_k + hi_k)
        value = alpha * game.noise.cdf(mid - m) + (1.0 - alpha) * other_cdf(mid)
        below = value < rho
        lo_k = np.where(below, mid, lo_k)
        hi_k = np.where(below, hi_k, mid)
    return 0.5 * (lo_k + hi_k)


def interp_rows(x_obs, grid, table):
    """Linear interpolation of ``table[len(grid), ...]`` at ``x_obs`` along the first axis."""
    x_obs = np.clip(np.asarray(x_obs, float), grid[0], grid[-1])
    pos = (x_obs - grid[0]) / (grid[1] - grid[0])
    i = np.clip(np.floor(pos).astype(int), 0, len(grid) - 2)
    frac = (pos - i).reshape((-1,) + (1,) * (table.ndim - 1))
    return table[i] * (1 - frac) + table[i + 1] * frac


def interp_uniform_grid(values, table):
    """Interpolate rows of ``table[N, G]`` (a function tabulated on ``linspace(0, 1, G)``)
    at ``values[N]`` in [0, 1], differentiably in ``values`` (jax)."""
    g = table.shape[1]
    pos = jnp.clip(values, 0.0, 1.0) * (g - 1)
    i = jnp.clip(jnp.floor(pos).astype(int), 0, g - 2)
    frac = pos - i
    rows = jnp.arange(table.shape[0])
    return table[rows, i] * (1 - frac) + table[rows, i + 1] * frac


@dataclass
class PreparedForecast:
    """Decisions split by role with everything the likelihood needs that ``theta`` does not change."""

    roles: dict
    treatment_games: list
    arrays: dict = field(default_factory=dict)     # role -> dict of numpy arrays
    cache: dict = field(default_factory=dict)      # model-specific precomputations


class ForecastModel(Model):
    """Base of the G1 models. Subclasses implement :meth:`sender_choices` and
    :meth:`receiver_choices` (in ``jax.numpy``, from ``theta`` and the prepared data) and
    :meth:`parameters`; everything else is shared so every family has the same noise."""

    game_kind = "forecast"

    @classmethod
    def option_specs(cls) -> list[Option]:
        return [Option("errors", "logit", "choice",
                       "error model: logit (every type's choice plus censored normal error, the continuous "
                       "counterpart of logit) or mixed (the truthful sender and the credulous receiver make "
                       "their rule's exact choice with probability 1 - e, otherwise the censored normal); "
                       "see docs/models.md", allowed=("logit", "mixed")),
                Option("exact_tolerance", None, "float",
                       "a choice within this share of the message range of the rule (report = forecast, "
                       "capacity = the credulous one) counts as exact; default 0.005 under mixed, 0 (no "
                       "exact choices) under logit; compare gives every error model the same", minimum=0.0,
                       maximum=1.0)]

    @property
    def errors(self) -> str:
        return self.options.get("errors", "logit")

    @property
    def exact_tolerance(self) -> float:
        """Share of the message range within which a choice counts as the rule's exact choice."""
        given = self.options.get("exact_tolerance")
        if given is not None:
            return float(given)
        return DEFAULT_EXACT_TOLERANCE if self.errors == "mixed" else 0.0

    def rule_types(self) -> dict:
        """``{role: boolean array over types}``: the truthful sender and the credulous receiver."""
        return {}

    def tremble_parameters(self) -> list[Parameter]:
        """``tremble_<role>`` under ``mixed``, for each role that has a rule type."""
        if self.errors != "mixed":
            return []
        return [Parameter(f"tremble_{role}", 0.2, 0.0, 1.0,
                          f"probability that {_RULES[role]} does not make the rule's exact choice "
                          f"(and chooses with the censored normal error instead)")
                for role in ("sender", "receiver") if np.any(self.rule_types().get(role, False))]

    def interval_columns(self, role: str) -> np.ndarray:
        """Type columns whose choice may be an interval (a type indifferent among reports)."""
        return np.zeros(0, dtype=int)

    def n_types(self, role: str) -> int:
        attrs = self.type_attributes().get(role, {})
        return len(next(iter(attrs.values()))) if attrs else 1

    # --- to implement ------------------------------------------------------------------
    def sender_choices(self, values: dict, prep: PreparedForecast) -> TypeChoices:
        raise NotImplementedError

    def receiver_choices(self, values: dict, prep: PreparedForecast) -> TypeChoices:
        raise NotImplementedError

    def sender_type_attributes(self) -> dict:
        return {}

    def receiver_type_attributes(self) -> dict:
        return {}

    def type_attributes(self) -> dict:
        return {"sender": self.sender_type_attributes(), "receiver": self.receiver_type_attributes()}

    # --- data ------------------------------------------------------------------------
    @cached_property
    def treatment_names(self) -> list[str]:
        return list(self.game.treatments)

    def prepare(self, data: pd.DataFrame) -> PreparedForecast:
        data = data.copy()
        if "treatment" not in data.columns:
            data["treatment"] = self.treatment_names[0]
        unknown = sorted(set(data["treatment"].astype(str)) - set(self.treatment_names))
        if unknown:
            raise ModelError(f"treatment(s) {unknown} are not in game {self.game.name!r} "
                             f"(it has {self.treatment_names})")
        roles = split_roles(data, treatments=self.treatment_names)
        games = [self.game.treatments[t] for t in self.treatment_names]
        prep = PreparedForecast(roles=roles, treatment_games=games)
        for role, rd in roles.items():
            t = rd.treatment_codes
            m_lo = np.array([g.message_range[0] for g in games])[t]
            m_hi = np.array([g.message_range[1] for g in games])[t]
            arr = {"treatment": t, "message": rd.frame["message"].to_numpy(float)}
            if role == "sender":
                arr["state"] = rd.frame["state"].to_numpy(float)
                arr["low"], arr["high"] = m_lo, m_hi
                observed = arr["message"]
            else:
                arr["low"] = np.zeros(len(t))
                arr["high"] = np.array([g.capacity_range[1] for g in games])[t]
                observed = rd.frame["action"].to_numpy(float) if "action" in rd.frame else np.full(len(t), np.nan)
                arr["action"] = observed
            arr["at_low"], arr["at_high"] = boundary_flags(np.nan_to_num(observed), arr["low"], arr["high"])
            # the rule's choice (truth; the credulous capacity) and whether the choice is it, exactly
            if role == "sender":
                arr["rule"] = np.clip(arr["state"], m_lo, m_hi)
            else:
                z_star = np.array([g.z_star for g in games])[t]
                arr["rule"] = np.clip(arr["message"] + z_star, arr["low"], arr["high"])
            arr["tolerance"] = self.exact_tolerance * (m_hi - m_lo)
            arr["exact"] = np.abs(np.nan_to_num(observed, nan=np.inf) - arr["rule"]) <= arr["tolerance"]
            if self.exact_tolerance <= 0:
                arr["exact"][:] = False
            prep.arrays[role] = arr
        self._precompute(prep)
        return prep

    def _precompute(self, prep: PreparedForecast) -> None:
        """Hook: tabulate parameter-free schedules into ``prep.cache``."""

    # --- likelihood ------------------------------------------------------------------
    def values(self, theta) -> dict:
        return {n: theta[i] for i, n in enumerate(self.param_names)}

    def components(self, theta, prep: PreparedForecast) -> dict:
        values = self.values(theta)
        out = {}
        for role in prep.roles:
            arr = prep.arrays[role]
            if role == "sender":
                choice, sd, observed = self.sender_choices(values, prep), values["sd_report"], arr["message"]
            else:
                choice, sd, observed = self.receiver_choices(values, prep), values["sd_capacity"], arr["action"]
            density = choice_logpdf(observed, choice, sd, arr, self.interval_columns(role))
            # an exact choice (within the tolerance of the rule) counts by its probability, any
            # other by its density: the same measure for every type, family and error model
            exact = np.asarray(arr["exact"])
            band = exact_band_logprob(density, choice, sd, arr, self.interval_columns(role)) if exact.any() else None
            logf = jnp.where(exact[:, None], band, density) if band is not None else density
            rules = np.asarray(self.rule_types().get(role, np.zeros(0, bool)), bool)
            if self.errors == "mixed" and rules.any():
                # rule types make the rule's exact choice with probability 1 - e, else the normal error
                e = values[f"tremble_{role}"]
                rule_logf = jnp.log(jnp.maximum(e, _TINY)) + density
                if band is not None:
                    rule_logf = jnp.where(exact[:, None], jnp.log(jnp.maximum(1 - e + e * jnp.exp(band), _TINY)),
                                          rule_logf)
                logf = jnp.where(rules[None, :], rule_logf, logf)
            out[role] = RoleComponents(choice.log_weights, logf)
        return out

    # --- prediction ------------------------------------------------------------------
    def _context_frame(self, treatment: str, xi=None, m=None) -> pd.DataFrame:
        rows = []
        if xi is not None:
            rows.append(pd.DataFrame({"subject": "s", "role": "sender", "round": 1, "state": xi,
                                      "message": xi, "action": np.nan}))
        if m is not None:
            rows.append(pd.DataFrame({"subject": "r", "role": "receiver", "round": 1, "state": np.nan,
                                      "message": m, "action": np.nan}))
        frame = pd.concat(rows, ignore_index=True)
        frame["treatment"] = treatment
        return frame

    def type_choices(self, params: dict | None, treatment: str, xi=None, m=None) -> dict:
        """Each type's deterministic choice at given forecasts ``xi`` and/or reports ``m``.

        Returns ``{role: (weights[T], low[N, T], high[N, T])}`` as numpy arrays.
        """
        theta = jnp.asarray(self.to_vector(params))
        values = self.values(theta)
        out = {}
        for role, context in (("sender", xi), ("receiver", m)):
            if context is None:
                continue
            context = np.atleast_1d(np.asarray(context, float))
            # pad to a power of two: eager jax compiles each operation once per shape, so a
            # few recurring shapes keep repeated predictions and simulations fast
            n = len(context)
            size = max(64, 1 << int(np.ceil(np.log2(max(n, 1)))))
            padded = np.concatenate([context, np.full(size - n, context[-1])])
            frame = self._context_frame(treatment, **({"xi": padded} if role == "sender" else {"m": padded}))
            prep = self.prepare(frame)
            fn = self.sender_choices if role == "sender" else self.receiver_choices
            c = fn(values, prep)
            w = np.exp(np.asarray(c.log_weights, float))
            out[role] = (w / w.sum(), np.asarray(c.low, float)[:n], np.asarray(c.high, float)[:n])
        return out

    def predict(self, params: dict | None = None, n_points: int = 11) -> Prediction:
        full = self.resolve(params)
        reports, capacities, summary = [], [], {}
        for t in self.treatment_names:
            g = self.game.treatments[t]
            xi = np.linspace(*g.forecast_range, n_points)
            m = np.linspace(*g.message_range, n_points)
            ch = self.type_choices(full, t, xi=xi, m=m)
            ws, lo, hi = ch["sender"]
            mean_report = ((lo + hi) / 2) @ ws
            wr, klo, _ = ch["receiver"]
            reports.append(pd.DataFrame({"treatment": t, "forecast": xi, "mean_report": mean_report,
                                         "mean_inflation": mean_report - xi,
                                         "truthful_share": (np.isclose(lo, xi[:, None]) & np.isclose(hi, xi[:, None])) @ ws}))
            capacities.append(pd.DataFrame({"treatment": t, "report": m, "mean_capacity": klo @ wr,
                                            "credulous": m + g.z_star,
                                            "babbling": g.babbling_capacity()}))
            summary[t] = self.welfare(full, t)
        return Prediction(model=self.name, game=self.game.name, params=full,
                          tables={"report schedule (by forecast)": pd.concat(reports, ignore_index=True),
                                  "capacity schedule (by report)": pd.concat(capacities, ignore_index=True)},
                          summary=summary, options=self.recorded_options())

    def welfare(self, params: dict | None, treatment: str, n_forecasts: int = 201, n_spread: int = 5) -> dict:
        """Expected profits and supply-chain efficiency under the model's noise-free choices.

        Sender types indifferent over an interval are averaged over ``n_spread`` points of it;
        senders and receivers are matched at random, so profits average over both type
        distributions. Efficiency is the expected chain profit over the first-best profit
        (capacity ``xi + z*``).
        """
        g = self.game.treatments[treatment]
        xi = np.linspace(*g.forecast_range, n_forecasts)
        fw = g.forecast.pdf(xi)
        fw = fw / fw.sum()
        ch = self.type_choices(params, treatment, xi=xi)
        ws, lo, hi = ch["sender"]
        spread = np.linspace(0, 1, n_spread)
        reports = lo[..., None] + (hi - lo)[..., None] * spread          # (X, S, P)
        recv = self.type_choices(params, treatment, m=reports.ravel())["receiver"]
        wr, k, _ = recv
        k = k.reshape(reports.shape + (len(wr),))                          # (X, S, P, R)
        man, sup = g.expected_profits(xi[:, None, None, None], k)
        weight = fw[:, None, None, None] * ws[None, :, None, None] * wr[None, None, None, :] / n_spread
        man_profit, sup_profit = float((man * weight).sum()), float((sup * weight).sum())
        first_best = float((g.first_best_profit(xi) * fw).sum())
        return {"manufacturer_profit": man_profit, "supplier_profit": sup_profit,
                "chain_profit": man_profit + sup_profit, "first_best_profit": first_best,
                "efficiency": (man_profit + sup_profit) / first_best}

    # --- simulation ------------------------------------------------------------------
    def _exact_draws(self, full: dict, role: str, types: np.ndarray, rng) -> np.ndarray:
        """Under ``mixed``: which simulated choices of rule types are the rule's exact choice."""
        rules = np.asarray(self.rule_types().get(role, np.zeros(0, bool)), bool)
        if self.errors != "mixed" or not rules.any():
            return np.zeros(types.size, bool)
        return rules[types] & (rng.uniform(size=types.size) >= full[f"tremble_{role}"])

    def simulate(self, params: dict | None, n_subjects: int, n_rounds: int,
                 seed: int | None = None, treatments: list[str] | None = None) -> pd.DataFrame:
        """Simulate a lab session per treatment: ``n_subjects`` manufacturers and suppliers,
        types drawn once per subject, strangers re-matched every round."""
        full = self.resolve(params)
        rng = np.random.default_rng(seed)
        frames = []
        for t in treatments or self.treatment_names:
            g = self.game.treatments[t]
            n = int(n_subjects)
            ws, _, _ = self.type_choices(full, t, xi=np.array([g.forecast.mean]))["sender"]
            wr, _, _ = self.type_choices(full, t, m=np.array([g.message_range[0]]))["receiver"]
            sender_type = rng.choice(len(ws), size=n, p=ws)
            receiver_type = rng.choice(len(wr), size=n, p=wr)
            xi = g.forecast.sample(rng, (n_rounds, n))
            _, lo, hi = self.type_choices(full, t, xi=xi.ravel())["sender"]
            idx = np.repeat(sender_type[None, :], n_rounds, 0).ravel()
            rows = np.arange(idx.size)
            base = lo[rows, idx] + (hi[rows, idx] - lo[rows, idx]) * rng.uniform(size=idx.size)
            m_lo, m_hi = g.message_range
            report = np.clip(base + full["sd_report"] * rng.standard_normal(idx.size), m_lo, m_hi)
            exact = self._exact_draws(full, "sender", idx, rng)
            report = np.where(exact, np.clip(xi.ravel(), m_lo, m_hi), report).reshape(n_rounds, n)
            # strangers matching: a fresh permutation of receivers each round
            partner = np.array([rng.permutation(n) for _ in range(n_rounds)])     # sender i meets receiver partner[r, i]
            _, k, _ = self.type_choices(full, t, m=report.ravel())["receiver"]
            rtype = receiver_type[partner].ravel()
            capacity = k[np.arange(rtype.size), rtype] + full["sd_capacity"] * rng.standard_normal(rtype.size)
            capacity = np.clip(capacity, *g.capacity_range)
            exact = self._exact_draws(full, "receiver", rtype, rng)
            capacity = np.where(exact, np.clip(report.ravel() + g.z_star, *g.capacity_range), capacity)
            capacity = capacity.reshape(n_rounds, n)
            rounds = np.repeat(np.arange(1, n_rounds + 1)[:, None], n, 1)
            pair = rounds * 0 + np.arange(1, n + 1)[None, :]
            senders = pd.DataFrame({"subject": [f"{t}-S{i + 1:03d}" for i in np.tile(np.arange(n), n_rounds)],
                                    "role": "sender", "round": rounds.ravel(), "state": xi.ravel(),
                                    "message": report.ravel(), "action": np.nan})
            receivers = pd.DataFrame({"subject": [f"{t}-R{j + 1:03d}" for j in partner.ravel()],
                                      "role": "receiver", "round": rounds.ravel(), "state": xi.ravel(),
                                      "message": report.ravel(), "action": capacity.ravel()})
            for frame in (senders, receivers):
                frame["session"] = t
                frame["pair"] = pair.ravel()
                frame["treatment"] = t
            frames += [senders, receivers]
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["treatment", "round", "pair", "role"], kind="stable").reset_index(drop=True)


_TINY = 1e-300


def exact_band_logprob(logf, choice: TypeChoices, sd, arr, interval_columns=()):
    """``log P_t(|x - rule| <= tol)`` of each type: the probability of an exact choice under
    the type's censored normal error (the band reaches into the censored mass at a bound).
    Types indifferent over an interval get the first-order ``density x band width``."""
    ndtr = jax.scipy.special.ndtr
    rule, tol = np.asarray(arr["rule"])[:, None], np.asarray(arr["tolerance"])[:, None]
    low, high = np.asarray(arr["low"])[:, None], np.asarray(arr["high"])[:, None]
    upper = jnp.where(rule + tol >= high, 1.0, ndtr((rule + tol - choice.low) / sd))
    lower = jnp.where(rule - tol <= low, 0.0, ndtr((rule - tol - choice.low) / sd))
    out = jnp.log(jnp.maximum(upper - lower, _TINY))
    cols = np.asarray(interval_columns, dtype=int)
    if cols.size:
        width = np.minimum(rule + tol, high) - np.maximum(rule - tol, low)
        at_bound = (np.asarray(arr["at_low"]) | np.asarray(arr["at_high"]))[:, None]
        interval = jnp.where(at_bound, logf[:, cols], logf[:, cols] + jnp.log(jnp.maximum(width, _TINY)))
        out = out.at[:, cols].set(interval)
    return out


def choice_logpdf(observed, choice: TypeChoices, sd, arr, interval_columns=()):
    """Log density of observed choices under each type: censored normal around a point, or
    the censored uniform-plus-normal for types indifferent over an interval."""
    x = jnp.asarray(np.nan_to_num(observed))[:, None]
    at_low, at_high = np.asarray(arr["at_low"]), np.asarray(arr["at_high"])
    low = jnp.asarray(arr["low"])[:, None]
    high = jnp.asarray(arr["high"])[:, None]
    out = censored_normal_logpdf(x, choice.low, sd, at_low, at_high, low, high)
    cols = np.asarray(interval_columns, dtype=int)
    if cols.size == 0:
        return out
    c_low, c_high = choice.low[:, cols], choice.high[:, cols]
    spread = (c_high - c_low) > 1e-9
    safe_high = jnp.where(spread, c_high, c_low + 1.0)   # keeps the unused branch finite
    interval = censored_uniform_normal_logpdf(x, c_low, safe_high, sd, at_low[:, None],
                                              at_high[:, None], low, high)
    return out.at[:, cols].set(jnp.where(spread, interval, out[:, cols]))
