"""Designing an experiment before it is run: expected information by treatment (checked
against the mutual information computed by hand from the strategy tables) and power by
simulation of the comparison a user runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from cheaptalk.design import candidate, decision_information_exact, parameter_draws, treatment_information
from cheaptalk.games.loader import game_from_dict
from cheaptalk.models import get_model

# a 2x2 game: the sender wants the high action whatever the state (conflict), or the right one
# (aligned); the receiver wants to match the state
TWO_BY_TWO = {"name": "two-by-two", "kind": "finite", "states": {"values": [0, 1]}, "actions": {"values": [0, 1]},
              "payoffs": {"sender": "a", "receiver": "1 - abs(a - s)"},
              "treatments": {"conflict": {}, "skewed": {"states": {"prior": [0.8, 0.2]}},
                             "aligned": {"payoffs": {"sender": "1 - abs(a - s)"}}}}
GAME = game_from_dict(TWO_BY_TWO, "two-by-two")


def _candidates(*families):
    return [candidate(f"{f}/logit", get_model(f, GAME)) for f in families]


def _mutual_information_by_hand(strategies, prior, pi):
    """I(model; message) for one sender decision: sum_s P(s) sum_j pi_j sum_m p_j log(p_j / pbar)."""
    total = 0.0
    for s, ps in enumerate(prior):
        mix = [sum(pi[j] * strategies[j][s][m] for j in range(len(pi))) for m in range(len(strategies[0][s]))]
        for j in range(len(pi)):
            for m, p in enumerate(strategies[j][s]):
                if p > 0:
                    total += ps * pi[j] * p * math.log(p / mix[m])
    return total


def test_the_exact_information_equals_a_mutual_information_by_hand():
    cands = _candidates("levelk", "trust", "equilibrium")
    for t in ("conflict", "skewed"):
        strategies = []
        for c in cands:
            sig, _, ws, _ = c.model._numpy_behaviour(c.model.defaults(), t)
            strategies.append(np.einsum("t,tsm->sm", ws, sig).tolist())
        by_hand = _mutual_information_by_hand(strategies, GAME.game(t).prior.tolist(), [1 / 3] * 3)
        assert decision_information_exact(cands, t) == pytest.approx(by_hand, rel=1e-12)


def test_the_simulated_information_of_one_decision_matches_the_exact_one():
    cands = _candidates("levelk", "trust", "equilibrium")
    report = treatment_information(cands, ["conflict", "skewed"], rounds=1, subjects=2000, seed=3)
    t = report.table
    for treatment in ("conflict", "skewed"):
        row = t[(t["treatment"] == treatment) & (t["role"] == "sender") & (t["unit"] == "decision")].iloc[0]
        exact = decision_information_exact(cands, treatment)
        assert abs(row["information"] - exact) < 3.5 * row["se"], (treatment, row["information"], exact, row["se"])
        assert 0 < row["information"] < math.log(3)


def test_models_that_predict_the_same_choices_carry_no_information():
    same = [candidate("a/logit", get_model("levelk", GAME)), candidate("b/logit", get_model("levelk", GAME))]
    report = treatment_information(same, rounds=4, subjects=30, seed=1)
    assert np.abs(report.table["information"]).max() < 1e-12
    assert np.abs(report.divergences["kl"]).max() < 1e-12
    # where the senders' interests align with the receivers', trust and level-k senders both tell
    # the truth (up to the same logit noise): their messages carry almost no information
    cands = _candidates("trust", "levelk")
    assert 0 <= decision_information_exact(cands, "aligned") < 1e-5
    assert decision_information_exact(cands, "conflict") > 1e-3


def test_information_grows_with_the_panel_and_divergences_are_positive():
    cands = _candidates("trust", "levelk")
    short = treatment_information(cands, ["conflict"], rounds=1, subjects=400, seed=2).ranking()
    long = treatment_information(cands, ["conflict"], rounds=8, subjects=400, seed=2)
    assert long.ranking()["information"].iloc[0] > short["information"].iloc[0] + 2 * long.ranking()["se"].iloc[0]
    kl = long.divergences[long.divergences["unit"] == "panel"]
    assert (kl["kl"] > 0).all() and set(kl["true"]) == {"trust/logit", "levelk/logit"}


def test_parameter_draws_stay_inside_the_bounds_and_centre_on_the_estimate():
    model = get_model("levelk", GAME)
    names = model.param_names
    estimate = model.defaults()
    cov = np.diag([0.05 ** 2] * len(names))
    draws = parameter_draws(model, estimate, cov, names, n=400, seed=1)
    bounds = {p.name: (p.lower, p.upper) for p in model.parameters()}
    for d in draws:
        assert all(bounds[k][0] <= d[k] <= bounds[k][1] for k in names)
    mean = {k: np.mean([d[k] for d in draws]) for k in names}
    assert all(abs(mean[k] - estimate[k]) < 0.02 for k in names if bounds[k][1] - bounds[k][0] > 1)


def test_power_rises_with_size_and_is_higher_in_the_treatment_ranked_best():
    from cheaptalk.design.power import power_by_simulation
    cands = _candidates("trust", "levelk")
    ranking = treatment_information(cands, ["conflict", "aligned"], rounds=5, subjects=300, seed=1).ranking()
    best, worst = ranking["treatment"].iloc[0], ranking["treatment"].iloc[-1]
    assert (best, worst) == ("conflict", "aligned")
    in_best = power_by_simulation(cands, [6, 40], [best], rounds=5, simulations=6, seed=1, workers=2)
    in_worst = power_by_simulation(cands, [40], [worst], rounds=5, simulations=6, seed=1, workers=2)
    for power in (in_best, in_worst):       # every simulation has one outcome
        assert power.table.groupby(["true", "subjects"])["share"].sum().round(12).eq(1).all()
    p = in_best.power()
    assert (p.loc[40] >= p.loc[6]).all() and p.loc[40].mean() > p.loc[6].mean()
    assert p.loc[40].mean() > in_worst.power().loc[40].mean()
    assert in_best.smallest_size(0.01) in (6, 40)


def test_the_design_command_writes_its_json_and_refuses_bad_input(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('name = "g"\nkind = "finite"\n[states]\nvalues = [0, 1]\n[actions]\nvalues = [0, 1]\n'
                    '[payoffs]\nsender = "a"\nreceiver = "1 - abs(a - s)"\n[treatments.conflict]\n'
                    '[treatments.aligned]\npayoffs = { sender = "1 - abs(a - s)" }\n')
    run = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "design", "--game", str(path), "--rounds", "3",
                          "--mc-subjects", "40", "--json", "-", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["models"] == ["trust/logit", "levelk/logit"] and doc["units"] == "nats"
    assert {r["treatment"] for r in doc["ranking"]} == {"conflict", "aligned"}
    assert doc["recommended"]["treatments"] == [doc["ranking"][0]["treatment"]]
    assert (tmp_path / "out" / "information.png").stat().st_size > 10_000
    for argv, message in ((["--treatments", "nope"], "no treatment 'nope'"),
                          (["--models", "trust"], "at least two models"),
                          (["--subjects", "1,x"], "--subjects"),
                          (["--fit", str(tmp_path / "missing.json")], "no such file"),
                          (["--option", "errors=mixed"], "use --errors")):
        bad = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "design", "--game", str(path), *argv],
                             capture_output=True, text=True, timeout=600)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_both_roles_are_scored_in_the_forecast_sharing_game():
    from cheaptalk.games import load_game
    game = load_game("forecast-sharing")
    cands = [candidate(f"{f}/logit", get_model(f, game)) for f in ("trust", "levelk")]
    report = treatment_information(cands, ["HC-HU"], rounds=5, subjects=100, seed=1)
    panel = report.table[report.table["unit"] == "panel"].set_index("role")
    assert set(panel.index) == {"sender", "receiver"}
    assert (panel["information"] > 2 * panel["se"]).all() and (panel["information"] < math.log(2)).all()
