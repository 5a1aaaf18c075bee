"""The core commands: describe, predict, simulate (in-process, plus the installed entry point)."""

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cheaptalk.cli.main import main
from cheaptalk.models import MODEL_NAMES


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("model", ["equilibrium", "levelk", "ch", "trust", "mixture"])
def test_describe_json_lists_bounded_parameters(capsys, model):
    code, out, _ = run(capsys, "describe", model, "--game", "forecast-sharing", "--json")
    assert code == 0
    params = json.loads(out)["params"]
    assert {"sd_report", "sd_capacity"} <= set(params)
    for spec in params.values():
        assert set(spec) == {"default", "lower", "upper", "description"}
        assert spec["lower"] <= spec["default"] <= spec["upper"]


def test_describe_finite_game(capsys):
    code, out, _ = run(capsys, "describe", "qre", "--game", "crawford-sobel", "--json")
    assert code == 0 and "precision_sender" in json.loads(out)["params"]
    code, _, err = run(capsys, "describe", "qre", "--game", "forecast-sharing")
    assert code == 2 and "finite" in err


def test_predict_prints_schedules_profits_and_figure(capsys, tmp_path):
    fig = tmp_path / "pred.png"
    code, out, _ = run(capsys, "predict", "--model", "trust", "--param", "trust_mean=0.8", "--figure", str(fig))
    assert code == 0
    assert "report schedule" in out and "capacity schedule" in out and "efficiency" in out
    assert fig.stat().st_size > 10_000
    code, out, _ = run(capsys, "predict", "--model", "levelk", "--json")
    result = json.loads(out)
    assert set(result["summary"]) == {"LC-LU", "LC-HU", "HC-LU", "HC-HU"}
    for welfare in result["summary"].values():
        assert 0 < welfare["efficiency"] <= 1.0 + 1e-9


def test_predict_more_trust_moves_capacity_toward_reports(capsys):
    def slope(mean):
        _, out, _ = run(capsys, "predict", "--model", "trust", "--json", "--param", f"trust_mean={mean}",
                        "--param", "trust_at_0=0", "--param", "trust_at_1=0")
        table = pd.DataFrame(json.loads(out)["tables"]["capacity schedule (by report)"])
        rows = table[(table.treatment == "LC-LU") & table.report.between(100, 200)]
        return (rows.mean_capacity.iloc[-1] - rows.mean_capacity.iloc[0]) / (rows.report.iloc[-1] - rows.report.iloc[0])
    assert slope(0.2) < slope(0.5) < slope(0.9) < 1.0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_simulate_writes_long_format(capsys, tmp_path, suffix):
    out_file = tmp_path / f"sim{suffix}"
    code, out, _ = run(capsys, "simulate", "--game", "forecast-sharing", "--model", "ch", "--subjects", "6",
                       "--rounds", "4", "--seed", "3", "--out", str(out_file))
    assert code == 0 and "simulated" in out
    data = pd.read_csv(out_file) if suffix == ".csv" else pd.read_parquet(out_file)
    assert list(data.columns[:6]) == ["subject", "role", "round", "state", "message", "action"]
    assert {"session", "pair", "treatment"} <= set(data.columns)
    assert len(data) == 4 * 2 * 6 * 4                   # treatments x roles x subjects x rounds
    assert set(data.role) == {"sender", "receiver"}
    assert data.groupby(["treatment", "role"]).subject.nunique().eq(6).all()
    assert data[data.role == "receiver"].action.notna().all()


