"""Size of the likelihood-ratio test of a mixture against one of its families (synthetic data).

The situation of every mixture-against-family test that ``cheaptalk compare`` makes: under
the null the other family's share sits on its bound (0) *and* that family's own parameter is
not identified. The game is a small reporting task: each of ``G`` subjects reports ``T`` times,
``report = state + e`` with ``e ~ N(0, sd)`` for an honest subject and ``N(infl, sd)`` for an
inflating one (type fixed per subject). The null model has honest subjects only (parameter
``sd``); the mixture adds the share of inflating subjects ``pi in [0, 1]`` and their
inflation ``infl >= 0``: ``k_big - k_small = 2``.

For each of ``--datasets`` data sets simulated under the null (honest subjects, ``sd = 10``)
the script fits both models (the mixture from several starts) and tests at 5%:

* ``chi2(2)``: the reference the toolkit used before (``k_big - k_small`` degrees of freedom);
* ``bootstrap``: the parametric bootstrap the toolkit now uses (``compare --bootstrap-lr``).
  The statistic is invariant to ``sd`` here (the model is a location-scale family and ``infl``
  is unbounded above), so its null distribution is the same at every ``sd``: a parametric
  bootstrap at the estimated ``sd`` draws from one distribution for every data set, simulated
  once with ``--replications`` draws, and each data set's bootstrap p-value is read from it.

It prints the rejection rate of each with its Monte Carlo standard error and whether it lies
within 3 Monte Carlo SE of 5%. Plain numpy and scipy, independent of the toolkit's fitting
code; the p-values use the toolkit's :func:`cheaptalk.comparison.vuong.likelihood_ratio_test`.

    python benchmarks/lr_boundary.py --datasets 1000 --replications 4000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cheaptalk.comparison.vuong import likelihood_ratio_test

LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def null_loglik(e: np.ndarray) -> np.ndarray:
    """Honest subjects only, for a batch ``e`` of shape ``(D, G, T)``: the MLE of ``sd`` is the
    root mean square of ``e``."""
    n = e.shape[1] * e.shape[2]
    sd = np.sqrt(np.mean(e ** 2, axis=(1, 2)))
    return -n * (np.log(sd) + LOG_SQRT_2PI + 0.5)


def mixture_loglik(e: np.ndarray, iterations: int = 3000) -> np.ndarray:
    """For a batch ``e`` ``(D, G, T)``: the maximum over ``pi in [0, 1]``, ``infl >= 0``,
    ``sd > 0`` of the panel mixture ``sum_g log((1 - pi) prod_t N(e_gt; 0, sd) + pi prod_t
    N(e_gt; infl, sd))``, by EM (monotone in the likelihood) from starts spread over ``infl``
    and ``pi`` (the likelihood has several local maxima); the best start of each data set,
    and never below the null's maximum (``pi = 0`` is in the mixture's space)."""
    D, G, T = e.shape
    n = G * T
    sd0 = np.sqrt(np.mean(e ** 2, axis=(1, 2)))
    starts = [(pi, k) for k in (0.25, 0.5, 1.0, 2.0, 3.0) for pi in (0.1, 0.5)]
    pi = np.array([p for p, _ in starts])[None, :] * np.ones((D, 1))
    infl = np.array([k for _, k in starts])[None, :] * sd0[:, None]
    var = np.repeat((sd0 ** 2)[:, None], len(starts), axis=1)
    x = e[:, None, :, :]                               # (D, 1, G, T)
    s1 = x.sum(axis=3)                                 # (D, 1, G): sum_t e
    s2 = (x ** 2).sum(axis=3)                          # sum_t e^2

    def parts(pi, infl, var):
        honest = -s2 / (2 * var[..., None])
        inflating = -(s2 - 2 * infl[..., None] * s1 + T * infl[..., None] ** 2) / (2 * var[..., None])
        with np.errstate(divide="ignore"):
            return np.log1p(-pi)[..., None] + honest, np.log(pi)[..., None] + inflating

    for _ in range(iterations):
        a, b = parts(pi, infl, var)
        r = np.exp(b - np.logaddexp(a, b))            # P(inflating | subject), (D, S, G)
        pi = np.clip(r.mean(axis=2), 1e-12, 1 - 1e-12)
        infl = np.maximum((r * s1).sum(axis=2) / (T * np.maximum(r.sum(axis=2), 1e-300)), 0.0)
        var = ((1 - r) * s2 + r * (s2 - 2 * infl[..., None] * s1 + T * infl[..., None] ** 2)).sum(axis=2) / n
    a, b = parts(pi, infl, var)
    ll = np.logaddexp(a, b).sum(axis=2) - n * (0.5 * np.log(var) + LOG_SQRT_2PI)
    return np.maximum(ll.max(axis=1), null_loglik(e))


def statistic(e: np.ndarray, batch: int = 250) -> np.ndarray:
    """The LR statistic of each data set in ``e`` ``(D, G, T)``."""
    out = [np.maximum(0.0, 2 * (mixture_loglik(part) - null_loglik(part)))
           for part in np.array_split(e, max(1, len(e) // batch))]
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--replications", type=int, default=4000, help="draws of the bootstrap null distribution")
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    shape = (args.subjects, args.rounds)
    t0 = time.perf_counter()
    reference = statistic(rng.normal(0, 1, (args.replications, *shape)))
    t1 = time.perf_counter()
    observed = statistic(rng.normal(0, 10, (args.datasets, *shape)))
    t2 = time.perf_counter()
    chi2_p = np.array([likelihood_ratio_test(s / 2, 0.0, 3, 1, method="chi2")["p_value"] for s in observed])
    boot_p = np.array([(1 + np.sum(reference >= s - 1e-9)) / (args.replications + 1) for s in observed])
    mc_se = np.sqrt(0.05 * 0.95 / args.datasets)
    print(f"{args.datasets} data sets of {args.subjects} subjects x {args.rounds} rounds simulated under the null "
          f"(synthetic); bootstrap null distribution from {args.replications} draws "
          f"({t1 - t0:.0f} s), data sets fitted in {t2 - t1:.0f} s")
    print(f"null distribution of LR: mean {reference.mean():.3f} (chi2(2): 2.000), 95th percentile "
          f"{np.quantile(reference, 0.95):.3f} (chi2(2): 5.991), share exactly 0: {np.mean(reference <= 1e-9):.3f}")
    print("| reference | rejection rate at 5% | Monte Carlo SE | within 3 SE of 5% |")
    print("|---|---:|---:|---|")
    for name, p in (("chi2(2) (before)", chi2_p), ("parametric bootstrap (now)", boot_p)):
        rate = float(np.mean(p < 0.05))
        print(f"| {name} | {rate:.4f} | {mc_se:.4f} | {'yes' if abs(rate - 0.05) <= 3 * mc_se else 'no'} |")


if __name__ == "__main__":
    main()
