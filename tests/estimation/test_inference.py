"""The shared inference layer: against statsmodels' cluster-robust covariance, and against
the formulas each fit used before the layer existed (held to 1e-10)."""

import json

import numpy as np
import pytest
import statsmodels.api as sm

from cheaptalk.estimation import fit, inference
from cheaptalk.estimation.mle import _Scaling, standard_errors
from cheaptalk.estimation.result import SCHEMA_VERSION, load_result
from cheaptalk.errors import InputError
from cheaptalk.games import load_game

from toymodels import LinearReports


def test_sandwich_equals_statsmodels_clustered_logit():
    """A logit with clustered errors: the layer's sandwich from numpy scores and Hessian is
    statsmodels' cluster-robust covariance (whose small-sample factor also has
    (N - 1) / (N - K), divided out here)."""
    rng = np.random.default_rng(3)
    G, per = 40, 12
    groups = np.repeat(np.arange(G), per)
    X = sm.add_constant(np.column_stack([rng.normal(size=G * per), rng.normal(size=G)[groups]]))
    y = (rng.uniform(size=len(X)) < 1 / (1 + np.exp(-(X @ [0.2, 0.8, -0.5] + rng.normal(size=G)[groups])))).astype(float)
    res = sm.Logit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    b = res.params
    p = 1 / (1 + np.exp(-X @ b))
    H = -(X * (p * (1 - p))[:, None]).T @ X
    scores = np.zeros((G, 3))
    np.add.at(scores, groups, X * (y - p)[:, None])
    c = inference.cluster_robust(H, inference.score_outer_products(scores), G)
    N, K = len(X), 3
    np.testing.assert_allclose(c.robust * (N - 1) / (N - K), res.cov_params(), rtol=1e-8)
    np.testing.assert_allclose(c.model_based, np.linalg.inv(-H), rtol=1e-10)
    assert c.flat == [] and not c.few_clusters


def test_flat_direction_gets_no_standard_error():
    H = -np.array([[2.0, 2.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 1.0]])     # a + b only is identified
    c = inference.cluster_robust(H, np.eye(3), 50, names=["a", "b", "c"])
    assert c.flat == ["a", "b"]
    se = inference.standard_errors(c.robust)
    assert np.isnan(se[:2]).all() and np.isfinite(se[2])
    assert inference.parameters_at_bounds(["x", "y", "z"], [0.0, 0.5, 1.0], [0, 0, 0], [1, 1, 1], 1e-6) == \
        {"x": "lower", "z": "upper"}


def _old_static_covariance(H, scores, free, scale, G):
    """The covariance the static fit computed before the shared layer (verbatim)."""
    info = -H[np.ix_(free, free)]
    info = 0.5 * (info + info.T)
    s = scale[free]
    eig, vec = np.linalg.eigh(info * np.outer(s, s))
    keep = ~(eig <= 1e-7 * max(float(np.max(np.abs(eig))), 1e-300))
    inv = ((vec[:, keep] / eig[keep]) @ vec[:, keep].T) * np.outer(s, s)
    S = scores[:, free]
    return inv @ (S.T @ S) @ inv * (G / (G - 1)), inv


@pytest.fixture(scope="module")
def linear_fit():
    game = load_game("forecast-sharing")
    model = LinearReports(game)
    data = model.simulate({"inflation": 12.0, "slope": 0.7, "intercept": 30.0}, 8, 20, seed=1, subject_sd=6.0)
    return fit(model, data, starts=1, warn=False)


def test_static_fit_covariance_is_unchanged_through_the_layer(linear_fit):
    lik, theta = linear_fit.likelihood, linear_fit.theta
    scaling = _Scaling(lik.model.bounds())
    free = ~scaling.at_bound(theta)[0]
    H, scores = lik.derivatives(theta, free, None)
    old, old_model = _old_static_covariance(H, scores, free, scaling.scale, lik.n_clusters)
    new = standard_errors(lik, theta)
    np.testing.assert_allclose(new["cov"][np.ix_(free, free)], old, rtol=1e-10, atol=0)
    np.testing.assert_allclose(new["cov_model"][np.ix_(free, free)], old_model, rtol=1e-10, atol=0)
    np.testing.assert_allclose(linear_fit.cov, new["cov"], rtol=1e-10)


def test_fit_json_round_trips_through_save_and_load(linear_fit, tmp_path):
    path = linear_fit.save(tmp_path / "fit.json")
    saved = json.loads(path.read_text())
    assert saved["schema_version"] == SCHEMA_VERSION and saved["cheaptalk_version"]
    assert saved["covariance"]["names"] == linear_fit.param_names
    loaded = load_result(path)
    assert loaded.to_dict() == saved
    assert loaded.aic == pytest.approx(linear_fit.aic) and loaded.bic == pytest.approx(linear_fit.bic)
    np.testing.assert_allclose(loaded.cov, linear_fit.cov, rtol=1e-15)
    np.testing.assert_allclose(loaded.to_frame()[["estimate", "se", "ci_low", "ci_high"]],
                               linear_fit.to_frame()[["estimate", "se", "ci_low", "ci_high"]], rtol=1e-15)
    assert loaded.n_params == linear_fit.n_params and "inflation" in loaded.summary()


