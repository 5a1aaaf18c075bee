"""oTree bot tests: every session configuration, with submissions that must fail.

The bots (``experiments/*/tests.py``) play two cases per configuration: ``play`` (a wrong
quiz, reports, capacities, messages and actions out of range, non-numbers, ``nan`` and
``inf``, a post with extra fields naming the forecast; the supplier's page is checked for
the forecast; the supplier aid is queried with good and bad input) and ``timeouts``
(decisions left empty or unconfirmed when time runs out). Configurations run two at a time.
"""

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from cheaptalk.data import read_decisions
from cheaptalk.experiments import otree_env
from cheaptalk.experiments.otree_import import import_otree

CONFIGS = ["forecast_LC_LU", "forecast_LC_HU", "forecast_HC_LU", "forecast_HC_HU",
           "forecast_LC_LU_partners", "forecast_LC_LU_no_feedback", "forecast_LC_LU_aid",
           "sender_receiver_crawford_sobel", "sender_receiver_monotone"]


@pytest.fixture(scope="module")
def bot_runs(project_copy, otree_bin, tmp_path_factory):
    """Run `otree test CONFIG --export DIR` for every configuration (two processes at a time)."""
    exports = tmp_path_factory.mktemp("bot-exports")

    def run(config):
        done = subprocess.run([str(otree_bin), "test", config, "--export", str(exports / config)],
                              cwd=project_copy, capture_output=True, text=True, timeout=600)
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
