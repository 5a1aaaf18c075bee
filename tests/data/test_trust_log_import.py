"""Importing repeated-play exports as trust logs with a map whose output is trust-logs: every
row becomes an event or is counted with its reason; errors name the map, file, row and column;
the logs read back into a fit. (Small hand-made exports, synthetic.)"""

import json

import pandas as pd
import pytest

from cheaptalk.cli.main import main
from cheaptalk.data.importing import MapError, map_from_dict
from cheaptalk.data.trust_logs import import_trust_logs

MAP = """
[output]
kind = "trust-logs"

[columns]
seller = { template = "{sub}-{adv}" }
subject = "sub"
time = "trial"
recommendation = { value = 1 }
followed = "choice"
fidelity = "right"
feedback = { condition = "right in [0, 1]" }
segment = { template = "advisor {adv}" }

[values.followed]
FOR = 1
AGAINST = 0
"""


def _export(rows):
    return pd.DataFrame(rows, columns=["sub", "adv", "trial", "choice", "right"]).astype(str)


def _spec():
    import tomllib
    return map_from_dict(tomllib.loads(MAP), "advice.toml")


def test_rows_become_events_and_missed_trials_events_without_a_decision():
    frame = _export([(1, 1, 1, "FOR", 1), (1, 2, 2, "AGAINST", 0), (1, 1, 3, "", "nan"), (2, 1, 1, "FOR", 0)])
    events, sellers, report = import_trust_logs(frame, _spec(), "export.csv")
    assert list(events.seller) == ["1-1", "1-1", "1-2", "2-1"] and list(events.time) == [1, 3, 2, 1]
    assert events.followed.isna().sum() == 1 and list(events.feedback) == [1, 0, 1, 1]
    assert dict(zip(sellers.seller, sellers.subject)) == {"1-1": "1", "1-2": "1", "2-1": "2"}
    assert report.n_events == 4 and report.n_decisions == 3 and report.n_excluded == 0
    assert "4 imported as events of 3 sellers (2 subjects), 3 with a decision" in str(report)


def test_unusable_rows_are_counted_with_their_reason():
    frame = _export([(1, 1, 1, "FOR", 1), (1, 1, 2, "MAYBE", 1), (1, 1, 3, "FOR", 2), (1, 1, "", "FOR", 1),
                     ("", 1, 5, "FOR", 1)])
    events, _, report = import_trust_logs(frame, _spec(), "export.csv")
    assert len(events) == 1
    assert report.excluded == {"followed: value(s) ['MAYBE'] have no entry in [values.followed]": [2],
                               "subject is blank": [5], "time is blank": [4], "fidelity is outside [0, 1]": [3]}
    assert report.n_rows == 5 and report.n_events + report.n_excluded == 5


def test_two_events_of_one_seller_at_one_time_name_the_rows():
    frame = _export([(1, 1, 1, "FOR", 1), (1, 1, 1, "AGAINST", 0)])
    with pytest.raises(MapError, match=r"rows 1, 2 are two events of seller '1-1' at time 1"):
        import_trust_logs(frame, _spec(), "export.csv")


def test_a_text_time_names_file_row_and_column():
    frame = _export([(1, 1, 1, "FOR", 1), (1, 1, "second", "FOR", 1)])
    with pytest.raises(Exception, match=r"export.csv: row 2, column 'time'"):
        import_trust_logs(frame, _spec(), "export.csv")


@pytest.mark.parametrize("doc, match", [
    ({"output": {"kind": "trust-logs"}, "columns": {"seller": "a"}}, "no source given for time"),
    ({"output": {"kind": "trust-logs"}, "columns": {"seller": "a", "time": "t", "recommendation": "r",
                                                   "feedback": "f", "followed": "y", "fidelity": "x",
                                                   "role": "z"}}, "not trust-log columns"),
    ({"output": {"kind": "events"}}, "is not \"decisions\" or \"trust-logs\""),
    ({"output": {"kind": "trust-logs"}, "decisions": [{}]}, "belong to maps of decisions"),
    ({"output": {"kind": "trust-logs"}, "columns": {"seller": "a", "time": "t", "recommendation": "r",
                                                   "followed": "y", "fidelity": "x",
                                                   "feedback": {"condition": "x +"}}}, "cannot parse condition"),
])
def test_malformed_trust_log_maps_are_refused(doc, match):
    with pytest.raises(MapError, match=match):
        map_from_dict(doc, "m.toml")


def test_import_writes_logs_that_trust_fit_reads(tmp_path, capsys):
    import numpy as np
    rng = np.random.default_rng(0)
    rows = [(s, a, t, "FOR" if rng.random() < 0.6 else "AGAINST", int(rng.random() < [0.75, 0.5, 0.25][a - 1]))
            for s in range(1, 31) for a in (1, 2, 3) for t in range(a, 61, 3)]
    (tmp_path / "export.csv").write_text(_export(rows).to_csv(index=False))
    (tmp_path / "map.toml").write_text(MAP)
    out = tmp_path / "logs"
    assert main(["import", str(tmp_path / "export.csv"), "--map", str(tmp_path / "map.toml"), "-o", str(out),
                 "--json", str(tmp_path / "report.json")]) == 0
    assert "1800 imported as events of 90 sellers (30 subjects)" in capsys.readouterr().out
    assert json.loads((tmp_path / "report.json").read_text())["output"] == "trust-logs"
    assert (out / "sellers.parquet").exists() and json.loads((out / "schema.json").read_text())["adoption"] == "binary"
    assert main(["trust", "fit", "--logs", str(out), "--rule", "symmetric", "--shared-initial-trust", "--quiet",
                 "--nodes", "20", "--json", "-"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["n_subjects"] == 30 and fit["n_obs"] == 1800
    # nothing is overwritten: the folder now holds logs
    assert main(["import", str(tmp_path / "export.csv"), "--map", str(tmp_path / "map.toml"), "-o", str(out)]) == 2
    assert "folder is not empty" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "export.csv"), "--map", str(tmp_path / "map.toml"), "-o",
                 str(tmp_path / "logs.csv")]) == 2
    assert "not a .csv file" in capsys.readouterr().err
