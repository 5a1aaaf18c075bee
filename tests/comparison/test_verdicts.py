"""Verdicts that say only what the evidence supports: the model confidence set behind every
verdict, cross-validation whose held-out subjects never choose the basin, and tests whose
reference distribution fits their null (synthetic data, closed-form toy models)."""

import json

import numpy as np
import pytest
from scipy import stats

from cheaptalk.comparison import compare_models
from cheaptalk.comparison import predictive
from cheaptalk.comparison.confidence_set import model_confidence_set, set_statement
from cheaptalk.comparison.vuong import likelihood_ratio_test
from cheaptalk.games import load_game

from toymodels import LinearReports, TwoTypeSenders


def test_a_clearly_worse_model_leaves_the_set_and_equal_ones_stay():
    rng = np.random.default_rng(1)
    base = rng.normal(10, 1, 200)
    losses = {"a": base + rng.normal(0, 0.2, 200), "b": base + rng.normal(0, 0.2, 200),
              "c": base + 1.0 + rng.normal(0, 0.2, 200)}
    mcs = model_confidence_set(losses, level=0.9, seed=0)
    assert set(mcs["members"]) == {"a", "b"} and mcs["excluded"] == ["c"]
    assert mcs["p_values"]["c"] < 0.1 <= min(mcs["p_values"]["a"], mcs["p_values"]["b"])
    # identical losses: nothing can be eliminated
    same = model_confidence_set({"x": base, "y": base.copy()}, level=0.9)
    assert same["members"] == ["x", "y"] or same["members"] == ["y", "x"]


def test_two_model_set_agrees_with_a_paired_t_test():
    """Independent reference: with two models the MCS p-value of the worse one is the
    bootstrap p-value of equal mean loss, close to the normal approximation of the paired t."""
    rng = np.random.default_rng(7)
    for shift in (0.05, 0.1, 0.2):
        a = rng.normal(0, 1, 400)
        b = a + shift + rng.normal(0, 1, 400)
        d = b - a
        t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
        p_ref = 2 * stats.norm.sf(abs(t))
        mcs = model_confidence_set({"a": a, "b": b}, level=0.9, reps=4000, seed=3)
        worse, better = ("b", "a") if d.mean() > 0 else ("a", "b")
        assert mcs["p_values"][better] == 1.0
        assert mcs["p_values"][worse] == pytest.approx(p_ref, abs=0.03)
        assert (worse in mcs["members"]) == (p_ref >= 0.1) or abs(p_ref - 0.1) < 0.03


def test_the_level_moves_a_borderline_model_in_and_out_and_the_sentence_follows():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, 300)
    b = a + 0.12 + rng.normal(0, 1, 300)      # paired t about 2: p about 0.04
    loose = model_confidence_set({"a": a, "b": b}, level=0.5, seed=0)
    strict = model_confidence_set({"a": a, "b": b}, level=0.99, seed=0)
    assert loose["members"] == ["a"] and set(strict["members"]) == {"a", "b"}
    assert set_statement(loose["members"], loose["excluded"], 0.5) == "a is best; it beats b (50% model confidence set)"
    assert set_statement(strict["members"], strict["excluded"], 0.99) == \
        "a and b are indistinguishable (99% model confidence set)"
    assert set_statement(["a", "b"], ["c"], 0.9) == "a and b are indistinguishable; both beat c (90% model confidence set)"


@pytest.fixture(scope="module")
def game():
    return load_game("forecast-sharing")


@pytest.fixture(scope="module")
def data(game):
    return TwoTypeSenders(game).simulate({"share_inflating": 0.4, "inflation": 25.0}, 8, 10, seed=3)


