"""Import JAX with 64-bit floats: likelihoods and their gradients need double precision."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

import jax.numpy as jnp  # noqa: E402

__all__ = ["jax", "jnp"]
