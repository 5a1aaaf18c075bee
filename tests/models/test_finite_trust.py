"""The trust-embedded model on finite games."""

import numpy as np
import pytest

from cheaptalk._jax import jax, jnp
from cheaptalk.games import load_game
from cheaptalk.models import get_model
from cheaptalk.models.finite_trust import FiniteTrust
from cheaptalk.models.likelihood import total_loglik

FULL_TRUST = {"trust_at_0": 0.0, "trust_at_1": 1.0}
NO_TRUST = {"trust_at_0": 1.0}


@pytest.mark.parametrize("preset", ["monotone", "crawford-sobel"])
def test_full_trust_is_credulous_and_no_trust_is_babbling(preset):
    spec = load_game(preset)
    noise = {"precision_sender": 15.0, "precision_receiver": 25.0}
    credulous = get_model("levelk", spec).predict({**noise, "receiver_level2_share": 0.0})
    babbling = get_model("equilibrium", spec, equilibrium="babbling").predict(noise)
    full = FiniteTrust(spec).predict({**noise, **FULL_TRUST})
    none = FiniteTrust(spec).predict({**noise, **NO_TRUST})
    np.testing.assert_allclose(full.tables["receiver_strategy"]["probability"],
                               credulous.tables["receiver_strategy"]["probability"], atol=1e-9)
    np.testing.assert_allclose(none.tables["receiver_strategy"]["probability"],
                               babbling.tables["receiver_strategy"]["probability"], atol=1e-9)
    slope_full = np.polyfit(full.tables["mean_action"]["message"], full.tables["mean_action"]["mean_action"], 1)[0]
    slope_none = np.polyfit(none.tables["mean_action"]["message"], none.tables["mean_action"]["mean_action"], 1)[0]
    slope_mid = np.polyfit(*FiniteTrust(spec).predict(noise).tables["mean_action"][["message", "mean_action"]]
                           .to_numpy().T, 1)[0]
    assert abs(slope_none) < 1e-9 < slope_mid < slope_full


def test_trustworthiness_makes_reports_truthful():
    spec = load_game("monotone")
    honest = {"trustworthiness_at_0": 0.0, "trustworthiness_at_1": 1.0, "precision_sender": 200.0}
    selfish = {"trustworthiness_at_0": 1.0, "precision_sender": 200.0}
    h = FiniteTrust(spec, convex=True).predict({**honest, "lying_cost_exponent": 1.0, **FULL_TRUST})
    s = FiniteTrust(spec).predict({**selfish, **FULL_TRUST})
    states = h.tables["mean_message"]["state"].to_numpy()
    # full lying cost outweighs the gain of one message step: truthful (within noise)
    np.testing.assert_allclose(h.tables["mean_message"]["mean_message"], states, atol=0.05)
    # no lying cost against credulous receivers: everybody claims the top state
    np.testing.assert_allclose(s.tables["mean_message"]["mean_message"], 5.0, atol=0.05)


def test_convex_cost_gives_interior_inflation():
    """Monotone game: one message step gains 1/4 of the sender's payoff range against a
    credulous receiver and costs beta/4 (linear). With beta near 0.9 a linear cost is
    cheaper than the gain at every step (inflate to the top); a quadratic one,
    beta (d/4)^2, stops inflation after about two steps."""
    spec = load_game("monotone")
    p = {"trustworthiness_at_0": 0.0, "trustworthiness_at_1": 0.0, "trustworthiness_mean": 0.9,
         "trustworthiness_concentration": 500.0, **FULL_TRUST,
         "precision_sender": 300.0, "precision_receiver": 300.0}
    linear = FiniteTrust(spec, convex=True).predict({**p, "lying_cost_exponent": 1.0})
    convex = FiniteTrust(spec, convex=True).predict({**p, "lying_cost_exponent": 2.0})
    lin = linear.tables["mean_message"]["mean_message"].to_numpy()
    con = convex.tables["mean_message"]["mean_message"].to_numpy()
    np.testing.assert_allclose(lin, 5.0, atol=0.05)
    assert con[0] == pytest.approx(3.0, abs=0.05)          # state 1 claims 3: interior inflation
    assert np.all(con >= np.arange(1, 6) - 0.05)


def test_type_attributes_and_welfare():
    model = FiniteTrust(load_game("crawford-sobel"), n_nodes=6)
    attrs = model.type_attributes()
    assert attrs["receiver"]["trust"].shape == (8,) and attrs["sender"]["trustworthiness"][-1] == 1.0
    pred = model.predict()
    s = pred.summary["default"]
    assert s["total_payoff"] == pytest.approx(s["sender_payoff"] + s["receiver_payoff"])
    assert 0 < s["efficiency"] < 1


def test_gradients_match_finite_differences_and_truth_beats_distant():
    model = FiniteTrust(load_game("crawford-sobel"), convex=True, n_nodes=6)
    truth = {"trust_at_0": 0.15, "trust_at_1": 0.2, "trust_mean": 0.6, "trust_concentration": 5.0,
             "trustworthiness_at_0": 0.25, "trustworthiness_at_1": 0.1, "trustworthiness_mean": 0.4,
             "trustworthiness_concentration": 3.0, "precision_sender": 12.0, "precision_receiver": 15.0,
             "lying_cost_exponent": 1.4}
    data = model.simulate(truth, 60, 10, seed=9)
    prep = model.prepare(data)
    f = jax.jit(lambda th: total_loglik(model, th, prep))
    theta = model.to_vector(truth)
    grad = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(theta)))
    h = 1e-6
    fd = np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)
    distant = model.to_vector({**truth, "trust_at_0": 0.8, "trust_mean": 0.1, "trustworthiness_mean": 0.9,
                               "precision_receiver": 3.0})
    assert float(f(theta)) > float(f(distant)) + 10
