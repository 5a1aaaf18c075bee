"""The fit and compare commands end to end: real files, real report (synthetic data)."""

import json

import pytest

from cheaptalk.cli.main import main
from cheaptalk.games import load_game
from cheaptalk.models import get_model


@pytest.fixture(autouse=True)
def no_disk_cache(monkeypatch):
    monkeypatch.setenv("CHEAPTALK_JAX_CACHE", "off")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "session.csv"
    get_model("levelk", load_game("forecast-sharing")).simulate(None, 5, 12, seed=6).to_csv(path, index=False)
    return path


def test_fit_writes_the_fit_json(data_file, tmp_path, capsys):
    out = tmp_path / "fit.json"
    subjects = tmp_path / "subjects.csv"
    assert main(["fit", "--model", "levelk", "--data", str(data_file), "--json", str(out), "--starts", "1",
                 "--subjects", str(subjects), "--quiet"]) == 0
    fit = json.loads(out.read_text())
    assert {"model", "loglik", "n_params", "n_obs", "n_subjects", "aic", "bic", "converged", "params"} <= set(fit)
    assert list(fit["params"]) == ["sender_level1_share", "receiver_level2_share", "sd_report", "sd_capacity"]
    assert fit["n_obs"] == 480 and fit["cleaning"]["used"] == 480
    assert "level" in subjects.read_text()
    printed = capsys.readouterr().out
    assert "Maximum likelihood: levelk" in printed and "480 used" in printed


def test_compare_writes_json_and_a_self_contained_report(data_file, tmp_path):
    out, report = tmp_path / "compare.json", tmp_path / "report"
    assert main(["compare", "--data", str(data_file), "--models", "equilibrium,levelk", "--folds", "2",
                 "--errors", "logit", "--json", str(out), "--report", str(report), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["data"] == str(data_file) and result["best"] == "levelk"
    assert [m["model"] for m in result["models"]] == ["equilibrium", "levelk"]
    assert all(isinstance(m["cv_loglik"], float) for m in result["models"])
    assert result["vuong"][0]["model_a"] == "equilibrium" and result["vuong"][0]["z"] < 0
    page = (report / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 3 and "http" not in page.split("<body>")[1][:2000]
    assert "Behavioural regularities" in page and "Welfare" in page


def test_compare_defaults_to_the_bundled_data(tmp_path, capsys):
    assert main(["compare", "--models", "equilibrium", "--folds", "2", "--no-holdout", "--no-regularities",
                 "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["data"].endswith("forecast_sharing_synthetic.csv") and result["best"] == "equilibrium"
    assert result["models"][0]["n_obs"] == 9600


def test_bad_data_gives_one_clear_error(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("subject,role,round,state,message,action,treatment\n"
                    "a,sender,1,100,120,,LC-LU\n"
                    "b,supplier,1,100,120,150,LC-LU\n")
    assert main(["fit", "--model", "trust", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: row 2, column 'role': unknown role 'supplier'" in err
