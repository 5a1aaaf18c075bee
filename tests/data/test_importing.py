"""Importing other people's exports with column maps (docs/importing.md), and public data sets."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cheaptalk.data import DataFormatError
from cheaptalk.data.importing import MapError, import_table, load_map, map_from_dict, read_source

ROOT = Path(__file__).resolve().parents[2]
MAPS = ROOT / "docs" / "maps"
SHARED = ROOT.parent / "shared" / "data"
REAL = SHARED / "bullshitter" / "bsfinal_anon.csv"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="the real data set is not in ../shared/data")


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "cheaptalk.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@needs_real
def test_the_shared_data_through_their_map_equal_a_conversion_by_hand(tmp_path):
    from cheaptalk.datasets.public import get_dataset

    frame, report = import_table(read_source(REAL), load_map(get_dataset("bullshitter").map_path), str(REAL))
    rows = []
    with REAL.open() as f:
        for r in csv.DictReader(f):
            if r["exptPart"] != "trial":
                continue
            role = {"bullshitter": "sender", "bullshitDetector": "receiver"}[r["roleCurrent"]]
            action = np.nan if role == "sender" else {"True": 1.0, "False": 0.0}[r["callBS"]]
            rows.append((r["subjID"], role, float(r["trialNumber"]), float(r["drawnRed"]),
                         float(r["reportedDrawn"]), action, f"{r['expt']}-{r['probabilityRed']}"))
    by_hand = pd.DataFrame(rows, columns=["subject", "role", "round", "state", "message", "action", "treatment"])
    ours = frame[by_hand.columns].astype({c: float for c in ("round", "state", "message", "action")})
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), by_hand)
    assert report.n_rows == 18400 and report.n_decisions == 18400 and report.n_excluded == 0


def _otree_wide(path: Path):
    """A small all_apps_wide export of an app "advice" (2 pairs, 3 rounds; round 3 unplayed)."""
    rows = []
    codes = ["a1", "a2", "b1", "b2"]
    for i, code in enumerate(codes):
        row = {"participant.code": code, "participant._index_in_pages": 5, "session.code": "S1",
               "other_app.1.player.payoff": 3}
        for rnd in (1, 2, 3):
            g = 1 + i // 2
            played = rnd < 3
            row.update({f"advice.{rnd}.player.id_in_group": 1 + i % 2,
                        f"advice.{rnd}.group.id_in_subsession": g,
                        f"advice.{rnd}.group.state": (rnd + g) % 5 + 1 if played else "",
                        f"advice.{rnd}.group.message": ("delegated" if (rnd, g) == (2, 2) else (rnd + g) % 5 + 2)
                        if played else "",
                        f"advice.{rnd}.group.action": rnd + g if played else "",
                        f"advice.{rnd}.subsession.treatment": "T1"})
        rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)


def test_the_otree_map_of_the_guide_imports_another_apps_wide_export(tmp_path):
    _otree_wide(tmp_path / "all_apps_wide.csv")
    frame, report = import_table(read_source(tmp_path / "all_apps_wide.csv"), load_map(MAPS / "otree-advice.toml"),
                                 "all_apps_wide.csv")
    assert report.n_rows == 4 and report.n_decisions == 8          # 4 participants x 2 played rounds
    assert sum(len(v) for v in report.excluded.values()) == 4       # the unplayed round 3, counted
    assert set(frame["role"]) == {"sender", "receiver"}
    assert frame.loc[frame["role"] == "sender", "action"].isna().all()
    delegated = frame[(frame["round"] == 2) & (frame["pair"] == "S1-r2-g2")]
    assert (delegated["timeout"] == 1).all() and delegated["message"].isna().all()
    assert (frame.loc[frame["timeout"] == 0, "message"].notna()).all()


def test_the_one_row_per_pair_map_of_the_guide_makes_two_decisions_of_each_row(tmp_path):
    src = pd.DataFrame({"session": "s", "period": [1, 2, 3, 4, 5], "treat": "A", "sender_id": ["x1", "x1", "x1", "x2", "x2"],
                        "receiver_id": ["y1", "y1", "y2", "y1", "y2"], "true_state": [1, 3, 5, 7, 9],
                        "msg": [1, 3, 7, 9, 9], "guess": [1, 2, 5, 8, 6]})
    src.to_csv(tmp_path / "pairs.csv", index=False)
    frame, report = import_table(read_source(tmp_path / "pairs.csv"), load_map(MAPS / "one-row-per-pair.toml"),
                                 "pairs.csv")
    assert report.n_rows == 5 and report.n_imported_rows == 3 and report.n_decisions == 6
    assert list(report.excluded.values()) == [[1, 1, 2, 2]]       # two decisions each row would have given
    assert report.n_possible == 10 == report.n_decisions + report.n_excluded
    senders = frame[frame["role"] == "sender"]
    receivers = frame[frame["role"] == "receiver"]
    assert list(senders["subject"]) == ["x1", "x2", "x2"] and senders["action"].isna().all()
    assert list(receivers["action"]) == [5, 8, 6] and list(receivers["message"]) == [7, 9, 9]


def test_unmapped_values_are_counted_not_guessed():
    spec = map_from_dict({"columns": {"subject": "id", "role": "r", "round": "t", "message": "m", "action": "a"},
                          "values": {"role": {"S": "sender", "R": "receiver"}}})
    frame = pd.DataFrame({"id": ["1", "2", "3"], "r": ["S", "R", "X"], "t": ["1", "1", "1"], "m": ["2", "2", "2"],
                          "a": ["", "1", "1"]})
    out, report = import_table(frame, spec, "f.csv")
    assert len(out) == 2
    assert report.excluded == {"role: value(s) ['X'] have no entry in [values.role]": [3]}


@pytest.mark.parametrize("doc, match", [
    ({"columns": {"subject": "id"}}, r"no source given for \['role', 'round', 'message'\]"),
    ({"columns": {"subject": "id", "role": "r", "round": "t", "message": "m", "colour": "c"}}, "not long-format"),
    ({"colums": {}}, "unknown section"),
    ({"columns": {"subject": {"column": "a", "value": 1}, "role": "r", "round": "t", "message": "m"}},
     "exactly one of"),
    ({"columns": {"subject": "id", "role": "r", "round": "t", "message": "m"},
      "source": {"keep": "__import__('os').system('true')"}}, "not allowed"),
    ({"columns": {"subject": "id", "role": "r", "round": "t", "message": "m"},
      "source": {"keep": "t.__class__ == 1"}}, "not allowed"),
    ({"columns": {"subject": "id", "role": "r", "round": "t", "message": "m"},
      "source": {"keep": "(lambda: 1)() == 1"}}, "not allowed"),
    ({"columns": {"subject": "id", "role": "r", "round": "t", "message": "m"}, "flags": {"late": "t > 1"}},
     "unknown flag"),
])
def test_malformed_maps_are_refused_with_what_is_wrong(doc, match):
    with pytest.raises(MapError, match=match):
        map_from_dict(doc, "map.toml")


def test_a_map_naming_a_column_that_is_not_there_names_it():
    spec = map_from_dict({"columns": {"subject": "subjID", "role": "r", "round": "t", "message": "m"}}, "map.toml")
    with pytest.raises(MapError, match=r"map.toml: names column\(s\) \['subjID'\] that data.csv does not have"):
        import_table(pd.DataFrame({"r": [], "t": [], "m": []}), spec, "data.csv")


def test_a_value_that_is_not_a_number_names_file_row_and_column():
    spec = map_from_dict({"columns": {"subject": "id", "role": "r", "round": "t", "message": "m"}})
    frame = pd.DataFrame({"id": ["1", "2"], "r": ["sender", "sender"], "t": ["1", "2"], "m": ["3", "three"]})
    with pytest.raises(DataFormatError, match=r"data.csv: row 2, column 'message'.*'three'"):
        import_table(frame, spec, "data.csv")


def test_conditions_compare_numbers_as_numbers_and_text_as_text():
    spec = map_from_dict({"columns": {"subject": "id", "role": {"value": "sender"}, "round": "t", "message": "m"},
                          "source": {"keep": "t >= 10 and `odd name` in ['a', 'b'] and not m == 0"}})
    frame = pd.DataFrame({"id": list("123456"), "t": ["9", "10", "11", "x", "12", "12"], "m": ["1", "1", "1", "1", "0", "1"],
                          "odd name": ["a", "a", "b", "a", "a", "c"]})
    out, report = import_table(frame, spec, "f.csv")
    assert list(out["subject"]) == ["2", "3"]
    assert sum(report.to_dict()["excluded"].values()) == 4


def test_import_command_writes_the_long_format_and_reports(tmp_path):
    _otree_wide(tmp_path / "wide.csv")
    out = tmp_path / "long.csv"
    run = cli("import", str(tmp_path / "wide.csv"), "--map", str(MAPS / "otree-advice.toml"), "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert "8 decisions" in run.stdout and "not imported" in run.stdout
    assert len(pd.read_csv(out)) == 8
    bad = cli("import", str(tmp_path / "wide.csv"), "--map", str(tmp_path / "nope.toml"), "-o", str(out))
    assert bad.returncode == 2 and "nope.toml: no such map file" in bad.stderr and "Traceback" not in bad.stderr


# --- public data sets ----------------------------------------------------------------------------

def test_datasets_list_names_source_checksum_licence_and_citation():
    run = cli("datasets", "list", "--json")
    assert run.returncode == 0, run.stderr
    import json
    entry = json.loads(run.stdout)[0]
    assert entry["name"] == "bullshitter" and len(entry["sha256"]) == 64
    assert "38a068660e7dca8a369c0e18c3e7324abcf451b5" in entry["url"]
    assert entry["licence"] and entry["citation"] and Path(entry["map_path"]).is_file()


@needs_real
def test_fetch_reads_the_mirror_and_checks_the_checksum(tmp_path, monkeypatch):
    import os
    env = {**os.environ, "CHEAPTALK_DATA_MIRROR": str(SHARED)}
    run = cli("datasets", "fetch", "bullshitter", env=env)
    assert run.returncode == 0 and run.stdout.strip() == str(REAL)
    # a corrupted copy is refused
    (tmp_path / "bullshitter").mkdir()
    (tmp_path / "bullshitter" / "bsfinal_anon.csv").write_bytes(REAL.read_bytes()[:-10])
    env["CHEAPTALK_DATA_MIRROR"] = str(tmp_path)
    run = cli("datasets", "fetch", "bullshitter", env=env)
    assert run.returncode == 2 and "is not the pinned version" in run.stderr and "Traceback" not in run.stderr


def test_fetch_errors_are_one_line(tmp_path):
    import os
    env = {**os.environ, "CHEAPTALK_DATA_MIRROR": str(tmp_path)}
    run = cli("datasets", "fetch", "bullshitter", env=env)
    assert run.returncode == 2 and "the mirror" in run.stderr and "has no file bullshitter/bsfinal_anon.csv" in run.stderr
    run = cli("datasets", "fetch", "nope", env=env)
    assert run.returncode == 2 and "unknown data set 'nope'; known: bullshitter" in run.stderr
    run = cli("compare", "--dataset", "nope", env=env)
    assert run.returncode == 2 and "unknown data set" in run.stderr and "Traceback" not in run.stderr


@needs_real
def test_compare_dataset_runs_end_to_end_through_the_mirror(tmp_path):
    import json
    import os
    env = {**os.environ, "CHEAPTALK_DATA_MIRROR": str(SHARED)}
    out = tmp_path / "compare.json"
    run = cli("compare", "--dataset", "bullshitter", "--models", "levelk,trust", "--errors", "mixed",
              "--folds", "2", "--no-holdout", "--no-regularities", "--quiet", "--json", str(out), env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert result["n_obs"] == 18400 and not result["failed"]
    assert {m["model"] for m in result["models"]} == {"levelk", "trust"}
    assert all(m["errors"] == "mixed" and m["options"]["errors"] == "mixed" for m in result["models"])
    assert result["verdict"]["by_errors"] == {"mixed": result["best"]}
    for m in result["models"]:
        assert sum(m["loglik_by_role"].values()) == pytest.approx(m["loglik"], abs=1e-6)


@pytest.mark.parametrize("suffix", [".dta", ".xlsx", ".parquet", ".tsv"])
def test_stata_excel_parquet_and_tsv_exports_import_like_csv(tmp_path, suffix):
    src = pd.DataFrame({"id": ["p1", "p1", "p2", "p2"], "r": ["S", "S", "R", "R"], "t": [1, 2, 1, 2],
                        "st": [1, 3, 5, 7], "msg": [1, 5, 5, 9], "act": [np.nan, np.nan, 4.0, 8.0]})
    path = tmp_path / f"export{suffix}"
    if suffix == ".dta":
        src.to_stata(path, write_index=False)
    elif suffix == ".xlsx":
        src.to_excel(path, index=False)
    elif suffix == ".parquet":
        src.to_parquet(path)
    else:
        src.to_csv(path, sep="\t", index=False)
    spec = map_from_dict({"columns": {"subject": "id", "role": "r", "round": "t", "state": "st", "message": "msg",
                                      "action": {"column": "act", "roles": ["receiver"]}},
                          "values": {"role": {"S": "sender", "R": "receiver"}}})
    out, report = import_table(read_source(path), spec, str(path))
    assert report.n_decisions == 4 and report.n_excluded == 0
    assert list(out["role"]) == ["sender", "sender", "receiver", "receiver"]
    assert out["message"].tolist() == [1, 5, 5, 9] and out["action"].tolist()[2:] == [4, 8]
