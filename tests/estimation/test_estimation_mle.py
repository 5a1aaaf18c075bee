"""Maximum likelihood, standard errors and diagnostics on models with closed-form answers
(synthetic data)."""

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cheaptalk.estimation import EstimationWarning, Likelihood, fit
from cheaptalk.games import load_game
from cheaptalk.models.likelihood import total_loglik

from toymodels import LinearReports, TwoTypeSenders


@pytest.fixture(scope="module")
def game():
    return load_game("forecast-sharing")


@pytest.fixture(scope="module")
def linear_fit(game):
    model = LinearReports(game)
    data = model.simulate({"inflation": 12.0, "slope": 0.7, "intercept": 30.0}, 8, 20, seed=1, subject_sd=6.0)
    return model, data, fit(model, data, starts=2)


def test_mle_is_ols_and_matches_panel_likelihood(linear_fit):
    model, data, res = linear_fit
    senders, receivers = data[data.role == "sender"], data[data.role == "receiver"]
    est = res.params
    assert res.converged
    assert est["inflation"] == pytest.approx((senders.message - senders.state).mean(), abs=1e-4)
    ols = sm.OLS(receivers.action.to_numpy(), sm.add_constant(receivers.message.to_numpy())).fit()
    assert est["intercept"] == pytest.approx(ols.params[0], abs=1e-3)
    assert est["slope"] == pytest.approx(ols.params[1], abs=1e-6)
    assert est["sd_capacity"] == pytest.approx(np.sqrt(ols.ssr / len(receivers)), rel=1e-5)
    # the compiled weighted likelihood is the model layer's panel likelihood
    assert res.loglik == pytest.approx(float(total_loglik(model, res.theta, res.likelihood.prepared)), abs=1e-8)


def test_cluster_robust_se_match_statsmodels(linear_fit):
    model, data, res = linear_fit
    receivers = data[data.role == "receiver"]
    groups = pd.factorize(receivers.subject)[0]
    ols = sm.OLS(receivers.action.to_numpy(), sm.add_constant(receivers.message.to_numpy())).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    G = res.n_subjects                      # every sender and receiver is a cluster
    expected = ols.bse * np.sqrt(G / (G - 1))
    frame = res.to_frame()
    assert frame.loc["intercept", "se"] == pytest.approx(expected[0], rel=1e-3)
    assert frame.loc["slope", "se"] == pytest.approx(expected[1], rel=1e-3)
    # with subject effects in the data, clustering matters: robust > model-based for inflation
    assert frame.loc["inflation", "se"] > 1.5 * frame.loc["inflation", "se_model"]


def test_gradient_matches_finite_differences(game):
    model = TwoTypeSenders(game)
    data = model.simulate({"share_inflating": 0.4}, 5, 8, seed=3)
    lik = Likelihood(model, data)
    theta = model.to_vector({"share_inflating": 0.3, "inflation": 25.0, "slope": 0.9})
    _, grad = lik.loglik_and_grad(theta)
    for j in range(len(theta)):
        h = 1e-5 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        fd = (lik.loglik(up) - lik.loglik(down)) / (2 * h)
        assert grad[j] == pytest.approx(fd, rel=1e-5, abs=1e-5)


def test_cluster_robust_se_agree_with_bootstrap_by_subject(game):
    model = LinearReports(game)
    data = model.simulate({"inflation": 5.0}, 6, 12, seed=7, subject_sd=4.0)
    res = fit(model, data, starts=1, bootstrap_replications=150, seed=11)
    frame = res.to_frame()
    ratio = frame["se_bootstrap"] / frame["se"]
    assert ratio.between(0.75, 1.33).all(), ratio
    assert json.loads(json.dumps(res.to_dict()))["params"]["inflation"]["se_bootstrap"] > 0


def test_mixture_share_and_types_are_recovered(game):
    model = TwoTypeSenders(game)
    data = model.simulate({"share_inflating": 0.3, "inflation": 25.0}, 15, 12, seed=5)
    res = fit(model, data, starts=3)
    lo, hi = res.ci()[0]
    true_share = len(data.attrs["inflating"]) / 60
    assert lo <= true_share <= hi and hi - lo < 0.3
    post = res.subject_posteriors()
    assert set(post.columns) >= {"subject", "role", "attribute", "mean", "low", "high"}
    guess_inflating = set(post.loc[post["mean"] < 0.5, "subject"])
    assert guess_inflating == data.attrs["inflating"]
    member = res.type_membership()
    assert np.allclose(member.groupby("subject")["probability"].sum(), 1.0)


