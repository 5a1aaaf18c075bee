"""M0 on forecast sharing: standard theory, where only babbling survives.

The manufacturer always wants more capacity, so in any equilibrium the supplier ignores
the report (Crawford-Sobel with a monotone bias): capacity is the newsvendor quantile of
the prior demand, ``K = F_D^-1(rho)``, and the report is independent of the forecast. The
report is modelled as one estimated level ``babbling_report`` plus the common noise, so
this model has exactly the noise structure of every other family.
"""

from __future__ import annotations

import numpy as np

from .._jax import jnp
from .base import Parameter
from .forecast_common import ForecastModel, TypeChoices, noise_parameters

__all__ = ["ForecastEquilibrium"]


class ForecastEquilibrium(ForecastModel):
    name = "equilibrium"
    description = "standard theory: babbling equilibrium (reports ignored, capacity F_D^-1(rho))"

    def parameters(self):
        g = self.game.game()
        lo, hi = g.message_range
        return [Parameter("babbling_report", 0.5 * (lo + hi), lo, hi,
                          "report sent whatever the forecast (babbling)")] + noise_parameters(g)

    def sender_choices(self, values, prep):
        n = len(prep.arrays["sender"]["state"])
        report = jnp.full((n, 1), 1.0) * values["babbling_report"]
        return TypeChoices(jnp.zeros(1), report, report)

    def receiver_choices(self, values, prep):
        t = prep.arrays["receiver"]["treatment"]
        k = np.array([g.babbling_capacity() for g in prep.treatment_games])[t][:, None]
        return TypeChoices(jnp.zeros(1), jnp.asarray(k), jnp.asarray(k))
