"""Standard theory on finite games, refereed by pygambit and the Crawford-Sobel closed form."""

import math
import tomllib

import numpy as np
import pygambit as gbt
import pytest

from cheaptalk._jax import jax, jnp
from cheaptalk.games import FiniteGame, GameSpec, game_from_dict, load_game
from cheaptalk.models import get_model
from cheaptalk.models.finite_standard import (FiniteQRE, equilibrium_outcomes, interval_equilibrium,
                                              most_informative_equilibrium, pure_equilibria, to_pygambit)
from cheaptalk.models.likelihood import total_loglik


def _spec(game):
    return GameSpec(name=game.name, kind="finite", treatments={"default": game})


def _random_game(seed, S=3, M=3, A=3, message_dependent=False):
    rng = np.random.default_rng(seed)
    shape = (S, M if message_dependent else 1, A)
    prior = rng.dirichlet(np.ones(S))
    return FiniteGame(states=np.arange(S), prior=prior, meanings=np.arange(M) % S, actions=np.arange(A),
                      sender_payoff=rng.integers(0, 6, shape).astype(float),
                      receiver_payoff=rng.integers(0, 6, shape).astype(float), name=f"random{seed}")


def _gambit_pure(game):
    """pygambit's pure equilibria as (sender message per state, receiver action per message)."""
    g = to_pygambit(game, normalized=False)
    out = set()
    for eq in gbt.nash.enumpure_agent_solve(g).equilibria:
        flat = np.array([float(eq[a]) for p in g.players for inf in p.infosets for a in inf.actions])
        S, M, A = game.n_states, game.n_messages, game.n_actions
        out.add((tuple(flat[:S * M].reshape(S, M).argmax(1)), tuple(flat[S * M:].reshape(M, A).argmax(1))))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pure_equilibria_agree_with_pygambit(seed):
    game = _random_game(seed, message_dependent=seed % 2 == 1)
    mine = {(tuple(s), tuple(r)) for s, r, _, _ in pure_equilibria(game)}
    assert mine == _gambit_pure(game)
    assert len(mine) >= 1


@pytest.mark.parametrize("seed", [4, 5, 6, 7, 8])
def test_equilibrium_outcomes_are_those_of_pygambit(seed):
    """Partition + action outcomes from the partition search equal the outcomes of
    pygambit's pure equilibria (messages inducing the same action merged)."""
    game = _random_game(seed)
    theirs = set()
    for sender, receiver in _gambit_pure(game):
        induced = {}
        for s, m in enumerate(sender):
            induced.setdefault(receiver[m], []).append(s)
        theirs.add(tuple(sorted((tuple(states), int(a)) for a, states in induced.items())))
    mine = {o.key() for o in equilibrium_outcomes(game)}
    assert mine == theirs
    best = most_informative_equilibrium(game)
    assert best.n_elements == max(len(o) for o in theirs)


def _uniform_quadratic(bias, n_states=101):
    states = np.linspace(0.0, 1.0, n_states)
    actions = np.linspace(0.0, 1.0, 2 * n_states - 1)
    a, s = actions[None, None, :], states[:, None, None]
    return FiniteGame(states=states, prior=np.full(n_states, 1.0 / n_states), meanings=np.arange(n_states),
                      actions=actions, sender_payoff=-(a - s - bias) ** 2, receiver_payoff=-(a - s) ** 2,
                      name=f"uniform-quadratic b={bias}")


@pytest.mark.parametrize("bias", [0.3, 0.15, 0.06, 0.03, 0.022])
def test_crawford_sobel_partition_size_matches_closed_form(bias):
    out = interval_equilibrium(_uniform_quadratic(bias))
    assert out.n_elements == math.ceil(-0.5 + 0.5 * math.sqrt(1 + 2 / bias))
    assert out.method == "intervals"
    # elements are consecutive intervals covering all states with increasing actions
    assert np.array_equal(np.concatenate(out.elements), np.arange(101))
    assert np.all(np.diff(out.actions) > 0)


def test_presets_most_informative_equilibria():
    # monotone bias: the sender always wants more, so only babbling survives
    mono = most_informative_equilibrium(load_game("monotone").game())
    assert mono.n_elements == 1
    # Crawford-Sobel with b = 1 (half the state spacing): full separation is (weakly) an equilibrium
    cs = most_informative_equilibrium(load_game("crawford-sobel").game())
    assert cs.n_elements == 5
    # with a large bias it collapses
    far = most_informative_equilibrium(load_game("crawford-sobel").with_constants(b=4.0).game())
    assert far.n_elements < 5


def test_equilibrium_model_play_and_babbling_option():
    spec = load_game("crawford-sobel")
    informative = get_model("equilibrium", spec).predict({"precision_sender": 200, "precision_receiver": 200})
    means = informative.tables["mean_action"]["mean_action"].to_numpy()
    assert np.all(np.diff(means) > 1.0)                 # separating: actions track messages
    babbling = get_model("equilibrium", spec, equilibrium="babbling").predict({"precision_receiver": 200})
    sender = babbling.tables["sender_strategy"]["probability"].to_numpy()
    np.testing.assert_allclose(sender, 0.2, atol=1e-12)  # indifferent: uniform over messages
    np.testing.assert_allclose(babbling.tables["mean_action"]["mean_action"], 5.0, atol=1e-6)
    s = informative.summary["default"]
    assert s["efficiency"] > babbling.summary["default"]["efficiency"]
    assert s["first_best_receiver_payoff"] == pytest.approx(110.0)


