"""Fits whose numbers do not move with a numerical setting: starts, nested starts, the
quadrature check, fixed parameters, parameters the design cannot identify, and initial trust by
segment (all on synthetic logs, labelled synthetic)."""

import json

import numpy as np
import pytest

from cheaptalk.cli.main import main
from cheaptalk.dynamics.engines.local import LocalEngine
from cheaptalk.dynamics.estimate import fit_trust
from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
from cheaptalk.dynamics.logs import resolve_logs
from cheaptalk.dynamics.model import TrustDynamics


def _logs(tmp_path, name, sellers=400, events=20, seed=3, **world):
    out = tmp_path / name
    generate_logs(out, sellers, events, seed=seed, world=SyntheticWorld(adoption="binary", **world))
    return out


def test_decay_is_not_identified_when_every_event_has_feedback(tmp_path):
    """Trust drifts only between feedback events; with feedback after every event the decay
    rate is reported as not identified (no number), and not counted as a parameter."""
    logs = _logs(tmp_path, "always", rule="symmetric+decay", feedback_rate=1.0, decay=0.2)
    fit = fit_trust(LocalEngine(resolve_logs(logs)), rule="symmetric+decay", check_quadrature=False)
    assert "decay" in fit.not_identified() and "never drifts" in fit.not_identified()["decay"]
    assert fit.n_params == 4
    entry = fit.to_json()["params"]["decay"]
    assert entry["estimate"] is None and entry["identified"] is False
    # with feedback after 70% of events it is estimated (and the warning says what it rests on)
    logs = _logs(tmp_path, "sometimes", rule="symmetric+decay", feedback_rate=0.7, decay=0.2)
    fit = fit_trust(LocalEngine(resolve_logs(logs)), rule="symmetric+decay", check_quadrature=False)
    assert "decay" not in fit.not_identified() and fit.n_params == 5
    assert any("decay rests on the" in w for w in fit.warnings)


