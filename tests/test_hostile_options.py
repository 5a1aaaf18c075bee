"""Option values that size work (nodes, levels, iterations) are refused beyond their range
before any work starts, whether they come from --option, MODEL.NAME= on compare, or a saved
fit JSON."""

from __future__ import annotations

import json

import pytest

from cheaptalk.cli.main import main


@pytest.mark.parametrize("option, message", [
    ("levelk.colour=1", "model 'levelk' has no option 'colour'"),
    ("levelk.tie_break=sideways", "'sideways' is not one of uniform, minimal, maximal"),
    ("trust.n_nodes=1000", "must be a whole number from 1 to 200"),
    ("n_nodes=" + "9" * 40, "must be a whole number from 1 to 200"),
    ("exact_tolerance=5", "must be a finite number from 0.0 to 1.0"),
    ("nobody.n_nodes=3", "'nobody' is not among the compared models"),
])
def test_compare_refuses_bad_options_before_fitting(option, message, capsys):
    assert main(["compare", "--option", option, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("options, message", [
    ({"max_level": 1_000_000}, "max_level of model 'levelk': 1000000 must be a whole number from 1 to 20"),
    ({"max_level": "x"}, "'x' is not a whole number"),
    ({"newton_iterations": 1e9}, "must be a whole number from 1 to 100"),
])
def test_a_saved_fit_carrying_out_of_range_options_is_refused(tmp_path, options, message, capsys):
    model = "qre" if "newton_iterations" in options else "levelk"
    fit = {"schema_version": 1, "model": model, "game": "crawford-sobel", "options": options,
           "params": {}}
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(fit))
    assert main(["predict", "--fit", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
