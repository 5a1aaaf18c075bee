"""The dynamic trust model: updating rule, exact gradients, Hessian, filtered intervals."""

import numpy as np
import pytest

from cheaptalk.dynamics.model import (TrustDynamics, initial_trust_nodes, simulate_path,
                                      to_natural, to_unconstrained)


def _batch(kind, B=48, T=30, seed=0):
    rng = np.random.default_rng(seed)
    gap = rng.normal(0, 10, (B, T))
    alpha = rng.uniform(0.2, 0.8, (B, 1))
    if kind == "continuous":
        act = alpha * gap + rng.normal(0, 4, (B, T))
    else:
        act = (rng.random((B, T)) < alpha).astype(float)
        gap = np.zeros((B, T))
    return {"gap": gap.astype(np.float32), "act": act.astype(np.float32),
            "fidelity": rng.random((B, T)).astype(np.float32),
            "feedback": rng.random((B, T)) < 0.7, "observed": rng.random((B, T)) < 0.9,
            "n_sellers": B, "length": np.full(B, T)}


PARAMS = {"continuous": {"eta_up": 0.2, "eta_down": 0.4, "initial_trust_mean": 0.45,
                         "initial_trust_concentration": 5.0, "sd_action": 4.0},
          "binary": {"eta_up": 0.2, "eta_down": 0.4, "initial_trust_mean": 0.45,
                     "initial_trust_concentration": 5.0, "follow_slope": 1.5}}


def test_update_rule_asymmetric_and_no_update_without_feedback():
    fid = np.array([[0.9, 0.1, 0.1, 0.9]])
    feedback = np.array([[True, True, False, True]])
    path = simulate_path(np.array([0.5]), fid, feedback, 0.2, 0.5)[0]
    assert path[0] == 0.5
    assert path[1] == pytest.approx(0.5 + 0.2 * 0.4)          # gained with eta_up
    assert path[2] == pytest.approx(path[1] + 0.5 * (0.1 - path[1]))   # lost with eta_down
    assert path[3] == path[2]                                  # no feedback: unchanged


def test_parameter_transforms_round_trip():
    for kind, p in PARAMS.items():
        back = to_natural(to_unconstrained(p, kind), kind)
        assert back == pytest.approx(p)


def test_initial_trust_nodes_integrate_beta_moments():
    x, log_w = initial_trust_nodes(20)
    a, b = 3.0, 2.0
    w = np.exp(log_w) * x ** (a - 1) * (1 - x) ** (b - 1)
    w /= w.sum()
    assert (w * x).sum() == pytest.approx(a / (a + b), abs=1e-6)


@pytest.mark.parametrize("kind", ["continuous", "binary"])
def test_forward_scores_equal_automatic_differentiation(kind):
    """The compiled passes carry the scores forward along the paths; they must equal
    reverse-mode automatic differentiation and a finite difference."""
    model = TrustDynamics(kind)
    batch = _batch(kind)
    u = to_unconstrained(PARAMS[kind], kind)
    ll, s, _ = model.batch_pass(u, batch)
    ll_ad, s_ad = model.loglik_and_scores(u, batch)
    np.testing.assert_allclose(ll, ll_ad, rtol=1e-12)
    np.testing.assert_allclose(s, s_ad, rtol=1e-8, atol=1e-9)
    # and a finite difference of the total log-likelihood, for one direction
    d = np.linspace(-1, 1, len(u))
    h = 1e-6
    fd = (model.batch_pass(u + h * d, batch)[0].sum()
          - model.batch_pass(u - h * d, batch)[0].sum()) / (2 * h)
    assert fd == pytest.approx(s.sum(axis=0) @ d, rel=1e-5)


@pytest.mark.parametrize("kind", ["continuous", "binary"])
@pytest.mark.parametrize("hessian", [False, True])
def test_compiled_pass_equals_automatic_differentiation(kind, hessian):
    """The compiled kernel's value, scores and Hessian against the jax reference."""
    model = TrustDynamics(kind)
    batch = _batch(kind, seed=3)
    batch["length"] = np.random.default_rng(4).integers(0, 31, batch["n_sellers"])  # ragged sellers
    T = batch["gap"].shape[1]
    pad = np.arange(T)[None, :] >= batch["length"][:, None]
    for key in ("feedback", "observed"):
        batch[key] = batch[key] & ~pad       # the packer leaves padding unobserved, no feedback
    u = to_unconstrained(PARAMS[kind], kind)
    ll, s, H = model.batch_pass(u, batch, hessian)
    ll_ref, s_ref = model.loglik_and_scores(u, batch)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-12)
    np.testing.assert_allclose(s, s_ref, rtol=1e-9, atol=1e-9)
    if hessian:
        H_ref = model.hessian(u, batch)
        np.testing.assert_allclose(H, H_ref, rtol=1e-9, atol=1e-9 * np.abs(H_ref).max())
        assert np.allclose(H, H.T)
    else:
        assert H is None



@pytest.mark.parametrize("kind", ["continuous", "binary"])
def test_compiled_pass_other_node_count_ignores_unobserved_values(kind):
    """The node count is a compile-time constant of the kernels: another count gives another
    kernel, still equal to the reference. Unobserved decisions add nothing, whatever is stored
    in their cells (here NaN)."""
    model = TrustDynamics(kind, n_nodes=7)
    batch = _batch(kind, B=24, T=15, seed=7)
    u = to_unconstrained(PARAMS[kind], kind)
    ll_ref, s_ref = model.loglik_and_scores(u, batch)
    H_ref = model.hessian(u, batch)
    polluted = dict(batch, act=batch["act"].copy(), gap=batch["gap"].copy())
    polluted["act"][~batch["observed"]] = np.nan
    polluted["gap"][~batch["observed"]] = np.nan
    ll, s, H = model.batch_pass(u, polluted, hessian=True)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-12)
    np.testing.assert_allclose(s, s_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(H, H_ref, rtol=1e-9, atol=1e-9 * np.abs(H_ref).max())
    # and the count matters: the default 20 nodes give another likelihood
    assert not np.allclose(TrustDynamics(kind).batch_pass(u, batch)[0], ll, rtol=1e-6)

def test_filtered_intervals_are_ordered_and_cover_the_mean():
    model = TrustDynamics("continuous")
    batch = _batch("continuous", seed=5)
    u = to_unconstrained(PARAMS["continuous"], "continuous")
    f = model.filtered(u, batch, levels=(0.05, 0.95))
    assert np.all(f["q0.05"] <= f["trust"] + 1e-12)
    assert np.all(f["trust"] <= f["q0.95"] + 1e-12)
    assert np.all((f["initial_trust"] > 0) & (f["initial_trust"] < 1))


def test_unknown_adoption_kind_is_an_error():
    with pytest.raises(ValueError, match="adoption"):
        TrustDynamics("sometimes")
