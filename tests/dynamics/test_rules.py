"""Learning rules of trust: each rule's compiled passes (with the decay option, with a shared
initial trust) against automatic differentiation, each rule's synthetic logs best explained
by that rule with its parameters recovered, local and Spark giving the same estimates, the
comparison's tests, cross-validation by seller and the adoption forecast (synthetic logs
throughout)."""

import json

import numpy as np
import pytest

from cheaptalk.cli.main import main
from cheaptalk.dynamics import fit_trust, resolve_logs
from cheaptalk.dynamics.compare import compare_rules
from cheaptalk.dynamics.engines.local import LocalEngine
from cheaptalk.dynamics.engines.memory import SharedTrustEngine
from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
from cheaptalk.dynamics.model import TrustDynamics, simulate_path
from cheaptalk.dynamics.parameters import RULES, parameter_names

from .conftest import failing_first_attempt


def _batch(kind, rng, B=7, T=12):
    batch = {"gap": rng.normal(0, 2, (B, T)).astype(np.float32),
             "fidelity": rng.uniform(size=(B, T)).astype(np.float32),
             "feedback": rng.uniform(size=(B, T)) < 0.7, "observed": rng.uniform(size=(B, T)) < 0.9,
             "length": np.full(B, T, np.int32), "n_sellers": B}
    if kind == "continuous":
        batch["act"] = rng.normal(0, 1, (B, T)).astype(np.float32)
    else:
        batch["gap"][:] = 0
        batch["act"] = (rng.uniform(size=(B, T)) < 0.5).astype(np.float32)
    return batch


