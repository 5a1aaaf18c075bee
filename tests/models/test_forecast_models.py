"""Forecast-sharing (G1) models: closed forms, level-k consequences, simulation, gradients."""

import numpy as np
import pytest

from cheaptalk._jax import jax, jnp
from cheaptalk.games import load_game
from cheaptalk.models import get_model
from cheaptalk.models.forecast_levelk import level1_report_set
from cheaptalk.models.forecast_trust import optimal_report, trust_capacity
from cheaptalk.models.likelihood import total_loglik

GAME = load_game("forecast-sharing")
MODELS = ["equilibrium", "levelk", "ch", "trust", "mixture"]


@pytest.fixture(scope="module")
def hc_hu():
    return GAME.game("HC-HU")


def test_trust_capacity_limits(hc_hu):
    m = np.linspace(60, 240, 13)
    assert np.allclose(trust_capacity(hc_hu, m, 1.0), m + hc_hu.z_star, atol=1e-6)
    assert np.allclose(trust_capacity(hc_hu, m, 0.0), hc_hu.babbling_capacity(), atol=1e-3)
    # near the limits the capacity is near the limit (continuity in alpha)
    assert np.allclose(trust_capacity(hc_hu, m, 0.999), m + hc_hu.z_star, atol=0.5)
    assert np.allclose(trust_capacity(hc_hu, m, 0.001), hc_hu.babbling_capacity(), atol=0.5)


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.8])
def test_trust_capacity_slope_strictly_between_0_and_1(hc_hu, alpha):
    """dK/dm = alpha g / (alpha g + (1 - alpha) f_D): inside (0, 1) wherever the believed
    demand m + eps can reach K (|K - m| < a); with bounded noise it is 0 beyond (the
    receiver's capacity no longer depends on a report that far off), never 1 or more."""
    m = np.linspace(60, 240, 50)
    k = trust_capacity(hc_hu, m, alpha)
    slope = np.diff(k) / np.diff(m)
    reachable = np.abs(k[:-1] - m[:-1]) < hc_hu.noise_half_width - 2
    assert reachable.sum() > 10
    assert np.all(slope[reachable] > 0.0) and np.all(slope < 1.0) and np.all(slope > -1e-9)
    assert 0 < np.polyfit(m, k, 1)[0] < 1


def test_fully_trustworthy_senders_report_truthfully():
    model = get_model("trust", GAME)
    params = {"trustworthiness_at_0": 0.0, "trustworthiness_at_1": 1.0}
    xi = np.linspace(50, 250, 21)
    for t in GAME.treatments:
        ws, low, high = model.type_choices(params, t, xi=xi)["sender"]
        assert np.allclose(low[:, -1], xi, atol=1e-9)       # the beta = 1 node
        assert ws[-1] > 0.999
        assert np.allclose(low @ ws, xi, atol=1e-3)


def test_inflation_with_credulous_receivers_has_closed_form(hc_hu):
    """alpha = 1: K = m + z*, so the FOC P(eps > m + z* - xi) = beta gives
    m* = xi - z* + G^-1(1 - beta) (inflation is the same at every forecast until the cap)."""
    model = get_model("trust", GAME)
    values = {**model.defaults(), "trust_at_0": 0.0, "trust_at_1": 1.0}
    schedule = np.asarray(model.report_schedule({k: jnp.asarray(v) for k, v in values.items()}, "HC-HU"))
    x = model.tables("HC-HU")["x_grid"]
    expected = np.clip(x[:, None] - hc_hu.z_star + hc_hu.noise.ppf(1 - model.nodes[None, :]),
                       x[:, None], 250.0)
    inside = expected < 249.0
    inside[:, 0] = False        # beta = 0 is indifferent over every saturating report, like L1
    # the smoothed argmax is within a third of a report unit of the exact optimum
    assert np.allclose(schedule[inside], expected[inside], atol=0.3)
    assert np.median(np.abs(schedule - expected)[inside]) < 0.01
    assert np.all(schedule[:, 0] >= expected[:, 0] - 1.0)      # in (or, smoothed, next to) the optimal set


