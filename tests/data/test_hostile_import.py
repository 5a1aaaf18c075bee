"""Hostile import maps and exports: one line naming the map, file, row or column, or a correct
import whose counts add up (possible decisions = imported + not imported)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cheaptalk.data import DataFormatError
from cheaptalk.data.importing import MapError, import_table, load_map, map_from_dict, read_source

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "data" / "bullshitter" / "bsfinal_anon.csv"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="the real data set is not in ../shared/data")
COLUMNS = {"subject": "id", "role": "r", "round": "t", "message": "m", "action": "a"}
VALUES = {"role": {"S": "sender", "R": "receiver"}}


def _frame(**extra):
    return pd.DataFrame({"id": ["1", "2", "3", "4"], "r": ["S", "R", "S", "R"], "t": ["1", "1", "2", "2"],
                         "m": ["2", "2", "3", "3"], "a": ["", "1", "", "0"], **extra})


def _import(frame, keep=None, **doc):
    spec = {"columns": COLUMNS, "values": VALUES, **doc}
    if keep is not None:
        spec["source"] = {"keep": keep}
    return import_table(frame, map_from_dict(spec, "m.toml"), "d.csv")


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.mark.parametrize("keep, match", [
    ("5 in [t]", "needs a column name on its left"),
    ("t in [id]", "the list after `in` names a column"),
    ("t < " + "9" * 1500, "not finite or too large"),
    ("t > 1e400", "not finite or too large"),
    ("t > -1e400", "not finite or too large"),
    ("1 < t in [1, 2]", "needs a column name on its left"),
])
def test_conditions_that_cannot_mean_what_they_say_are_refused(keep, match):
    with pytest.raises(MapError, match=match):
        _import(_frame(), keep)


@pytest.mark.parametrize("keep, rows", [("t in [1]", [1, 2]), ("t not in [1, 'x']", [3, 4]), ("t in 2", [3, 4]),
                                        ("r in ['S']", [1, 3]), ("t in (1, 2) and r == 'R'", [2, 4])])
def test_membership_works_on_text_numbers_and_read_only_columns(keep, rows):
    frame = _frame()
    for col in frame:                         # pandas may hand a condition read-only arrays
        frame[col].to_numpy().flags.writeable = False
    out, report = _import(frame, keep)
    assert sorted(out["subject"].astype(int)) == rows
    assert report.n_possible == 4 == report.n_decisions + report.n_excluded


def test_a_condition_that_keeps_no_row_says_so():
    with pytest.raises(MapError, match=r"keeps none of the 4 rows of d.csv"):
        _import(_frame(), "r == 'sender'")


def test_a_repeated_header_is_refused_not_read_as_one_of_the_two(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("id,r,t,m,m,a\n1,S,1,2,9,\n")
    with pytest.raises(DataFormatError, match=r"dup.csv: row 1 \(the header\) names a column more than once: 'm' "
                                              r"\(columns \[4, 5\]\)"):
        read_source(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="empty.csv: the file is empty"):
        read_source(empty)


def test_several_decisions_per_row_are_counted_per_decision_and_per_row():
    frame = pd.DataFrame({"p": ["1", "2", "3", "4", "5"], "s": "x", "q": "y", "m": "3",
                          "g": ["1", "2", "oops", "8", "oops"]})
    doc = {"source": {"keep": "p > 1"}, "columns": {"round": "p", "message": "m"},
           "decisions": [{"role": {"value": "sender"}, "subject": "s"},
                         {"role": {"value": "receiver"}, "subject": "q", "action": "g"}],
           "values": {"action": {"1": 1, "2": 2, "8": 8}}}
    out, report = import_table(frame, map_from_dict(doc, "m.toml"), "pairs.csv")
    assert len(out) == report.n_decisions == 6
    assert report.n_possible == 10 == report.n_decisions + report.n_excluded
    assert report.n_imported_rows == 4 and report.n_rows == 5
    assert sorted(map(len, report.excluded.values())) == [2, 2]     # row 1's two decisions; two receivers' guesses
    assert "5 rows x 2 decisions = 10 possible decisions: 6 imported (from 4 rows), 4 not imported" in str(report)
    saved = report.to_dict()
    assert saved["possible_decisions"] == saved["decisions"] + saved["not_imported"]


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "Infinity"])
def test_non_finite_numbers_are_refused_with_their_row_and_column(value):
    frame = _frame()
    frame.loc[2, "m"] = value
    with pytest.raises(DataFormatError, match=r"d.csv: row 3, column 'message' .* is not a finite number"):
        _import(frame)


def test_an_otree_export_missing_a_rounds_field_is_refused(tmp_path):
    rows = [{"participant.code": c, "session.code": "s", "participant.id_in_session": i,
             **{f"game.{r}.player.role": "S" for r in (1, 2)}, "game.1.group.message": 3}
            for i, c in enumerate(["a", "b"], 1)]
    path = tmp_path / "all_apps_wide.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    spec = map_from_dict({"source": {"format": "otree-wide", "app": "game"},
                          "columns": {"subject": "participant.code", "role": "player.role", "round": "round",
                                      "message": "group.message"},
                          "values": {"role": {"S": "sender"}}}, "m.toml")
    with pytest.raises(DataFormatError, match=r"has no column game.2.group.message although other rounds"):
        import_table(read_source(path), spec, str(path))


def test_outputs_never_overwrite_inputs_and_bad_paths_get_one_line(tmp_path):
    data = tmp_path / "d.csv"
    _frame().to_csv(data, index=False)
    mp = tmp_path / "m.toml"
    mp.write_text('[columns]\nsubject = "id"\nrole = "r"\nround = "t"\nmessage = "m"\naction = "a"\n'
                  '[values.role]\nS = "sender"\nR = "receiver"\n')
    before = mp.read_bytes(), data.read_bytes()
    (tmp_path / "afile").write_text("x")
    for out, match in [(mp, "would overwrite the map file"), (data, "would overwrite the data file"),
                       (tmp_path / "afile" / "o.csv", "afile is a file, not a folder"),
                       (tmp_path, "is a folder"), (tmp_path / "o.txt", "unknown output type")]:
        run = cli("import", str(data), "--map", str(mp), "-o", str(out))
        assert run.returncode == 2, run.stderr
        assert match in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert (mp.read_bytes(), data.read_bytes()) == before
    ok = cli("import", str(data), "--map", str(mp), "-o", str(tmp_path / "o.csv"))
    assert ok.returncode == 0 and len(pd.read_csv(tmp_path / "o.csv")) == 4


@needs_real
def test_the_shared_lying_game_keeps_exactly_the_trial_rows_of_rounds_1_and_2():
    from cheaptalk.datasets.public import get_dataset

    doc = load_map(get_dataset("bullshitter").map_path)
    spec = map_from_dict({"source": {"keep": "exptPart == 'trial' and trialNumber in [1, 2]"},
                          "columns": {"subject": "subjID", "round": "trialNumber", "role": "roleCurrent",
                                      "state": "drawnRed", "message": "reportedDrawn",
                                      "action": {"column": "callBS", "roles": ["receiver"]}},
                          "values": doc.values}, "m.toml")
    out, report = import_table(read_source(REAL), spec, str(REAL))
    with REAL.open() as f:
        wanted = [(r["subjID"], int(r["trialNumber"])) for r in csv.DictReader(f)
                  if r["exptPart"] == "trial" and r["trialNumber"] in ("1", "2")]
    assert sorted(zip(out["subject"], out["round"].astype(int))) == sorted(wanted)
    assert report.n_rows == 18_400 == report.n_decisions + report.n_excluded
