"""Comparison tools on closed-form test models and hand-made data (synthetic)."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cheaptalk.comparison import (compare_models, regularities, subject_folds, vuong_test)
from cheaptalk.games import load_game

from toymodels import LinearReports, TwoTypeSenders


def test_vuong_statistic_by_hand():
    rng = np.random.default_rng(0)
    a = rng.normal(-10, 1, 50)
    b = a - rng.normal(0.3, 1, 50)
    out = vuong_test(a, b, 3, 5, "A", "B")
    d = a - b
    z = (d.sum() - (3 - 5) * np.log(50) / 2) / (np.sqrt(50) * d.std(ddof=1))
    assert out["z"] == pytest.approx(z) and out["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert out["favours"] == "A"
    back = vuong_test(b, a, 5, 3, "B", "A")
    assert back["z"] == pytest.approx(-out["z"]) and back["favours"] == "A"


def test_subject_folds_partition():
    folds = subject_folds(23, 5, seed=1)
    assert sorted(np.bincount(folds)) == [4, 4, 5, 5, 5]
    assert np.array_equal(folds, subject_folds(23, 5, seed=1))
    with pytest.raises(ValueError):
        subject_folds(3, 5)


def test_regularities_by_hand():
    game = load_game("forecast-sharing")
    frame = pd.DataFrame({
        "subject": ["s"] * 4 + ["r"] * 4, "role": ["sender"] * 4 + ["receiver"] * 4, "round": [1, 2, 3, 4] * 2,
        "state": [100.0, 150.0, 200.0, 240.0, np.nan, np.nan, np.nan, np.nan],
        "message": [100.0, 170.0, 250.0, 250.0, 100.0, 170.0, 250.0, 250.0],
        "action": [np.nan] * 4 + [110.0, 150.0, 190.0, 200.0], "treatment": "LC-LU"})
    table = regularities(frame, game)
    row = table.loc["LC-LU"]
    assert row["truthful_share"] == 0.25 and row["top_share"] == 0.5
    assert row["mean_inflation"] == pytest.approx((0 + 20 + 50 + 10) / 4)
    assert row["report_slope"] == pytest.approx(np.polyfit([100, 150, 200, 240], [100, 170, 250, 250], 1)[0])
    assert row["capacity_slope"] == pytest.approx(np.polyfit([100, 170, 250, 250], [110, 150, 190, 200], 1)[0])


@pytest.fixture(scope="module")
def toy_comparison():
    game = load_game("forecast-sharing")
    truth = TwoTypeSenders(game)
    data = truth.simulate({"share_inflating": 0.4, "inflation": 25.0}, 8, 10, seed=3)
    return compare_models(game, data, [LinearReports(game), truth], folds=4, seed=0, progress=False,
                          data_path="synthetic.csv")


def test_compare_picks_the_true_model(toy_comparison):
    c = toy_comparison
    assert c.best == "twotype" and c.best_by == "cv_loglik"
    assert c.cv["twotype"]["cv_loglik"] > c.cv["linear"]["cv_loglik"]
    (v,) = c.vuong
    assert {v["model_a"], v["model_b"]} == {"linear", "twotype"} and v["favours"] == "twotype" and v["p_value"] < 0.01
    # held-out treatments are predicted, one number per treatment and model
    assert set(c.holdout["twotype"]) == set(load_game("forecast-sharing").treatments)
    # the regularities table has the data beside each model
    reg = c.regularities
    assert {"treatment", "statistic", "data", "linear", "twotype"} <= set(reg.columns)
    top = reg[(reg.treatment == "all") & (reg.statistic == "mean_inflation")].iloc[0]
    assert abs(top["twotype"] - top["data"]) < 5


def test_compare_json_and_table(toy_comparison):
    out = json.loads(json.dumps(toy_comparison.to_dict()))
    assert out["data"] == "synthetic.csv" and out["best"] == "twotype"
    assert [m["model"] for m in out["models"]] == ["linear", "twotype"]
    for m in out["models"]:
        assert {"loglik", "n_params", "aic", "bic", "converged", "params", "cv_loglik"} <= set(m)
    assert set(out["vuong"][0]) >= {"model_a", "model_b", "z", "p_value"}
    table = toy_comparison.table()
    assert "held-out log-lik/decision (4-fold CV)" in table.index and "share inflating" in table.index
    assert "highest held-out log-likelihood: twotype" in str(toy_comparison)
    # one held-out score, one name
    assert all("cv_loglik_decision" not in m["cv"] for m in out["models"])