@pytest.mark.parametrize("alpha_node", [4, 7, 10])
def test_inflation_satisfies_first_order_condition(hc_hu, alpha_node):
    """Interior trust: P(eps > K(m) - xi) K'(m) = beta at an interior optimal report where
    K is smooth; where K stops rising (bounded noise makes a kink) the optimum sits at the
    kink, with marginal gain >= beta on the left and < beta on the right."""
    model = get_model("trust", GAME)
    tab = model.tables("HC-HU")
    alpha = model.nodes[alpha_node]
    betas = np.broadcast_to(model.nodes[1:-1], (len(tab["x_grid"]), len(model.nodes) - 2))
    reports = np.asarray(optimal_report(jnp.asarray(tab["sales"][:, :, alpha_node]),
                                        tab["scale"] * jnp.asarray(tab["distance"]), jnp.asarray(betas[0]),
                                        jnp.asarray(tab["candidates"])))
    x = tab["x_grid"][:, None]
    h = 0.05

    def marginal_gain(m0, m1):
        k0, k1 = trust_capacity(hc_hu, m0, alpha), trust_capacity(hc_hu, m1, alpha)
        k = 0.5 * (k0 + k1)
        return (1 - hc_hu.noise.cdf(k - x)) * (k1 - k0) / (m1 - m0)

    inflating = (reports > x + 1.0) & (reports < 248.0)
    # at any optimum the gain of one more unit is at most beta and of one less at least beta
    wide_left, wide_right = marginal_gain(reports - 1.0, reports), marginal_gain(reports, reports + 1.0)
    assert np.all(wide_left[inflating] >= betas[inflating] - 0.02)
    assert np.all(wide_right[inflating] <= betas[inflating] + 0.02)
    # where K is smooth around the optimum, the first-order condition holds with equality
    # (K has a kink where it stops rising, K(m) = m - a; the smoothed argmax can sit a few
    # units short of it, so "smooth" means the kink is more than 3 units away)
    ahead = reports + 3.0
    smooth = inflating & (trust_capacity(hc_hu, ahead, alpha) - ahead > -hc_hu.noise_half_width + 0.5)
    assert smooth.sum() > 20
    assert np.allclose(marginal_gain(reports - h, reports + h)[smooth], betas[smooth], atol=0.01)


def test_level1_sender_set_and_level2_receivers(hc_hu):
    xi = np.array([60.0, 120.0, 200.0])
    low, high = level1_report_set(hc_hu, xi)
    a, z = hc_hu.noise_half_width, hc_hu.z_star
    assert np.allclose(low, np.minimum(xi + a - z, 250)) and np.allclose(high, 250)
    # sales are maximal for every report in the set, lower below it
    k = lambda m: m + z
    every_report = np.linspace(50, 250, 401)
    for x, lo in zip(xi, low):
        best = hc_hu.expected_sales(x, k(every_report)).max()
        inside = hc_hu.expected_sales(x, k(np.linspace(lo, 250, 5)))
        assert np.allclose(inside, best, atol=1e-9)
        if x + a - z <= 250:
            assert best == pytest.approx(x)            # all demand is served: E min(D, K) = xi
        if lo > 51:
            assert hc_hu.expected_sales(x, k(lo - 1.0)) < best
    # minimal inflation is inverted exactly by the L2 receiver: K = m - a + 2 z*
    lk = get_model("levelk", GAME, tie_break="minimal")
    m = np.array([140.0, 170.0, 200.0])
    _, k_types, _ = lk.type_choices({"receiver_level2_share": 1.0}, "HC-HU", m=m)["receiver"]
    assert np.allclose(k_types[:, 1], m - a + 2 * z, atol=0.5)
    # maximal inflation pools at the top: the L2 receiver ignores the report there
    lk = get_model("levelk", GAME, tie_break="maximal")
    _, k_top, _ = lk.type_choices(None, "HC-HU", m=np.array([250.0]))["receiver"]
    assert k_top[0, 1] == pytest.approx(hc_hu.babbling_capacity(), abs=0.5)


