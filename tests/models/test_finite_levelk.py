"""Level-k and cognitive hierarchy on finite games."""

import numpy as np
import pytest

from cheaptalk._jax import jax, jnp
from cheaptalk.games import load_game
from cheaptalk.models import get_model
from cheaptalk.models.finite_levelk import FiniteCognitiveHierarchy, FiniteLevelK, level_k_chain
from cheaptalk.models.likelihood import total_loglik


@pytest.mark.parametrize("preset", ["monotone", "crawford-sobel"])
def test_level_k_structural_equalities(preset):
    """L1 receiver = credulous L0; L2 sender = L1 sender; L3 receiver = L2 receiver."""
    chain = level_k_chain(load_game(preset).game(), 4)
    sig, rho = chain["sender_strategy"], chain["receiver_strategy"]
    np.testing.assert_array_equal(rho[1], rho[0])
    np.testing.assert_array_equal(sig[2], sig[1])
    np.testing.assert_array_equal(rho[3], rho[2])
    np.testing.assert_array_equal(sig[4], sig[3])
    # level 0 is truthful and credulous
    game = load_game(preset).game()
    np.testing.assert_array_equal(sig[0], np.eye(game.n_states))
    credulous = game.actions[rho[0].argmax(1)]
    np.testing.assert_allclose(credulous, game.message_values)


def test_monotone_level_k_consequences():
    game = load_game("monotone").game()
    chain = level_k_chain(game, 3)
    # the L1 sender inflates to the top message whatever the state
    assert np.all(chain["sender_strategy"][1][:, -1] == 1.0)
    # the L2 receiver sees L1 pooling at the top: the prior-optimal action there
    top = chain["receiver_strategy"][2][-1]
    assert game.actions[top.argmax()] == pytest.approx(3.0)
    model = FiniteLevelK(load_game("monotone"))
    assert model.param_names == ["sender_level1_share", "sender_level3_share", "receiver_level2_share",
                                 "precision_sender", "precision_receiver"]
    assert model.type_labels() == {"sender": ["L0", "L1-2", "L3"], "receiver": ["L0-1", "L2-3"]}
    assert list(model.type_attributes()["sender"]["level"]) == [0, 1, 3]


def test_level_shares_are_continuation_shares():
    model = FiniteLevelK(load_game("crawford-sobel"))
    pred = model.predict({"sender_level1_share": 0.6, "sender_level3_share": 0.25, "receiver_level2_share": 0.3})
    shares = pred.tables["type_shares"].set_index(["role", "type"])["share"]
    assert shares["sender", "L0"] == pytest.approx(0.4, abs=1e-9)
    assert shares["sender", "L1-2"] == pytest.approx(0.45, abs=1e-9)
    assert shares["sender", "L3"] == pytest.approx(0.15, abs=1e-9)
    assert shares["receiver", "L2-3"] == pytest.approx(0.3, abs=1e-9)
    # max_level 2 gives the forecast-sharing model's parameter names
    assert FiniteLevelK(load_game("monotone"), max_level=2).param_names[:2] == ["sender_level1_share",
                                                                                 "receiver_level2_share"]


def test_cognitive_hierarchy_discounts_partially():
    spec = load_game("monotone")
    ch = FiniteCognitiveHierarchy(spec)
    U, V = (np.asarray(x) for x in ch.utilities({"tau_sender": 0.5, "tau_receiver": 1.5}, "default"))
    game = spec.game()
    best = game.actions[V.argmax(-1)]           # noiseless action of each receiver level by message
    top = best[:, -1]
    # credulous levels take the top message at face value; level 2 and 3 discount it, but less
    # than the level-k L2 receiver who ignores it (mixing in truthful L0 senders)
    assert top[0] == top[1] == 5.0
    assert 3.0 < top[2] < 5.0 and 3.0 < top[3] < 5.0
    # tau = 0: everybody is level 0
    pred = ch.predict({"tau_sender": 0.0, "tau_receiver": 0.0})
    shares = pred.tables["type_shares"]
    assert shares.loc[shares["type"] == "L0", "share"].min() > 1 - 1e-9


@pytest.mark.parametrize("name,theta", [("levelk", [0.6, 0.3, 0.4, 8.0, 12.0]), ("ch", [1.3, 0.8, 8.0, 12.0])])
def test_gradients_match_finite_differences_and_truth_beats_distant(name, theta):
    model = get_model(name, load_game("crawford-sobel"))
    truth = dict(zip(model.param_names, theta))
    data = model.simulate(truth, 60, 10, seed=5)
    prep = model.prepare(data)
    f = jax.jit(lambda th: total_loglik(model, th, prep))
    theta = np.array(theta, float)
    grad = np.asarray(jax.grad(f)(jnp.asarray(theta)))
    h = 1e-6
    fd = np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)
    distant = theta.copy()
    distant[-2:] = [2.0, 40.0]
    distant[0] = 0.05
    assert float(f(theta)) > float(f(distant)) + 10