def test_load_result_refuses_what_it_cannot_read(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError, match="bad.json: not a JSON file"):
        load_result(bad)
    bad.write_text(json.dumps({"models": []}))
    with pytest.raises(InputError, match="not a fit JSON"):
        load_result(bad)
    bad.write_text(json.dumps({"model": "x", "params": {"a": {"estimate": 1}}, "schema_version": 99}))
    with pytest.raises(InputError, match="newer than this version"):
        load_result(bad)
    with pytest.raises(InputError, match="no such file"):
        load_result(tmp_path / "missing.json")


@pytest.mark.parametrize("game_name, model_name", [("forecast-sharing", "trust"), ("monotone", "levelk"),
                                                   ("monotone", "qre")])
def test_fits_pickle_and_work_after_loading(game_name, model_name):
    """A fit travels (multiprocessing, joblib, a notebook's pickle): its compiled functions
    are made again on loading, and the subject contributions are the same."""
    import pickle
    from cheaptalk.models import get_model
    model = get_model(model_name, load_game(game_name))
    result = fit(model, model.simulate(None, 10, 4, seed=2), starts=1, warn=False)
    again = pickle.loads(pickle.dumps(result))
    np.testing.assert_allclose(again.subject_loglik(), result.subject_loglik(), rtol=1e-12)
    assert again.to_dict()["params"] == result.to_dict()["params"]
    assert again.model.predict(again.params).summary == result.model.predict(result.params).summary


def test_the_layer_and_saved_results_import_without_jax(tmp_path, linear_fit):
    """Reading a saved fit and the inference layer need numpy only (a Spark worker, a notebook
    that only reads results)."""
    import subprocess
    import sys
    path = linear_fit.save(tmp_path / "fit.json")
    code = ("import sys\nfrom cheaptalk.estimation import inference\n"
            "from cheaptalk.estimation.result import load_result\n"
            f"r = load_result({str(path)!r}); print(r.aic > 0, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False"]


def test_wald_intervals_stay_inside_the_bounds_and_contain_the_estimate():
    from scipy import stats
    est = np.array([0.449, 0.5, 200.0, 3.0, -2.0, 0.999])
    se = np.array([0.310, 0.001, 290.0, 0.5, 0.3, 0.01])
    lower = np.array([0.0, 0.0, 0.2, -np.inf, -np.inf, 0.0])
    upper = np.array([1.0, 1.0, np.inf, np.inf, 0.0, 1.0])
    ci = inference.wald_intervals(est, se, lower, upper)
    assert np.all(ci[:, 0] > lower) and np.all(ci[:, 1] < upper)
    assert np.all(ci[:, 0] < est) and np.all(est < ci[:, 1])
    z = stats.norm.ppf(0.975)
    # far from its bounds the interval is the ordinary one; without bounds exactly so
    np.testing.assert_allclose(ci[1], [0.5 - z * 0.001, 0.5 + z * 0.001], rtol=1e-5)
    np.testing.assert_allclose(ci[3], [3.0 - z * 0.5, 3.0 + z * 0.5], rtol=1e-12)
    # a share with a large se: inside (0, 1), not [0, 1]
    assert 0 < ci[0, 0] < 0.2 and 0.7 < ci[0, 1] < 1
    # the logit scale: symmetric there
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert logit(ci[0, 1]) - logit(0.449) == pytest.approx(logit(0.449) - logit(ci[0, 0]))
    # an estimate on its bound or without an se: no interval
    none = inference.wald_intervals([0.0, 0.5], [0.1, np.nan], [0.0, 0.0], [1.0, 1.0])
    assert np.isnan(none).all()


def test_implied_type_shares_and_their_delta_method_errors_against_numerical_derivatives():
    from cheaptalk.estimation.fit_result import implied_type_shares
    names = ["precision", "sender_level1_share", "sender_level3_share", "receiver_level2_share"]
    theta = np.array([3.0, 0.03, 0.6, 0.5])
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4)) * 0.05
    cov = a @ a.T
    cov[0, :] = cov[:, 0] = np.nan          # a parameter without a standard error does not spread
    out = implied_type_shares(names, theta, cov)
    assert [r["type"] for r in out["sender"]] == ["level 0", "levels 1-2", "level 3+"]
    assert [r["type"] for r in out["receiver"]] == ["levels 0-1", "level 2+"]

    def shares(t):
        return np.array([1 - t[1], t[1] * (1 - t[2]), t[1] * t[2], 1 - t[3], t[3]])
    J = np.array([(shares(theta + h) - shares(theta - h)) / 2e-7 for h in np.eye(4) * 1e-7]).T[:, 1:]
    se = np.sqrt(np.diag(J @ cov[1:, 1:] @ J.T))
    got = [r["se"] for r in out["sender"] + out["receiver"]]
    np.testing.assert_allclose([r["share"] for r in out["sender"] + out["receiver"]], shares(theta), rtol=1e-12)
    np.testing.assert_allclose(got, se, rtol=1e-6)
