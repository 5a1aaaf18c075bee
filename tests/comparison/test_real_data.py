"""The full robustness comparison on real lab data (the lying game of Oey, Schachner & Vul
2023, read from ../shared/data; skipped when it is absent): every family under every error
model, none failed, each treatment predicted from the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
pytestmark = pytest.mark.skipif(not (SHARED / "bullshitter" / "bsfinal_anon.csv").exists(),
                                reason="the real data set is not in ../shared/data")


def test_every_family_is_fitted_under_every_error_model_on_the_real_data(monkeypatch):
    from cheaptalk.comparison import compare_models
    from cheaptalk.data import clean_decisions
    from cheaptalk.datasets.public import load_dataset

    monkeypatch.setenv("CHEAPTALK_DATA_MIRROR", str(SHARED))
    frame, report, game = load_dataset("bullshitter")
    data, cleaning = clean_decisions(frame, game, source="bullshitter")
    assert report.n_decisions == cleaning.n_used == 18400
    comparison = compare_models(game, data, folds=2, holdout=True, with_regularities=False, progress=False)
    assert not comparison.failed
    assert list(comparison.skipped) == ["qre/tremble"]
    assert len(comparison.fits) == 17
    assert all(f.converged for f in comparison.fits.values())
    verdict = comparison.verdict
    assert set(verdict["by_errors"]) == {"logit", "tremble", "mixed"}
    assert verdict["robust"] == (len(set(verdict["by_errors"].values())) == 1)
    for label, held_out in comparison.holdout.items():
        assert len(held_out) == 6 and all(np.isfinite(v["loglik_per_decision"]) for v in held_out.values()), label
    # the error model matters within a family: truthful senders are exact in these data
    assert comparison.fits["levelk/mixed"].loglik > comparison.fits["levelk/logit"].loglik + 100