def test_bounds_and_flat_likelihood_are_reported(game):
    model = TwoTypeSenders(game)
    data = model.simulate({"share_inflating": 0.0}, 6, 10, seed=9)   # nobody inflates
    with pytest.warns(EstimationWarning) as caught:
        res = fit(model, data, starts=1, start={"share_inflating": 0.001})
    text = " ".join(str(w.message) for w in caught)
    assert "share_inflating is at its lower bound" in text
    assert res.at_bound == {"share_inflating": "lower"}
    se = res.to_frame()["se"]
    assert np.isnan(se["share_inflating"]) and np.isfinite(se["slope"])
    # with no inflating senders their inflation is not identified: flat direction
    assert "inflation" in res.flat and np.isnan(se["inflation"])
    out = res.to_dict()
    assert out["params"]["share_inflating"]["se"] is None
    assert any("flat" in w for w in out["warnings"])


def test_non_convergence_is_reported(game):
    model = LinearReports(game)
    data = model.simulate({}, 4, 6, seed=2)
    with pytest.warns(EstimationWarning, match="did not converge"):
        res = fit(model, data, starts=1, maxiter=2)
    assert not res.converged and res.to_dict()["converged"] is False
    assert "converged: NO" in str(res)


def test_fit_json_shape(linear_fit):
    model, data, res = linear_fit
    out = json.loads(json.dumps(res.to_dict()))
    for key in ("model", "loglik", "n_params", "n_obs", "n_subjects", "aic", "bic", "converged", "params"):
        assert key in out
    assert out["n_params"] == 5 and out["n_obs"] == len(data) and out["n_subjects"] == 64
    assert out["aic"] == pytest.approx(2 * 5 - 2 * out["loglik"])
    assert out["bic"] == pytest.approx(5 * np.log(len(data)) - 2 * out["loglik"])
    assert list(out["params"]) == model.param_names
    text = str(res)
    assert "slope" in text and "cluster-robust" in text


def test_profile_likelihood_interval_of_a_regression_slope_has_its_closed_form(linear_fit):
    """The slope of capacity on the report, with the intercept and the sd re-maximized:
    ``log L_p(b) - log L_max = -n/2 log(1 + (b - b_hat)^2 Sxx / SSR)``, so the 95% interval
    is ``b_hat -/+ sqrt(SSR / Sxx (exp(chi2_1(0.95) / n) - 1))`` (an independent reference)."""
    from scipy import stats
    model, data, res = linear_fit
    profiled = fit(model, data, starts=1, intervals="profile", warn=False)
    receivers = data[data.role == "receiver"]
    m, k = receivers.message.to_numpy(), receivers.action.to_numpy()
    n = len(m)
    b_hat = np.polyfit(m, k, 1)[0]
    ssr = np.sum((k - np.polyval(np.polyfit(m, k, 1), m)) ** 2)
    sxx = np.sum((m - m.mean()) ** 2)
    half = np.sqrt(ssr / sxx * (np.exp(stats.chi2.ppf(0.95, 1) / n) - 1))
    j = model.param_names.index("slope")
    lo, hi = profiled.ci()[j]
    assert lo == pytest.approx(b_hat - half, abs=2e-5) and hi == pytest.approx(b_hat + half, abs=2e-5)
    out = profiled.to_dict()
    assert out["diagnostics"]["ci_method"] == "profile likelihood"
    assert out["diagnostics"]["ci95"]["slope"] == pytest.approx([lo, hi])
    # every interval contains its estimate and stays inside the bounds
    bounds = np.array(model.bounds())
    ci = profiled.ci()
    ok = np.isfinite(ci[:, 0])
    assert ok.sum() >= 4
    assert np.all(ci[ok, 0] <= profiled.theta[ok]) and np.all(profiled.theta[ok] <= ci[ok, 1])
    assert np.all(ci[ok, 0] >= bounds[ok, 0]) and np.all(ci[ok, 1] <= bounds[ok, 1])
