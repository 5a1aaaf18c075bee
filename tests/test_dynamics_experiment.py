"""Recommendation logs from a partners session of the forecast-sharing app.

The frames here are built by hand (small, readable) or simulated (labelled synthetic); the
oTree session itself is run in test_dynamics_experiment_otree.py.
"""

import json

import numpy as np
import pandas as pd
import pytest

from cheaptalk.data import DataFormatError
from cheaptalk.dynamics import fit_trust, resolve_logs
from cheaptalk.dynamics.engines.local import LocalEngine
from cheaptalk.dynamics.experiment import (ExperimentData, StrangersError, experiment_to_logs,
                                           write_trust_logs)
from cheaptalk.dynamics.model import simulate_path
from cheaptalk.cli.main import main
from cheaptalk.games import load_game

SPEC = load_game("forecast-sharing")
# LC-LU: c = 0.25, w = 0.75 -> rho = 2/3; eps ~ U[-20, 20] -> z* = -20 + 40 rho = 20/3.
# xi ~ U[50, 250]: F_D(K) = 1/2 + (K - 150)/200 on [70, 230], so K_0 = F_D^-1(2/3) = 550/3.
Z_STAR = 20 / 3
K0 = 150 + 200 * (2 / 3 - 0.5)
OWN = K0 - Z_STAR


def _frame(rows):
    cols = ["session", "subject", "role", "round", "state", "message", "action", "pair", "treatment",
            "timeout"]
    return pd.DataFrame(rows, columns=cols)


def _session(trust=(0.25, 0.75), rounds=3, rng=None):
    """Two fixed pairs (m1 -> s1, m2 -> s2); suppliers build the trust-weighted capacity."""
    rows = []
    for r in range(1, rounds + 1):
        for g, (man, sup) in enumerate((("m1", "s1"), ("m2", "s2")), start=1):
            xi = 100.0 + 10 * r + 40 * g
            m = xi + 10 * g
            k = trust[g - 1] * (m + Z_STAR) + (1 - trust[g - 1]) * K0
            pair = f"S-r{r}-g{g}"
            rows.append(["S", man, "sender", r, xi, m, np.nan, pair, "LC-LU", 0])
            rows.append(["S", sup, "receiver", r, xi, m, k, pair, "LC-LU", 0])
    return _frame(rows)


def _data(frame, **kw):
    return ExperimentData(frame, source="decisions.csv", layout="long", **kw)


def test_capacity_maps_onto_the_report_scale_by_the_newsvendor_rule():
    frame = _session()
    events, report = experiment_to_logs(_data(frame), SPEC, feedback=True)
    assert report.mapping["LC-LU"]["z_star"] == pytest.approx(Z_STAR, abs=1e-9)
    assert report.mapping["LC-LU"]["babbling_capacity"] == pytest.approx(K0, abs=1e-3)
    assert len(events) == 6 and report.n_suppliers == 2 and report.n_events == 6
    assert list(events.columns[:8]) == ["seller", "time", "recommendation", "truth", "feedback",
                                        "action", "own_estimate", "segment"]
    assert np.allclose(events["own_estimate"], OWN, atol=1e-3)
    sup = frame[frame.role == "receiver"].sort_values(["subject", "round"])
    assert np.allclose(events["action"], sup["action"].to_numpy() - Z_STAR)
    assert np.allclose(events["recommendation"], sup["message"]) and np.allclose(events["truth"], sup["state"])
    # a supplier with weight alpha on the credulous capacity has action - own = alpha (m - own):
    # the dynamic model's adoption rule with trust alpha
    for seller, alpha in (("s1", 0.25), ("s2", 0.75)):
        e = events[events.seller == seller]
        slope = (e["action"] - e["own_estimate"]) / (e["recommendation"] - e["own_estimate"])
        assert np.allclose(slope, alpha, atol=1e-3)
    assert set(events["partner"]) == {"m1", "m2"} and (events["feedback"] == 1).all()
    assert "partners (from the pairs" in report.matching["S"]


