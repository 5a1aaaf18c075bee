"""The report's figures: saved as PNG and PDF with captions, axes labelled in the game's
terms, treatments in words, legends outside the data (synthetic data)."""

import struct

import pytest

from cheaptalk.comparison import compare_models
from cheaptalk.games import load_game
from cheaptalk.models import get_model
from cheaptalk.reports import write_report
from cheaptalk.reports.figures import comparison_figures
from cheaptalk.reports.html import _posteriors, _welfare_frame


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module", params=["forecast-sharing", "monotone"])
def comparison(request):
    game = load_game(request.param)
    rounds = 6 if request.param == "monotone" else 5
    data = get_model("trust", game).simulate(None, 24, rounds, seed=7)
    return compare_models(game, data, ["levelk", "trust"], errors=["logit"], folds=2, holdout=False,
                          progress=False)


def test_every_figure_is_written_with_its_caption(comparison, tmp_path):
    page = write_report(comparison, tmp_path).read_text()
    figures = sorted((tmp_path / "figures").glob("*.png"))
    expected = {"cv_differences", "trust_posteriors", "welfare"}
    if comparison.game.kind == "finite":
        expected |= {"sender_message_given_state", "receiver_action_given_message"}
    else:
        expected |= {"sender_message_by_state", "receiver_action_by_message"}
    assert {f.stem for f in figures} == expected
    for png in figures:
        width, height = _png_size(png)
        assert width > 600 and height > 300
        pdf = png.with_suffix(".pdf")
        assert pdf.read_bytes()[:5] == b"%PDF-"
        title, caption = png.with_suffix(".txt").read_text().split("\n\n", 1)
        assert len(caption) > 80 and title in page and caption.strip()[:60] in page.replace("&#x27;", "'")
    assert page.count("<figcaption>") == len(figures)


def test_axes_are_labelled_in_the_games_terms(comparison):
    figs = comparison_figures(comparison, _posteriors(comparison), _welfare_frame(comparison))
    try:
        terms = ("forecast", "report", "capacity") if comparison.game.kind == "forecast" else ("state", "message", "action")
        behaviour = [f for f in figs if f.name.startswith(("sender_", "receiver_"))]
        labels = {ax.get_xlabel() for f in behaviour for ax in f.figure.axes} | \
                 {ax.get_ylabel().split("\n")[-1] for f in behaviour for ax in f.figure.axes}
        assert set(terms) <= labels
        assert not any("capacity_slope" in ax.get_title() for f in figs for ax in f.figure.axes)
        if comparison.game.kind == "forecast":
            titles = {ax.get_title() for f in behaviour for ax in f.figure.axes}
            assert any("capacity cost" in t for t in titles)          # treatments in words
        welfare = next(f for f in figs if f.name == "welfare")
        ax = welfare.figure.axes[0]
        legend = ax.get_legend()
        welfare.figure.canvas.draw()
        box, area = legend.get_window_extent(), ax.get_window_extent()
        assert box.x0 >= area.x1 - 1                                  # the legend is outside the data
        cv = next(f for f in figs if f.name == "cv_differences")
        assert "minus that of" in cv.figure.axes[0].get_xlabel()
    finally:
        for f in figs:
            f.close()
