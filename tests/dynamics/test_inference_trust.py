"""The trust fit's covariance through the shared inference layer is the one it computed
before (its own sandwich and delta method, held to 1e-10), and its JSON is the fit JSON."""

import numpy as np
import pytest

from cheaptalk.dynamics.model import TrustDynamics, natural_jacobian
from cheaptalk.estimation import inference
from cheaptalk.estimation.result import load_result


def test_trust_covariance_is_unchanged_through_the_layer(local_fit):
    engine, fit = local_fit
    at = engine.evaluate(TrustDynamics(fit.kind), fit.u, hessian=True)
    G = at.n_sellers
    hinv = np.linalg.inv(at.hessian)                       # the formula before the layer
    J = natural_jacobian(fit.u, fit.kind)
    old = hinv @ at.meat @ hinv * G / (G - 1) * np.outer(J, J)
    c = inference.cluster_robust(at.hessian, at.meat, G)
    np.testing.assert_allclose(inference.delta_method(c.robust, J), old, rtol=1e-10, atol=0)


def test_trust_fit_json_has_the_fit_json_fields_and_round_trips(local_fit, tmp_path):
    _, fit = local_fit
    d = fit.to_dict()
    for key in ("schema_version", "cheaptalk_version", "model", "loglik", "n_params", "n_obs", "n_subjects",
                "aic", "bic", "converged", "params", "covariance", "diagnostics", "warnings"):
        assert key in d, key
    assert d["cluster"] == "seller" and d["diagnostics"]["se_method"].startswith("cluster-robust by seller")
    assert set(d["diagnostics"]["ci95"]) == set(d["params"])
    loaded = load_result(fit.save(tmp_path / "trust.json"))
    assert loaded.to_dict() == d
    assert loaded.aic == pytest.approx(fit.aic)
    np.testing.assert_allclose(loaded.se_vector, [fit.se[n] for n in fit.estimates], rtol=1e-15)


def test_engines_follow_the_declared_protocol(local_fit):
    from cheaptalk.dynamics.engines import Engine
    from cheaptalk.dynamics.engines.spark import SparkEngine
    engine, _ = local_fit
    assert isinstance(engine, Engine)
    for name in ("prepare", "n_sellers", "sample", "batches", "evaluate", "close"):
        assert callable(getattr(SparkEngine, name)), name


def test_profile_likelihood_intervals_of_a_trust_fit(local_fit):
    """Each end is where the profile log-likelihood has dropped by chi2_1(0.95) / 2 (checked by
    re-maximizing there), the interval contains the estimate, and on these logs (large,
    well identified) it is close to the Wald interval on the unbounded scale."""
    from scipy import stats
    from cheaptalk.dynamics.estimate import U_BOUNDS, _profile_point, profile_intervals
    from cheaptalk.dynamics.parameters import to_unconstrained
    engine, fit = local_fit
    profile = profile_intervals(engine, fit)
    wald = fit.ci()
    model = TrustDynamics(fit.kind)
    names = list(fit.estimates)
    lo = np.array([U_BOUNDS[n][0] for n in names])
    hi = np.array([U_BOUNDS[n][1] for n in names])
    crit = stats.chi2.ppf(0.95, 1) / 2
    for j, name in enumerate(names):
        low, high = profile["intervals"][j]
        assert low < fit.estimates[name] < high, name
        width = wald[j, 1] - wald[j, 0]
        assert abs(low - wald[j, 0]) < 0.2 * width and abs(high - wald[j, 1]) < 0.2 * width, name
        for end in (low, high):
            u_end = to_unconstrained({**fit.estimates, name: end}, fit.kind, fit.rule)[j]
            ll, _ = _profile_point(lambda u, hessian=True: engine.evaluate(model, u, hessian=hessian),
                                   fit.u, j, u_end, lo, hi)
            assert fit.loglik - ll == pytest.approx(crit, abs=0.01), (name, end)
    fit.profile = profile
    d = fit.to_dict()
    assert d["diagnostics"]["ci_method"] == "profile likelihood"
    assert d["diagnostics"]["ci95"][names[0]] == pytest.approx(list(profile["intervals"][0]))
    fit.profile = None
