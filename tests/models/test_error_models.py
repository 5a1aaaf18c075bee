"""Error models of finite games: logit, tremble and mixed, applied the same way to every family
(docs/models.md, section 4). All data here are synthetic."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cheaptalk.comparison import compare_models
from cheaptalk.comparison.regularities import regularities
from cheaptalk.data import clean_decisions
from cheaptalk.estimation import fit
from cheaptalk.games import load_game
from cheaptalk.models import get_model
from cheaptalk.models.base import OptionError

GAME = load_game("crawford-sobel")
FAMILIES = ("equilibrium", "qre", "levelk", "ch", "trust", "mixture")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("errors", ["logit", "tremble", "mixed"])
def test_every_family_gives_probability_tables_under_every_error_model(family, errors):
    if family == "qre" and errors == "tremble":
        with pytest.raises(OptionError, match="tremble"):
            get_model(family, GAME, errors=errors)
        return
    model = get_model(family, GAME, errors=errors)
    prediction = model.predict()
    for table, key, group in (("sender_strategy", "state", "probability"),
                              ("receiver_strategy", "message", "probability")):
        sums = prediction.tables[table].groupby(["treatment", key])[group].sum()
        assert np.allclose(sums, 1.0)
    names = model.param_names
    assert ("tremble_sender" in names) == (errors == "tremble" or (errors == "mixed" and family in
                                                                   ("levelk", "ch", "trust", "mixture")))
    assert ("precision_sender" in names) == (errors != "tremble")


def test_tremble_puts_one_minus_e_plus_e_over_m_on_the_truth_of_a_level0_sender():
    model = get_model("levelk", GAME, errors="tremble")
    e = 0.3
    b = model._numpy_behaviour({"tremble_sender": e}, model.treatment_names[0])
    sigma_level0 = b[0][0]
    M = GAME.game().n_messages
    assert np.allclose(np.diag(sigma_level0), 1 - e + e / M)
    assert np.allclose(sigma_level0[~np.eye(M, dtype=bool)], e / M)


def test_mixed_trembles_the_rule_types_and_logits_the_others():
    mixed = get_model("levelk", GAME, errors="mixed")
    logit = get_model("levelk", GAME, errors="logit")
    params = {"precision_sender": 7.0, "precision_receiver": 4.0}
    sig_m, rho_m, _, _ = mixed._numpy_behaviour({**params, "tremble_sender": 0.2, "tremble_receiver": 0.1},
                                                mixed.treatment_names[0])
    sig_l, rho_l, _, _ = logit._numpy_behaviour(params, logit.treatment_names[0])
    assert np.allclose(sig_m[1:], sig_l[1:]) and np.allclose(rho_m[1:], rho_l[1:])
    M = GAME.game().n_messages
    assert np.allclose(np.diag(sig_m[0]), 0.8 + 0.2 / M)


def test_trust_mixed_fully_trustworthy_sender_tells_the_truth_as_a_rule():
    model = get_model("trust", GAME, errors="mixed")
    sig, _, _, _ = model._numpy_behaviour({"tremble_sender": 0.0}, model.treatment_names[0])
    assert np.allclose(np.diag(sig[-1]), 1.0)       # the mass at trustworthiness 1
    assert not np.allclose(np.diag(sig[0]), 1.0)    # a self-interested sender does not


def test_unknown_options_and_values_are_refused_with_the_allowed_ones():
    with pytest.raises(OptionError, match="errors, tie_precision, per_type_precision, max_level"):
        get_model("levelk", GAME, colour="red")
    with pytest.raises(OptionError, match="logit, tremble, mixed"):
        get_model("levelk", GAME, errors="probit")
    with pytest.raises(OptionError, match="from 1 to 20"):
        get_model("levelk", GAME, max_level="0")
    for sizes_work in ({"max_level": "1000000"}, {"max_level": 10 ** 1500}, {"n_nodes": "1000"}):
        with pytest.raises(OptionError, match="must be a whole number from 1 to"):   # refused before any work
            get_model("trust" if "n_nodes" in sizes_work else "levelk", GAME, **sizes_work)
    assert get_model("trust", GAME, convex="true").options["convex"] is True
    assert get_model("mixture", GAME, families="trust,ch").families == ("trust", "ch")


def _simulated(errors, params, seed=1):
    model = get_model("levelk", GAME, errors=errors)
    data, _ = clean_decisions(model.simulate(params, 40, 25, seed=seed), GAME)
    return data


TRUTH = {"sender_level1_share": 0.6, "sender_level3_share": 0.3, "receiver_level2_share": 0.5,
         "precision_sender": 15.0, "precision_receiver": 15.0, "tremble_sender": 0.05, "tremble_receiver": 0.05}


def test_forty_percent_truthful_senders_are_recovered_under_mixed_and_tremble_and_missed_by_logit():
    # the sender always wants a higher action, truthful senders are exact (tremble 0.05) and
    # the optimizing ones noisy (precision 3): one logit precision cannot be both
    game = load_game("monotone")
    truth = {**TRUTH, "precision_sender": 3.0, "precision_receiver": 5.0}
    data, _ = clean_decisions(get_model("levelk", game, errors="mixed").simulate(truth, 40, 25, seed=1), game)
    truthful_data = regularities(data, game)["truthful_share"].iloc[0]
    shares = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for errors in ("mixed", "tremble", "logit"):
            result = fit(get_model("levelk", game, errors=errors), data, starts=2, warn=False)
            j = result.param_names.index("sender_level1_share")
            level0 = 1 - result.theta[j]
            shares[errors] = (level0, result.se[j], result)
    for errors in ("mixed", "tremble"):
        level0, se, _ = shares[errors]
        assert abs(level0 - 0.4) < 2.58 * se + 0.02, (errors, level0, se)
    # logit's simulated truthful share falls short of the data's
    model = shares["logit"][2].model
    sim = model.simulate(shares["logit"][2].params, 200, 25, seed=3)
    truthful_logit = regularities(sim, game)["truthful_share"].iloc[0]
    sim_mixed = shares["mixed"][2].model.simulate(shares["mixed"][2].params, 200, 25, seed=3)
    truthful_mixed = regularities(sim_mixed, game)["truthful_share"].iloc[0]
    assert abs(truthful_mixed - truthful_data) < 0.03
    assert truthful_data - truthful_logit > 0.05


@pytest.mark.parametrize("truth", ["logit", "tremble", "mixed"])
def test_each_error_models_data_are_best_explained_under_that_error_model(truth):
    params = {k: v for k, v in TRUTH.items()
              if not (truth == "tremble" and k.startswith("precision")) and not (truth == "logit" and k.startswith("tremble"))}
    if truth == "tremble":
        params.update(tremble_sender=0.2, tremble_receiver=0.2)
    data = _simulated(truth, params, seed=5)
    comparison = compare_models(GAME, data, ["levelk"], folds=0, holdout=False, with_regularities=False,
                                progress=False, starts=2)
    assert comparison.verdict["best"] == {"model": "levelk", "errors": truth}


# --- forecast sharing: the continuous game ---------------------------------------------------------

FORECAST = load_game("forecast-sharing")


def test_forecast_mixed_at_tremble_one_is_logit_under_the_same_exact_tolerance():
    from cheaptalk.estimation import Likelihood

    data, _ = clean_decisions(get_model("levelk", FORECAST, errors="mixed").simulate(
        {"tremble_sender": 0.2, "tremble_receiver": 0.2}, 8, 10, seed=2), FORECAST)
    logit = get_model("levelk", FORECAST, errors="logit", exact_tolerance=0.005)
    mixed = get_model("levelk", FORECAST, errors="mixed", exact_tolerance=0.005)
    common = {"sender_level1_share": 0.4, "receiver_level2_share": 0.3, "sd_report": 12.0, "sd_capacity": 9.0}
    a = Likelihood(logit, data).loglik(logit.to_vector(common))
    b = Likelihood(mixed, data).loglik(mixed.to_vector({**common, "tremble_sender": 1.0, "tremble_receiver": 1.0}))
    assert a == pytest.approx(b, rel=1e-9)
    assert (Likelihood(logit, data).prepared.arrays["sender"]["exact"]).mean() > 0.2   # truthful reports


@pytest.mark.parametrize("family, truthful_share", [("levelk", "sender_level1_share"), ("trust", None)])
def test_forecast_mixed_recovers_the_trembles_of_exact_rule_types(family, truthful_share):
    truth = {"tremble_sender": 0.1, "tremble_receiver": 0.3}
    if truthful_share:
        truth[truthful_share] = 0.6
    model = get_model(family, FORECAST, errors="mixed")
    data, _ = clean_decisions(model.simulate(truth, 30, 20, seed=1), FORECAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(model, data, starts=1, warn=False)
    for name, value in truth.items():
        j = result.param_names.index(name)
        assert abs(result.theta[j] - value) < 3 * result.se[j] + 0.02, (name, result.theta[j], result.se[j])
    logit = fit(get_model(family, FORECAST, errors="logit", exact_tolerance=0.005), data, starts=1, warn=False)
    assert result.loglik > logit.loglik + 100       # exact truth-telling is not normal noise


def test_forecast_compare_fits_logit_and_mixed_with_one_tolerance_and_skips_tremble():
    data, _ = clean_decisions(get_model("levelk", FORECAST, errors="mixed").simulate(None, 5, 8, seed=4), FORECAST)
    comparison = compare_models(FORECAST, data, ["levelk", "equilibrium"], errors=["logit", "tremble", "mixed"],
                                folds=0, holdout=False, with_regularities=False, progress=False)
    assert set(comparison.skipped) == {"levelk/tremble", "equilibrium/tremble"}
    assert {f.model.exact_tolerance for f in comparison.fits.values()} == {0.005}
    assert comparison.verdict["best"]["errors"] == "mixed"


@pytest.mark.parametrize("family", ["levelk", "ch", "trust", "mixture"])
@pytest.mark.parametrize("errors", ["logit", "mixed"])
def test_per_type_precision_with_equal_precisions_is_the_role_precision(family, errors):
    from cheaptalk.estimation import Likelihood

    one = get_model(family, GAME, errors=errors)
    each = get_model(family, GAME, errors=errors, per_type_precision=True)
    data, _ = clean_decisions(one.simulate(None, 6, 8, seed=3), GAME)
    base = {"precision_sender": 4.0, "precision_receiver": 7.0}
    per_type = {n: (4.0 if "_sender_" in n else 7.0) for n in each.param_names if n.startswith("precision_")}
    assert len(per_type) > 2
    a = Likelihood(one, data).loglik(one.to_vector(base))
    b = Likelihood(each, data).loglik(each.to_vector(per_type))
    assert a == pytest.approx(b, rel=1e-12)
    changed = dict(per_type, **{next(iter(per_type)): 0.5})
    assert Likelihood(each, data).loglik(each.to_vector(changed)) != pytest.approx(b, rel=1e-9)


def test_the_trust_family_under_mixed_recovers_the_share_of_exactly_truthful_senders():
    # the same data as above (40% truthful level-0 senders): the trust model's truthful mass,
    # P(trustworthiness = 1) = (1 - at_0) at_1, with its delta-method standard error
    game = load_game("monotone")
    truth = {**TRUTH, "precision_sender": 3.0, "precision_receiver": 5.0}
    data, _ = clean_decisions(get_model("levelk", game, errors="mixed").simulate(truth, 40, 25, seed=1), game)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(get_model("trust", game, errors="mixed"), data, starts=2, warn=False)

    def share(theta):
        v = result.model.to_dict(theta)
        return (1 - v["trustworthiness_at_0"]) * v["trustworthiness_at_1"]
    grad = np.array([(share(result.theta + 1e-6 * e) - share(result.theta)) / 1e-6 for e in np.eye(len(result.theta))])
    se = float(np.sqrt(grad @ np.nan_to_num(result.cov) @ grad))
    assert 0 < se < 0.15 and abs(share(result.theta) - 0.4) < 2.58 * se + 0.02, (share(result.theta), se)
