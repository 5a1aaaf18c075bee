"""A 40-participant bot session completes, and its exports go into `cheaptalk fit` as they are."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cheaptalk.data import read_decisions
from cheaptalk.experiments.otree_import import import_otree

HERE = Path(__file__).parent
ROUNDS = 4


@pytest.fixture(scope="module")
def large_session(module_project_copy, venv_python, tmp_path_factory):
    out = tmp_path_factory.mktemp("large-session")
    # case 1 ("timeouts"): every manufacturer's round-2 report and every supplier's
    # round-4 capacity are left to the flagged default
    done = subprocess.run([str(venv_python), str(HERE / "run_bot_session.py"), "forecast_LC_LU", "40", "1",
                           str(out), f"num_rounds={ROUNDS}"],
                          cwd=module_project_copy, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "Bots completed session" in done.stdout
    return out


@pytest.mark.slow
def test_forty_participants_complete_and_both_exports_agree(large_session):
    custom = read_decisions(large_session / "forecast_sharing_custom.csv")
    wide, report = import_otree(large_session / "all_apps_wide.csv")
    assert len(custom) == 40 * ROUNDS            # 20 pairs, one sender and one receiver row each
    assert custom["subject"].nunique() == 40
    assert (custom.groupby("round").size() == 40).all()
    assert custom.loc[custom["round"] == 2].query("role == 'sender'")["timeout"].eq(1).all()
    assert custom.loc[custom["round"] == 4].query("role == 'receiver'")["timeout"].eq(1).all()
    assert custom["timeout"].sum() == 40
    assert report.n_decisions == len(custom) and report.n_timeouts == 40
    key = ["session", "round", "pair", "role"]
    pd.testing.assert_frame_equal(wide.sort_values(key, ignore_index=True),
                                  custom.sort_values(key, ignore_index=True), check_dtype=False)
    # strangers: the 20 suppliers meet different manufacturers across rounds
    pairs = custom.pivot_table(index=["round", "pair"], columns="role", values="subject", aggfunc="first")
    assert pairs.groupby("receiver")["sender"].nunique().max() > 1


@pytest.mark.slow
def test_the_export_fits_without_edits(large_session, tmp_path):
    pytest.importorskip("cheaptalk.cli.fit", reason="the fit command is not on this branch yet")
    out = tmp_path / "fit.json"
    done = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "fit", "--game", "forecast-sharing",
                           "--model", "trust", "--data", str(large_session / "forecast_sharing_custom.csv"),
                           "--min-rounds", "1", "--starts", "1", "--quiet", "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    fit = json.loads(out.read_text())
    assert fit["model"] == "trust"
    assert fit["n_obs"] == 40 * ROUNDS - 40      # the flagged defaults are not fitted
    assert fit["n_subjects"] == 40
    assert fit["loglik"] < 0 and set(fit["params"]) >= {"trust_mean", "trustworthiness_mean",
                                                        "sd_report", "sd_capacity"}