@pytest.mark.parametrize("kind", ["continuous", "binary"])
@pytest.mark.parametrize("rule", RULES + tuple(r + "+decay" for r in RULES))
def test_compiled_passes_match_automatic_differentiation(kind, rule):
    rng = np.random.default_rng(len(rule) + len(kind))
    batch = _batch(kind, rng)
    model = TrustDynamics(kind, 20, rule)
    u = rng.normal(0, 0.6, len(parameter_names(kind, rule)))
    ll, scores, H = model.batch_pass(u, batch, hessian=True)
    ll_ad, scores_ad = model.loglik_and_scores(u, batch)
    np.testing.assert_allclose(ll, ll_ad, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(scores, scores_ad, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(H, model.hessian(u, batch), rtol=1e-9, atol=1e-9)


def test_confirmation_rule_uses_the_confirming_rate_on_the_leaning_side():
    alpha0 = np.array([0.8, 0.8, 0.2, 0.2, 0.5])
    fidelity = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    path = simulate_path(alpha0, np.hstack([fidelity, fidelity]), np.ones((5, 2), bool), 0.1, 0.5, "confirmation")
    after = path[:, 1]
    lean = 1 / (1 + np.exp(-(alpha0 - 0.5) / 0.05))       # weight of a high leaning
    w = np.where(fidelity[:, 0] >= alpha0, lean, 1 - lean)  # weight of the confirming rate
    np.testing.assert_allclose(after, alpha0 + (0.1 * w + 0.5 * (1 - w)) * (fidelity[:, 0] - alpha0))
    # far from 1/2 the leaning is all but certain: high trust meeting good news and low trust
    # meeting bad news move at the confirming rate (0.1), the others at the disconfirming (0.5)
    np.testing.assert_allclose(after[:4], [0.8 + 0.1 * 0.2, 0.8 - 0.5 * 0.8, 0.2 + 0.5 * 0.8, 0.2 - 0.1 * 0.2],
                               atol=2e-3)
    # at trust 1/2 the leaning is even: the mean of the two rates
    assert after[4] == pytest.approx(0.5 + 0.3 * 0.5)


def test_bayes_rule_is_the_posterior_mean_and_wsls_forgets():
    """bayes: trust after k feedbacks is (n0 alpha_1 + sum f) / (n0 + k), whatever the order;
    wsls: trust after feedback depends only on whether that fidelity reached 1/2."""
    rng = np.random.default_rng(0)
    f = rng.uniform(size=(3, 9))
    fb = rng.uniform(size=(3, 9)) < 0.6
    alpha0 = np.array([0.2, 0.5, 0.9])
    n0 = np.array([3.0, 0.5, 12.0])             # each path's own prior strength
    path = simulate_path(alpha0, np.hstack([f, f[:, :1]]), np.hstack([fb, fb[:, :1]]), n0, 0.0, "bayes")
    expected = (n0 * alpha0 + (f * fb).sum(axis=1)) / (n0 + fb.sum(axis=1))
    np.testing.assert_allclose(path[:, -1], expected, rtol=1e-12)
    path = simulate_path(alpha0, np.array([[0.9, 0.1]] * 3), np.ones((3, 2), bool), 0.7, 0.25, "wsls")
    np.testing.assert_allclose(path[:, 1], 0.7)
    path = simulate_path(alpha0, np.array([[0.9, 0.1, 0.5]] * 3), np.ones((3, 3), bool), 0.7, 0.25, "wsls")
    np.testing.assert_allclose(path[:, 2], 0.25)


# each rule's true values: rates 0.1 and 0.4, a prior worth 4 observations, trust 0.8 after a
# win and 0.3 after a loss
WORLDS = {rule: SyntheticWorld(eta_up=0.1, eta_down=0.4, rule=rule, prior_strength=4.0, trust_after_win=0.8,
                               trust_after_loss=0.3) for rule in RULES}


@pytest.fixture(scope="module")
def rule_logs(tmp_path_factory):
    """Synthetic logs of 3,000 sellers x 40 events under each rule."""
    out = {}
    for rule in RULES:
        d = tmp_path_factory.mktemp(rule)
        generate_logs(d, 3000, 40, seed=3, world=WORLDS[rule])
        out[rule] = d
    return out


@pytest.mark.parametrize("true_rule", RULES)
def test_each_rules_logs_are_best_explained_by_that_rule(rule_logs, true_rule):
    engine = LocalEngine(resolve_logs(rule_logs[true_rule]))
    try:
        comparison = compare_rules(engine, warm_start_sellers=1000)
    finally:
        engine.close()
    assert comparison.best == true_rule, str(comparison)
    fit = comparison.fits[true_rule]
    truth = json.loads((rule_logs[true_rule] / "truth.json").read_text())["params"]
    for name, value in truth.items():
        assert abs(fit.estimates[name] - value) < 4 * fit.se[name], (name, fit.estimates[name], value, fit.se[name])
    lr = {(t["model_big"], t["model_small"]): t for t in comparison.likelihood_ratio}
    if true_rule == "symmetric":
        assert lr[("asymmetric", "symmetric")]["p_value"] > 0.001
    elif true_rule in ("asymmetric", "confirmation"):
        assert lr[(true_rule, "symmetric")]["p_value"] < 1e-6
    # every non-nested test that involves the true rule favours it clearly (symmetric is
    # nested in two rules; its own Vuong tests are against bayes and wsls)
    tests = [v for v in comparison.vuong if true_rule in (v["model_a"], v["model_b"])]
    assert len(tests) == (2 if true_rule == "symmetric" else 3 if true_rule in ("asymmetric", "confirmation") else 4)
    for v in tests:
        assert v["favours"] == true_rule and abs(v["z"]) > 5, v


def test_trust_compare_cli_writes_the_comparison_json(rule_logs, tmp_path, capsys):
    out = tmp_path / "rules.json"
    assert main(["trust", "compare", "--logs", str(rule_logs["confirmation"]), "--rules", "asymmetric,confirmation",
                 "--quiet", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["result"] == "comparison" and d["best"] == "confirmation"
    assert [m["label"] for m in d["models"]] == ["asymmetric", "confirmation"]
    assert all(m["rule"] == m["label"] for m in d["models"])
    assert "best by BIC: confirmation" in capsys.readouterr().out
    assert main(["trust", "compare", "--logs", str(rule_logs["confirmation"]), "--rules", "asymmetric"]) == 2
    assert "at least two" in capsys.readouterr().err
    # --out: the comparison, each rule's per-seller trust and the figure where the rules differ
    out_dir = tmp_path / "rules"
    assert main(["trust", "compare", "--logs", str(rule_logs["confirmation"]), "--rules", "symmetric,confirmation",
                 "--quiet", "--out", str(out_dir)]) == 0
    assert json.loads((out_dir / "compare.json").read_text())["best"] == "confirmation"
    assert (out_dir / "rules.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out_dir / "adoption.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pyarrow.parquet as pq
    for rule in ("symmetric", "confirmation"):
        assert pq.read_metadata(out_dir / rule / "seller_trust.parquet").num_rows == 3000


def test_fit_and_whatif_under_a_rule(rule_logs, tmp_path, capsys):
    fit_json = tmp_path / "fit.json"
    assert main(["trust", "fit", "--logs", str(rule_logs["confirmation"]), "--rule", "confirmation", "--quiet",
                 "--json", str(fit_json)]) == 0
    d = json.loads(fit_json.read_text())
    assert d["rule"] == "confirmation" and set(d["params"]) >= {"eta_confirm", "eta_disconfirm"}
    capsys.readouterr()
    assert main(["trust", "whatif", "--logs", str(rule_logs["confirmation"]), "--fit", str(fit_json),
                 "--sample-sellers", "500", "--error-scale", "1,0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    base, better = result["scenarios"]
    # under the fitted rule, better fidelity builds trust: mean trust and adoption rise
    assert better["error_scale"] == 0.5 and better["mean_trust"] > base["mean_trust"]
    assert better["adoption_change"] > 0


def test_spark_gives_the_local_estimates_under_every_rule(rule_logs, spark, tmp_path):
    from cheaptalk.dynamics.engines.spark import SparkEngine
    for rule in RULES[1:] + ("bayes+decay",):
        logs = rule_logs[rule.split("+")[0]]
        local = fit_trust(LocalEngine(resolve_logs(logs)), rule=rule, warm_start_sellers=500)
        engine = SparkEngine(resolve_logs(logs), spark=spark, partitions=3)
        try:
            remote = fit_trust(engine, rule=rule, warm_start_sellers=500)
        finally:
            engine.close()
        assert remote.rule == rule and local.converged and remote.converged
        for name in local.estimates:
            assert remote.estimates[name] == pytest.approx(local.estimates[name], rel=1e-5), (rule, name)
        assert remote.loglik == pytest.approx(local.loglik, rel=1e-9)
    # a task that fails on its first attempt is retried: the pass is unchanged (bayes+decay)
    fail_first_attempt = failing_first_attempt(str(tmp_path))

    model = TrustDynamics("continuous", 20, "bayes+decay")
    faulty = SparkEngine(resolve_logs(rule_logs["bayes"]), spark=spark, partitions=3, task_hook=fail_first_attempt)
    try:
        a = LocalEngine(resolve_logs(rule_logs["bayes"])).evaluate(model, remote.u, hessian=True)
        b = faulty.evaluate(model, remote.u, hessian=True)
    finally:
        faulty.close()
    assert list(tmp_path.glob("failed-stage-*")), "no task failed: the injection did not run"
    assert b.loglik == pytest.approx(a.loglik, rel=1e-12) and b.n_sellers == a.n_sellers == 3000
    np.testing.assert_allclose(b.hessian, a.hessian, rtol=1e-9)


def test_whatif_under_every_rule_of_a_comparison(rule_logs, tmp_path, capsys):
    """`trust whatif --fit COMPARE.json`: the same policies replayed under each fitted rule."""
    comp = tmp_path / "rules.json"
    assert main(["trust", "compare", "--logs", str(rule_logs["confirmation"]), "--rules", "asymmetric,confirmation",
                 "--quiet", "--json", str(comp)]) == 0
    capsys.readouterr()
    assert main(["trust", "whatif", "--logs", str(rule_logs["confirmation"]), "--fit", str(comp),
                 "--sample-sellers", "500", "--error-scale", "1,0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["by_rule"]) == {"asymmetric", "confirmation"}
    for rule, r in result["by_rule"].items():
        base, better = r["scenarios"]
        assert better["adoption_change"] > 0, rule
    # the rules differ in what better fidelity is worth
    changes = [r["scenarios"][1]["adoption_change"] for r in result["by_rule"].values()]
    assert abs(changes[0] - changes[1]) > 0
    assert main(["trust", "whatif", "--logs", str(rule_logs["confirmation"]), "--fit", str(comp),
                 "--parameter-draws", "5"]) == 2
    assert "one fit" in capsys.readouterr().err


def test_cross_validation_by_seller_picks_the_true_rule(rule_logs, tmp_path, capsys):
    """--folds: every seller held out exactly once, the same sellers for every rule; on bayes
    logs the bayes rule predicts held-out sellers best, by a clear margin."""
    engine = LocalEngine(resolve_logs(rule_logs["bayes"]))
    try:
        comparison = compare_rules(engine, ["symmetric", "bayes", "wsls"], warm_start_sellers=1000, folds=3,
                                   cv_sellers=2000)
    finally:
        engine.close()
    design = comparison.cv_design
    assert design["folds"] == 3 and 2000 <= design["sellers"] < 3000 and design["sellers_in_logs"] == 3000
    assert "sample of" in design["sample"]
    for rule, cv in comparison.cv.items():
        assert cv["by_subject"].shape == (design["sellers"],) and np.isfinite(cv["by_subject"]).all(), rule
        assert cv["cv_loglik"] == pytest.approx(cv["by_subject"].sum() / cv["decisions_by_subject"].sum())
        assert cv["not_converged"] == 0
        # held out on the fitted parameters of other sellers: below the in-sample fit per decision
        fit = comparison.fits[rule]
        assert cv["cv_loglik"] < fit.loglik / fit.n_decisions + 0.01
    assert comparison.best == "bayes" and comparison.best_by == "cv_loglik"
    lead = comparison.cv_lead()
    assert lead["best"] == "bayes" and lead["z"] > 5
    d = comparison.to_dict()
    assert d["best_by"] == "cv_loglik" and d["cross_validation"]["lead"]["best"] == "bayes"
    assert all(m["cv_loglik"] is not None and len(m["cv"]["per_fold"]) == 3 for m in d["models"])
    # the CLI: --folds, and a clear error for too few sellers
    out = tmp_path / "cv.json"
    assert main(["trust", "compare", "--logs", str(rule_logs["wsls"]), "--rules", "asymmetric,wsls", "--folds", "2",
                 "--cv-sellers", "1000", "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["best"] == "wsls"
    assert "held-out log-likelihood: wsls" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["trust", "compare", "--logs", str(rule_logs["wsls"]), "--rules", "asymmetric,wsls", "--folds", "1"])
    assert exc.value.code == 2 and "--folds must be from 2" in capsys.readouterr().err


def test_take_sellers_keeps_each_sellers_events():
    from cheaptalk.dynamics.engines.memory import take_sellers
    rng = np.random.default_rng(1)
    batch = _batch("continuous", rng, B=6)
    batch["seller"] = np.arange(6) + 100
    keep = np.array([True, False, True, False, False, True])
    sub = take_sellers(batch, keep)
    assert sub["n_sellers"] == 3 and list(sub["seller"]) == [100, 102, 105]
    np.testing.assert_array_equal(sub["act"], batch["act"][[0, 2, 5]])
    model = TrustDynamics("continuous", 20)
    u = np.zeros(5)
    np.testing.assert_allclose(model.batch_pass(u, sub)[0], model.batch_pass(u, batch)[0][keep])
    assert take_sellers(batch, np.zeros(6, bool)) is None


def test_the_true_rule_forecasts_adoption_by_event_best(rule_logs, tmp_path):
    """The adoption figure's numbers: on wsls logs, the wsls rule's prediction (from the
    feedback alone) tracks observed adoption by event and segment closer than the asymmetric
    rule's; the observed weight on the recommendation is the regression of a - own on m - own."""
    from cheaptalk.dynamics.trajectories import write_trajectories
    engine = LocalEngine(resolve_logs(rule_logs["wsls"]))
    try:
        errors = {}
        for rule in ("asymmetric", "wsls"):
            fit = fit_trust(engine, rule=rule, warm_start_sellers=1000)
            agg = write_trajectories(engine.batches(event_values=True), TrustDynamics("continuous", 20, rule), fit.u,
                                     tmp_path / rule)
            assert set(agg["adoption"]) == {"high", "mid", "low"}
            errors[rule] = np.mean([np.mean((a["observed"] - a["predicted"]) ** 2) for a in agg["adoption"].values()])
        mean0 = fit.estimates["initial_trust_mean"]
    finally:
        engine.close()
    assert errors["wsls"] < 0.25 * errors["asymmetric"], errors
    # at the first event nobody has seen feedback: the prediction is the mean initial trust
    # (the Beta mean, up to the quadrature), in every segment
    for a in agg["adoption"].values():
        assert a["event"][0] == 1 and a["predicted"][0] == pytest.approx(mean0, abs=2e-3)


def test_decay_option_recovered_and_tested_on_the_boundary(rule_logs, tmp_path):
    """RULE+decay: on logs with decay, the rate is recovered and the likelihood-ratio test
    against the rule without decay rejects; on logs without decay, it does not (the test's
    p-value is the boundary one, half of chi2(1)'s)."""
    from scipy import stats
    d = tmp_path / "decay"
    generate_logs(d, 3000, 40, seed=5, world=SyntheticWorld(rule="asymmetric+decay", decay=0.15, feedback_rate=0.5))
    path = simulate_path(np.array([0.8]), np.array([[0.1, 0.5, 0.5]]), np.array([[True, False, False]]), 0.2, 0.5,
                         "asymmetric+decay", decay=0.25)[0]
    after = 0.8 + 0.5 * (0.1 - 0.8)
    np.testing.assert_allclose(path, [0.8, after, after + 0.25 * (0.8 - after)])
    for logs, has_decay in ((d, True), (rule_logs["asymmetric"], False)):
        engine = LocalEngine(resolve_logs(logs))
        try:
            comparison = compare_rules(engine, ["asymmetric", "asymmetric+decay"], warm_start_sellers=1000)
        finally:
            engine.close()
        (lr,) = comparison.likelihood_ratio
        assert lr["boundary"] and lr["model_big"] == "asymmetric+decay"
        assert lr["p_value"] == pytest.approx(0.5 * stats.chi2.sf(lr["statistic"], 1))
        fit = comparison.fits["asymmetric+decay"]
        if has_decay:
            assert lr["p_value"] < 1e-10 and comparison.best == "asymmetric+decay"
            for name, value in json.loads((d / "truth.json").read_text())["params"].items():
                assert abs(fit.estimates[name] - value) < 4 * fit.se[name], (name, fit.estimates[name], value)
        else:
            assert lr["p_value"] > 1e-3 and comparison.best == "asymmetric"
            assert fit.estimates["decay"] < 0.01


@pytest.mark.parametrize("kind", ["continuous", "binary"])
@pytest.mark.parametrize("rule", ["asymmetric", "bayes+decay"])
def test_shared_initial_trust_passes_match_automatic_differentiation(kind, rule):
    """Groups of sellers sharing one initial trust (a subject's advisors): the compiled
    passes against automatic differentiation of the grouped likelihood, and groups of one
    seller each give the ungrouped likelihood."""
    rng = np.random.default_rng(11)
    batch = _batch(kind, rng, B=9, T=10)
    model = TrustDynamics(kind, 20, rule)
    u = rng.normal(0, 0.5, len(parameter_names(kind, rule)))
    alone = model.batch_pass(u, batch, hessian=True)
    singles = dict(batch, group_end=np.ones(9, bool))
    for got, want in zip(model.batch_pass(u, singles, hessian=True), alone):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    grouped = dict(batch, group_end=np.array([0, 0, 1, 1, 0, 1, 0, 0, 1], bool))   # groups of 3, 1, 2, 3
    ll, scores, H = model.batch_pass(u, grouped, hessian=True)
    ll_ad, scores_ad = model.loglik_and_scores(u, grouped)
    np.testing.assert_allclose(ll, ll_ad, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(scores, scores_ad, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(H, model.hessian(u, grouped), rtol=1e-9, atol=1e-9)
    assert (ll[~grouped["group_end"]] == 0).all()
    # sharing the initial trust is another model: the likelihood differs from the ungrouped one
    assert abs(ll.sum() - alone[0].sum()) > 1e-3


def test_shared_initial_trust_per_subject(tmp_path, capsys):
    """Lab designs with several advisors per subject: logs where each subject's three
    advisors share one initial trust are fitted better by the shared model (same number of
    parameters), which recovers the initial-trust spread and clusters by subject; the CLI
    reads the subjects from the seller table and says so."""
    d = tmp_path / "lab"
    world = SyntheticWorld(adoption="binary", advisors_per_subject=3, initial_trust_concentration=3.0)
    generate_logs(d, 1800, 20, seed=2, world=world)
    engine = LocalEngine(resolve_logs(d))
    try:
        separate = fit_trust(engine, warm_start_sellers=500)
        shared_engine = SharedTrustEngine(engine)
        assert shared_engine.n_subjects() == 600 and shared_engine.n_sellers() == 1800
        shared = fit_trust(shared_engine, warm_start_sellers=500)
    finally:
        engine.close()
    assert shared.converged and shared.n_params == separate.n_params
    assert shared.loglik > separate.loglik + 100
    assert shared.n_subjects == 600 and shared.to_dict()["cluster"] == "subject"
    for name, value in world.truth().items():
        assert abs(shared.estimates[name] - value) < 4 * shared.se[name], (name, shared.estimates[name], value)
    # the CLI, and a clear error without subjects
    out = tmp_path / "fit.json"
    assert main(["trust", "fit", "--logs", str(d), "--shared-initial-trust", "--quiet", "--json", str(out),
                 "--out", str(tmp_path / "out")]) == 0
    assert json.loads(out.read_text())["n_subjects"] == 600
    # per-seller trust: a subject's sellers share the posterior of their initial trust
    import pyarrow.parquet as pq
    sellers = pq.read_table(tmp_path / "out" / "seller_trust.parquet").to_pandas()
    assert len(sellers) == 1800
    spread = sellers.groupby(sellers["seller"] // 3)["initial_trust"].agg(lambda x: x.max() - x.min())
    assert spread.max() < 1e-12
    assert sellers["initial_trust"].nunique() > 500
    # the what-if replays the subjects with their shared initial trust
    capsys.readouterr()
    assert main(["trust", "whatif", "--logs", str(d), "--fit", str(out), "--sample-sellers", "300",
                 "--error-scale", "1,0.5", "--json"]) == 0
    better = json.loads(capsys.readouterr().out)["scenarios"][1]
    assert better["adoption_change"] > 0 and better["sellers"] >= 300
    assert main(["trust", "compare", "--logs", str(d), "--shared-initial-trust", "--rules", "asymmetric,wsls",
                 "--folds", "2", "--quiet", "--json", str(tmp_path / "cmp.json")]) == 0
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["best"] == "asymmetric" and cmp["cross_validation"]["by"] == "subject"
    (d / "sellers.parquet").unlink()
    capsys.readouterr()
    assert main(["trust", "fit", "--logs", str(d), "--shared-initial-trust", "--quiet"]) == 2
    assert "subject" in capsys.readouterr().err
