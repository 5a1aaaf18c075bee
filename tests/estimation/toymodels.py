"""Small models whose maximum-likelihood estimates are known in closed form.

They implement the real :class:`cheaptalk.models.Model` interface on the forecast-sharing
game, so the estimation and comparison layers are tested on exactly the code path the
behavioural models use. Data they simulate are synthetic.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from cheaptalk._jax import jnp
from cheaptalk.models import Model, Parameter, Prediction, RoleComponents
from cheaptalk.models.likelihood import split_roles

LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def normal_logpdf(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - jnp.log(sd) - LOG_SQRT_2PI


class LinearReports(Model):
    """Report = forecast + inflation + N(0, sd_report); capacity = a + b report + N(0, sd_capacity).

    One type per role, so the MLE is OLS: ``inflation`` = mean(report - forecast), (a, b) the
    OLS fit of capacity on report, and the sds the root mean squared residuals.
    """

    name = "linear"
    game_kind = "forecast"
    description = "test model: linear reports and capacities"

    def parameters(self):
        return [Parameter("inflation", 0.0, -100.0, 100.0, "mean report minus forecast"),
                Parameter("sd_report", 10.0, 0.1, 100.0, "sd of reports"),
                Parameter("intercept", 20.0, -200.0, 400.0, "capacity intercept"),
                Parameter("slope", 0.8, -2.0, 3.0, "capacity slope on the report"),
                Parameter("sd_capacity", 10.0, 0.1, 100.0, "sd of capacity")]

    def prepare(self, data):
        roles = split_roles(data)
        return SimpleNamespace(roles=roles,
                               xi=roles["sender"].frame["state"].to_numpy(float),
                               m_s=roles["sender"].frame["message"].to_numpy(float),
                               m_r=roles["receiver"].frame["message"].to_numpy(float),
                               k=roles["receiver"].frame["action"].to_numpy(float))

    def components(self, theta, p):
        infl, sd_r, a, b, sd_k = (theta[i] for i in range(5))
        return {"sender": RoleComponents(jnp.zeros(1), normal_logpdf(p.m_s, p.xi + infl, sd_r)[:, None]),
                "receiver": RoleComponents(jnp.zeros(1), normal_logpdf(p.k, a + b * p.m_r, sd_k)[:, None])}

    def predict(self, params=None):
        v = self.resolve(params)
        summary = {t: {"mean_inflation": v["inflation"], "capacity_slope": v["slope"]} for t in self.game.treatments}
        return Prediction(model=self.name, game=self.game.name, params=v, summary=summary)

    def simulate(self, params, n_subjects, n_rounds, seed=None, treatments=None, subject_sd=0.0):
        v = self.resolve(params)
        rng = np.random.default_rng(seed)
        rows = []
        for t in treatments or list(self.game.treatments):
            g = self.game.game(t)
            lo, hi = g.forecast_range
            for i in range(n_subjects):
                shift = rng.normal(0, subject_sd)          # subject effect: makes clustering matter
                kshift = rng.normal(0, subject_sd)
                xi = rng.uniform(lo, hi, n_rounds)
                m = xi + v["inflation"] + shift + rng.normal(0, v["sd_report"], n_rounds)
                k = v["intercept"] + kshift + v["slope"] * m + rng.normal(0, v["sd_capacity"], n_rounds)
                for r in range(n_rounds):
                    rows.append((f"{t}-s{i}", "sender", r + 1, xi[r], m[r], np.nan, t))
                    rows.append((f"{t}-r{i}", "receiver", r + 1, xi[r], m[r], k[r], t))
        return pd.DataFrame(rows, columns=["subject", "role", "round", "state", "message", "action", "treatment"])


class TwoTypeSenders(LinearReports):
    """Senders are honest (report = forecast + noise) or inflate by ``inflation``; the share of
    inflating senders is ``share_inflating``. Type fixed per subject. Receivers as above."""

    name = "twotype"
    description = "test model: honest and inflating senders"

    def parameters(self):
        return [Parameter("share_inflating", 0.5, 0.0, 1.0, "share of inflating senders"),
                Parameter("inflation", 30.0, 0.0, 100.0, "inflation of the inflating type")] + \
            LinearReports.parameters(self)[1:]

    def type_attributes(self):
        return {"sender": {"trustworthiness": np.array([1.0, 0.0])}}

    def components(self, theta, p):
        share, infl, sd_r, a, b, sd_k = (theta[i] for i in range(6))
        logw = jnp.log(jnp.array([1.0 - share, share]).clip(1e-12, 1.0))
        logf = jnp.stack([normal_logpdf(p.m_s, p.xi, sd_r), normal_logpdf(p.m_s, p.xi + infl, sd_r)], axis=1)
        return {"sender": RoleComponents(logw, logf),
                "receiver": RoleComponents(jnp.zeros(1), normal_logpdf(p.k, a + b * p.m_r, sd_k)[:, None])}

    def simulate(self, params, n_subjects, n_rounds, seed=None, treatments=None):
        v = self.resolve(params)
        rng = np.random.default_rng(seed)
        base = LinearReports.simulate(self, {"inflation": 0.0, "sd_report": v["sd_report"],
                                             "intercept": v["intercept"], "slope": v["slope"],
                                             "sd_capacity": v["sd_capacity"]},
                                      n_subjects, n_rounds, seed=seed, treatments=treatments)
        senders = base.loc[base["role"] == "sender", "subject"].unique()
        inflating = set(senders[rng.uniform(size=len(senders)) < v["share_inflating"]])
        hit = (base["role"] == "sender") & base["subject"].isin(inflating)
        base.loc[hit, "message"] += v["inflation"]
        base.attrs["inflating"] = inflating
        return base
