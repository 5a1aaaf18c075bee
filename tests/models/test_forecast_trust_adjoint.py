"""The trust sender's smoothed argmax has a hand-written adjoint: it must equal automatic
differentiation of the plain softmax formula, for every input, and leave the value alone."""

import numpy as np
import pytest

from cheaptalk._jax import jax, jnp
from cheaptalk.models.forecast_trust import optimal_report


def reference_report(expected_sales, cost, betas, candidates, temperature):
    utility = expected_sales[:, None, :] - betas[None, :, None] * cost[:, None, :]
    return jnp.einsum("xbc,xc->xb", jax.nn.softmax(utility / temperature, axis=-1), candidates)


@pytest.mark.parametrize("temperature", [0.01, 0.5])
def test_adjoint_equals_automatic_differentiation(temperature):
    rng = np.random.default_rng(4)
    X, B, C = 6, 5, 40
    # utilities that differ by a few temperatures near the top, so many weights matter
    sales = jnp.asarray(np.cumsum(rng.uniform(0, 3 * temperature, (X, C)), axis=1))
    cost = jnp.asarray(rng.uniform(0, 0.5, (X, C)))
    betas = jnp.asarray(np.linspace(0.0, 1.0, B))
    candidates = jnp.asarray(rng.uniform(50, 250, (X, C)))
    inputs = (sales, cost, betas, candidates)
    weights = jnp.asarray(rng.normal(size=(X, B)))      # an arbitrary incoming gradient

    value, vjp = jax.vjp(lambda *a: optimal_report(*a, temperature), *inputs)
    ref_value, ref_vjp = jax.vjp(lambda *a: reference_report(*a, temperature), *inputs)
    assert np.allclose(value, ref_value, rtol=1e-13, atol=1e-10)
    for name, ours, ref in zip(("expected_sales", "cost", "betas", "candidates"), vjp(weights), ref_vjp(weights)):
        scale = float(jnp.max(jnp.abs(ref)))
        assert scale > 0, name
        assert np.allclose(ours, ref, rtol=1e-9, atol=1e-10 * scale), name


def test_adjoint_inside_jit_and_with_a_convex_cost():
    """The gradient of a scalar through the cost exponent (the convex model's ``gamma``)."""
    rng = np.random.default_rng(8)
    X, C = 4, 25
    sales = jnp.asarray(np.cumsum(rng.uniform(0, 0.03, (X, C)), axis=1))
    distance = jnp.asarray(rng.uniform(0.01, 1.0, (X, C)))
    betas = jnp.asarray([0.1, 0.4, 0.9])
    candidates = jnp.asarray(rng.uniform(50, 250, (X, C)))

    def loss(gamma, fn):
        return jnp.sum(jnp.sin(fn(sales, 0.2 * distance ** gamma, betas, candidates, 0.01)))

    ours = jax.jit(jax.grad(lambda g: loss(g, optimal_report)))(1.5)
    ref = jax.grad(lambda g: loss(g, reference_report))(1.5)
    assert float(ours) == pytest.approx(float(ref), rel=1e-9)