def test_the_printed_verdict_is_the_confidence_set_and_changes_with_the_models(game, data):
    c = compare_models(game, data, [LinearReports(game), TwoTypeSenders(game)], folds=4, seed=0, progress=False,
                       holdout=False, with_regularities=False)
    v = json.loads(json.dumps(c.to_dict()))["verdict"]
    assert v["confidence_sets"] == {"logit": ["twotype"]} and v["excluded"] == {"logit": ["linear"]}
    assert v["level"] == 0.9 and "Hansen" in v["method"]
    assert v["statement"] == "Under logit errors: twotype is best; it beats linear (90% model confidence set)."
    assert v["statement"] in " ".join(str(c).split())
    # every fold refit ran from more than the full-sample estimate
    assert all(n >= 2 for cv in c.cv.values() for n in cv["starts_per_fold"])
    # one family only: the sentence names it without a "beats"
    alone = compare_models(game, data, [TwoTypeSenders(game)], folds=4, seed=0, progress=False,
                           holdout=False, with_regularities=False)
    assert alone.verdict["statement"] == "Under logit errors: twotype is best (90% model confidence set)."
    # without cross-validation there is no set, and the statement says so
    bic = compare_models(game, data, [LinearReports(game), TwoTypeSenders(game)], folds=0, progress=False,
                         holdout=False, with_regularities=False)
    assert bic.verdict["confidence_sets"] is None and "not assessed" in bic.verdict["statement"]


def test_a_model_with_a_fold_that_does_not_converge_has_no_cv_score(game, data, monkeypatch):
    real = predictive.maximize

    def failing(lik, theta0, weights=None, **kw):
        run = real(lik, theta0, weights=weights, **kw)
        if lik.model.name == "linear" and weights is not None:
            run = {**run, "converged": False}
        return run

    monkeypatch.setattr(predictive, "maximize", failing)
    c = compare_models(game, data, [LinearReports(game), TwoTypeSenders(game)], folds=4, seed=0, progress=False,
                       holdout=False, with_regularities=False)
    assert c.cv["linear"]["cv_loglik"] is None and c.cv["linear"]["not_converged"] == 4
    out = json.loads(json.dumps(c.to_dict()))
    linear = next(m for m in out["models"] if m["label"] == "linear")
    assert linear["cv_loglik"] is None and "did not converge" in linear["cv"]["why_no_score"]
    assert out["verdict"]["confidence_sets"] == {"logit": ["twotype"]} and "linear" in out["verdict"]["unscored"]
    assert "Not in the verdict" in out["verdict"]["statement"] and not out["verdict"]["robust"]
    assert "none" in c.table().loc["held-out log-lik/decision (4-fold CV)"].tolist()


def test_likelihood_ratio_rows_say_which_distribution_and_why():
    interior = likelihood_ratio_test(-100.0, -103.0, 5, 4, "big", "small", method="chi2")
    assert interior["method"] == "chi2" and interior["p_value"] == pytest.approx(stats.chi2.sf(6.0, 1))
    edge = likelihood_ratio_test(-100.0, -103.0, 5, 4, "big", "small", method="chi-bar-square")
    assert edge["method"] == "chi-bar-square" and edge["p_value"] == pytest.approx(0.5 * stats.chi2.sf(6.0, 1))
    mixture = likelihood_ratio_test(-100.0, -103.0, 9, 5, "mixture", "trust", method=None)
    assert mixture["p_value"] is None and mixture["method"] is None and "--bootstrap-lr" in mixture["why"]


def test_the_parametric_bootstrap_of_the_likelihood_ratio_refits_both_models_on_simulated_data(game, data):
    from cheaptalk.comparison.vuong import bootstrap_likelihood_ratio
    from cheaptalk.estimation import fit
    small, big = LinearReports(game), TwoTypeSenders(game)
    fs, fb = fit(small, data, starts=1, warn=False), fit(big, data, starts=2, warn=False)
    observed = 2 * (fb.loglik - fs.loglik)
    boot = bootstrap_likelihood_ratio(big, small, fs.params, data, observed, replications=3, seed=1)
    assert boot["replications"] == 3 and len(boot["draws"]) == 3 and np.all(boot["draws"] >= 0)
    assert boot["p_value"] == (1 + np.sum(boot["draws"] >= observed - 1e-9)) / 4
    # a statistic beyond every draw gets the smallest p-value the draws allow
    far = bootstrap_likelihood_ratio(big, small, fs.params, data, 1e9, replications=2, seed=1)
    assert far["p_value"] == pytest.approx(1 / 3)