def test_defaults_and_missing_reports_are_counted_not_dropped():
    frame = _session(rounds=4)
    sup = frame.role == "receiver"
    # s1's round-2 capacity is a flagged default; m2's round-3 report is a flagged default
    frame.loc[sup & (frame.subject == "s1") & (frame["round"] == 2), "timeout"] = 1
    frame.loc[(frame.subject == "m2") & (frame["round"] == 3), "timeout"] = 1
    # s2's round-4 row lost the report and its partner's row is missing: no recommendation
    frame.loc[sup & (frame.subject == "s2") & (frame["round"] == 4), "message"] = np.nan
    frame = frame[~((frame.subject == "m2") & (frame["round"] == 4))]
    # round 4 of pair 1 has no forecast on either row: written, its feedback cannot be scored
    frame.loc[frame.subject.isin(["s1", "m1"]) & (frame["round"] == 4), "state"] = np.nan
    # round 3: s1's row lacks the forecast, her partner's row has it
    frame.loc[(frame.subject == "s1") & (frame["round"] == 3), "state"] = np.nan
    # s2 has no row at all for round 1
    frame = frame[~((frame.subject == "s2") & (frame["round"] == 1))]

    events, report = experiment_to_logs(_data(frame), SPEC, feedback=True)
    assert report.n_supplier_rows == 7 and report.n_manufacturer_rows == 7
    assert report.excluded == {"supplier-rounds without the partner's report (no recommendation)": 1}
    assert report.n_events == len(events) == 6
    assert report.n_supplier_rows == report.n_events + sum(report.excluded.values())
    assert report.n_decisions == 5                      # the default capacity is not a decision
    assert sum(report.partly_used.values()) == 1
    assert report.noted["partner's reports recorded as a timeout default (the supplier saw them as reports)"] == 1
    assert report.noted["rounds without a forecast (feedback cannot be scored)"] == 1
    assert report.noted["forecasts taken from the partner's row (empty on the supplier's row)"] == 1
    assert report.absent == 2                           # s2: round 1 absent, round 4 not written
    row = events[(events.seller == "s1") & (events.time == 2)].iloc[0]
    assert np.isnan(row["action"]) and row["capacity_is_default"] == 1 and row["feedback"] == 1
    assert events.loc[(events.seller == "s2") & (events.time == 3), "report_is_default"].item() == 1


def test_written_logs_are_what_trust_fit_reads(tmp_path):
    frame = _session(rounds=4)
    frame.loc[(frame.role == "receiver") & (frame.subject == "s1") & (frame["round"] == 2), "timeout"] = 1
    frame.loc[frame.subject.isin(["s2", "m2"]) & (frame["round"] == 4), "state"] = np.nan
    events, report = experiment_to_logs(_data(frame), SPEC, feedback=True)
    out = write_trust_logs(events, report, tmp_path / "logs")
    assert (out / "events" / "session=S" / "part-0.parquet").exists()
    schema = json.loads((out / "schema.json").read_text())
    assert schema["adoption"] == "continuous" and schema["fidelity_scale"] == 200.0
    assert json.loads((out / "conversion.json").read_text())["n_events"] == 8
    source = resolve_logs(out)
    assert source.options.adoption == "continuous" and source.options.fidelity_scale == 200.0
    engine = LocalEngine(source)
    try:
        engine.prepare()
        assert engine.n_sellers() == 2
        counts = engine.exclusions.counts
        assert counts["decision_missing"] == 1 and counts["fidelity_unknown"] == 1
        assert engine.exclusions.rows_excluded == 0
    finally:
        engine.close()


def test_strangers_are_refused_unless_allowed():
    frame = _session(rounds=3)
    # round 2: the suppliers swap manufacturers
    r2 = frame["round"] == 2
    frame.loc[r2 & (frame.subject == "s1"), "pair"] = "S-r2-g2"
    frame.loc[r2 & (frame.subject == "s2"), "pair"] = "S-r2-g1"
    with pytest.raises(StrangersError, match="2 supplier\\(s\\) met more than one manufacturer"):
        experiment_to_logs(_data(frame), SPEC, feedback=True)
    events, report = experiment_to_logs(_data(frame), SPEC, feedback=True, allow_strangers=True)
    assert len(events) == 6 and any("strangers were allowed" in w for w in report.warnings)
    # the session settings decide even when every supplier happens to keep one partner
    with pytest.raises(StrangersError, match="strangers \\(session settings\\)"):
        experiment_to_logs(_data(_session(), matching={"S": "strangers"}), SPEC, feedback=True)


