"""Parameter recovery on synthetic logs with a known truth (labelled synthetic)."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from cheaptalk.dynamics import fit_trust, generate_logs, resolve_logs, SyntheticWorld
from cheaptalk.dynamics.engines.local import LocalEngine
from cheaptalk.dynamics.model import TrustDynamics


def _within(fit, truth, names, n_se=4.0):
    for name in names:
        est, se = fit.estimates[name], fit.se[name]
        assert np.isfinite(se) and se > 0, name
        assert abs(est - truth[name]) < n_se * se, (name, est, se, truth[name])


def test_recovers_rates_and_initial_trust_distribution(local_fit, continuous_logs):
    _, truth = continuous_logs
    engine, fit = local_fit
    assert fit.converged, fit.message
    assert fit.n_sellers == 1500 and fit.n_events == 60_000
    _within(fit, truth["params"], ["eta_up", "eta_down", "initial_trust_mean",
                                   "initial_trust_concentration", "sd_action"])
    # the asymmetry is detected: trust is lost faster than it is built, far beyond noise
    diff = fit.estimates["eta_down"] - fit.estimates["eta_up"]
    assert diff > 10 * np.hypot(fit.se["eta_down"], fit.se["eta_up"])
    assert not fit.warnings


def test_last_pass_without_hessian_changes_nothing_that_is_reported(local_fit):
    """When the last Newton step is tiny, its pass skips the Hessian: the standard errors
    with the Hessian taken at the estimate itself are the same, and the decrement there
    meets the tolerance."""
    from cheaptalk.dynamics.model import natural_jacobian
    engine, fit = local_fit
    assert fit.hessian_from_previous_pass and "previous pass" in fit.message
    at = engine.evaluate(fit.model(), fit.u, hessian=True)
    assert at.loglik == pytest.approx(fit.loglik, rel=1e-14)
    assert float(at.score @ np.linalg.solve(-at.hessian, at.score)) / at.n_sellers < 1e-11
    hinv = np.linalg.inv(at.hessian)
    G = at.n_sellers
    J = natural_jacobian(fit.u, fit.kind)
    se = np.sqrt(np.diag(hinv @ at.meat @ hinv * G / (G - 1)) * J ** 2)
    # the Hessian a few hundredths of a standard error away changes them by far less than
    # their own sampling error (about 1 / sqrt(2 x 1500 sellers), 2%)
    np.testing.assert_allclose(se, [fit.se[n] for n in fit.estimates], rtol=1e-3)


def test_newton_stops_at_a_kink_instead_of_stepping_back_and_forth(tmp_path):
    """The switch between eta_up and eta_down puts tiny kinks in the log-likelihood. On these
    synthetic logs (2 000 sellers x 50 events) the scores at the optimum cannot be made
    smaller than a kink allows: Newton steps of 2e-4 standard errors used to go back and
    forth between two points until the iterations ran out, and L-BFGS-B finished the fit
    after 106 passes over the logs. Short steps must now strictly raise the log-likelihood,
    and once one under 0.01 standard errors does not, the fit ends there; L-BFGS-B, run to
    its own end from there, finds nothing better."""
    from cheaptalk.dynamics.estimate import _minimize
    generate_logs(tmp_path, 2000, 50, seed=3, world=SyntheticWorld())
    engine = LocalEngine(resolve_logs(tmp_path))
    # (one start on the default nodes: the optimizer's own path is what is tested)
    fit = fit_trust(engine, n_nodes=20, extra_starts=0, nested=False, check_quadrature=False)
    assert fit.converged and "Newton" in fit.message, fit.message
    assert fit.passes <= 8
    polished, _ = _minimize(lambda u: engine.evaluate(TrustDynamics(fit.kind, 20), u), fit.u, fit.kind,
                            maxiter=200, gtol=1e-9)
    assert -polished.fun * fit.n_sellers - fit.loglik < 1e-6


@pytest.mark.parametrize("guess", ["sample Hessian", "useless guess"])
def test_first_step_with_a_guessed_hessian_reaches_the_same_estimate(local_fit, guess):
    """The first step on all logs uses the sample's Hessian scaled to all sellers (from a
    pass without the Hessian); a guess that does not raise the log-likelihood only costs
    the pass, and Newton goes on from the start as usual."""
    from cheaptalk.dynamics.estimate import _newton
    engine, fit = local_fit
    model = fit.model()
    start = fit.u + np.array([0.2, -0.2, 0.1, 0.3, 0.05])
    exact = engine.evaluate(model, start, hessian=True).hessian
    scale = {"sample Hessian": 1.1, "useless guess": 1e-4}[guess]
    calls = []

    def evaluate(u, hessian=True):
        calls.append(hessian)
        return engine.evaluate(model, u, hessian=hessian)
    res = _newton(evaluate, start, fit.kind, 1e-11, hessian_guess=exact * scale)
    assert res.success, res.message
    assert calls[0] is False and res.passes == len(calls)
    if guess == "useless guess":      # the step overshoots: the next pass is at the start again
        assert calls[1:3] == [True, True]
    # within the fit's last step (a hundredth of a standard error: 3e-5 to 6e-4)
    np.testing.assert_allclose(res.x, fit.u, atol=3e-5)


def test_filtered_initial_trust_tracks_each_sellers_truth(local_fit, continuous_logs, tmp_path):
    from cheaptalk.dynamics.trajectories import write_trajectories
    logs, _ = continuous_logs
    engine, fit = local_fit
    agg = write_trajectories(engine.batches(event_values=True), TrustDynamics("continuous"), fit.u, tmp_path)
    sellers = pq.read_table(tmp_path / "seller_trust.parquet").to_pandas()
    true = pq.read_table(logs / "sellers_truth.parquet").to_pandas()
    m = sellers.merge(true, on="seller", suffixes=("", "_true"))
    assert len(m) == 1500
    assert np.corrcoef(m["initial_trust"], m["initial_trust_true"])[0, 1] > 0.8
    traj = pq.read_table(tmp_path / "trust_trajectories.parquet")
    assert traj.num_rows == 60_000
    lo, hi = traj.column("trust_lower").to_numpy(), traj.column("trust_upper").to_numpy()
    assert np.all(lo <= hi)
    # high-fidelity sellers end with more trust than low-fidelity ones
    final = m.groupby("segment")["final_trust"].mean()
    assert final["high"] > final["mid"] > final["low"]
    assert set(agg["segments"]) == {"high", "mid", "low"}
    # the figure's band: the mean of the sellers' interval bounds, around the mean trust, and
    # narrowing as feedback accumulates (the initial trust matters less and less)
    for seg, mean in agg["segments"].items():
        lo, hi = agg["segment_intervals"][seg]
        assert np.all(lo <= mean + 1e-12) and np.all(mean <= hi + 1e-12)
        assert (hi - lo)[-1] < 0.5 * (hi - lo)[0]


def test_binary_follow_decisions_recover_rates(tmp_path):
    world = SyntheticWorld(adoption="binary", eta_up=0.2, eta_down=0.45, follow_slope=2.5)
    truth = generate_logs(tmp_path, 1200, 40, seed=5, world=world)
    engine = LocalEngine(resolve_logs(tmp_path))
    fit = fit_trust(engine, warm_start_sellers=400)
    assert fit.kind == "binary" and fit.converged
    _within(fit, truth["params"], ["eta_up", "eta_down", "initial_trust_mean", "follow_slope"])
