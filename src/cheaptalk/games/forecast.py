"""G1: the forecast-sharing game (continuous report and capacity).

A manufacturer (sender) privately observes a forecast ``xi ~ F``; demand is
``D = xi + eps`` with market noise ``eps ~ G`` (mean 0, support ``[-a, a]``). She sends a
report ``m`` in ``[m_lo, m_hi]``; the supplier (receiver) sees ``m`` and builds capacity
``K >= 0`` at unit cost ``c``. Sales are ``min(D, K)``; the manufacturer earns
``(r - w) min(D, K)`` and the supplier ``w min(D, K) - c K`` (``0 < c < w < r``).

The supplier's problem is a newsvendor with critical fractile ``rho = 1 - c / w``:
first best ``K = xi + z*`` with ``z* = G^-1(rho)``; babbling ``K = F_D^-1(rho)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..errors import GameError
from .distributions import SumDistribution, Uniform

__all__ = ["ForecastGame"]


@dataclass(frozen=True)
class ForecastGame:
    """One treatment of the forecast-sharing game."""

    r: float = 1.0
    w: float = 0.75
    c: float = 0.25
    forecast: object = field(default_factory=lambda: Uniform(50.0, 250.0))
    noise: object = field(default_factory=lambda: Uniform(-20.0, 20.0))
    message_low: float | None = None
    message_high: float | None = None
    name: str = "forecast-sharing"
    treatment: str = "default"

    kind = "forecast"

    def __post_init__(self):
        if not (0 < self.c < self.w < self.r):
            raise GameError(f"forecast game needs 0 < c < w < r, got c={self.c}, w={self.w}, r={self.r}")
        lo, hi = self.forecast.support
        if self.message_low is None:
            object.__setattr__(self, "message_low", float(lo))
        if self.message_high is None:
            object.__setattr__(self, "message_high", float(hi))
        if not self.message_high > self.message_low:
            raise GameError("message space needs message_high > message_low")
        nlo, nhi = self.noise.support
        if not (nlo < 0 < nhi):
            raise GameError("market noise must have mean 0 inside its support [-a, a]")

    # --- economics -----------------------------------------------------------------
    @property
    def rho(self) -> float:
        """Critical fractile ``1 - c / w``."""
        return 1.0 - self.c / self.w

    @property
    def z_star(self) -> float:
        """``G^-1(rho)``: the safety stock a supplier who knew ``xi`` would add."""
        return float(self.noise.ppf(self.rho))

    @property
    def noise_half_width(self) -> float:
        """``a``: market noise lives on ``[-a, a]``."""
        return float(self.noise.support[1])

    @cached_property
    def demand(self) -> SumDistribution:
        """Prior distribution of demand ``D = xi + eps``."""
        return SumDistribution(self.forecast, self.noise)

    @property
    def forecast_range(self) -> tuple[float, float]:
        return tuple(float(v) for v in self.forecast.support)

    @property
    def message_range(self) -> tuple[float, float]:
        return (float(self.message_low), float(self.message_high))

    @property
    def capacity_range(self) -> tuple[float, float]:
        """Capacities a sensible supplier considers: ``[0, max demand]``."""
        return (0.0, float(self.forecast.support[1] + self.noise.support[1]))

    def first_best_capacity(self, xi):
        return np.asarray(xi, float) + self.z_star

    def babbling_capacity(self) -> float:
        return float(self.demand.ppf(self.rho))

    def expected_sales(self, xi, capacity):
        """``E_eps min(xi + eps, K)`` given the forecast: ``K - int_{-a}^{K-xi} G``."""
        xi = np.asarray(xi, float)
        k = np.asarray(capacity, float)
        return k - self.noise.cdf_integral(k - xi)

    def expected_profits(self, xi, capacity):
        """Expected profits ``(manufacturer, supplier)`` given the forecast and the capacity."""
        sales = self.expected_sales(xi, capacity)
        return (self.r - self.w) * sales, self.w * sales - self.c * np.asarray(capacity, float)

    def first_best_profit(self, xi):
        """Expected supply-chain profit when capacity is ``xi + z*``."""
        k = self.first_best_capacity(xi)
        m, s = self.expected_profits(xi, k)
        return m + s

    def with_(self, **changes) -> "ForecastGame":
        return replace(self, **changes)

    def describe(self) -> dict:
        return {
            "kind": "forecast", "name": self.name, "treatment": self.treatment,
            "r": self.r, "w": self.w, "c": self.c,
            "forecast": self.forecast.describe(), "noise": self.noise.describe(),
            "message_low": self.message_low, "message_high": self.message_high,
            "rho": self.rho, "z_star": self.z_star,
        }
