"""The smoothness check of the standard errors: silent on a smooth likelihood whose parameter
is small against its bounds (the situation of a small Beta concentration), loud and precise
on a likelihood with a kink at the estimate (synthetic data)."""

import warnings

import numpy as np
import pytest
from toymodels import LinearReports, normal_logpdf

from cheaptalk._jax import jnp
from cheaptalk.estimation import EstimationWarning, Likelihood, fit, standard_errors
from cheaptalk.games import load_game
from cheaptalk.models import RoleComponents


@pytest.fixture(scope="module")
def game():
    return load_game("forecast-sharing")


class KinkedReports(LinearReports):
    """Reports whose noise grows with the distance of ``inflation`` from 0: the
    log-likelihood has a kink at ``inflation = 0``, where the data put the maximum."""

    name = "kinked"

    def components(self, theta, p):
        infl, sd_r, a, b, sd_k = (theta[i] for i in range(5))
        sd_eff = sd_r + 2.0 * jnp.abs(infl)
        return {"sender": RoleComponents(jnp.zeros(1), normal_logpdf(p.m_s, p.xi + infl, sd_eff)[:, None]),
                "receiver": RoleComponents(jnp.zeros(1), normal_logpdf(p.k, a + b * p.m_r, sd_k)[:, None])}


def test_small_scale_parameter_in_wide_bounds_is_smooth(game):
    """sd_report = 0.3 in bounds [0.1, 100]: steps proportional to the bound width (0.01 and
    0.1) would change its standard error by several percent; steps that follow the
    parameter's own scale see a smooth likelihood, and the SEs agree with the closed form."""
    model = LinearReports(game)
    data = model.simulate({"sd_report": 0.3, "sd_capacity": 0.3}, n_subjects=10, n_rounds=10, seed=3)
    lik = Likelihood(model, data)
    result = fit(model, likelihood=lik, starts=1, warn=False)
    assert result.smooth and not any("smooth" in w for w in result.warnings)
    ses = standard_errors(lik, result.theta)
    assert ses["smoothness_discrepancy"] < 1e-3
    # model-based SE of a normal sd: sd / sqrt(2 n)
    j = model.param_names.index("sd_report")
    n = int((data.role == "sender").sum())
    assert ses["se_model"][j] == pytest.approx(result.theta[j] / np.sqrt(2 * n), rel=1e-4)


def test_kink_at_the_estimate_is_reported_with_its_parameter(game):
    model = KinkedReports(game)
    data = LinearReports(game).simulate({"sd_report": 5.0}, n_subjects=20, n_rounds=10, seed=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(model, data, starts=1)
    assert abs(result.params["inflation"]) < 1e-3           # the maximum sits on the kink
    assert not result.smooth
    texts = [str(w.message) for w in caught if issubclass(w.category, EstimationWarning)]
    smooth_warnings = [t for t in texts if "not smooth" in t]
    assert len(smooth_warnings) == 1 and "inflation" in smooth_warnings[0]
