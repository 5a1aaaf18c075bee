"""Model selection on the forecast-sharing models (synthetic data): data simulated from one
theory are best explained by it; a known mixture share is recovered; 95% intervals cover."""

import warnings

import numpy as np
import pytest

from cheaptalk.comparison import compare_models
from cheaptalk.data import clean_decisions
from cheaptalk.estimation import EstimationWarning, Likelihood, fit, maximize, standard_errors
from cheaptalk.games import load_game
from cheaptalk.models import get_model


@pytest.fixture(scope="module")
def game():
    return load_game("forecast-sharing")


@pytest.mark.parametrize("truth, rival", [("trust", "levelk"), ("levelk", "trust")])
def test_the_true_theory_is_best(game, truth, rival):
    data, _ = clean_decisions(get_model(truth, game).simulate(None, 6, 20, seed=11), game)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        c = compare_models(game, data, [rival, truth], folds=2, holdout=False, with_regularities=False,
                           progress=False, errors=["logit"])
    assert c.best == truth
    assert c.cv[truth]["cv_loglik"] > c.cv[rival]["cv_loglik"]
    (v,) = c.vuong
    assert v["favours"] == truth and v["p_value"] < 0.05


@pytest.mark.slow
def test_mixture_share_is_recovered(game):
    """The share of trust-family senders is recovered. (The receivers' family share is only
    weakly identified: the trust family contains the level-k family's credulous receiver as
    its trust = 1 type, so the two trade off against ``trust_at_1``; it is not tested.)"""
    model = get_model("mixture", game)
    truth = {"sender_share_trust": 0.7, "receiver_share_trust": 0.3}
    data, _ = clean_decisions(model.simulate(truth, 10, 20, seed=4), game)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        result = fit(model, data, starts=1, start=truth)
    frame = result.to_frame()
    est, se = frame.loc["sender_share_trust", "estimate"], frame.loc["sender_share_trust", "se"]
    assert np.isfinite(se) and abs(est - 0.7) < 2.58 * se and se < 0.15, (est, se)


@pytest.mark.slow
def test_confidence_intervals_cover_the_truth(game):
    """40 independent groups of subjects from one simulation, each fitted on its own (subject
    weights 1 for the group, 0 elsewhere: one compiled likelihood); the 95% intervals of the
    4 level-k parameters should cover the truth about 95% of the time."""
    model = get_model("levelk", game)
    groups, per_group = 40, 4
    data, _ = clean_decisions(model.simulate(None, groups * per_group, 10, seed=8), game, min_rounds=1)
    lik = Likelihood(model, data)
    people = lik.clusters
    # subject labels end in a running number within each treatment: group by it
    number = np.array([int(p.rsplit("S", 1)[-1]) if "-S" in p else int(p.rsplit("R", 1)[-1]) for p in people])
    truth = model.to_vector()
    covered, total = 0, 0
    for g in range(groups):
        weights = ((number - 1) // per_group == g).astype(float)
        run = maximize(lik, truth, weights=weights)
        ses = standard_errors(lik, run["theta"], check_smoothness=False, weights=weights)
        ok = np.isfinite(ses["se"])
        covered += int(np.sum(np.abs(run["theta"] - truth)[ok] <= 1.96 * ses["se"][ok]))
        total += int(ok.sum())
    rate = covered / total
    assert total >= 0.9 * groups * len(truth)
    assert 0.88 <= rate <= 0.99, rate
