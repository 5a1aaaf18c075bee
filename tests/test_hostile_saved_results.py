"""Saved results are read through their JSON Schema: a damaged or hostile fit or comparison
JSON gets one line with exit 2 from every reader (predict and simulate --fit, table, trust
whatif --fit, load_result), in bounded time and memory, and never opens other paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cheaptalk.cli.main import main
from cheaptalk.errors import InputError
from cheaptalk.estimation import load_result
from cheaptalk.games import load_game
from cheaptalk.models import get_model

GAME = "monotone"


def _fit() -> dict:
    model = get_model("levelk", load_game(GAME))
    return {"schema_version": 2, "result": "fit", "model": "levelk", "game": GAME, "options": {},
            "loglik": -10.0, "n_params": len(model.param_names), "n_obs": 20, "n_subjects": 4, "converged": True,
            "params": {n: {"estimate": v, "se": 0.1} for n, v in model.defaults().items()}}


def _trust_fit() -> dict:
    values = {"eta_up": 0.2, "eta_down": 0.3, "initial_trust_mean": 0.5, "initial_trust_concentration": 4.0,
              "follow_slope": 1.5}
    return {"schema_version": 2, "result": "fit", "model": "trust-dynamics-binary", "rule": "asymmetric",
            "adoption": "binary", "loglik": -10.0, "n_params": 5, "n_obs": 20, "n_subjects": 4, "converged": True,
            "params": {n: {"estimate": v, "se": 0.1} for n, v in values.items()}}


def _write(tmp_path, doc, name="fit.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def _one_line(capsys, code, message):
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err


def _edit(doc, change):
    doc = json.loads(json.dumps(doc))
    change(doc)
    return doc


def _first(doc):
    return next(iter(doc["params"].values()))


HOSTILE = [
    (lambda d: _first(d).update(estimate="0.3"), "estimate must be number or null"),
    (lambda d: d.update(covariance=5), "covariance must be object or null"),
    (lambda d: d.update(covariance={"names": ["a"], "matrix": [[1.0, 2.0]]}), "covariance.matrix is not 1 x 1"),
    (lambda d: d["params"].pop(next(iter(d["params"]))), "its parameters"),
    (lambda d: d.update(model=7), "model must be string"),
    (lambda d: d.update(n_obs=-3), "n_obs must be bigger than or equal to 0"),
    (lambda d: d.update(options={"max_level": {"a": 1}}), "options.max_level"),
    (lambda d: d.update(schema_version=99), "schema version 99, newer than"),
    (lambda d: d.update(result="something"), "'result' is 'something'"),
    (lambda d: _first(d).update(se=-1.0), "se must be bigger than or equal to 0"),
]


@pytest.mark.parametrize("change, message", HOSTILE)
def test_predict_refuses_a_damaged_fit_in_one_line(tmp_path, capsys, change, message):
    path = _write(tmp_path, _edit(_fit(), change))
    _one_line(capsys, main(["predict", "--fit", str(path), "--json"]), message)


@pytest.mark.parametrize("change, message", [h for h in HOSTILE if "its parameters" not in h[1]])
def test_load_result_and_table_refuse_a_damaged_fit(tmp_path, capsys, change, message):
    path = _write(tmp_path, _edit(_fit(), change))
    with pytest.raises(InputError, match=str(path)):
        load_result(path)
    _one_line(capsys, main(["table", str(path)]), message)


@pytest.mark.parametrize("text, message", [
    ('{"model": "levelk", "params": {"a": {"estimate": ' + "7" * 5000 + "}}}", "a whole number of 5000 digits"),
    ('{"model": "levelk", "params": {"a": {"estimate": 1e400}}}', "beyond the range of a double"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"models": [1, "x"]}', "models[0] must be object"),
    ('{"models": []}', "models must contain at least 1 items"),
    ("[1, 2]", "neither a fit JSON nor a comparison JSON"),
    ("", "not a JSON file"),
])
def test_malformed_documents_get_one_line(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    for argv in (["predict", "--fit", str(path), "--json"], ["table", str(path)]):
        _one_line(capsys, main(argv), message)


def test_devices_and_other_paths_are_not_read(tmp_path, capsys):
    _one_line(capsys, main(["predict", "--fit", "/dev/zero", "--json"]), "not a regular file")
    _one_line(capsys, main(["table", "/dev/zero"]), "not a regular file")
    _one_line(capsys, main(["predict", "--game", "/dev/zero", "--model", "levelk", "--json"]), "not a regular file")
    for game in ("/dev/zero", "/etc/passwd", "../../secret"):
        path = _write(tmp_path, _edit(_fit(), lambda d: d.update(game=game)))
        _one_line(capsys, main(["predict", "--fit", str(path), "--json"]), "give its game file with --game FILE")
    # a game file that is a regular .toml file is used, and --game always wins
    from importlib import resources
    toml = tmp_path / "mine.toml"
    toml.write_text(resources.files("cheaptalk.games.presets").joinpath(f"{GAME}.toml").read_text())
    assert main(["predict", "--fit", str(_write(tmp_path, _edit(_fit(), lambda d: d.update(game=str(toml))))),
                 "--json"]) == 0
    path = _write(tmp_path, _edit(_fit(), lambda d: d.update(game="not-a-preset")))
    assert main(["predict", "--fit", str(path), "--game", GAME, "--json"]) == 0
    capsys.readouterr()


def test_a_valid_fit_still_predicts_and_nan_estimates_ask_for_a_value(tmp_path, capsys):
    assert main(["predict", "--fit", str(_write(tmp_path, _fit())), "--json"]) == 0
    capsys.readouterr()
    name = next(iter(_fit()["params"]))
    text = json.dumps(_fit()).replace('"estimate": ' + json.dumps(_fit()["params"][name]["estimate"]),
                                      '"estimate": NaN', 1)
    _one_line(capsys, main(["predict", "--fit", str(_write(tmp_path, text)), "--json"]),
              f"did not identify {name}")


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(schema_version=99), "newer than this version"),
    (lambda d: d["params"]["eta_up"].update(estimate=-5.0), "eta_up = -5.0 is outside its range (between 0 and 1)"),
    (lambda d: d["params"]["initial_trust_concentration"].update(estimate=0.0), "above 0"),
    (lambda d: d["params"]["eta_up"].update(estimate=None), "eta_up not identified"),
    (lambda d: d.update(rule="telepathy"), "rule 'telepathy'"),
    (lambda d: d["params"].pop("follow_slope"), "are not those of rule asymmetric"),
    (lambda d: d.update(diagnostics={"quadrature": {"nodes": 10 ** 6}}), "nodes must be smaller than or equal"),
])
def test_whatif_refuses_a_damaged_trust_fit_before_replaying(tmp_path, capsys, change, message):
    path = _write(tmp_path, _edit(_trust_fit(), change))
    logs = tmp_path / "logs"          # never reached: the fit is refused first
    logs.mkdir()
    _one_line(capsys, main(["trust", "whatif", "--fit", str(path), "--logs", str(logs)]), message)


def test_whatif_reads_nan_as_not_identified(tmp_path, capsys):
    text = json.dumps(_trust_fit()).replace('"estimate": 0.2', '"estimate": NaN', 1)
    logs = tmp_path / "logs"
    logs.mkdir()
    _one_line(capsys, main(["trust", "whatif", "--fit", str(_write(tmp_path, text)), "--logs", str(logs)]),
              "eta_up not identified")
