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
    # what is printed is the confidence set in the JSON, error model by error model
    printed = " ".join(str(comparison).split())
    assert " ".join(verdict["statement"].split()) in printed
    for errors, members in verdict["confidence_sets"].items():
        words = (f"{members[0]} is best" if len(members) == 1 else
                 " and ".join([", ".join(members[:-1]), members[-1]]) + " are indistinguishable")
        assert f"Under {errors} errors: {words}" in verdict["statement"], errors
    assert verdict["robust"] == (verdict["same_set_under_every_error_model"] and not verdict.get("unscored"))
    # no model with a fold that did not converge has a CV score, nor a place in a set
    for label, cv in comparison.cv.items():
        assert (cv["cv_loglik"] is None) == (cv["not_converged"] > 0), label
        if cv["cv_loglik"] is None:
            family, errors = label.split("/")
            assert label in verdict["unscored"] and family not in verdict["confidence_sets"][errors]
    # a lower level drops a member whose MCS p-value is below 1 - level, and the sentence follows
    errors, members = next(((e, m) for e, m in verdict["confidence_sets"].items() if len(m) > 1), (None, None))
    if errors is not None:
        p = verdict["mcs_p_values"][errors][members[-1]]
        comparison.level = (1 - p) / 2
        narrower = comparison.verdict
        assert members[-1] not in narrower["confidence_sets"][errors]
        assert narrower["statement"] != verdict["statement"]
    for label, held_out in comparison.holdout.items():
        assert len(held_out) == 6 and all(np.isfinite(v["loglik_per_decision"]) for v in held_out.values()), label
    # the error model matters within a family: truthful senders are exact in these data
    assert comparison.fits["levelk/mixed"].loglik > comparison.fits["levelk/logit"].loglik + 100
