"""The zero-one-inflated Beta on fixed quadrature nodes (shared by both trust models)."""

import numpy as np
import pytest
from scipy import stats

from cheaptalk._jax import jax, jnp
from cheaptalk.models.heterogeneity import (zoib_log_weights, zoib_nodes, zoib_parameters,
                                            zoib_weights)


def test_nodes_are_fixed_and_include_the_end_points():
    nodes = zoib_nodes(8)
    assert nodes.shape == (10,)
    assert nodes[0] == 0.0 and nodes[-1] == 1.0
    assert np.all(np.diff(nodes) > 0)
    np.testing.assert_array_equal(nodes, zoib_nodes(8))


def test_point_masses_and_beta_part():
    w = zoib_weights(0.2, 0.25, 0.3, 6.0, n_interior=16)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w[0] == pytest.approx(0.2, abs=1e-9)
    assert w[-1] == pytest.approx(0.8 * 0.25, abs=1e-9)
    nodes = zoib_nodes(16)
    interior = w[1:-1] / w[1:-1].sum()
    # the discretized Beta reproduces the Beta's mean and a smooth expectation
    assert interior @ nodes[1:-1] == pytest.approx(0.3, abs=1e-4)
    beta = stats.beta(0.3 * 6, 0.7 * 6)
    assert interior @ np.cos(nodes[1:-1]) == pytest.approx(beta.expect(np.cos), abs=1e-4)


def test_gradients_are_finite_at_bounds_and_match_finite_differences():
    f = lambda p: jnp.sum(zoib_log_weights(p[0], p[1], p[2], p[3], 10) * jnp.arange(12.0))
    for p in ([0.0, 1.0, 0.4, 3.0], [0.3, 0.2, 0.6, 10.0]):
        p = jnp.array(p)
        g = np.asarray(jax.grad(f)(p))
        assert np.all(np.isfinite(g))
    p = np.array([0.3, 0.2, 0.6, 10.0])
    g = np.asarray(jax.grad(f)(jnp.array(p)))
    h = 1e-6
    fd = [(f(jnp.array(p + h * e)) - f(jnp.array(p - h * e))) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(g, np.array(fd), rtol=1e-5)


def test_parameters_follow_naming_convention():
    names = [p.name for p in zoib_parameters("trust")]
    assert names == ["trust_at_0", "trust_at_1", "trust_mean", "trust_concentration"]
