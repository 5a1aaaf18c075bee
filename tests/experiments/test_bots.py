"""oTree bot tests: every session configuration, with submissions that must fail.

The bots (``experiments/*/tests.py``) play two cases per configuration: ``play`` (a wrong
quiz, reports, capacities, messages and actions out of range, non-numbers, ``nan`` and
``inf``, a post with extra fields naming the forecast; the supplier's page is checked for
the forecast; the supplier aid is queried with good and bad input) and ``timeouts``
(decisions left empty or unconfirmed when time runs out). Configurations run two at a time.
"""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from cheaptalk.data import DataFormatError, read_decisions
from cheaptalk.experiments import otree_env
from cheaptalk.experiments.otree_import import import_otree

CONFIGS = ["forecast_LC_LU", "forecast_LC_HU", "forecast_HC_LU", "forecast_HC_HU",
           "forecast_LC_LU_partners", "forecast_LC_LU_no_feedback", "forecast_LC_LU_aid",
           "sender_receiver_crawford_sobel", "sender_receiver_monotone"]


@pytest.fixture(scope="module")
def bot_runs(otree_bin, new_project, tmp_path_factory):
    """Run `otree test CONFIG --export DIR` for every configuration (two processes at a time,
    each in its own copy of the project, since oTree saves its database there)."""
    exports = tmp_path_factory.mktemp("bot-exports")

    def run(config):
        project = new_project(config)
        done = subprocess.run([str(otree_bin), "test", config, "--export", str(exports / config)],
                              cwd=project, capture_output=True, text=True, timeout=600)
        return config, done

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, CONFIGS))
    return results, exports


def test_every_session_configuration_has_a_bot_test(project_copy):
    names = [c["name"] for c in otree_env.session_configs(project_copy)]
    assert sorted(names) == sorted(CONFIGS)


@pytest.mark.parametrize("config", CONFIGS)
def test_bots_complete_every_case(bot_runs, config):
    results, exports = bot_runs
    done = results[config]
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # both cases (normal play with failing submissions, timeouts) completed a session
    assert output.count("Bots completed session") == 2, output[-4000:]


@pytest.mark.parametrize("config", CONFIGS)
def test_bot_exports_are_long_format_and_match_the_wide_export(bot_runs, config):
    results, exports = bot_runs
    app = "sender_receiver" if config.startswith("sender_receiver") else "forecast_sharing"
    folder = exports / config
    custom = read_decisions(folder / f"{app}_custom.csv")
    wide, report = import_otree(folder / "all_apps_wide.csv")
    per_app, _ = import_otree(folder / f"{app}.csv")
    assert report.app == app
    key = ["session", "round", "pair", "role"]
    custom = custom.sort_values(key, ignore_index=True)
    for other in (wide, per_app):
        other = other.sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(other[["subject", "role", "round", "state", "message", "action",
                                             "timeout"]],
                                      custom[["subject", "role", "round", "state", "message", "action",
                                              "timeout"]], check_dtype=False)
    # two sessions (the two cases) of 10 rounds, 1 sender and 1 receiver decision per round
    assert len(custom) == 2 * 10 * 2
    assert set(custom["role"]) == {"sender", "receiver"}
    # the timeouts case leaves one sender and one receiver decision to the default, flagged
    assert custom["timeout"].sum() == 2
    assert report.n_timeouts == 2
    assert report.skipped == {"rounds beyond the session's num_rounds (not played)": 2 * 2 * 20}
    senders = custom[custom.role == "sender"]
    assert senders["action"].isna().all() and senders["message"].notna().all()


# --- oTree's wide export -> long format: errors name file, row and column ---------------------

def _export(bot_runs, config, name):
    results, exports = bot_runs
    return exports / config / name


def test_a_value_that_is_not_a_number_is_named_by_row_and_column(bot_runs, tmp_path):
    wide = pd.read_csv(_export(bot_runs, "forecast_LC_LU", "all_apps_wide.csv"), dtype=str, keep_default_na=False)
    wide.loc[1, "forecast_sharing.3.group.report"] = "lots"
    broken = tmp_path / "all_apps_wide.csv"
    wide.to_csv(broken, index=False)
    with pytest.raises(DataFormatError, match=r"row 2, column 'forecast_sharing\.3\.group\.report'.*'lots'"):
        import_otree(broken)
    per_app = pd.read_csv(_export(bot_runs, "forecast_LC_LU", "forecast_sharing.csv"), dtype=str, keep_default_na=False)
    per_app.loc[4, "group.capacity"] = "inf"
    broken = tmp_path / "forecast_sharing.csv"
    per_app.to_csv(broken, index=False)
    with pytest.raises(DataFormatError, match=r"row 5, column 'group\.capacity'.*not a finite number"):
        import_otree(broken)


def test_rounds_without_a_decision_are_counted_not_written(bot_runs, tmp_path):
    source = _export(bot_runs, "forecast_LC_LU", "all_apps_wide.csv")
    wide = pd.read_csv(source, dtype=str, keep_default_na=False)
    wide["forecast_sharing.5.group.capacity"] = ""          # as if round 5 were never finished
    edited = tmp_path / "all_apps_wide.csv"
    wide.to_csv(edited, index=False)
    full, _ = import_otree(source)
    cut, report = import_otree(edited)
    receivers_in_round_5 = ((full["round"] == 5) & (full["role"] == "receiver")).sum()
    assert receivers_in_round_5 == 2
    assert len(cut) == len(full) - receivers_in_round_5
    assert report.skipped["rounds a participant did not complete (no decision recorded)"] == receivers_in_round_5


def test_files_that_are_not_usable_are_refused_with_a_reason(bot_runs, tmp_path):
    both = pd.concat([pd.read_csv(_export(bot_runs, "forecast_LC_LU", "all_apps_wide.csv"), dtype=str),
                      pd.read_csv(_export(bot_runs, "sender_receiver_crawford_sobel", "all_apps_wide.csv"),
                                  dtype=str)], ignore_index=True)
    mixed = tmp_path / "mixed.csv"
    both.to_csv(mixed, index=False)
    with pytest.raises(DataFormatError, match="several apps"):
        import_otree(mixed)
    finite, report = import_otree(mixed, app="sender_receiver")
    assert report.app == "sender_receiver" and len(finite) == 40
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="not an oTree export"):
        import_otree(other)


def test_import_otree_command_writes_data_that_fit_reads(bot_runs, tmp_path):
    source = _export(bot_runs, "sender_receiver_crawford_sobel", "all_apps_wide.csv")
    output = tmp_path / "decisions.parquet"
    done = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "import-otree", str(source),
                           "-o", str(output), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["n_decisions"] == 40 and summary["n_timeouts"] == 2 and summary["app"] == "sender_receiver"
    assert len(read_decisions(output)) == 40
    pytest.importorskip("cheaptalk.cli.fit", reason="the fit command is not on this branch yet")
    fit_json = tmp_path / "fit.json"
    done = subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", "fit", "--game", "crawford-sobel",
                           "--model", "qre", "--data", str(output), "--min-rounds", "1", "--starts", "1",
                           "--quiet", "--json", str(fit_json)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    fit = json.loads(fit_json.read_text())
    assert fit["n_obs"] == 38 and fit["n_subjects"] == 4     # the two flagged defaults are left out
