"""The economics the oTree apps take from the game definitions (no oTree needed)."""

import math

import numpy as np
import pytest

from cheaptalk.experiments import lab
from cheaptalk.games import load_game

FORECAST = load_game("forecast-sharing")
CRAWFORD_SOBEL = load_game("crawford-sobel").game()


@pytest.mark.parametrize("treatment", list(FORECAST.treatments))
def test_supplier_aid_is_the_expected_profit_under_the_entered_belief(treatment):
    game = FORECAST.game(treatment)
    rng = np.random.default_rng(3)
    eps = game.noise.sample(rng, 400_000)
    for belief, capacity in ((80.0, 95.0), (150.0, 150.0), (240.0, 200.0)):
        answer = lab.supplier_aid(game, belief, capacity)
        simulated = np.mean(game.w * np.minimum(belief + eps, capacity) - game.c * capacity)
        assert answer["expected_profit"] == pytest.approx(simulated, abs=0.15)
    # the best capacity under a point belief is the newsvendor one, belief + z*
    grid = np.linspace(100, 200, 401)
    profits = [lab.supplier_aid(game, 150.0, k)["expected_profit"] for k in grid]
    assert grid[int(np.argmax(profits))] == pytest.approx(150.0 + game.z_star, abs=0.5)


@pytest.mark.parametrize("bad", ["nan", float("inf"), "-inf", "abc", None, True, 1e9, -1, [1]])
def test_inputs_that_are_not_usable_numbers_are_refused(bad):
    game = FORECAST.game("LC-LU")
    with pytest.raises(ValueError):
        lab.supplier_aid(game, bad, 100)
    with pytest.raises(ValueError):
        lab.supplier_aid(game, 100, bad)


def test_defaults_after_a_timeout_carry_no_information():
    for treatment in FORECAST.treatments:
        game = FORECAST.game(treatment)
        assert lab.default_report(game) == pytest.approx(sum(game.message_range) / 2)
        assert lab.default_capacity(game, decimals=2) == pytest.approx(game.babbling_capacity(), abs=0.005)
    assert CRAWFORD_SOBEL.message_values[lab.default_message(CRAWFORD_SOBEL)] == 5     # the prior mean state
    expected = CRAWFORD_SOBEL.prior @ CRAWFORD_SOBEL.receiver_payoff[:, 0, :]
    assert lab.default_action(CRAWFORD_SOBEL) == int(np.argmax(expected))
    assert CRAWFORD_SOBEL.actions[lab.default_action(CRAWFORD_SOBEL)] == 5


def test_quizzes_are_computed_from_the_game():
    low, high = FORECAST.game("LC-LU"), FORECAST.game("HC-HU")
    q = lab.forecast_quiz(low)
    assert q["sales"] == min(q["demand"], q["capacity"]) == 110
    assert q["supplier_profit"] == pytest.approx(0.75 * 110 - 0.25 * 120)
    assert q["manufacturer_profit"] == pytest.approx(0.25 * 110)
    assert lab.forecast_quiz(high)["supplier_profit"] != q["supplier_profit"]    # the cost differs
    f = lab.finite_quiz(CRAWFORD_SOBEL)
    s = float(f["state"])
    assert f["sender_payoff"] == pytest.approx(110 - 10 * abs(f["action"] - s - 1) ** 1.4)
    assert f["receiver_payoff"] == pytest.approx(110 - 10 * abs(f["action"] - s) ** 1.4)


def test_draws_stay_in_the_supports_at_the_shown_precision():
    game = FORECAST.game("HC-HU")
    rounds = lab.draw_forecast_rounds(game, n_groups=50, n_rounds=20, rng=np.random.default_rng(1), decimals=1)
    values = [(r.forecast, r.noise) for row in rounds for r in row]
    assert all(50 <= xi <= 250 and -60 <= eps <= 60 for xi, eps in values)
    assert all(math.isclose(xi * 10, round(xi * 10)) for xi, _ in values)
    states = lab.draw_states(CRAWFORD_SOBEL, 400, 10, np.random.default_rng(2))
    shares = np.bincount(states.ravel(), minlength=5) / states.size
    assert np.allclose(shares, CRAWFORD_SOBEL.prior, atol=0.02)


def test_payoff_tables_refuse_message_dependent_payoffs():
    table = lab.payoff_table(CRAWFORD_SOBEL, "receiver")
    assert len(table) == 5 and len(table[0]) == CRAWFORD_SOBEL.n_actions
    lying = CRAWFORD_SOBEL.with_(sender_payoff=CRAWFORD_SOBEL.sender_payoff
                                 - np.arange(CRAWFORD_SOBEL.n_messages)[None, :, None])
    with pytest.raises(ValueError, match="depend on the message"):
        lab.payoff_table(lying, "sender")
