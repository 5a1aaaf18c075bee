"""End to end: a real oTree bot session of the partners configuration -> `cheaptalk
import-otree` -> `cheaptalk trust from-experiment` -> `cheaptalk trust fit`.

The bots' choices are synthetic (experiments/forecast_sharing/tests.py): each supplier puts
a fixed personal weight on the report, so trust does not move and the fit must say that the
rates are not identified rather than invent them.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cheaptalk.cli.main import main
from cheaptalk.experiments import otree_env

RUN_BOT_SESSION = Path(__file__).parent / "experiments" / "run_bot_session.py"
PARTICIPANTS, ROUNDS = 6, 12


def _bot_session(tmp_path_factory, config, participants, case, *fields):
    """Run one bot session on a fresh copy of the oTree project; return its export folder."""
    python = otree_env.ensure_venv().parent / "python"
    project = tmp_path_factory.mktemp("otree") / "project"
    shutil.copytree(otree_env.PROJECT_DIR, project,
                    ignore=shutil.ignore_patterns("db.sqlite3", "__temp*", "__pycache__"))
    out = tmp_path_factory.mktemp(config)
    done = subprocess.run([str(python), str(RUN_BOT_SESSION), config, str(participants), str(case),
                           str(out), *fields], cwd=project, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return out


@pytest.fixture(scope="module")
def partners_session(tmp_path_factory):
    # case 1 ("timeouts"): every manufacturer's round-2 report and every supplier's round-4
    # capacity are left to the flagged default
    return _bot_session(tmp_path_factory, "forecast_LC_LU_partners", PARTICIPANTS, 1,
                        f"num_rounds={ROUNDS}")


def test_partners_session_to_trust_fit(partners_session, tmp_path, capsys):
    suppliers = PARTICIPANTS // 2
    decisions = tmp_path / "decisions.csv"
    assert main(["import-otree", str(partners_session / "all_apps_wide.csv"), "-o", str(decisions),
                 "--json", str(tmp_path / "import.json")]) == 0

    # the long format does not record feedback: --feedback says how the session was run
    logs = tmp_path / "logs"
    assert main(["trust", "from-experiment", "--data", str(decisions), "--out", str(logs)]) == 2
    assert "--feedback yes or --feedback no" in capsys.readouterr().err
    assert main(["trust", "from-experiment", "--data", str(decisions), "--feedback", "yes",
                 "--out", str(logs), "--json", str(tmp_path / "conversion.json")]) == 0
    conv = json.loads((tmp_path / "conversion.json").read_text())
    assert conv["n_supplier_rows"] == suppliers * ROUNDS
    assert conv["n_events"] + sum(conv["excluded"].values()) == conv["n_supplier_rows"]
    assert conv["n_events"] == suppliers * ROUNDS and conv["n_suppliers"] == suppliers
    assert conv["n_decisions"] == conv["n_events"] - suppliers            # round-4 defaults
    assert sum(conv["partly_used"].values()) == suppliers
    assert conv["noted"]["partner's reports recorded as a timeout default (the supplier saw "
                         "them as reports)"] == suppliers               # round-2 defaults
    assert conv["rounds_per_supplier"] == [ROUNDS, ROUNDS] and conv["absent"] == 0
    assert all(how.startswith("partners (from the pairs") for how in conv["matching"].values())

    # oTree's wide export records matching and feedback itself: same events, no --feedback
    direct = tmp_path / "logs-direct"
    assert main(["trust", "from-experiment", "--data", str(partners_session / "all_apps_wide.csv"),
                 "--out", str(direct), "--json", str(tmp_path / "direct.json")]) == 0
    via_wide = json.loads((tmp_path / "direct.json").read_text())
    assert all(how == "partners (session settings)" for how in via_wide["matching"].values())
    a = pq.read_table(logs / "events").to_pandas().drop(columns="source_row")
    b = pq.read_table(direct / "events").to_pandas()
    key = ["seller", "time"]
    pd.testing.assert_frame_equal(a.sort_values(key, ignore_index=True)[b.columns],
                                  b.sort_values(key, ignore_index=True), check_dtype=False,
                                  check_categorical=False)

    capsys.readouterr()
    assert main(["trust", "fit", "--logs", str(logs), "--json", "--quiet"]) == 0
    fit = json.loads(capsys.readouterr().out)
    for key in ("model", "loglik", "n_params", "n_obs", "n_subjects", "aic", "bic", "converged",
                "params", "warnings", "exclusions"):
        assert key in fit
    assert fit["model"] == "trust-dynamics-continuous" and fit["n_params"] == 5
    assert set(fit["params"]) == {"eta_up", "eta_down", "initial_trust_mean",
                                  "initial_trust_concentration", "sd_action"}
    # few sellers: the model-based standard error is reported beside the clustered one
    assert all({"estimate", "se", "se_model", "identified", "words", "bounds"} <= set(p) for p in fit["params"].values())
    assert fit["n_subjects"] == suppliers and fit["n_events"] == conv["n_events"]
    assert fit["n_obs"] == conv["n_decisions"]
    assert fit["exclusions"]["counts"]["decision_missing"] == suppliers
    assert fit["exclusions"]["rows_excluded"] == 0
    # the bots' trust never moves and there are 3 suppliers: the fit must say the rates are
    # not pinned down: a rate at a bound, a flat likelihood, or (the demand draws differ from
    # session to session, and some put the maximum inside the range) a rate whose model-based
    # standard error exceeds the estimate itself or a quarter of the rate's range (a 95%
    # interval as wide as all of [0, 1]; seen: eta_down 0.977 with a standard error of 0.47)
    model_se = fit["diagnostics"]["se_model_based"]
    assert any("bound" in w or "flat" in w for w in fit["warnings"]) or any(
        model_se[r] is not None and model_se[r] > min(fit["params"][r]["estimate"], 0.25)
        for r in ("eta_up", "eta_down")), (fit["warnings"], fit["params"], model_se)
    assert any(w.startswith(f"only {suppliers} sellers") for w in fit["warnings"])
    assert set(fit["diagnostics"]["se_model_based"]) == set(fit["params"])
    assert 0 < fit["params"]["sd_action"]["estimate"] < 20    # the bots' capacity noise: sd 5


def test_strangers_session_is_refused(tmp_path_factory, tmp_path, capsys):
    export = _bot_session(tmp_path_factory, "forecast_LC_LU", 4, 1, "num_rounds=2")
    assert main(["trust", "from-experiment", "--data", str(export / "all_apps_wide.csv"),
                 "--out", str(tmp_path / "logs")]) == 2
    err = capsys.readouterr().err
    assert "re-matched suppliers with new manufacturers (strangers (session settings))" in err
    assert "--allow-strangers" in err and not (tmp_path / "logs").exists()
    assert main(["trust", "from-experiment", "--data", str(export / "all_apps_wide.csv"),
                 "--out", str(tmp_path / "logs"), "--allow-strangers", "--json"]) == 0
    conv = json.loads(capsys.readouterr().out)
    assert conv["n_events"] == 2 * 2 and any("strangers were allowed" in w for w in conv["warnings"])
