"""Property-based tests of the readers (Hypothesis): random malformed formulas, game files,
decision files and import maps give either a result whose counts add up or a clear error of
the toolkit's own kind, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cheaptalk.data import DataFormatError, clean_decisions, read_decisions
from cheaptalk.data.importing import MapError, import_table, map_from_dict
from cheaptalk.games import load_game
from cheaptalk.games.formulas import Formula, FormulaError
from cheaptalk.games.loader import GameFileError, game_from_dict

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
USER_ERRORS = (DataFormatError, GameFileError, FormulaError, MapError)

TOKENS = ["a", "s", "m", "b", "1", "2.5", "1e400", "-", "+", "*", "/", "**", "%", "//", "(", ")", ",", " ",
          "abs", "exp", "where", "clip", "min", "log", "sqrt", "<", "==", "if", "else", "x", "lambda", ".",
          "__class__", "[", "]", "'t'", "0"]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_formulas_evaluate_or_refuse(tokens):
    s = np.array([1.0, 2.0])
    a = np.array([0.5, 3.0])
    try:
        f = Formula("".join(tokens), variables={"s", "a", "m"}, constants={"b": 1.0})
        f(s=s, a=a, m=s)
    except FormulaError:
        pass
    assert s.tolist() == [1.0, 2.0] and a.tolist() == [0.5, 3.0]


values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 30, 10 ** 30) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)
KEYS = ["kind", "name", "states", "values", "prior", "prior_weights", "messages", "meanings", "labels", "actions",
        "grid", "start", "stop", "step", "num", "payoffs", "sender", "receiver", "constants", "treatments",
        "parameters", "forecast", "noise", "low", "high", "distribution", "half_width", "sd", "mean"]


def _doc():
    leaf = values | st.sampled_from(["finite", "forecast", "a - s", "110 - abs(a - s)", "uniform"])
    tree = st.recursive(leaf, lambda c: st.dictionaries(st.sampled_from(KEYS), c, max_size=5), max_leaves=25)
    return st.dictionaries(st.sampled_from(KEYS), tree, max_size=8)


@SETTINGS
@given(_doc())
def test_game_documents_load_or_refuse(doc):
    try:
        spec = game_from_dict(doc, source="random.toml")
    except (GameFileError, FormulaError):
        return
    for game in spec.treatments.values():
        assert game.kind in ("finite", "forecast")


def test_a_finite_random_game_that_loads_is_usable(tmp_path):
    # a sanity anchor for the property above: a well-formed document does load
    spec = game_from_dict({"kind": "finite", "states": {"values": [0, 1]}, "actions": {"values": [0, 1]},
                           "payoffs": {"sender": "a", "receiver": "-abs(a - s)"}})
    assert spec.game().n_actions == 2


cell = st.one_of(st.none(), st.integers(-5, 12), st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from(["", "sender", "receiver", "x", "1e19", "nan", "3.5", "-1", "1,5", "NA"]))
GAME = load_game("crawford-sobel")


@SETTINGS
@given(st.lists(st.tuples(*[cell] * 6), max_size=12),
       st.permutations(["subject", "role", "round", "state", "message", "action"]))
def test_decision_files_clean_or_refuse_and_counts_add_up(rows, columns):
    frame = pd.DataFrame(rows, columns=list(columns)) if rows else pd.DataFrame(columns=list(columns))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        frame.to_csv(path, index=False)
        try:
            data, report = clean_decisions(read_decisions(path), GAME, min_rounds=1)
        except DataFormatError as exc:
            assert str(path) in str(exc)
            return
    assert report.n_used + report.n_dropped == report.n_rows == len(rows)
    assert len(data) == report.n_used


COLUMN_SPEC = st.one_of(st.sampled_from(["c0", "c1", "c2", "nope"]),
                        st.fixed_dictionaries({"column": st.sampled_from(["c0", "c1"])}),
                        st.fixed_dictionaries({"template": st.sampled_from(["{c0}-{c1}", "{x}", "plain"])}),
                        st.fixed_dictionaries({"value": st.sampled_from(["sender", "receiver", 3])}),
                        values)
MAP = st.fixed_dictionaries(
    {"columns": st.dictionaries(st.sampled_from(["subject", "role", "round", "state", "message", "action",
                                                 "treatment", "colour"]), COLUMN_SPEC, max_size=8)},
    optional={"source": st.fixed_dictionaries({}, optional={"keep": st.sampled_from(
                  ["c0 == 'a'", "c1 > 2", "c2 in [1, 'b']", "not c0 == 1", "c0.x == 1", "__import__('os')",
                   "c0 ==", "`c 3` != ''", "c1 in [1, 2]", "5 in [c1]", "c1 in [c0]", "c1 > 1e400",
                   "c1 < " + "9" * 400, "c2 not in (3.5, 'x')", "c1 in 2"])}),
              "decisions": st.lists(st.dictionaries(st.sampled_from(["role", "subject", "action"]), COLUMN_SPEC,
                                                    max_size=3), min_size=1, max_size=3),
              "values": st.dictionaries(st.sampled_from(["role", "action", "colour"]),
                                        st.dictionaries(st.text(max_size=4), st.sampled_from(
                                            ["sender", "receiver", 1, 0]), max_size=3), max_size=2),
              "flags": st.dictionaries(st.sampled_from(["timeout", "late"]), st.sampled_from(["c1 == 'x'", "1 +"]),
                                       max_size=1)})


@SETTINGS
@given(MAP, st.lists(st.tuples(*[st.sampled_from(["a", "b", "1", "2", "x", "", "sender", "receiver", "3.5"])] * 4),
                     max_size=8))
def test_import_maps_apply_or_refuse_and_every_row_is_accounted_for(doc, rows):
    try:
        spec = map_from_dict(doc, "random.toml")
    except MapError:
        return
    frame = pd.DataFrame(rows, columns=["c0", "c1", "c2", "c 3"]) if rows else \
        pd.DataFrame(columns=["c0", "c1", "c2", "c 3"])
    try:
        out, report = import_table(frame, spec, "random.csv")
    except USER_ERRORS:
        return
    assert report.n_possible == report.n_decisions + report.n_excluded == len(rows) * len(spec.decisions)
    assert len(out) == report.n_decisions and report.n_imported_rows <= report.n_rows
    if len(spec.decisions) == 1:        # one decision per row: rows and decisions are one count
        assert report.n_imported_rows + len({r for v in report.excluded.values() for r in v}) == report.n_rows


JSON_LEAF = (st.none() | st.booleans() | st.integers(-10 ** 40, 10 ** 40) | st.floats(allow_nan=True)
             | st.text(max_size=6))
JSON = st.recursive(JSON_LEAF, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
                    max_leaves=15)
PARAM = st.dictionaries(st.sampled_from(["estimate", "se", "identified", "bounds", "fixed", "words"]),
                        JSON_LEAF | st.lists(JSON_LEAF, max_size=3), max_size=4)
FIT_DOC = st.fixed_dictionaries(
    {"model": st.sampled_from(["levelk", "trust", "trust-dynamics-binary"]) | JSON_LEAF,
     "params": st.dictionaries(st.sampled_from(["a", "b", "eta_up"]), PARAM | JSON_LEAF, max_size=3) | JSON},
    optional={"schema_version": st.integers(-1, 3) | JSON_LEAF, "result": st.sampled_from(["fit", "x"]),
              "covariance": st.fixed_dictionaries({"names": st.lists(st.sampled_from(["a", "b"]), max_size=3),
                                                   "matrix": st.lists(st.lists(JSON_LEAF, max_size=3), max_size=3)})
              | JSON_LEAF,
              "n_obs": JSON_LEAF, "n_subjects": JSON_LEAF, "loglik": JSON_LEAF, "converged": JSON_LEAF,
              "warnings": JSON, "diagnostics": JSON, "options": JSON})


@SETTINGS
@given(FIT_DOC | st.fixed_dictionaries({"models": st.lists(FIT_DOC, max_size=2) | JSON}) | JSON)
def test_saved_results_load_or_refuse_in_one_error(doc):
    from cheaptalk.errors import InputError
    from cheaptalk.estimation.result import result_from_dict
    from cheaptalk.estimation.schema import check_result
    try:
        kind = check_result(doc, "random.json")
    except InputError as exc:
        assert str(exc).startswith("random.json: ") and "\n" not in str(exc)
        return
    fits = doc["models"] if kind == "comparison" else [doc]
    for fit in fits:                 # what passes the schema reads back without another exception
        saved = result_from_dict(fit, "random.json")
        saved.summary()
        saved.to_frame()


@pytest.mark.parametrize("text", ["", "[[[", "kind = 1", 'kind = "finite"\n[states]\nvalues = "x"'])
def test_game_file_text_is_refused_in_one_error(tmp_path, text):
    path = tmp_path / "g.toml"
    path.write_text(text)
    with pytest.raises((GameFileError, FormulaError)):
        load_game(path)
