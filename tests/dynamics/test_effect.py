"""`trust generate --randomize` and `trust effect`: a randomised change in synthetic logs
(labelled synthetic), its causal effect by double machine learning and the trust model's
prediction of it, checked against the effect known by construction."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from cheaptalk.cli.main import main
from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
from cheaptalk.dynamics.investment.levers import Change

pytest.importorskip("doubleml")


def _generate(out, sellers=3000, events=50, seed=1, randomize=None, **world):
    return generate_logs(out, sellers, events, seed=seed, world=SyntheticWorld(**world), randomize=randomize)


def test_randomized_logs_keep_the_control_arm_as_without(tmp_path):
    """The arms are drawn apart from the logs' own random stream: control sellers' events are
    exactly those of the same seed without an experiment, treated sellers' differ from event T
    on only, and the seller table marks the arms."""
    plain = tmp_path / "plain"
    rand = tmp_path / "rand"
    _generate(plain, 400, 30)
    truth = _generate(rand, 400, 30, randomize=(Change(error_scale=0.5, start=10), 0.5))
    a = pq.read_table(plain / "events").to_pandas().sort_values(["seller", "time"]).reset_index(drop=True)
    b = pq.read_table(rand / "events").to_pandas().sort_values(["seller", "time"]).reset_index(drop=True)
    arms = pq.read_table(rand / "sellers.parquet").to_pandas().set_index("seller")["treatment"]
    assert set(arms.unique()) == {0, 1} and 120 < arms.sum() < 280
    treated = b["seller"].map(arms).to_numpy() == 1
    same = np.isclose(a["recommendation"], b["recommendation"])
    assert same[~treated].all()
    assert same[treated & (b["time"] < 10).to_numpy()].all()
    assert (~same[treated & (b["time"] >= 10).to_numpy()]).mean() > 0.99
    # the recommendation error is halved for the treated from event 10 on
    late = treated & (b["time"] >= 10).to_numpy()
    assert np.allclose(b["recommendation"][late] - b["truth"][late], 0.5 * (a["recommendation"][late] - a["truth"][late]))
    assert truth["randomize"] == {"share": 0.5, "from": 10, "levers": {"error_scale": 0.5}}
    assert truth["effect"]["adoption"] > 0 and set(truth["effect"]["adoption_by_segment"]) == {"high", "mid", "low"}


@pytest.fixture(scope="module")
def right_and_wrong(tmp_path_factory):
    """Two experiments: better recommendations under the asymmetric rule (the model fitted is
    the true one), and more feedback under a rule whose trust decays back between feedback
    (a model without decay gets the effect of feedback wrong)."""
    base = tmp_path_factory.mktemp("effect")
    right, wrong = base / "right", base / "wrong"
    _generate(right, randomize=(Change(error_scale=0.5, start=20), 0.5))
    _generate(wrong, rule="asymmetric+decay", decay=0.3, feedback_rate=0.3,
              randomize=(Change(feedback_rate=0.9, start=20), 0.5))
    return right, wrong


def _effect(logs, capsys, *extra):
    capsys.readouterr()
    assert main(["trust", "effect", "--logs", str(logs), "--treatment", "treatment", "--json", "--quiet",
                 "--parameter-draws", "10", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_effect_agrees_with_the_true_model_and_covers_the_truth(right_and_wrong, capsys, tmp_path):
    logs = right_and_wrong[0]
    truth = json.loads((logs / "truth.json").read_text())["effect"]
    r = _effect(logs, capsys, "--out", str(tmp_path / "out"))
    assert r["result"] == "trust-effect" and r["change"] == {"error_scale": 0.5, "start": 20}
    assert r["fit"]["fitted_on"] == "control arm" and r["sellers"]["treated"] + r["sellers"]["control"] == 3000
    for outcome in ("adoption", "profit"):
        e = r["outcomes"][outcome]
        c, m, d = e["causal"], e["model"], e["difference"]
        assert abs(c["estimate"] - truth[outcome]) < 3 * c["se"], outcome
        assert abs(m["estimate"] - truth[outcome]) < 3 * m["se"] + 0.02 * abs(truth[outcome]), outcome
        assert d["p_value"] > 0.01, outcome
        assert set(c["by_segment"]) == {"high", "mid", "low"}
        for s, cs in c["by_segment"].items():
            assert abs(cs["estimate"] - truth[f"{outcome}_by_segment"][s]) < 3.5 * cs["se"], (outcome, s)
    # lower fidelity segments gain most from halving the error
    by = r["outcomes"]["adoption"]["causal"]["by_segment"]
    assert by["low"]["estimate"] > by["mid"]["estimate"] > by["high"]["estimate"] > 0
    assert (tmp_path / "out" / "effect.png").stat().st_size > 5000
    assert json.loads((tmp_path / "out" / "effect.json").read_text())["outcomes"].keys() == {"adoption", "profit"}


def test_effect_flags_a_model_whose_counterfactual_is_wrong(right_and_wrong, capsys):
    logs = right_and_wrong[1]
    truth = json.loads((logs / "truth.json").read_text())["effect"]
    r = _effect(logs, capsys)
    e = r["outcomes"]["adoption"]
    assert abs(e["causal"]["estimate"] - truth["adoption"]) < 3 * e["causal"]["se"]
    assert e["difference"]["p_value"] < 1e-4
    # the same logs under the true rule: no disagreement
    r = _effect(logs, capsys, "--rule", "asymmetric+decay")
    assert r["outcomes"]["adoption"]["difference"]["p_value"] > 0.01


def test_causal_interval_coverage_over_seeds(tmp_path):
    """The 95% interval of the double machine learning estimate covers the true effect in
    about 95% of repeated experiments (40 seeds; binomial: at least 33 expected)."""
    from cheaptalk.dynamics.investment.effect import causal_effect, seller_outcomes
    from cheaptalk.dynamics.engines.local import LocalEngine
    from cheaptalk.dynamics.logs import resolve_logs
    covered = 0
    for seed in range(40):
        out = tmp_path / f"s{seed}"
        truth = _generate(out, 800, 30, seed=100 + seed, randomize=(Change(error_scale=0.5, start=10), 0.5))
        engine = LocalEngine(resolve_logs(out))
        try:
            df = seller_outcomes(engine.batches(event_values=True), 10, "continuous")
        finally:
            engine.close()
        arms = pq.read_table(out / "sellers.parquet").to_pandas().set_index("seller")["treatment"]
        df["treatment"] = df["seller"].map(arms).to_numpy()
        c = causal_effect(df, "adoption", folds=3, seed=seed)
        covered += abs(c["estimate"] - truth["effect"]["adoption"]) < 1.96 * c["se"]
    assert covered >= 33, covered


@pytest.mark.parametrize("args, message", [
    (["--treatment", "nope"], "no column 'nope'"),
    (["--treatment", "treatment", "--change", "error_scale=0.5,from=20", "--from", "5"], "disagree"),
    (["--treatment", "treatment", "--change", "foo=1"], "unknown name 'foo'"),
    (["--treatment", "treatment", "--change", "error_scale=1"], "status quo"),
    (["--treatment", "treatment", "--fit", "missing.json"], "no such file"),
])
def test_effect_refuses_bad_input_in_one_line(right_and_wrong, capsys, args, message):
    assert main(["trust", "effect", "--logs", str(right_and_wrong[0]), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_effect_refuses_a_treatment_that_is_not_two_arms(tmp_path, capsys):
    import pyarrow as pa
    logs = tmp_path / "logs"
    _generate(logs, 200, 20, randomize=(Change(error_scale=0.5, start=5), 0.5))
    table = pq.read_table(logs / "sellers.parquet")
    arm = np.array(table.column("treatment").to_pylist(), object)
    arm[7] = 2
    pq.write_table(pa.table({"seller": table.column("seller"), "treatment": arm.astype(int)}), logs / "sellers.parquet")
    assert main(["trust", "effect", "--logs", str(logs), "--treatment", "treatment", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "row 8 (seller 7): 2 is not a treatment arm" in err
    # without a recorded change and without --from: say what is missing
    (logs / "truth.json").unlink()
    arm[7] = 1
    pq.write_table(pa.table({"seller": table.column("seller"), "treatment": arm.astype(int)}), logs / "sellers.parquet")
    assert main(["trust", "effect", "--logs", str(logs), "--treatment", "treatment", "--quiet"]) == 2
    assert "--from T" in capsys.readouterr().err


def test_generate_refuses_a_bad_experiment(tmp_path, capsys):
    for spec, message in (("error_scale=0.5", "share"), ("error_scale=0.5,share=0.5,from=40", "not before the last"),
                          ("initial_trust_shift=1,share=0.5,from=3", "needs from=0")):
        assert main(["trust", "generate", "--sellers", "10", "--events-per-seller", "40", "--out",
                     str(tmp_path / "x"), "--quiet", "--randomize", spec]) == 2
        assert message in capsys.readouterr().err


def test_stated_covariates_join_the_learners_features(right_and_wrong, capsys, tmp_path):
    import shutil

    import pyarrow as pa
    logs = tmp_path / "logs"
    shutil.copytree(right_and_wrong[0], logs)
    t = pq.read_table(logs / "sellers_truth.parquet").to_pandas()
    pq.write_table(pa.Table.from_pandas(t[["seller", "treatment", "initial_trust"]], preserve_index=False),
                   logs / "sellers.parquet")
    truth = json.loads((logs / "truth.json").read_text())["effect"]
    r = _effect(logs, capsys, "--covariates", "initial_trust", "--parameter-draws", "0")
    c = r["outcomes"]["adoption"]["causal"]
    assert "covariate_initial_trust" in c["covariates"]
    assert abs(c["estimate"] - truth["adoption"]) < 3 * c["se"]
    t.loc[3, "initial_trust"] = np.nan
    pq.write_table(pa.Table.from_pandas(t[["seller", "treatment", "initial_trust"]], preserve_index=False),
                   logs / "sellers.parquet")
    assert main(["trust", "effect", "--logs", str(logs), "--treatment", "treatment", "--covariates",
                 "initial_trust", "--quiet"]) == 2
    assert "column 'initial_trust' row 4 (seller 3): no value" in capsys.readouterr().err
