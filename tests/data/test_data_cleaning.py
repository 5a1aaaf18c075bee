"""Cleaning messy lab data: every unused row counted with its reason; nonsense is an error
naming file, row and column. Data here are synthetic."""

import json

import numpy as np
import pandas as pd
import pytest

from cheaptalk.data import DataFormatError, clean_decisions, read_decisions
from cheaptalk.games import load_game


def forecast_frame(n_subjects=3, n_rounds=6, treatment="LC-LU", seed=0):
    """A clean forecast-sharing session: senders report forecast + 10, receivers build report."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_subjects):
        for r in range(1, n_rounds + 1):
            xi = float(rng.uniform(60, 240))
            rows.append({"subject": f"s{i}", "role": "sender", "round": r, "state": xi,
                         "message": min(xi + 10, 250), "action": np.nan, "treatment": treatment})
            rows.append({"subject": f"r{i}", "role": "receiver", "round": r, "state": xi,
                         "message": min(xi + 10, 250), "action": xi, "treatment": treatment})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def forecast():
    return load_game("forecast-sharing")


def test_clean_data_passes_unchanged(forecast):
    frame = forecast_frame()
    clean, report = clean_decisions(frame, forecast)
    assert len(clean) == len(frame) and report.n_dropped == 0
    assert report.by_role == {"sender": {"rows": 18, "subjects": 3}, "receiver": {"rows": 18, "subjects": 3}}
    np.testing.assert_allclose(clean["message"], frame["message"])


def test_timeouts_and_repairs_are_counted(forecast):
    frame = forecast_frame()
    frame["timeout"] = 0
    frame.loc[0, "timeout"] = 1                          # flagged timeout (row 1)
    frame.loc[2, "message"] = np.nan                     # sender gave no report (row 3)
    frame.loc[4, "message"] = 0                          # report coded 0: timeout code (row 5)
    frame.loc[5, "action"] = np.nan                      # receiver gave no capacity (row 6)
    frame.loc[7, "action"] = 0                           # capacity 0 is legal: kept, counted (row 8)
    frame.loc[9, "action"] = 400                         # above max demand 270: set to 270 (row 10)
    clean, report = clean_decisions(frame, forecast, min_rounds=1)
    d = report.to_dict()
    assert d["dropped"] == {"timeout (flagged in the timeout column)": 1, "timeout (sender's message missing)": 1,
                            "timeout (receiver's action missing)": 1, "timeout (report coded 0)": 1}
    assert d["dropped_rows"]["timeout (report coded 0)"] == [5]
    assert report.n_used == len(frame) - 4 == len(clean)
    assert any("capacity 0 kept" in k for k in d["repaired"])
    assert d["repaired_rows"]["capacity above the largest possible demand, set to it"] == [10]
    assert clean["action"].max() == pytest.approx(270.0)
    json.dumps(d)
    assert "timeout (report coded 0)" in str(report)


def test_subjects_with_few_rounds_are_dropped(forecast):
    frame = forecast_frame(n_rounds=6)
    frame = frame[~((frame.subject == "s1") & (frame["round"] > 2))]      # s1 played 2 rounds
    clean, report = clean_decisions(frame, forecast, min_rounds=5)
    assert "s1" not in set(clean.subject)
    assert report.to_dict()["dropped"] == {"subject with fewer than 5 usable decisions in the role": 2}


@pytest.mark.parametrize("column, value, message", [
    ("role", "buyer", "unknown role 'buyer'"),
    ("message", 300.0, "outside the message space [50, 250]"),
    ("action", "lots", "'lots' is not a number"),
    ("action", -5.0, "capacity -5 is negative"),
    ("state", 20.0, "forecast 20 is outside its support"),
    ("round", 2.5, "not a whole number"),
    ("treatment", "XX", "treatment 'XX' is not in game 'forecast-sharing'"),
])
def test_nonsense_names_file_row_and_column(forecast, column, value, message):
    frame = forecast_frame().astype({column: object})
    frame.loc[7, column] = value                         # data row 8 (a receiver row)
    with pytest.raises(DataFormatError) as err:
        clean_decisions(frame, forecast, source="lab.csv")
    text = str(err.value)
    assert text.startswith("lab.csv: row 8, column '" + column + "'") and message in text


def test_duplicates_missing_treatment_and_files(forecast, tmp_path):
    frame = forecast_frame()
    dup = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    with pytest.raises(DataFormatError, match=r"row 37, column 'round': duplicated decision.*rows \[4, 37\]"):
        clean_decisions(dup, forecast, source="x.csv")
    with pytest.raises(DataFormatError, match="no 'treatment' column"):
        clean_decisions(frame.drop(columns="treatment"), forecast)
    path = tmp_path / "session.csv"
    bad = frame.copy()
    bad.loc[11, "role"] = "observer"
    bad.to_csv(path, index=False)
    with pytest.raises(DataFormatError, match=r"session.csv: row 12, column 'role'"):
        clean_decisions(read_decisions(path), forecast)


def test_finite_game_actions_off_the_grid(tmp_path):
    game_file = tmp_path / "guess.toml"
    game_file.write_text('name = "guess"\nkind = "finite"\n[states]\nvalues = [1, 4, 7]\n'
                         '[actions]\ngrid = { start = 1, stop = 7, step = 1 }\n'
                         '[payoffs]\nsender = "a"\nreceiver = "-(a - s) ** 2"\n')
    game = load_game(game_file)
    rows = [{"subject": "S", "role": "sender", "round": r, "state": 4, "message": 7, "action": np.nan}
            for r in range(1, 4)]
    guesses = [4.0, 4.3, 4.5, 6.8, 0.0]
    rows += [{"subject": "R", "role": "receiver", "round": r + 1, "state": 4, "message": 7, "action": a}
             for r, a in enumerate(guesses)]
    clean, report = clean_decisions(pd.DataFrame(rows), game, min_rounds=1)
    receivers = clean[clean.role == "receiver"]
    assert receivers["action"].tolist() == [4.0, 4.0, 7.0]          # 4.3 -> 4, 6.8 -> 7 (snapped)
    d = report.to_dict()
    assert d["repaired"] == {"action off the grid, snapped to the nearest grid point (within half a step)": 2}
    assert d["dropped"] == {"timeout (action coded 0)": 1,
                            "action half way between two grid points (ambiguous)": 1}
    far = pd.DataFrame(rows[:3] + [{**rows[3], "action": 8.0}])
    with pytest.raises(DataFormatError, match="row 4, column 'action': 8 is outside the action space"):
        clean_decisions(far, game, min_rounds=1)
    wrong_message = pd.DataFrame(rows[:3] + [{**rows[3], "message": 5}])
    with pytest.raises(DataFormatError, match=r"row 4, column 'message': 5 is not a message"):
        clean_decisions(wrong_message, game, min_rounds=1)