def test_message_dependent_payoffs_play_an_enumerated_profile():
    game = _random_game(1, message_dependent=True)
    model = get_model("equilibrium", _spec(game))
    out = model.outcome()
    assert out.method == "pure profiles"
    sender, receiver = out.profile
    assert any(np.array_equal(sender, s) and np.array_equal(receiver, r) for s, r, _, _ in pure_equilibria(game))
    pred = model.predict({"precision_sender": 300, "precision_receiver": 300})
    np.testing.assert_allclose(pred.tables["mean_message"]["mean_message"], game.message_values[sender], atol=1e-6)


@pytest.mark.parametrize("seed,lam", [(11, 0.7), (12, 4.0), (13, 15.0)])
def test_qre_agrees_with_pygambit_logit(seed, lam):
    game = _random_game(seed, S=2, M=3, A=3, message_dependent=True)
    sigma, rho, residual = FiniteQRE(_spec(game), tie_precision=True).solve({"precision": lam})
    assert residual < 1e-10
    q = gbt.qre.logit_solve_lambda(to_pygambit(game), [lam])[0]
    theirs = np.array([q[i] for i in range(len(q))])
    # pygambit stops its path within ~1e-9 of the requested lambda
    assert q.lam == pytest.approx(lam, abs=1e-7)
    np.testing.assert_allclose(np.concatenate([sigma.ravel(), rho.ravel()]), theirs, atol=1e-6)


SMALL_MONOTONE = """
name = "small-monotone"
kind = "finite"
[states]
values = [1, 2, 3]
prior = [0.25, 0.35, 0.4]
[actions]
grid = { start = 1, stop = 3, step = 0.5 }
[payoffs]
sender = "10 * a"
receiver = "100 - 6.25 * (a - s) ** 2"
"""


def test_qre_on_a_game_file_agrees_with_pygambit():
    spec = game_from_dict(tomllib.loads(SMALL_MONOTONE))
    sigma, rho, _ = FiniteQRE(spec, tie_precision=True).solve({"precision": 6.0})
    q = gbt.qre.logit_solve_lambda(to_pygambit(spec.game()), [6.0])[0]
    theirs = np.array([q[i] for i in range(len(q))])
    np.testing.assert_allclose(np.concatenate([sigma.ravel(), rho.ravel()]), theirs, atol=1e-6)


def test_qre_follows_the_branch_through_a_fold_like_pygambit():
    """In this game the principal branch turns back in lambda before 50, so stepping in
    lambda alone jumps off it; arclength continuation stays on it, as pygambit does."""
    rng = np.random.default_rng(5)
    for _ in range(5):
        prior, uS, uR = rng.dirichlet(np.ones(3)), rng.random((3, 3, 4)), rng.random((3, 3, 4))
    game = FiniteGame(states=np.arange(3), prior=prior, meanings=np.arange(3), actions=np.arange(4),
                      sender_payoff=uS, receiver_payoff=uR, name="fold")
    sigma, rho, residual = FiniteQRE(_spec(game), tie_precision=True).solve({"precision": 50.0})
    assert residual < 1e-10
    q = gbt.qre.logit_solve_lambda(to_pygambit(game), [50.0])[0]
    theirs = np.array([q[i] for i in range(len(q))])
    np.testing.assert_allclose(np.concatenate([sigma.ravel(), rho.ravel()]), theirs, atol=1e-6)


def test_qre_gradient_matches_finite_differences():
    game = _random_game(21, S=2, M=2, A=3, message_dependent=True)
    model = FiniteQRE(_spec(game))
    data = model.simulate({"precision_sender": 3.0, "precision_receiver": 8.0}, 30, 4, seed=2)
    prep = model.prepare(data)
    theta = np.array([3.0, 8.0])
    # one compiled function for values and gradients (compiling the QRE solver is the slow part)
    value_and_grad = jax.jit(jax.value_and_grad(lambda th: total_loglik(model, th, prep)))
    f = lambda th: float(value_and_grad(jnp.asarray(th))[0])
    grad = np.asarray(value_and_grad(jnp.asarray(theta))[1])
    h = 1e-5
    fd = np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_equilibrium_likelihood_gradient_and_truth_beats_distant():
    model = get_model("equilibrium", load_game("crawford-sobel").with_constants(b=2.0))
    truth = np.array([12.0, 18.0])
    data = model.simulate(model.to_dict(truth), 50, 8, seed=6)
    prep = model.prepare(data)
    value_and_grad = jax.jit(jax.value_and_grad(lambda th: total_loglik(model, th, prep)))
    f = lambda th: float(value_and_grad(jnp.asarray(th))[0])
    grad = np.asarray(value_and_grad(jnp.asarray(truth))[1])
    h = 1e-5
    fd = np.array([(f(truth + h * e) - f(truth - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
    assert f(truth) > f(np.array([3.0, 60.0])) + 10
