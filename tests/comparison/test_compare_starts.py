"""compare fits each model from more than one start, so that no model is ranked on a local
optimum that another start beats."""

import numpy as np
import pytest

from cheaptalk.comparison import compare_models
from cheaptalk.estimation import fit
from cheaptalk.estimation.mle import _two_agree
from cheaptalk.games import load_game
from cheaptalk.models import get_model


def test_compare_runs_two_starts_when_they_agree():
    game = load_game("monotone")
    data = get_model("levelk", game).simulate(None, 20, 6, seed=5)          # synthetic
    c = compare_models(game, data, ["levelk"], errors=["logit"], folds=0, holdout=False,
                       with_regularities=False, progress=False)
    starts = c.fits["levelk"].starts
    assert len(starts) == 2 and _two_agree(starts)
    assert not any("different maxima" in n for n in c.notes)


def test_until_agree_runs_on_while_the_starts_disagree(monkeypatch):
    """Two starts that reach different maxima: the third runs and the best is kept."""
    from cheaptalk.estimation import mle
    game = load_game("monotone")
    model = get_model("levelk", game)
    data = model.simulate(None, 12, 5, seed=2)
    real = mle.maximize
    calls = []

    def maximize(lik, theta0, **kw):
        run = real(lik, theta0, **kw)
        calls.append(1)
        if len(calls) == 2:                    # the second start "stops on a local optimum"
            run = {**run, "loglik": run["loglik"] - 5.0}
        return run
    monkeypatch.setattr(mle, "maximize", maximize)
    result = fit(model, data, starts=3, until_agree=True, warn=False)
    assert len(result.starts) == 3
    assert any("2 of 3 starts reached the best" in w for w in result.warnings)
    lls = [s["loglik"] for s in result.starts]
    assert result.loglik == pytest.approx(max(lls)) and np.ptp(lls) == pytest.approx(5.0, rel=1e-3)


def test_a_finite_mixture_under_mixed_errors_is_its_own_model():
    """Its members' rule-following types tremble under mixed, so compare must fit it, not
    report it as the logit mixture."""
    from cheaptalk.comparison.compare import _has_rule_types
    game = load_game("monotone")
    mixture = get_model("mixture", game, errors="mixed")
    members = {label for label, rule in zip(mixture.type_labels()["sender"], mixture.rule_types()["sender"]) if rule}
    assert _has_rule_types(mixture) and "levelk:L0" in members and any(m.startswith("trust:") for m in members)
    assert not _has_rule_types(get_model("qre", game, errors="mixed"))
