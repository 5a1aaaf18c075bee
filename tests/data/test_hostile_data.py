"""Broken decision files: every refusal names the file (and row and column), nothing is stored wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cheaptalk.data import DataFormatError, clean_decisions, read_decisions
from cheaptalk.games import load_game

GAME = load_game("crawford-sobel")
HEADER = "subject,role,round,state,message,action\n"


def _csv(tmp_path, text, name="d.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("text, match", [
    ("", "the file is empty"),
    (HEADER + "a,sender,1,1,1,\nb,sender,1,1,1,,,,\n", "not a well-formed CSV"),
    ("subject,role,round,state,state,message,action\n", r"names column\(s\) \['state'\] more than once"),
])
def test_unreadable_files_name_the_file(tmp_path, text, match):
    path = _csv(tmp_path, text)
    with pytest.raises(DataFormatError, match=rf"{path}.*{match}|{match}"):
        read_decisions(path)


def test_non_utf8_and_folders_are_refused_with_the_file_named(tmp_path):
    path = _csv(tmp_path, HEADER + "Jürgen,sender,1,1,1,\n", encoding="latin-1")
    with pytest.raises(DataFormatError, match=rf"{path}: not UTF-8"):
        read_decisions(path)
    folder = tmp_path / "x.csv"
    folder.mkdir()
    with pytest.raises(DataFormatError, match="is a folder"):
        read_decisions(folder)


@pytest.mark.parametrize("round_value, match", [("1e19", "not a round number"), ("-3", "not a round number"),
                                                (str(2 ** 63), "not a round number")])
def test_rounds_out_of_range_are_refused_not_wrapped(tmp_path, round_value, match):
    path = _csv(tmp_path, HEADER + f"a,sender,{round_value},1,1,\na,sender,2,1,1,\n")
    with pytest.raises(DataFormatError, match=rf"row 1, column 'round'.*{match}"):
        clean_decisions(read_decisions(path), GAME, min_rounds=1)


def test_a_date_as_round_is_refused(tmp_path):
    frame = pd.DataFrame({"subject": ["a", "a"], "role": "sender", "round": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                          "state": [1, 3], "message": [1, 3], "action": np.nan})
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataFormatError, match="column 'round': holds dates"):
        clean_decisions(read_decisions(path), GAME, min_rounds=1)
