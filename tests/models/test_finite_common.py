"""What every finite-game model shares: simulation, prediction tables, data decoding."""

import tomllib

import numpy as np
import pandas as pd
import pytest

from cheaptalk.data import read_decisions, write_decisions
from cheaptalk.games import game_from_dict, load_game
from cheaptalk.models import get_model
from cheaptalk.models.finite_common import DataValueError
from cheaptalk.models.likelihood import decision_loglik, total_loglik, type_posteriors

TWO_TREATMENTS = """
name = "bias-treatments"
kind = "finite"
[constants]
b = 1.0
[states]
values = [1, 3, 5, 7, 9]
[actions]
grid = { start = 1, stop = 9, step = 1 }
[payoffs]
sender = "110 - 10 * abs(a - s - b) ** 1.4"
receiver = "110 - 10 * abs(a - s) ** 1.4"
[treatments.low-bias]
constants = { b = 0.5 }
[treatments.high-bias]
constants = { b = 3.0 }
"""

MODELS = {
    "equilibrium": {},
    "qre": {"precision_sender": 4.0, "precision_receiver": 6.0},
    "levelk": {"sender_level1_share": 0.7},
    "ch": {"tau_sender": 1.2, "tau_receiver": 2.0},
    "trust": {"trust_mean": 0.7},
}


def _clustered_se(frame, value, by):
    """Standard error of a cell mean allowing full correlation within subject (conservative)."""
    sd = frame[value].std(ddof=1)
    return sd / np.sqrt(frame["subject"].nunique()) if sd > 0 else 0.0


@pytest.mark.parametrize("name", list(MODELS))
def test_simulated_data_reproduce_predicted_conditional_means(name):
    spec = game_from_dict(tomllib.loads(TWO_TREATMENTS))
    model = get_model(name, spec)
    pred = model.predict(MODELS[name])
    data = model.simulate(MODELS[name], n_subjects=150, n_rounds=12, seed=3)
    assert data.attrs["synthetic"] is True
    senders = data[data["role"] == "sender"]
    receivers = data[data["role"] == "receiver"]
    checked = 0
    for (treatment, state), cell in senders.groupby(["treatment", "state"]):
        row = pred.tables["mean_message"].query("treatment == @treatment and state == @state")
        se = _clustered_se(cell, "message", "subject")
        assert abs(cell["message"].mean() - row["mean_message"].item()) <= 4.5 * se + 1e-9
        checked += 1
    for (treatment, message), cell in receivers.groupby(["treatment", "message"]):
        if len(cell) < 30:
            continue
        row = pred.tables["mean_action"].query("treatment == @treatment and message == @message")
        se = _clustered_se(cell, "action", "subject")
        assert abs(cell["action"].mean() - row["mean_action"].item()) <= 4.5 * se + 1e-9
        checked += 1
    assert checked >= 12


def test_simulated_long_format(tmp_path):
    model = get_model("trust", load_game("crawford-sobel"))
    data = model.simulate(None, n_subjects=7, n_rounds=3, seed=1)
    assert list(data.columns) == ["subject", "role", "round", "state", "message", "action", "session", "pair",
                                  "treatment"]
    assert len(data) == 2 * 7 * 3
    senders, receivers = data[data["role"] == "sender"], data[data["role"] == "receiver"]
    assert senders["action"].isna().all() and receivers["action"].notna().all()
    game = load_game("crawford-sobel").game()
    assert set(senders["message"]) <= set(game.message_values) and set(receivers["action"]) <= set(game.actions)
    # each round every sender meets exactly one receiver, who saw her message and state
    merged = senders.merge(receivers, on=["round", "pair"], suffixes=("_s", "_r"))
    assert len(merged) == 21
    assert (merged["message_s"] == merged["message_r"]).all() and (merged["state_s"] == merged["state_r"]).all()
    assert merged.groupby("round")["subject_r"].nunique().eq(7).all()
    # types are kept across rounds; the file round-trips and gives the same likelihood
    path = write_decisions(data, tmp_path / "sim.csv")
    back = read_decisions(path)
    theta = model.to_vector()
    assert float(total_loglik(model, theta, model.prepare(back))) == pytest.approx(
        float(total_loglik(model, theta, model.prepare(data))), rel=1e-12)


def test_components_shapes_and_posteriors():
    spec = game_from_dict(tomllib.loads(TWO_TREATMENTS))
    model = get_model("levelk", spec)
    data = model.simulate({"sender_level1_share": 0.5, "precision_sender": 40.0}, 40, 15, seed=4)
    prep = model.prepare(data)
    theta = model.to_vector({"sender_level1_share": 0.5, "precision_sender": 40.0})
    comps = model.components(theta, prep)
    assert comps["sender"].logf.shape == (prep.roles["sender"].n_decisions, 3)
    assert comps["receiver"].logf.shape == (prep.roles["receiver"].n_decisions, 2)
    per_decision = decision_loglik(model, theta, prep)
    assert np.all(np.asarray(per_decision["sender"]) <= 0)
    # type posteriors classify senders: truthful level-0 senders are told apart from inflaters
    post = type_posteriors(model, theta, prep)["sender"]
    truth = data.attrs["true_types"]
    rd = prep.roles["sender"]
    first = pd.DataFrame({"code": rd.subject_codes, "key": rd.frame["treatment"] + "/" + rd.frame["subject"]})
    key_of = first.drop_duplicates("code").set_index("code")["key"]
    true_type = np.array([truth[key_of[c]] for c in range(rd.n_subjects)])
    told_apart = (post.argmax(1) == 0) == (true_type == 0)
    # with bias 0.5 the level-1 sender is truthful too; with bias 3 she inflates
    high = np.array([key_of[c].startswith("high-bias/") for c in range(rd.n_subjects)])
    assert told_apart[high].mean() > 0.9
    assert model.type_attributes()["sender"]["level"].tolist() == [0, 1, 3]


def test_bad_values_name_row_and_column():
    model = get_model("equilibrium", load_game("crawford-sobel"))
    data = model.simulate(None, 3, 2, seed=0)
    bad = data.copy()
    bad.loc[4, "message"] = 4.0
    with pytest.raises(DataValueError, match=r"row 5, column 'message': 4\.0 is not a message"):
        model.prepare(bad)
    bad = data.copy()
    bad["treatment"] = "nope"
    with pytest.raises(DataValueError, match="column 'treatment'"):
        model.prepare(bad)
    two = get_model("equilibrium", game_from_dict(tomllib.loads(TWO_TREATMENTS)))
    with pytest.raises(DataValueError, match="no 'treatment' column"):
        two.prepare(data.drop(columns=["treatment"]))


def test_welfare_uses_the_informed_receivers_action_as_first_best():
    spec = game_from_dict(tomllib.loads(TWO_TREATMENTS))
    pred = get_model("equilibrium", spec).predict({"precision_sender": 300, "precision_receiver": 300})
    low, high = pred.summary["low-bias"], pred.summary["high-bias"]
    # first best: action = state, receiver earns 110 and the sender 110 - 10 b^1.4
    assert low["first_best_receiver_payoff"] == pytest.approx(110.0)
    assert low["first_best_sender_payoff"] == pytest.approx(110 - 10 * 0.5 ** 1.4)
    assert high["first_best_sender_payoff"] == pytest.approx(110 - 10 * 3.0 ** 1.4)
    # more bias, less information in equilibrium, lower efficiency
    assert low["efficiency"] > high["efficiency"]
    assert set(pred.tables["mean_action"]["treatment"]) == {"low-bias", "high-bias"}