def test_a_fixed_parameter_is_held_and_not_counted(tmp_path, capsys):
    logs = _logs(tmp_path, "fix", rule="symmetric", eta_up=0.2)
    engine = LocalEngine(resolve_logs(logs))
    free = fit_trust(engine, rule="symmetric", check_quadrature=False)
    held = fit_trust(engine, rule="symmetric", fixed={"follow_slope": 1.0}, check_quadrature=False)
    assert held.estimates["follow_slope"] == pytest.approx(1.0, abs=1e-12)
    assert held.n_params == free.n_params - 1 and held.loglik <= free.loglik + 1e-9
    entry = held.to_json()["params"]["follow_slope"]
    assert entry["fixed"] is True and entry["se"] is None
    assert np.isfinite(held.se["eta"]) and held.se["eta"] > 0
    for argv, message in [(["--fix", "eta_up=0.2"], "cannot fix eta_up"), (["--fix", "eta=1.5"], "lies in (0, 1)"),
                          (["--fix", "eta"], "write NAME=VALUE")]:
        assert main(["trust", "fit", "--logs", str(logs), "--rule", "symmetric", "--quiet", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_the_nodes_are_refined_until_twice_as_many_do_not_move_the_fit(tmp_path):
    """Initial trust concentrated around its mean (Beta with a + b = 400) falls between 20
    Gauss-Legendre nodes: the fit doubles them until the check passes, and says so; with the
    nodes given, it keeps them and warns."""
    logs = _logs(tmp_path, "tight", sellers=600, rule="symmetric", initial_trust_concentration=400.0,
                 initial_trust_mean=0.63)
    engine = LocalEngine(resolve_logs(logs))
    fit = fit_trust(engine, rule="symmetric")
    q = fit.quadrature
    assert fit.n_nodes > 20 and q["stable"] and q["checks"][0]["nodes"] == 20 and not q["checks"][0]["stable"]
    assert q["checks"][-1]["loglik_change"] < 0.01 and q["checks"][-1]["max_change_se"] < 0.05
    assert fit.to_json()["diagnostics"]["quadrature"]["nodes"] == fit.n_nodes
    given = fit_trust(engine, rule="symmetric", n_nodes=20)
    assert given.n_nodes == 20 and given.quadrature["fixed_by_user"] and not given.quadrature["stable"]
    assert any("quadrature of initial trust is not fine enough" in w for w in given.warnings)


def test_a_larger_rule_starts_from_the_nested_estimate(tmp_path):
    logs = _logs(tmp_path, "nest", rule="asymmetric", eta_up=0.1, eta_down=0.3)
    engine = LocalEngine(resolve_logs(logs))
    fit = fit_trust(engine, rule="asymmetric", check_quadrature=False)
    labels = [s["start"] for s in fit.starts]
    assert labels[:3] == ["default", "random 1", "random 2"] and "the symmetric estimate" in labels
    symmetric = fit_trust(engine, rule="symmetric", check_quadrature=False)
    assert fit.loglik >= symmetric.loglik


def test_segment_scores_and_hessian_are_the_derivatives_of_the_segment_likelihood(tmp_path):
    """Initial trust by segment: each segment's sellers at their own mean; the scores and the
    Hessian mapped back are those of the total log-likelihood (central differences)."""
    logs = _logs(tmp_path, "seg", sellers=120, events=15, rule="symmetric",
                 initial_trust_means={"high": 0.8, "low": 0.3})
    engine = LocalEngine(resolve_logs(logs))
    batch = engine.sample(1000)[0]
    model = TrustDynamics("binary", 20, "symmetric", ("high", "low", "mid"))
    u = np.array([-1.2, 1.0, -0.7, 0.1, 1.8, 0.5])
    ll, scores, H = model.batch_pass(u, batch, hessian=True)

    def total(v):
        return model.batch_pass(v, batch)[0].sum()

    h = 1e-5
    grad = np.array([(total(u + h * e) - total(u - h * e)) / (2 * h) for e in np.eye(len(u))])
    assert np.allclose(scores.sum(axis=0), grad, rtol=1e-5, atol=1e-5)
    num_h = np.array([(model.batch_pass(u + h * e, batch)[1].sum(axis=0)
                       - model.batch_pass(u - h * e, batch)[1].sum(axis=0)) / (2 * h) for e in np.eye(len(u))])
    assert np.allclose(H, num_h, rtol=1e-4, atol=1e-4)
    # a seller's log-likelihood is that of the one-mean model at its segment's mean
    one = TrustDynamics("binary", 20, "symmetric")
    for k, rows, sub in model.split_by_segment(batch):
        assert np.allclose(ll[rows], one.batch_pass(model.segment_projection(k) @ u, sub)[0][:len(rows)])


def test_generate_and_fit_initial_trust_by_segment(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["trust", "generate", "--sellers", "1500", "--events-per-seller", "20", "--adoption", "binary",
                 "--rule", "symmetric", "--initial-trust-means", "high=0.8,low=0.25", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    truth = json.loads((out / "truth.json").read_text())["params"]
    assert truth["initial_trust_mean[high]"] == 0.8 and truth["initial_trust_mean[mid]"] == 0.5
    assert main(["trust", "fit", "--logs", str(out), "--rule", "symmetric", "--initial-trust-by", "segment",
                 "--quiet", "--json", "-"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["segments"] == ["high", "low", "mid"]
    for name, value in truth.items():
        p = fit["params"][name]
        assert abs(p["estimate"] - value) < 4 * p["se"], (name, p, value)
    for bad in ("top=0.8", "high=1.2", "high"):
        assert main(["trust", "generate", "--sellers", "10", "--events-per-seller", "5", "--out",
                     str(tmp_path / "bad"), "--initial-trust-means", bad]) == 2
        assert "SEGMENT=MEAN" in capsys.readouterr().err
    assert main(["trust", "fit", "--logs", str(out), "--initial-trust-by", "advisor", "--quiet"]) == 2
    assert "put advisor's values there" in capsys.readouterr().err
