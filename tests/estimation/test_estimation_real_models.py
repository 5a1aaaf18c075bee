"""The estimation layer on the forecast-sharing models: exact gradients and parameter
recovery from data simulated at each model's defaults (synthetic data)."""

import warnings

import numpy as np
import pytest

from cheaptalk.data import clean_decisions
from cheaptalk.estimation import EstimationWarning, fit
from cheaptalk.games import load_game
from cheaptalk.models import get_model

MODELS = ["equilibrium", "levelk", "ch", "trust"]


@pytest.fixture(scope="module")
def game():
    return load_game("forecast-sharing")


@pytest.fixture(scope="module", params=MODELS)
def recovered(request, game):
    model = get_model(request.param, game)
    data, _ = clean_decisions(model.simulate(None, 8, 20, seed=21), game)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        result = fit(model, data, starts=1)
    return model, result


def test_gradient_matches_finite_differences(recovered):
    model, result = recovered
    lik = result.likelihood
    bounds = np.array(model.bounds())
    width = bounds[:, 1] - bounds[:, 0]
    # a point away from the estimate and from the bounds
    theta = np.clip(result.theta + 0.03 * width, bounds[:, 0] + 0.05 * width, bounds[:, 1] - 0.05 * width)
    _, grad = lik.loglik_and_grad(theta)
    mismatches = []
    for j in range(len(theta)):
        h = 1e-6 * width[j]
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        fd = (lik.loglik(up) - lik.loglik(down)) / (2 * h)
        if grad[j] != pytest.approx(fd, rel=1e-3, abs=1e-2):
            mismatches.append((model.param_names[j], grad[j], fd))
    assert not mismatches


def test_parameters_are_recovered(recovered):
    """Every estimate with a standard error lies within its 99% interval around the truth;
    parameters without one (at a bound or not identified) are reported as such."""
    model, result = recovered
    truth = model.to_vector()
    frame = result.to_frame()
    has_se = np.isfinite(frame["se"].to_numpy())
    assert has_se[model.param_names.index("sd_report")] and has_se[model.param_names.index("sd_capacity")]
    z = (result.theta - truth) / frame["se"].to_numpy()
    assert np.all(np.abs(z[has_se]) < 2.58), dict(zip(model.param_names, np.round(z, 2)))
    for name in np.array(model.param_names)[~has_se]:
        assert name in result.at_bound or name in result.flat
    assert result.loglik >= result.likelihood.loglik(truth) - 1e-6     # the MLE beats the truth in-sample
