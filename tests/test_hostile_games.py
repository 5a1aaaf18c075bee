"""Hostile and broken game files: nothing rewrites a game, nothing ends in a traceback, sizes
are bounded before anything is allocated."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cheaptalk.games import load_game
from cheaptalk.games.formulas import ALLOWED_FUNCTIONS, Formula, FormulaError
from cheaptalk.games.loader import GameFileError

FINITE = """
name = "g"
kind = "finite"
[states]
values = [1, 3, 5, 7, 9]
{prior}
[messages]
meanings = [1, 3, 5, 7, 9]
{labels}
[actions]
{actions}
[payoffs]
sender = "{sender}"
receiver = "110 - 10 * abs(a - s) ** 1.4"
{extra}
"""


def finite(tmp_path, sender="110 - 10 * abs(a - s - 1) ** 1.4", prior="", labels="",
           actions="grid = { start = 1, stop = 9, step = 0.5 }", extra=""):
    path = tmp_path / "g.toml"
    path.write_text(FINITE.format(sender=sender, prior=prior, labels=labels, actions=actions, extra=extra))
    return path


@pytest.mark.parametrize("name", sorted(ALLOWED_FUNCTIONS))
def test_no_allowed_function_can_write_into_its_arguments(name):
    s = np.array([1.0, 2.0, 3.0])
    a = np.array([0.5, 0.25, 4.0])
    before = (s.copy(), a.copy())
    for args in ("s, s", "a, a", "s, a, s", "s, a, a, a", "a, s, a, s, a"):
        try:
            Formula(f"{name}({args})", variables={"s", "a"})(s=s, a=a)
        except FormulaError:
            pass
    assert np.array_equal(s, before[0]) and np.array_equal(a, before[1])


def test_a_payoff_formula_cannot_rewrite_the_action_grid_or_the_states(tmp_path):
    for sender in ("110 - 10*abs(a-s-1)**1.4 + 0*exp(a, a)", "110 - 10*abs(a - sqrt(s, s))"):
        with pytest.raises(FormulaError, match="takes 1 argument"):
            load_game(finite(tmp_path, sender=sender))


@pytest.mark.parametrize("sender, match", [
    ("+".join(["a"] * 2000), "too long|too deep"),
    ("-" * 3000 + "a", "too long|too deep"),
    ("1" * 400 + " * a", "too large"),
    ("abs(" * 100 + "a" + ")" * 100, "too deep"),
])
def test_huge_or_deep_formulas_are_refused(tmp_path, sender, match):
    with pytest.raises(FormulaError, match=match):
        load_game(finite(tmp_path, sender=sender))


@pytest.mark.parametrize("kwargs, match", [
    ({"actions": "grid = { start = 1, stop = 9, step = 0 }"}, "step must be positive"),
    ({"actions": "grid = { start = 1, stop = inf, step = 1 }"}, "finite"),
    ({"actions": "values = []"}, "2 actions"),
    ({"actions": "values = [1, 2, 2, 3]"}, "distinct"),
    ({"actions": "grid = { start = 1, stop = 9, step = 1e-7 }"}, "limit"),
    ({"prior": "prior = [0, 0, 1, 0, 0]"}, "positive"),
    ({"prior": "prior = [0.2, 0.2, 0.2, 0.2, inf]"}, "prior"),
    ({"labels": "labels = ['a', 'b']"}, "labels"),
    ({"extra": "[constants]\nb = true"}, "number"),
    ({"extra": "[treatments]\nA = 5"}, "table"),
    ({"sender": "1e308 * a * a"}, "too large"),
    ({"sender": "exp(1000 * a)"}, "non-finite"),
])
def test_meaningless_games_are_refused_with_the_entry_named(tmp_path, kwargs, match):
    with pytest.raises((GameFileError, FormulaError), match=match):
        load_game(finite(tmp_path, **kwargs))


def test_empty_meanings_and_states_and_folders_are_refused(tmp_path):
    path = finite(tmp_path)
    path.write_text(path.read_text().replace("meanings = [1, 3, 5, 7, 9]", "meanings = []"))
    with pytest.raises(GameFileError, match="message"):
        load_game(path)
    with pytest.raises(GameFileError, match="folder"):
        load_game(tmp_path)
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(GameFileError):
        load_game(deep)


def test_a_game_too_large_is_refused_before_anything_is_allocated(tmp_path):
    states = list(range(1, 3001))
    path = tmp_path / "big.toml"
    path.write_text(FINITE.format(sender="a - s", prior="", labels="", extra="",
                                  actions="grid = { start = 0, stop = 10000, step = 1 }")
                    .replace("values = [1, 3, 5, 7, 9]", f"values = {states}", 1)
                    .replace("meanings = [1, 3, 5, 7, 9]", ""))
    with pytest.raises(GameFileError, match="limit of 2,000,000 .*CHEAPTALK_MAX_GAME_CELLS"):
        load_game(path)


def test_forecast_game_with_infinite_bounds_is_refused(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('kind = "forecast"\n[forecast]\nlow = 0\nhigh = 1e309\n')
    with pytest.raises(GameFileError, match="finite"):
        load_game(path)


def test_the_cli_refuses_broken_games_in_one_line(tmp_path):
    path = finite(tmp_path, actions="grid = { start = 1, stop = 9, step = 0 }")
    for args in (["predict", "--model", "levelk", "--game", str(path)],
                 ["predict", "--model", "levelk", "--game", str(tmp_path)]):
        run = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", *args], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


FORECAST = 'kind = "forecast"\n[parameters]\nr = 1.0\nw = 0.75\nc = 0.25\n[treatments.A]\nparameters = { c = 0.5 }\n'


@pytest.mark.parametrize("text, match", [
    (FORECAST + "[messages]\nhigh = inf\n", r"\[messages\]: high must be a finite number"),
    (FORECAST + "[treatments.B]\nkind = 'finite'\n", r"\[treatments.B\]: unknown key 'kind'"),
    (FORECAST + "[nosie]\nhalf_width = 5\n", "unknown key 'nosie'; allowed here: name, kind, treatments, description"),
    (FORECAST.replace("c = 0.25", "c = [0.25]"), r"\[parameters\]: c must be a number, got \[0.25\]"),
    (FORECAST.replace("parameters = { c = 0.5 }", "parameters = 3"), r"\[treatments.A\] parameters: must be a table"),
])
def test_forecast_games_refuse_unknown_keys_and_non_numbers(tmp_path, text, match):
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(GameFileError, match=match):
        load_game(path)


# each of these once surfaced Python's own words ('float division by zero', 'setting an array
# element with a sequence', "'int' object is not iterable", ...)
PYTHON_WORDS = ("object", "iterable", "division", "sequence", "attribute", "float()", "unhashable", "instances of")


@pytest.mark.parametrize("change, match", [
    (lambda t: t.replace("[actions]\n", "[actions]\ntreatments = 5\n"), r"\[actions\]: unknown key 'treatments'"),
    (lambda t: t.replace("values = [1, 3, 5, 7, 9]\n", "values = []\n", 1), "at least two states"),
    (lambda t: t.replace('receiver = "110 - 10 * abs(a - s) ** 1.4"', "receiver = [[1], [2, 3]]"),
     "rectangular table of finite numbers"),
    (lambda t: t.replace("[states]\nvalues = [1, 3, 5, 7, 9]\n", "states = 3\n"), "states: must be a table"),
    (lambda t: "messages = 'x'\n" + t.replace("[messages]\nmeanings = [1, 3, 5, 7, 9]\n", ""),
     "messages: must be a table"),
    (lambda t: "actions = 2\n" + t.replace("[actions]\ngrid = { start = 1, stop = 9, step = 0.5 }\n", ""),
     "actions: must be a table"),
    (lambda t: t + "[treatments.A]\nconstants = 4\n", r"\[treatments.A\] constants: must be a table"),
])
def test_finite_game_messages_name_the_entry_in_words(tmp_path, change, match):
    path = finite(tmp_path)
    path.write_text(change(path.read_text()))
    with pytest.raises(GameFileError, match=match) as caught:
        load_game(path)
    assert not any(word in str(caught.value) for word in PYTHON_WORDS), caught.value


def test_a_data_dir_that_is_a_file_is_blamed_not_the_download(tmp_path, monkeypatch):
    from cheaptalk.datasets.public import DatasetError, fetch_dataset
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.delenv("CHEAPTALK_DATA_MIRROR", raising=False)
    monkeypatch.setenv("CHEAPTALK_DATA_DIR", str(afile / "sub"))
    with pytest.raises(DatasetError, match=r"CHEAPTALK_DATA_DIR .*afile is a file, not a folder") as caught:
        fetch_dataset("bullshitter")
    assert "download" not in str(caught.value)


def test_data_errors_show_values_not_numpy_reprs(tmp_path):
    import pandas as pd
    from cheaptalk.data import DataFormatError, clean_decisions, read_decisions
    frame = pd.DataFrame({"subject": ["a", "b"], "role": ["sender", "receiver"], "round": [1.0, 1.5],
                          "state": [1.0, 1.0], "message": [1.0, 1.0], "action": [float("nan"), 3.0]})
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataFormatError) as caught:
        clean_decisions(read_decisions(tmp_path / "d.parquet"), load_game("crawford-sobel"))
    assert "1.5 is not a whole number" in str(caught.value) and "np." not in str(caught.value)