def test_simulate_is_reproducible_and_finite_games_work(capsys, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        assert run(capsys, "simulate", "--game", "crawford-sobel", "--model", "trust", "--subjects", "5",
                   "--rounds", "3", "--seed", "9", "--out", str(path))[0] == 0
    assert a.read_text() == b.read_text()


def test_user_errors_are_one_clear_line(capsys, tmp_path):
    code, _, err = run(capsys, "predict", "--model", "trust", "--param", "trust_mean=2")
    assert code == 2 and "outside its bounds" in err
    code, _, err = run(capsys, "predict", "--model", "trust", "--param", "nope=1")
    assert code == 2 and "no parameter 'nope'" in err
    code, _, err = run(capsys, "predict", "--model", "trust", "--game", str(tmp_path / "missing.toml"))
    assert code == 2 and "no such game file" in err
    code, _, err = run(capsys, "simulate", "--model", "trust", "--out", str(tmp_path / "x.txt"), "--subjects", "1",
                       "--rounds", "1", "--treatments", "LC-LU")
    assert code == 2 and ".txt" in err


def test_installed_entry_point_has_help_for_every_command():
    out = subprocess.run(["cheaptalk", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("describe", "predict", "simulate"):
        assert command in out
        sub = subprocess.run(["cheaptalk", command, "--help"], capture_output=True, text=True, check=True).stdout
        assert "usage: cheaptalk " + command in sub
    assert set(MODEL_NAMES) == {"equilibrium", "qre", "levelk", "ch", "trust", "mixture"}


def test_commands_import_only_what_they_need():
    """Registering one command imports that command's module only: the trust commands and
    Spark's Python workers start without JAX or SciPy's statistics (about 2 s of imports),
    while the overview still lists every command."""
    import subprocess
    import sys
    code = ("import sys\n"
            "from cheaptalk.cli.main import build_parser\n"
            "p = build_parser(['trust', 'fit', '--logs', 'x'])\n"
            "import cheaptalk.dynamics.engines.spark, cheaptalk.dynamics.kernels\n"
            "heavy = [m for m in ('jax', 'scipy.stats', 'cheaptalk.models') if m in sys.modules]\n"
            "full = build_parser([]).format_help()\n"
            "print(heavy, all(c in full for c in ('describe', 'compare', 'trust', 'import-otree')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True", out.stdout + out.stderr
    # what a Spark worker imports to pack and evaluate files: not pandas either (0.2 s)
    worker = ("import sys\n"
              "import cheaptalk.dynamics.engines.spark, cheaptalk.dynamics.engines.local\n"
              "print([m for m in ('pandas', 'jax', 'scipy.stats') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", worker], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_errors_have_one_root_and_keep_their_builtin_bases():
    from cheaptalk.data import DataFormatError
    from cheaptalk.data.importing import MapError
    from cheaptalk.datasets.public import DatasetError
    from cheaptalk.dynamics.logs import LogSchemaError
    from cheaptalk.errors import CheaptalkError
    from cheaptalk.estimation.mle import EstimationError
    from cheaptalk.games.formulas import FormulaError
    from cheaptalk.games.loader import GameFileError
    from cheaptalk.models.base import OptionError, ParameterError

    for cls in (DataFormatError, MapError, DatasetError, LogSchemaError, FormulaError, GameFileError, OptionError,
                ParameterError):
        assert issubclass(cls, CheaptalkError) and issubclass(cls, ValueError), cls
    assert issubclass(EstimationError, CheaptalkError) and issubclass(EstimationError, RuntimeError)


def test_a_bug_is_an_internal_error_with_a_hint_and_debug_shows_the_traceback(capsys, monkeypatch):
    import cheaptalk.cli.describe as describe

    def broken(args):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(describe, "run", broken)
    code, _, err = run(capsys, "describe", "levelk")
    assert code == 3 and "internal error: ZeroDivisionError" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["describe", "levelk", "--debug"])


def test_a_closed_pipe_ends_quietly():
    import subprocess
    import sys
    # a long table: more than a pipe holds, so the writer meets the closed pipe
    game = Path(__file__).resolve().parents[1] / "src" / "cheaptalk" / "datasets" / "public" / "bullshitter" / "game.toml"
    process = subprocess.Popen([sys.executable, "-m", "cheaptalk.cli.main", "predict", "--model", "trust",
                                "--game", str(game)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_experiment_outside_a_source_checkout_says_it_needs_one(monkeypatch, tmp_path, capsys):
    """From an installed wheel the oTree apps are not there: one line, exit 2."""
    from cheaptalk.cli.main import main
    from cheaptalk.experiments import otree_env
    monkeypatch.setattr(otree_env, "PROJECT_DIR", tmp_path / "no-experiments")
    assert main(["experiment", "--list"]) == 2
    err = capsys.readouterr().err
    assert "source checkout" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_predict_and_simulate_take_a_fitted_model(tmp_path, capsys):
    """--fit: the model, its options, the game and the parameters come from a fit JSON or a
    comparison's JSON (its best model, or --fit-model); --param overrides one value."""
    import json
    from cheaptalk.cli.main import main
    data = tmp_path / "mono.csv"
    assert main(["simulate", "--game", "monotone", "--model", "levelk", "--subjects", "16", "--rounds", "5",
                 "--seed", "3", "--out", str(data)]) == 0
    fit_json = tmp_path / "fit.json"
    assert main(["fit", "--game", "monotone", "--model", "levelk", "--data", str(data), "--json", str(fit_json),
                 "--quiet", "--starts", "1"]) == 0
    capsys.readouterr()
    fitted = json.loads(fit_json.read_text())
    assert main(["predict", "--fit", str(fit_json), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["model"] == "levelk" and pred["fit"] == str(fit_json)
    assert pred["params"] == {k: v["estimate"] for k, v in fitted["params"].items()}
    name = next(iter(fitted["params"]))
    assert main(["predict", "--fit", str(fit_json), "--param", f"{name}=0.25", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"][name] == 0.25
    out = tmp_path / "again.csv"
    assert main(["simulate", "--fit", str(fit_json), "--subjects", "3", "--rounds", "2", "--out", str(out)]) == 0
    assert out.exists()
    capsys.readouterr()
    # a comparison: its best model by default, another by label
    comp = {"models": [dict(fitted, label="levelk/logit"), dict(fitted, label="other", model="trust")],
            "best_label": "levelk/logit"}
    comp_json = tmp_path / "compare.json"
    comp_json.write_text(json.dumps(comp))
    assert main(["predict", "--fit", str(comp_json), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "levelk"
    # a parameter the fit did not identify has no value: one line says which to give
    unidentified = json.loads(fit_json.read_text())
    unidentified["params"][name].update(estimate=None, se=None, identified=False, reason="flat")
    flat_json = tmp_path / "flat.json"
    flat_json.write_text(json.dumps(unidentified))
    assert main(["predict", "--fit", str(flat_json), "--json"]) == 2
    err = capsys.readouterr().err
    assert f"did not identify {name}" in err and f"--param {name}=VALUE" in err and len(err.strip().splitlines()) == 1
    assert main(["predict", "--fit", str(flat_json), "--param", f"{name}=0.3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"][name] == 0.3
    for argv, message in [(["--fit", str(comp_json), "--fit-model", "nope"], "no model 'nope'"),
                          (["--fit", str(comp_json), "--fit-model", "other"], "does not apply"),
                          (["--fit", str(fit_json), "--model", "trust"], "holds a fit of levelk"),
                          (["--fit", str(tmp_path / "missing.json")], "no such file"),
                          ([], "give --model")]:
        assert main(["predict", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_every_error_of_the_toolkit_is_a_cheaptalk_error():
    import cheaptalk
    from cheaptalk.data.importing import MapError
    from cheaptalk.data.longformat import DataFormatError
    from cheaptalk.datasets.public import DatasetError
    from cheaptalk.dynamics.estimate import TrustFitError
    from cheaptalk.dynamics.logs.schema import LogSchemaError
    from cheaptalk.estimation.mle import EstimationError
    from cheaptalk.games.formulas import FormulaError
    from cheaptalk.games.loader import GameFileError
    from cheaptalk.models.base import OptionError, ParameterError
    for kind in (MapError, DataFormatError, DatasetError, TrustFitError, LogSchemaError, EstimationError,
                 FormulaError, GameFileError, OptionError, ParameterError):
        assert issubclass(kind, cheaptalk.CheaptalkError), kind


def test_every_error_and_warning_class_lives_in_errors_py():
    """One module of errors, so that a newcomer finds them all, and each docstring says how
    to fix the problem. (``OutOfOrder`` is an internal signal between two readers of logs, never
    shown to a user.)"""
    import ast
    root = Path(__file__).resolve().parents[1] / "src" / "cheaptalk"
    elsewhere = []
    for path in root.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name != "OutOfOrder" and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception", "Warning", "Failure",
                                                                          "Problem")) for b in node.bases):
                elsewhere.append(f"{path.relative_to(root)}: {node.name}")
    assert not elsewhere, elsewhere
