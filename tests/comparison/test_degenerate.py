"""Fits that explain nothing are said to, and tests between fits that coincide name no winner."""

import numpy as np
import pytest

from cheaptalk.comparison import compare_models
from cheaptalk.comparison.vuong import vuong_test
from cheaptalk.estimation.mle import uniform_loglik
from cheaptalk.games import load_game
from cheaptalk.models import get_model


@pytest.fixture(scope="module")
def uniform_comparison():
    """Synthetic decisions drawn uniformly at random (no model's regularity in them)."""
    game = load_game("monotone")
    data = get_model("levelk", game).simulate(None, 20, 6, seed=5)
    rng = np.random.default_rng(0)
    g = game.game()
    sender = data.role == "sender"
    data.loc[sender, "message"] = rng.choice(g.message_values, size=sender.sum())
    data.loc[~sender, "message"] = rng.choice(g.message_values, size=(~sender).sum())
    data.loc[~sender, "action"] = rng.choice(g.actions, size=(~sender).sum())
    return compare_models(game, data, ["equilibrium", "qre"], errors=["logit"], folds=2, holdout=False,
                          progress=False)


def test_uniform_fits_are_flagged_degenerate(uniform_comparison):
    for fit in uniform_comparison.fits.values():
        n_send = fit.likelihood.n_decisions["sender"]
        n_recv = fit.likelihood.n_decisions["receiver"]
        g = fit.model.game.game()
        assert uniform_loglik(fit.likelihood) == pytest.approx(-n_send * np.log(g.n_messages) - n_recv * np.log(g.n_actions))
        assert fit.degenerate == "uniform choice"
        assert any(w.startswith("degenerate fit") for w in fit.warnings)
        assert fit.to_dict()["diagnostics"]["degenerate"] == "uniform choice"
    assert "degenerate" in uniform_comparison.table().index


def test_vuong_between_coinciding_fits_names_no_winner(uniform_comparison):
    (test,) = uniform_comparison.vuong
    assert test["favours"] == "indistinguishable" and test["z"] is None
    # while fits that differ still get a statistic and a winner
    rng = np.random.default_rng(1)
    a = rng.normal(-10, 1, size=50)
    moved = vuong_test(a + 0.5 + rng.normal(0, 0.1, 50), a, 3, 3, "A", "B")
    assert moved["favours"] == "A" and moved["z"] > 2


def test_a_fit_that_explains_something_is_not_degenerate():
    game = load_game("monotone")
    data = get_model("levelk", game).simulate(None, 20, 6, seed=5)
    c = compare_models(game, data, ["levelk"], errors=["logit"], folds=2, holdout=False, progress=False)
    assert c.fits["levelk"].degenerate is None


def test_report_from_python_shows_the_data_and_cleaning(uniform_comparison, tmp_path):
    """compare_models on a DataFrame: the report names the data and shows what cleaning did,
    as the command line's does."""
    from cheaptalk.reports import write_report
    page = write_report(uniform_comparison, tmp_path).read_text()
    assert "Data: <code></code>" not in page
    assert "a DataFrame given from Python: used as given" in page and "Data and cleaning" in page
    assert f"{len(uniform_comparison.data)} decisions" in page