def test_feedback_must_be_known_and_consistent():
    with pytest.raises(DataFormatError, match="--feedback yes or --feedback no"):
        experiment_to_logs(_data(_session()), SPEC)
    recorded = {("S", r): r != 2 for r in (1, 2, 3)}          # no results shown after round 2
    events, report = experiment_to_logs(_data(_session(), feedback=recorded), SPEC)
    assert events.groupby("time")["feedback"].first().tolist() == [1, 0, 1]
    assert "4 of 6 supplier-rounds (session settings)" in report.feedback["S"]
    with pytest.raises(DataFormatError, match="contradicts the session settings"):
        experiment_to_logs(_data(_session(), feedback=recorded), SPEC, feedback=True)


def test_bad_values_name_the_file_row_and_column():
    frame = _session()
    frame["action"] = frame["action"].astype(object)
    frame.loc[3, "action"] = "lots"
    with pytest.raises(DataFormatError, match=r"decisions.csv: row 4, column 'action': 'lots' is not a number"):
        experiment_to_logs(_data(frame), SPEC, feedback=True)
    frame = _session()
    frame.loc[1, "treatment"] = "XX"
    with pytest.raises(DataFormatError, match=r"row 2, column 'treatment': treatment 'XX' is not in game"):
        experiment_to_logs(_data(frame), SPEC, feedback=True)
    frame = pd.concat([_session(), _session().iloc[[1]]], ignore_index=True)
    with pytest.raises(DataFormatError, match="supplier 's1' has more than one row for round 1"):
        experiment_to_logs(_data(frame), SPEC, feedback=True)
    with pytest.raises(DataFormatError, match="finite game"):
        experiment_to_logs(_data(_session()), load_game("monotone"), feedback=True)


