"""The optimizer's coordinates and its BLAS setting."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from cheaptalk.estimation.mle import _Scaling, _single_threaded_blas

BOUNDS = [(0.0, 1.0),          # a share: linear
          (0.005, 0.995),      # a Beta mean: linear (a proportion, not a scale)
          (0.2, 500.0),        # a Beta concentration: log
          (0.4, 200.0),        # an sd: log
          (1.0, 4.0),          # an exponent with a narrow range: linear
          (-np.inf, np.inf)]   # unbounded: linear, unscaled


def test_log_coordinates_for_scale_parameters_only():
    scaling = _Scaling(BOUNDS, log_scale=True)
    assert scaling.log.tolist() == [False, False, True, True, False, False]
    assert not _Scaling(BOUNDS).log.any()                                   # default: linear
    assert not _Scaling(BOUNDS, curvature=np.ones(6), log_scale=True).log.any()  # warm refits: linear
    theta = np.array([0.3, 0.2, 0.57, 23.0, 1.5, -3.0])
    u = scaling.u(theta)
    assert np.allclose(scaling.theta(u), theta, rtol=1e-14)
    assert u[2] == pytest.approx(np.log(0.57 / 0.2) / np.log(2500.0))
    # bounds map to [0, 1] in every bounded coordinate
    lo = np.array([b[0] for b in BOUNDS[:5]])
    hi = np.array([b[1] for b in BOUNDS[:5]])
    assert np.allclose(scaling.u(np.append(lo, 0.0))[:5], 0.0)
    assert np.allclose(scaling.u(np.append(hi, 0.0))[:5], 1.0)
    # the chain rule factor is the derivative of theta(u)
    h = 1e-7
    numeric = np.array([(scaling.theta(u + h * e) - scaling.theta(u - h * e))[i] / (2 * h)
                        for i, e in enumerate(np.eye(6))])
    assert np.allclose(scaling.dtheta_du(u), numeric, rtol=1e-6)


def blas_threads():
    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


def test_one_blas_thread_inside_a_fit_and_restored_after():
    before = blas_threads()
    with _single_threaded_blas():
        assert all(n == 1 for n in blas_threads())
        with _single_threaded_blas():              # a fit inside a fit (refits, bootstrap)
            assert all(n == 1 for n in blas_threads())
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before


def test_fits_in_parallel_threads_each_take_the_limit():
    """Each fitting thread enters and leaves on its own; the thread that started first
    keeps its limit while the other finishes, and everything is restored at the end."""
    before = blas_threads()
    inside, release, seen = threading.Event(), threading.Event(), []

    def other_fit():
        with _single_threaded_blas():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=other_fit)
    with _single_threaded_blas():
        worker.start()
        inside.wait(10)
        release.set()
        worker.join()
        seen.append(blas_threads())
    assert all(n == 1 for n in seen[0])
    assert blas_threads() == before


def test_a_loose_tolerance_does_not_end_a_fit_before_the_gradient_is_small():
    """Warm refits use a loose relative-reduction tolerance; where it stops L-BFGS-B on a
    flat stretch with the gradient still large, the fit continues at the strict one."""
    from cheaptalk.data import clean_decisions
    from cheaptalk.estimation import Likelihood, maximize
    from cheaptalk.estimation.mle import GRAD_TOL
    from cheaptalk.games import load_game
    from cheaptalk.models import get_model
    spec = load_game("forecast-sharing")
    model = get_model("levelk", spec)
    data, _ = clean_decisions(model.simulate(None, 12, 10, seed=3), spec)    # synthetic
    lik = Likelihood(model, data)
    start = model.to_vector() * 1.3
    run = maximize(lik, start, ftol=1e-2)        # stops after a step or two on its own
    assert run["converged"] and run["grad_norm"] < GRAD_TOL
    strict = maximize(lik, start)
    assert run["loglik"] == pytest.approx(strict["loglik"], abs=1e-4 * len(data))