def test_cognitive_hierarchy_discounts_partially(hc_hu):
    """The CH level-2 receiver lies between the credulous and the level-k L2 receiver."""
    m = np.linspace(150, 240, 10)
    ch = get_model("ch", GAME)
    lk = get_model("levelk", GAME)
    _, k_ch, _ = ch.type_choices({"tau_sender": 1.0}, "HC-HU", m=m)["receiver"]
    _, k_lk, _ = lk.type_choices(None, "HC-HU", m=m)["receiver"]
    credulous = m + hc_hu.z_star
    assert np.all(k_ch[:, 1] <= credulous + 1e-6) and np.all(k_ch[:, 1] >= k_lk[:, 1] - 1e-6)
    assert np.any(k_ch[:, 1] < credulous - 1) and np.any(k_ch[:, 1] > k_lk[:, 1] + 1)


@pytest.mark.parametrize("name", MODELS)
def test_simulated_data_reproduce_predicted_conditional_means(name):
    model = get_model(name, GAME)
    data = model.simulate(None, n_subjects=60, n_rounds=20, seed=11, treatments=["LC-HU"])
    senders = data[(data.role == "sender") & data.state.between(70, 180)]
    receivers = data[(data.role == "receiver") & data.message.between(90, 200)]
    ws, lo, hi = model.type_choices(None, "LC-HU", xi=senders.state.to_numpy())["sender"]
    wr, k, _ = model.type_choices(None, "LC-HU", m=receivers.message.to_numpy())["receiver"]
    resid_report = senders.message.to_numpy() - ((lo + hi) / 2) @ ws
    resid_capacity = receivers.action.to_numpy() - k @ wr
    # types are fixed per subject, so the standard error is by subject: use a generous bound
    for resid, n_subjects in ((resid_report, 60), (resid_capacity, 60)):
        se = resid.std() / np.sqrt(n_subjects)
        assert abs(resid.mean()) < 4 * se + 0.5


@pytest.mark.parametrize("name", MODELS)
def test_gradient_matches_finite_differences(name):
    model = get_model(name, GAME)
    data = model.simulate(None, n_subjects=8, n_rounds=5, seed=3, treatments=["HC-LU", "LC-HU"])
    prep = model.prepare(data)
    theta = model.to_vector()
    lo, hi = np.array(model.bounds()).T
    theta = np.clip(theta, lo + 0.02 * (hi - lo), hi - 0.02 * (hi - lo))
    f = jax.jit(lambda th: total_loglik(model, th, prep))
    grad = np.asarray(jax.grad(f)(jnp.asarray(theta)))
    for i in range(len(theta)):
        h = 1e-5 * max(1.0, abs(theta[i]))
        e = np.zeros_like(theta)
        e[i] = h
        numeric = (float(f(theta + e)) - float(f(theta - e))) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=2e-3, abs=2e-3), model.param_names[i]


def test_loglik_prefers_true_parameters():
    model = get_model("trust", GAME)
    data = model.simulate(None, n_subjects=30, n_rounds=20, seed=5, treatments=["HC-HU"])
    prep = model.prepare(data)
    truth = model.to_vector()
    ll = lambda p: float(total_loglik(model, jnp.asarray(model.to_vector(p)), prep))
    assert ll(None) > ll({"trust_mean": 0.15}) and ll(None) > ll({"trustworthiness_mean": 0.85})
    assert ll(None) > ll({"sd_report": 2 * truth[model.param_names.index("sd_report")]})


def test_mixture_nests_its_families():
    mix = get_model("mixture", GAME)
    trust = get_model("trust", GAME)
    data = trust.simulate(None, n_subjects=10, n_rounds=5, seed=2, treatments=["LC-LU"])
    all_trust = {"sender_share_trust": 1.0, "receiver_share_trust": 1.0}
    ll_mix = float(total_loglik(mix, jnp.asarray(mix.to_vector(all_trust)), mix.prepare(data)))
    ll_trust = float(total_loglik(trust, jnp.asarray(trust.to_vector()), trust.prepare(data)))
    assert ll_mix == pytest.approx(ll_trust, abs=1e-6)