def test_cli_writes_logs_and_reports_counts(tmp_path, capsys):
    data = tmp_path / "decisions.csv"
    _session(rounds=5).to_csv(data, index=False)
    with pytest.raises(SystemExit) as e:
        main(["trust", "from-experiment", "--help"])
    assert e.value.code == 0 and "--allow-strangers" in capsys.readouterr().out
    assert main(["trust", "from-experiment", "--data", str(data), "--feedback", "yes",
                 "--out", str(tmp_path / "logs"), "--json", "--fidelity-scale", "50"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_events"] == 10 and summary["n_suppliers"] == 2 and summary["fidelity_scale"] == 50
    assert json.loads((tmp_path / "logs" / "schema.json").read_text())["fidelity_scale"] == 50


# --------------------------------------------------------------------------------------
# recovery on a lab-sized design (synthetic)


def _synthetic_partner_sessions(n_pairs=200, rounds=30, seed=5, eta_up=0.15, eta_down=0.35,
                                sd_capacity=8.0):
    """SYNTHETIC long-format decisions of partner sessions (LC-LU, feedback on): each
    manufacturer inflates her forecast by a personal amount; each supplier's trust follows
    the dynamic model (fidelity scale 200) from a Beta(mean 0.5, concentration 6) start, and
    she builds the trust-weighted capacity plus normal noise, rounded like the app."""
    rng = np.random.default_rng(seed)
    game = SPEC.game("LC-LU")
    lo, hi = game.message_range
    xi = np.round(rng.uniform(50, 250, (n_pairs, rounds)))
    inflation = rng.uniform(0, 90, n_pairs)[:, None] + 12 * rng.standard_normal((n_pairs, rounds))
    report = np.round(np.clip(xi + inflation, lo, hi))
    fidelity = 1 - np.minimum(1, np.abs(report - xi) / 200)
    alpha0 = rng.beta(3, 3, n_pairs)
    trust = simulate_path(alpha0, fidelity, np.ones_like(fidelity, bool), eta_up, eta_down)
    capacity = trust * (report + game.z_star) + (1 - trust) * game.babbling_capacity()
    capacity = np.round(np.clip(capacity + sd_capacity * rng.standard_normal(capacity.shape),
                                *game.capacity_range))
    rows = []
    for g in range(n_pairs):
        for t in range(rounds):
            pair = f"syn{g // 10}-r{t + 1}-g{g}"
            common = dict(session=f"syn{g // 10}", round=t + 1, state=xi[g, t], message=report[g, t],
                          pair=pair, treatment="LC-LU", timeout=0)
            rows.append(dict(common, subject=f"m{g}", role="sender", action=np.nan))
            rows.append(dict(common, subject=f"s{g}", role="receiver", action=capacity[g, t]))
    return pd.DataFrame(rows)


def test_rates_are_recovered_on_a_lab_sized_synthetic_design(tmp_path):
    """200 suppliers x 30 rounds (SYNTHETIC): eta_up and eta_down within their 95% intervals,
    and trust lost faster than gained is detected. (Over 40 seeds of this design the
    intervals covered the truth 95% and 90% of the time; docs/dynamics.md.)"""
    frame = _synthetic_partner_sessions()
    events, report = experiment_to_logs(_data(frame), SPEC, feedback=True)
    assert report.n_events == 6000 and report.n_decisions == 6000 and not report.excluded
    out = write_trust_logs(events, report, tmp_path / "logs")
    engine = LocalEngine(resolve_logs(out))
    try:
        fit = fit_trust(engine)
    finally:
        engine.close()
    assert fit.converged and fit.n_sellers == 200
    for name, true in (("eta_up", 0.15), ("eta_down", 0.35)):
        est, se = fit.estimates[name], fit.se[name]
        assert 0 < se < 0.1, (name, se)
        assert abs(est - true) < 1.96 * se, (name, est, se)
    assert fit.estimates["sd_action"] == pytest.approx(8.0, rel=0.1)
    assert fit.estimates["eta_down"] - fit.estimates["eta_up"] > 2 * np.hypot(fit.se["eta_up"], fit.se["eta_down"])


def test_oTree_per_app_export_records_matching_and_feedback(tmp_path):
    """oTree's per-app CSV (one row per participant and round) carries the session settings."""
    from cheaptalk.dynamics.experiment import read_experiment
    rows = []
    for r in (1, 2):
        for g, (man, sup) in enumerate((("m1", "s1"), ("m2", "s2")), start=1):
            for code, role, pid in ((man, "Manufacturer", 1), (sup, "Supplier", 2)):
                rows.append({"session.code": "S", "participant.code": code, "player.role": role,
                             "player.id_in_group": pid, "group.id_in_subsession": g,
                             "group.forecast": 100 + 10 * g, "group.report": 120 + 10 * g,
                             "group.capacity": 150, "group.report_is_default": 0,
                             "group.capacity_is_default": 0, "subsession.round_number": r,
                             "subsession.treatment": "LC-LU", "subsession.matching": "partners",
                             "subsession.feedback": int(r == 1), "subsession.played": 1})
    path = tmp_path / "forecast_sharing.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    data = read_experiment(path)
    assert data.layout == "per_app" and data.matching == {"S": "partners"}
    assert data.feedback == {("S", 1): True, ("S", 2): False}
    events, report = experiment_to_logs(data, SPEC)
    assert events.sort_values(["seller", "time"])["feedback"].tolist() == [1, 0, 1, 0]
    assert np.allclose(events["action"], 150 - Z_STAR)
    assert report.matching["S"] == "partners (session settings)"


def test_two_manufacturers_in_one_pair_is_an_error():
    frame = _session()
    extra = frame.iloc[[0]].assign(subject="m9")
    with pytest.raises(DataFormatError, match=r"row 13, column 'pair': pair 'S-r1-g1' has more than one manufacturer"):
        experiment_to_logs(_data(pd.concat([frame, extra], ignore_index=True)), SPEC, feedback=True)
