"""Estimation tables: LaTeX that compiles, Markdown that renders, HTML that parses, and
cells that hold the fits' numbers."""

import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy import stats

from cheaptalk.cli.main import main
from cheaptalk.estimation import fit
from cheaptalk.games import load_game
from cheaptalk.models import get_model
from cheaptalk.reports.tables import estimation_table, parameter_label


@pytest.fixture(scope="module")
def fits():
    """Two fits to the same synthetic data (labelled synthetic) of the monotone game."""
    game = load_game("monotone")
    data = get_model("levelk", game).simulate(None, 16, 5, seed=4)
    return [fit(get_model(name, game), data, starts=1, warn=False) for name in ("levelk", "trust")]


@pytest.fixture(scope="module")
def comparison_json(fits, tmp_path_factory):
    """A comparison's JSON with two error models (the table takes the best one's models)."""
    entries = []
    for f in fits:
        for errors in ("logit", "mixed"):
            d = f.to_dict()
            d.update(label=f"{d['model']}/{errors}", errors=errors, cv_loglik=-1.0 if errors == "mixed" else -2.0)
            entries.append(d)
    path = tmp_path_factory.mktemp("cmp") / "compare.json"
    path.write_text(json.dumps({"models": entries, "errors": ["logit", "mixed"],
                                "verdict": {"best": {"model": "trust", "errors": "mixed"}}}))
    return path


def test_cells_hold_the_estimates_and_standard_errors(fits):
    md = estimation_table(*fits, fmt="markdown", stars=True)
    levelk = fits[0]
    name = levelk.param_names[0]
    j = 0
    est, se = levelk.theta[j], levelk.se[j]
    p = 2 * stats.norm.sf(abs(est / se))
    lo, hi = levelk.model.bounds()[j]
    # stars only where zero lies inside the parameter's range
    stars = ("***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else "") if lo < 0 < hi else ""
    row = next(line for line in md.splitlines() if line.startswith(f"| {parameter_label(name)} |"))
    assert f"{est:.3f}{stars}" in row
    below = md.splitlines()[md.splitlines().index(row) + 1]
    assert f"({se:.3f})" in below
    assert f"{levelk.loglik:,.1f}" in md and f"{fits[1].bic:,.1f}" in md
    # a parameter at a bound has no standard error: a dash and a note
    if any(not np.isfinite(s) for f in fits for s in f.se):
        assert "(--)" in md and "no standard error" in md


def test_markdown_renders_to_a_table(fits):
    from markdown_it import MarkdownIt
    md = estimation_table(*fits, fmt="markdown", caption="Synthetic data")
    html = MarkdownIt().enable("table").render(md)
    assert html.count("<table>") == 1
    n_params = len(dict.fromkeys(p for f in fits for p in f.param_names))
    body_rows = html.split("<tbody>")[1].count("<tr>")
    assert body_rows == 2 * n_params + 6          # estimate and se lines, six statistics
    assert html.split("<thead>")[1].count("<th") == 3


def test_html_parses_with_one_cell_per_column(fits):
    text = estimation_table(*fits, fmt="html", ci=True)

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cells = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.cells = 0
            elif tag in ("td", "th") and self.cells is not None:
                self.cells += 1

        def handle_endtag(self, tag):
            if tag == "tr":
                self.rows.append(self.cells)
                self.cells = None
    parser = Rows()
    parser.feed(text)
    assert set(parser.rows[:-1]) == {3} and "[" in text and "95% intervals in brackets" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (scripts/install-system-deps.sh)")
def test_latex_table_compiles(fits, comparison_json, tmp_path):
    table = estimation_table(*fits, comparison_json, fmt="latex", stars=True, caption="Fits & 100% synthetic data",
                             label="tab:fits")
    assert r"$P(\alpha = 0)$" in table
    doc = tmp_path / "table.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + table
                   + "\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "table.pdf").stat().st_size > 1000


def test_comparison_gives_its_best_error_models_columns(comparison_json, capsys):
    assert main(["table", str(comparison_json)]) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    assert "Level-k (mixed errors)" in head and "Trust (mixed errors)" in head and "logit" not in head
    assert "Held-out log-likelihood per decision (CV)" in out and "-1.0000" in out
    assert main(["table", str(comparison_json), "--models", "trust/logit"]) == 0
    assert "Trust (logit errors)" in capsys.readouterr().out.splitlines()[0]


def test_table_errors_are_one_line(comparison_json, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    for argv, message in [([str(comparison_json), "--models", "nope"], "no model 'nope'"),
                          ([str(bad)], "neither a fit JSON nor a comparison JSON"),
                          ([str(tmp_path / "missing.json")], "no such file")]:
        assert main(["table", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_large_log_likelihoods_are_printed_in_full_and_rules_name_their_columns(fits):
    a, b = fits[0].to_dict(), fits[1].to_dict()
    a.update(model="trust-dynamics-binary", rule="bayes", adoption="binary", loglik=-3643791.04, aic=7287600.0,
             bic=7287700.0)
    b.update(model="trust-dynamics-binary", rule="asymmetric", adoption="binary", loglik=-364653.0)
    md = estimation_table(a, b)
    assert "-3,643,791.0" in md and "-364,653.0" in md and "e+" not in md
    head = md.splitlines()[0]
    assert "Trust dynamics (bayes, binary)" in head and "Trust dynamics (asymmetric, binary)" in head


def test_a_list_or_a_dict_of_results_and_names_that_override(fits):
    assert estimation_table(fits) == estimation_table(*fits)
    named = estimation_table({"First": fits[0], "Second": fits[1]})
    assert named.splitlines()[0] == "|  | First | Second |"
    assert estimation_table(*fits, names=["A", "B"]).splitlines()[0] == "|  | A | B |"
    with pytest.raises(ValueError, match="2 columns"):
        estimation_table(*fits, names=["only one"])


def test_stars_only_where_zero_is_inside_the_range(fits):
    d = fits[0].to_dict()
    name = next(iter(d["params"]))
    d["params"][name].update(estimate=5.0, se=1.0, bounds=[0.0, None])       # a precision: zero is its bound
    d["params"]["slope"] = {"estimate": 5.0, "se": 1.0, "bounds": [None, None], "identified": True}
    md = estimation_table(d, stars=True)
    row = next(line for line in md.splitlines() if line.startswith(f"| {parameter_label(name)} |"))
    assert "*" not in row
    slope = next(line for line in md.splitlines() if line.startswith("| slope |"))
    assert "5.000***" in slope and "whose zero lies inside their range" in md


def test_a_parameter_that_is_not_identified_is_not_printed_as_a_number(fits):
    d = fits[1].to_dict()
    name = next(iter(d["params"]))
    d["params"][name].update(estimate=None, se=None, identified=False, reason="flat")
    md = estimation_table(d)
    row = next(line for line in md.splitlines() if line.startswith(f"| {parameter_label(name)} |"))
    assert "not identified" in row and "Not identified: the likelihood is flat" in md
