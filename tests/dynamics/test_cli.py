"""`cheaptalk trust generate | fit | whatif` end to end on small synthetic logs."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from cheaptalk.cli.main import main


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["trust", "fit", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--engine" in out and "--json" in out and "--out" in out


def test_generate_fit_whatif(tmp_path, capsys):
    logs = tmp_path / "logs"
    assert main(["trust", "generate", "--sellers", "1500", "--events-per-seller", "40", "--seed", "11",
                 "--out", str(logs), "--events-per-file", "20000", "--quiet"]) == 0
    truth = json.loads((logs / "truth.json").read_text())
    assert truth["synthetic"] is True and truth["n_events"] == 60_000
    assert len(list((logs / "events").glob("part-*.parquet"))) == 3

    out = tmp_path / "fit"
    capsys.readouterr()
    assert main(["trust", "fit", "--logs", str(logs), "--json", "--out", str(out), "--quiet",
                 "--warm-start-sellers", "400"]) == 0
    fit = json.loads(capsys.readouterr().out)
    # the fit-JSON shape, with the true parameters' names
    for key in ("model", "loglik", "n_params", "n_obs", "n_subjects", "aic", "bic", "converged", "params"):
        assert key in fit
    assert set(fit["params"]) == set(truth["params"])
    assert fit["n_subjects"] == 1500 and fit["converged"]
    for name, p in fit["params"].items():
        assert abs(p["estimate"] - truth["params"][name]) < 4 * p["se"], name
    assert (out / "trust_by_segment.png").stat().st_size > 1000
    assert (out / "adoption_after_feedback.png").stat().st_size > 1000
    assert pq.read_metadata(out / "trust_trajectories.parquet").num_rows == 60_000
    assert pq.read_metadata(out / "seller_trust.parquet").num_rows == 1500

    assert main(["trust", "whatif", "--logs", str(logs), "--fit", str(out / "fit.json"),
                 "--error-scale", "1,0.5", "--feedback-rate", "logged,1.0", "--sample-sellers", "300",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["scenarios"]
    base = next(r for r in rows if r["error_scale"] == 1 and r["feedback_rate"] == "logged")
    better = next(r for r in rows if r["error_scale"] == 0.5 and r["feedback_rate"] == "logged")
    # more accurate recommendations: more trust, more adoption, more profit
    assert better["mean_trust"] > base["mean_trust"]
    assert better["profit_per_event"] > base["profit_per_event"]
    # changes against the baseline, paired by seller, with standard errors; the figure
    assert base["baseline"] and not better["baseline"] and base["profit_change"] == 0
    assert better["profit_change"] == pytest.approx(better["profit_per_event"] - base["profit_per_event"])
    assert better["profit_change"] > 4 * better["profit_change_se"] > 0
    assert len(better["trust_by_event"]) == 40 and better["trust_by_event"][-1] > base["trust_by_event"][-1]
    assert main(["trust", "whatif", "--logs", str(logs), "--fit", str(out / "fit.json"),
                 "--error-scale", "0.5,1", "--sample-sellers", "300", "--out", str(tmp_path / "wi")]) == 0
    printed = capsys.readouterr().out
    assert "baseline" in printed and "(se: seller-clustered" in printed
    assert (tmp_path / "wi" / "whatif.png").stat().st_size > 1000
    again = json.loads((tmp_path / "wi" / "whatif.json").read_text())["scenarios"]
    # the baseline is error scale 1 with the logged feedback even when listed second
    assert [r["baseline"] for r in again] == [False, True] and again[1]["profit_change"] == 0


def test_whatif_standard_errors_match_the_spread_between_halves_of_the_sellers(local_fit, continuous_logs):
    from cheaptalk.dynamics.whatif import whatif
    engine, fit = local_fit
    batches = engine.sample(1500, event_values=True)
    params = fit.estimates
    scale = engine.source.options.fidelity_scale

    def change(bs):
        r = whatif(bs, params, "continuous", [1.0, 0.6], [None], fidelity_scale=scale)[1]
        return r["profit_change"], r["profit_change_se"], r["adoption_change"], r["adoption_change_se"]
    half = len(batches) // 2
    a, b, full = change(batches[:half]), change(batches[half:]), change(batches)
    for i in (0, 2):                       # profit, adoption
        assert abs(a[i] - b[i]) < 4 * np.hypot(a[i + 1], b[i + 1])
        # the standard error shrinks like 1 / sqrt(sellers)
        assert full[i + 1] == pytest.approx(np.sqrt(a[i + 1] * b[i + 1]) / np.sqrt(2), rel=0.3)


def test_whatif_parameter_draws_add_the_parameters_uncertainty(local_fit):
    from cheaptalk.dynamics.whatif import whatif
    engine, fit = local_fit
    batches = engine.sample(300, event_values=True)
    scale = engine.source.options.fidelity_scale
    cov = fit.to_json()["diagnostics"]["covariance_unconstrained"]["matrix"]
    np.testing.assert_allclose(cov, fit.cov_unconstrained)

    def rows(c):
        return whatif(batches, fit.estimates, "continuous", [1.0, 0.6], [None], fidelity_scale=scale,
                      parameter_draws=12, cov_unconstrained=c)[1]
    r1, r4, r0 = rows(cov), rows(4 * np.asarray(cov)), rows(np.zeros((5, 5)))
    for what in ("profit_change", "adoption_change"):
        assert r1[what + "_se_parameters"] > 0
        assert r1[what + "_se_total"] == pytest.approx(np.hypot(r1[what + "_se"], r1[what + "_se_parameters"]))
        # the same draws, twice as far from the estimate: twice the spread
        assert r4[what + "_se_parameters"] == pytest.approx(2 * r1[what + "_se_parameters"], rel=0.1)
        assert r0[what + "_se_parameters"] < 1e-9
    with pytest.raises(ValueError, match="covariance"):
        whatif(batches, fit.estimates, "continuous", [1.0], [None], fidelity_scale=scale, parameter_draws=3)
    with pytest.raises(ValueError, match="not a valid covariance"):
        whatif(batches, fit.estimates, "continuous", [1.0], [None], fidelity_scale=scale, parameter_draws=3,
               cov_unconstrained=np.full((5, 5), np.nan))
