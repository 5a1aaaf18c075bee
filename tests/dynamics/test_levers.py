"""Levers and their replay: the plain-numpy posterior over initial trust that plans and
effects use (what Spark's workers run) against the automatic-differentiation reference, and
the common random numbers that make policies comparable seller by seller."""

import numpy as np
import pytest

from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
from cheaptalk.dynamics.investment.levers import Change, apply_change, node_posteriors, seller_uniforms
from cheaptalk.dynamics.model import TrustDynamics
from cheaptalk.dynamics.parameters import to_natural, to_unconstrained


@pytest.mark.parametrize("kind, rule", [("continuous", "asymmetric"), ("continuous", "symmetric"),
                                        ("continuous", "confirmation"), ("continuous", "bayes"),
                                        ("continuous", "wsls"), ("continuous", "asymmetric+decay"),
                                        ("binary", "asymmetric"), ("binary", "bayes+decay")])
def test_numpy_posterior_matches_the_reference(tmp_path, kind, rule):
    from cheaptalk.dynamics.engines.local import LocalEngine
    from cheaptalk.dynamics.logs import resolve_logs
    generate_logs(tmp_path, 150, 25, seed=3, world=SyntheticWorld(adoption=kind, rule=rule, decay=0.2))
    engine = LocalEngine(resolve_logs(tmp_path))
    try:
        batches = engine.sample(150, event_values=True)
    finally:
        engine.close()
    model = TrustDynamics(kind, 12, rule)
    rng = np.random.default_rng(0)
    u = rng.normal(0, 0.5, len(model.names)) + to_unconstrained(
        {n: 0.5 if n not in ("sd_action", "follow_slope", "initial_trust_concentration", "prior_strength")
         else 3.0 for n in model.names}, kind, rule)
    params = to_natural(u, kind, rule)
    nodes, log_w, n0 = model.grid(u)
    for b in batches:
        mine = node_posteriors(b, params, kind, rule, nodes, log_w, n0)
        ref = model.reference.posterior(u, b)[0][:int(b["n_sellers"])]
        np.testing.assert_allclose(mine, ref, atol=1e-10)


def test_uniforms_depend_on_the_seller_not_on_its_company():
    a = seller_uniforms(np.array([5, 9, 12]), 30, seed=4)
    b = seller_uniforms(np.array([12, 5]), 30, seed=4)
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[2], b[0])
    assert not np.array_equal(seller_uniforms(np.array([5]), 30, seed=5)[0], a[0])
    text = seller_uniforms(np.array(["s-1", "s-2"]), 10, seed=0)
    assert text.shape == (2, 10) and 0 <= text.min() and text.max() < 1
    x = seller_uniforms(np.arange(20_000), 50, seed=1).ravel()
    assert abs(x.mean() - 0.5) < 0.005 and abs(x.var() - 1 / 12) < 0.002


def test_a_change_acts_from_its_start_only():
    rng = np.random.default_rng(1)
    truth = rng.normal(100, 10, (4, 10))
    rec = truth + rng.normal(0, 8, (4, 10))
    fid = 1 - np.minimum(1, np.abs(rec - truth) / 30)
    feedback = np.zeros((4, 10), bool)
    u = rng.random((4, 10))
    r, f, fb = apply_change(Change(error_scale=0.5, feedback_added=1.0, start=6), rec, truth, fid, feedback, u, 30.0)
    np.testing.assert_array_equal(r[:, :6], rec[:, :6])
    np.testing.assert_allclose(r[:, 6:] - truth[:, 6:], 0.5 * (rec[:, 6:] - truth[:, 6:]))
    assert (f[:, 6:] >= fid[:, 6:]).all() and not fb[:, :6].any() and fb[:, 6:].all()
    with pytest.raises(Exception, match="needs from=0"):
        Change(initial_trust_shift=0.5, start=2)
