#!/usr/bin/env python3
"""Per-decision likelihood evaluations per second, for every model, on 100,000 simulated decisions.

For each model and game the script simulates decisions (synthetic) at the model's default
parameters, prepares them once, and times, side by side in one run:

* ``loglik``: the compiled panel log-likelihood (decisions evaluated per second);
* ``loglik+grad``: the compiled log-likelihood with its exact gradient (automatic
  differentiation), what the estimator calls at every iteration;
* baseline ``fd-grad``: the gradient by central finite differences from the same compiled
  log-likelihood (2 x n_params evaluations), what an estimator without exact gradients pays;
  the ratio column is how many times faster the exact gradient is.

Usage:  python benchmarks/likelihood_speed.py [--decisions 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cheaptalk._jax import jax, jnp
from cheaptalk.games import load_game
from cheaptalk.models import get_model
from cheaptalk.models.likelihood import total_loglik

CASES = [("forecast-sharing", m) for m in ("equilibrium", "levelk", "ch", "trust", "mixture")] + \
        [("crawford-sobel", m) for m in ("equilibrium", "qre", "levelk", "ch", "trust", "mixture")]


def timed(fn, repeats):
    jax.block_until_ready(fn())             # compile and warm up
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn())
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'game':<17}{'model':<12}{'decisions':>10}{'loglik/s':>13}{'loglik+grad/s':>15}"
          f"{'fd-grad/s':>12}{'ratio':>8}")
    for game_name, model_name in CASES:
        game = load_game(game_name)
        model = get_model(model_name, game)
        n_treat = len(game.treatments)
        rounds = 25
        subjects = max(1, args.decisions // (2 * rounds * n_treat))
        data = model.simulate(None, subjects, rounds, seed=1)
        prep = model.prepare(data)
        theta = jnp.asarray(model.to_vector())
        f = jax.jit(lambda th: total_loglik(model, th, prep))
        fg = jax.jit(jax.value_and_grad(lambda th: total_loglik(model, th, prep)))
        t_f = timed(lambda: f(theta), args.repeats)
        t_fg = timed(lambda: fg(theta), args.repeats)
        t_fd = 2 * len(theta) * t_f
        n = len(data)
        print(f"{game_name:<17}{model_name:<12}{n:>10}{n / t_f:>13.3g}{n / t_fg:>15.3g}"
              f"{n / t_fd:>12.3g}{t_fd / t_fg:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
