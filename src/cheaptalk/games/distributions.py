"""One-dimensional distributions of forecasts and market noise in the forecast-sharing game.

Each distribution knows its cdf, pdf, quantile function, the integral of its cdf
``I(x) = int_lo^x F(t) dt`` (which gives expected sales in closed form:
``E min(X, k) = k - I(k)``) and how to sample. Uniform and truncated normal are exact;
the demand ``D = xi + eps`` is a :class:`SumDistribution` tabulated on a fine grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from ..errors import GameError

__all__ = ["Uniform", "TruncatedNormal", "SumDistribution", "make_distribution"]


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def __post_init__(self):
        if not self.high > self.low:
            raise GameError(f"uniform distribution needs high > low, got [{self.low}, {self.high}]")

    @property
    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    @property
    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    def cdf(self, x):
        return np.clip((np.asarray(x, float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def pdf(self, x):
        x = np.asarray(x, float)
        return np.where((x >= self.low) & (x <= self.high), 1.0 / (self.high - self.low), 0.0)

    def ppf(self, q):
        return self.low + np.clip(np.asarray(q, float), 0, 1) * (self.high - self.low)

    def cdf_integral(self, x):
        """``int_low^x F(t) dt``."""
        x = np.asarray(x, float)
        inside = np.clip(x, self.low, self.high)
        return (inside - self.low) ** 2 / (2 * (self.high - self.low)) + np.maximum(x - self.high, 0.0)

    def sample(self, rng: np.random.Generator, size):
        return rng.uniform(self.low, self.high, size)

    def describe(self) -> dict:
        return {"distribution": "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True)
class TruncatedNormal:
    mean_: float
    sd: float
    low: float
    high: float
    _dist: object = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.sd <= 0 or not self.high > self.low:
            raise GameError("normal distribution needs sd > 0 and high > low")
        a, b = (self.low - self.mean_) / self.sd, (self.high - self.mean_) / self.sd
        object.__setattr__(self, "_dist", stats.truncnorm(a, b, loc=self.mean_, scale=self.sd))

    @property
    def support(self):
        return (self.low, self.high)

    @property
    def mean(self) -> float:
        return float(self._dist.mean())

    def cdf(self, x):
        return self._dist.cdf(np.asarray(x, float))

    def pdf(self, x):
        return self._dist.pdf(np.asarray(x, float))

    def ppf(self, q):
        return self._dist.ppf(np.clip(np.asarray(q, float), 0, 1))

    def cdf_integral(self, x):
        # int_low^x F = (x - low) F(x) - int_low^x t f(t) dt  =  (x - low) F(x) - partial mean
        x = np.asarray(x, float)
        xc = np.clip(x, self.low, self.high)
        a, b = (self.low - self.mean_) / self.sd, (self.high - self.mean_) / self.sd
        z = (xc - self.mean_) / self.sd
        mass = stats.norm.cdf(b) - stats.norm.cdf(a)
        partial = (self.mean_ * (stats.norm.cdf(z) - stats.norm.cdf(a))
                   - self.sd * (stats.norm.pdf(z) - stats.norm.pdf(a))) / mass
        inside = (xc - self.low) * self.cdf(xc) - partial
        return inside + np.maximum(x - self.high, 0.0)

    def sample(self, rng: np.random.Generator, size):
        return self._dist.rvs(size=size, random_state=rng)

    def describe(self) -> dict:
        return {"distribution": "normal", "mean": self.mean_, "sd": self.sd,
                "low": self.low, "high": self.high}


class SumDistribution:
    """Distribution of ``X + Y`` for independent X, Y, tabulated on a fine grid.

    ``F(k) = E_X[G_Y(k - X)]`` is computed by the trapezoid rule over ``n`` points of the
    support of X (error of order 1e-7 of the range for the default grid), then cdf, pdf,
    quantiles and the cdf integral are interpolated.
    """

    def __init__(self, x, y, n: int = 2001):
        self.x, self.y = x, y
        lo = x.support[0] + y.support[0]
        hi = x.support[1] + y.support[1]
        self.support = (lo, hi)
        grid = np.linspace(lo, hi, n)
        xs = np.linspace(*x.support, 1001)
        wx = x.pdf(xs)
        wx = wx / np.trapezoid(wx, xs)
        cdf = np.trapezoid(wx[None, :] * y.cdf(grid[:, None] - xs[None, :]), xs, axis=1)
        cdf = np.maximum.accumulate(np.clip(cdf, 0, 1))
        cdf[0], cdf[-1] = 0.0, 1.0
        self._grid, self._cdf = grid, cdf
        self._cdf_int = np.concatenate([[0.0], np.cumsum(np.diff(grid) * 0.5 * (cdf[1:] + cdf[:-1]))])
        self.mean = x.mean + y.mean

    def cdf(self, k):
        return np.interp(np.asarray(k, float), self._grid, self._cdf)

    def pdf(self, k):
        return np.interp(np.asarray(k, float), self._grid, np.gradient(self._cdf, self._grid),
                         left=0.0, right=0.0)

    def ppf(self, q):
        # the cdf is flat nowhere inside the support for the distributions we build
        return np.interp(np.clip(np.asarray(q, float), 0, 1), self._cdf, self._grid)

    def cdf_integral(self, k):
        k = np.asarray(k, float)
        inside = np.interp(k, self._grid, self._cdf_int)
        return inside + np.maximum(k - self.support[1], 0.0)


def make_distribution(spec: dict, *, where: str, default_low=None, default_high=None):
    """Build a distribution from a game-file table such as ``{distribution="uniform", low=50, high=250}``."""
    if not isinstance(spec, dict):
        raise GameError(f"{where}: a distribution must be a table, got {spec!r}")
    kind = str(spec.get("distribution", "uniform")).lower()
    for key in ("low", "high", "half_width", "mean", "sd"):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not np.isfinite(float(value)) or abs(float(value)) > 1e12):
            raise GameError(f"{where}: {key} must be a finite number of at most 1e12 in size, got {value!r}")
    try:
        if kind == "uniform":
            if "half_width" in spec:
                hw = float(spec["half_width"])
                return Uniform(-hw, hw)
            return Uniform(float(spec.get("low", default_low)), float(spec.get("high", default_high)))
        if kind == "normal":
            if "half_width" in spec:
                hw = float(spec["half_width"])
                low, high = -hw, hw
            else:
                low, high = float(spec.get("low", default_low)), float(spec.get("high", default_high))
            return TruncatedNormal(float(spec.get("mean", 0.5 * (low + high))), float(spec["sd"]), low, high)
    except (KeyError, TypeError, ValueError) as exc:
        raise GameError(f"{where}: invalid distribution {spec!r}: {exc}") from None
    raise GameError(f"{where}: unknown distribution {kind!r}; use 'uniform' or 'normal'")
