"""M1 on forecast sharing: level-k and Poisson cognitive hierarchy.

Anchors: the level-0 sender is truthful (``m = xi``); the level-0 receiver is credulous
(``K = m + z*``). Consequences in G1 (derived in ``docs/forecast-sharing.md``):

* L1 sender (best response to the credulous receiver): sales are ``min(xi + eps, m + z*)``,
  rising in ``m`` until ``m + z* >= xi + a`` and flat after, so every report in
  ``[l(xi), m_hi]`` with ``l(xi) = min(xi + a - z*, m_hi)`` is optimal. Ties are spread
  uniformly over that set (``tie_break="uniform"``, the default) or broken at its
  ``"minimal"`` or ``"maximal"`` end.
* L1 receiver (best response to the truthful L0 sender) is credulous, like L0.
* L2 receiver: best response to the L1 sender. Under uniform ties the posterior density
  of the forecast given ``m < m_hi`` is ``f(xi) / (m_hi - l(xi))`` on ``l(xi) <= m``;
  under minimal inflation the report is inverted, ``xi = m - a + z*``; under maximal
  inflation every L1 sender pools at ``m_hi`` and the L2 receiver ignores the report.
  Reports no L1 sender would send are read skeptically (the lowest forecast).
* L2 sender = L1 sender (the L1 receiver is credulous). Levels are truncated at 2: the
  model has two sender types (truthful L0, inflating L1+) and two receiver types
  (credulous L0/L1, discounting L2).

Cognitive hierarchy keeps the same levels 0..2 with Poisson shares
``p_k ∝ tau^k / k!`` per role; the level-2 receiver best-responds to the normalized mix of
L0 and L1 senders, so his belief given ``m`` puts weight
``w(m) = q f(m) / (q f(m) + (1 - q) h_1(m))`` (``q = 1 / (1 + tau_sender)``; ``h_1`` the
density of L1 reports) on the report being true and the rest on the L1 posterior: partial
discounting, with capacity solving ``w G(K - m) + (1 - w) F_{D | L1, m}(K) = rho``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import ModelError
from .._jax import jnp
from .base import Option, Parameter
from .forecast_common import (ForecastModel, TypeChoices, capacity_for_belief, interp_rows,
                              interp_uniform_grid, noise_parameters)

__all__ = ["ForecastLevelK", "ForecastCognitiveHierarchy", "level1_report_set", "level2_beliefs"]

TIE_BREAKS = ("uniform", "minimal", "maximal")
_M_GRID = 201
_X_GRID = 301
_W_GRID = 21
_K_GRID = 2001
_FLOOR = 1e-12


def level1_report_set(game, xi, tie_break: str = "uniform"):
    """``(low, high)``: the reports the level-1 sender chooses among, given forecasts ``xi``."""
    m_lo, m_hi = game.message_range
    threshold = np.clip(np.asarray(xi, float) + game.noise_half_width - game.z_star, m_lo, m_hi)
    if tie_break == "uniform":
        return threshold, np.full_like(threshold, m_hi)
    if tie_break == "minimal":
        return threshold, threshold
    if tie_break == "maximal":
        return np.full_like(threshold, m_hi), np.full_like(threshold, m_hi)
    raise ModelError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")


def level2_beliefs(game, m_grid, tie_break: str = "uniform", n_x: int = _X_GRID):
    """What a level-2 receiver infers from each report in ``m_grid`` about level-1 senders.

    Returns ``(x_grid, posterior[M, X], h1[M], truthful_density[M])``: the posterior of the
    forecast given the report and that the sender is L1, the density (or, at the top of the
    message space, an atom treated as dominant) of L1 reports, and the density of L0
    (truthful) reports ``f(m)``.
    """
    m_lo, m_hi = game.message_range
    x = np.linspace(*game.forecast_range, n_x)
    dx = x[1] - x[0]
    prior = game.forecast.pdf(x) * dx
    prior = prior / prior.sum()
    low, high = level1_report_set(game, x, tie_break)
    m = np.asarray(m_grid, float)[:, None]
    top = np.isclose(m[:, 0], m_hi)
    if tie_break == "uniform":
        spread = high - low
        ok = (spread > 1e-9)[None, :] & (low[None, :] <= m)
        dens = np.where(ok, prior[None, :] / np.maximum(spread, 1e-9)[None, :], 0.0)
    elif tie_break == "minimal":
        # m = xi + a - z*: a point; spread mass over the two grid neighbours of xi = m - a + z*
        xi_m = m[:, 0] - game.noise_half_width + game.z_star
        pos = (xi_m - x[0]) / dx
        i = np.floor(pos).astype(int)
        frac = pos - i
        dens = np.zeros((len(m), n_x))
        inside = (pos >= 0) & (pos <= n_x - 1)
        rows = np.flatnonzero(inside)
        i_c = np.clip(i, 0, n_x - 2)
        dens[rows, i_c[rows]] += (1 - frac[rows]) * game.forecast.pdf(xi_m[rows])
        dens[rows, i_c[rows] + 1] += frac[rows] * game.forecast.pdf(xi_m[rows])
    else:  # maximal: nothing below the top
        dens = np.zeros((len(m), n_x))
    # the top of the message space: an atom of all L1 senders whose threshold is m_hi
    atom = np.isclose(low, m_hi) & np.isclose(high, m_hi)
    if tie_break == "maximal":
        atom = np.ones(n_x, bool)
    if atom.any():
        dens[top] = np.where(atom, prior, 0.0)[None, :]
    h1 = dens.sum(axis=1)
    h1 = np.where(top & atom.any(), np.inf, h1 / dx if tie_break == "uniform" else h1)
    posterior = dens.copy()
    off_path = posterior.sum(axis=1) <= 0
    posterior[off_path] = 0.0
    posterior[off_path, 0] = 1.0        # skeptical reading of a report no L1 sender sends
    posterior = posterior / posterior.sum(axis=1, keepdims=True)
    truthful = game.forecast.pdf(m[:, 0])
    return x, posterior, h1, truthful


@lru_cache(maxsize=32)
def _level2_tables(game, tie_break: str) -> dict:
    """Capacity of a receiver who weights 'the report is true' by w and the L1 posterior by
    1 - w, on a grid of reports x w, plus the densities that give w in CH."""
    m_grid = np.linspace(*game.message_range, _M_GRID)
    x, post, h1, truthful = level2_beliefs(game, m_grid, tie_break)
    w_grid = np.linspace(0, 1, _W_GRID)
    # cdf of demand under each report's L1 posterior, tabulated on a fine capacity grid
    k_lo, k_hi = game.capacity_range[0] - game.noise_half_width, game.capacity_range[1] + 1.0
    k_grid = np.linspace(k_lo, k_hi, _K_GRID)
    demand_cdf = post @ game.noise.cdf(k_grid[None, :] - x[:, None])          # (M, K)
    rows = np.arange(len(m_grid))[:, None]
    step = k_grid[1] - k_grid[0]

    def posterior_cdf(k):     # k: (M, W), interpolated row by row
        pos = np.clip((k - k_lo) / step, 0, _K_GRID - 1 - 1e-9)
        i = pos.astype(int)
        frac = pos - i
        return demand_cdf[rows, i] * (1 - frac) + demand_cdf[rows, i + 1] * frac

    k = capacity_for_belief(game, m_grid[:, None], w_grid[None, :], posterior_cdf)
    return {"m_grid": m_grid, "capacity": k, "h1": h1, "truthful": truthful}


class _LevelBase(ForecastModel):
    @classmethod
    def option_specs(cls):
        return super().option_specs() + [
            Option("tie_break", "uniform", "choice", "how the level-1 sender, indifferent over the reports "
                   "above her forecast, chooses among them", allowed=TIE_BREAKS)]

    def __init__(self, game, *, tie_break: str = "uniform", **options):
        if tie_break not in TIE_BREAKS:
            raise ModelError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        super().__init__(game, tie_break=tie_break, **options)
        self.tie_break = tie_break

    def interval_columns(self, role):
        # the L1 sender is indifferent over [l(xi), m_hi]
        return np.array([1]) if role == "sender" and self.tie_break == "uniform" else np.zeros(0, int)

    def sender_type_attributes(self):
        return {"level": np.array([0.0, 1.0])}

    def rule_types(self):
        # the truthful level-0 sender and the credulous level-0/1 receiver come first
        return {"sender": np.array([True, False]), "receiver": np.array([True, False])}

    def receiver_type_attributes(self):
        return {"level": np.array([1.0, 2.0])}     # 1 stands for the credulous L0/L1 type

    def tables(self, treatment: str) -> dict:
        return _level2_tables(self.game.treatments[treatment], self.tie_break)

    def _precompute(self, prep):
        if "sender" in prep.arrays:
            arr = prep.arrays["sender"]
            low = np.zeros(len(arr["state"]))
            high = np.zeros(len(arr["state"]))
            for code, t in enumerate(self.treatment_names):
                rows = arr["treatment"] == code
                g = self.game.treatments[t]
                low[rows], high[rows] = level1_report_set(g, arr["state"][rows], self.tie_break)
            truth = np.clip(arr["state"], arr["low"], arr["high"])
            prep.cache["sender_low"] = np.stack([truth, low], axis=1)
            prep.cache["sender_high"] = np.stack([truth, high], axis=1)
        if "receiver" in prep.arrays:
            arr = prep.arrays["receiver"]
            n = len(arr["message"])
            credulous = np.zeros(n)
            table = np.zeros((n, _W_GRID))
            h1 = np.zeros(n)
            truthful = np.zeros(n)
            for code, t in enumerate(self.treatment_names):
                rows = arr["treatment"] == code
                if not rows.any():
                    continue
                g = self.game.treatments[t]
                tab = self.tables(t)
                m = arr["message"][rows]
                credulous[rows] = m + g.z_star
                table[rows] = interp_rows(m, tab["m_grid"], tab["capacity"])
                top = np.isclose(m, g.message_range[1])
                h1[rows] = np.where(top, tab["h1"][-1], np.interp(m, tab["m_grid"], np.where(
                    np.isfinite(tab["h1"]), tab["h1"], 0.0)))
                truthful[rows] = g.forecast.pdf(m)
            prep.cache.update(credulous=credulous, l2_table=table, h1=h1, truthful_density=truthful)

    def sender_choices(self, values, prep):
        shares = self.sender_shares(values)
        return TypeChoices(jnp.log(jnp.maximum(shares, _FLOOR)), jnp.asarray(prep.cache["sender_low"]),
                           jnp.asarray(prep.cache["sender_high"]))

    def receiver_choices(self, values, prep):
        shares = self.receiver_shares(values)
        q = self.truthful_belief(values)
        f, h1 = prep.cache["truthful_density"], prep.cache["h1"]
        # w = q f / (q f + (1 - q) h1); h1 = inf at the top atom gives w = 0
        finite_h1 = jnp.asarray(np.where(np.isfinite(h1), h1, 0.0))
        denom = q * f + (1 - q) * finite_h1
        w = jnp.where(jnp.asarray(np.isfinite(h1)) & (denom > 0), q * f / jnp.where(denom > 0, denom, 1.0),
                      jnp.where(jnp.asarray(np.isfinite(h1)), 1.0, 0.0))
        discounting = interp_uniform_grid(w, jnp.asarray(prep.cache["l2_table"]))
        credulous = jnp.asarray(prep.cache["credulous"])
        k = jnp.stack([credulous, discounting], axis=1)
        return TypeChoices(jnp.log(jnp.maximum(shares, _FLOOR)), k, k)


class ForecastLevelK(_LevelBase):
    name = "levelk"
    description = "level-k: truthful/credulous anchors, L1 senders inflate, L2 receivers discount"

    def parameters(self):
        return [Parameter("sender_level1_share", 0.5, 0.0, 1.0,
                          "share of level-1+ senders (inflating); the rest are truthful level-0"),
                Parameter("receiver_level2_share", 0.4, 0.0, 1.0,
                          "share of level-2+ receivers (best response to L1 senders); the rest credulous"),
                ] + noise_parameters(self.game.game()) + self.tremble_parameters()

    def sender_shares(self, values):
        s = values["sender_level1_share"]
        return jnp.stack([1 - s, s])

    def receiver_shares(self, values):
        r = values["receiver_level2_share"]
        return jnp.stack([1 - r, r])

    def truthful_belief(self, values):
        return 0.0          # the L2 receiver believes all senders are L1


class ForecastCognitiveHierarchy(_LevelBase):
    name = "ch"
    description = "Poisson cognitive hierarchy (levels 0-2): L2 receivers discount the mix of L0 and L1 senders"

    def parameters(self):
        return [Parameter("tau_sender", 1.0, 0.0, 10.0, "Poisson mean level of senders"),
                Parameter("tau_receiver", 1.0, 0.0, 10.0, "Poisson mean level of receivers"),
                ] + noise_parameters(self.game.game()) + self.tremble_parameters()

    @staticmethod
    def _poisson(tau):
        p = jnp.stack([jnp.ones_like(tau), tau, tau ** 2 / 2])
        return p / p.sum()

    def sender_shares(self, values):
        p = self._poisson(values["tau_sender"])
        return jnp.stack([p[0], p[1] + p[2]])

    def receiver_shares(self, values):
        p = self._poisson(values["tau_receiver"])
        return jnp.stack([p[0] + p[1], p[2]])

    def truthful_belief(self, values):
        return 1.0 / (1.0 + values["tau_sender"])     # p0 / (p0 + p1) of the sender population
