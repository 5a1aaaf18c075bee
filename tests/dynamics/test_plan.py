"""`trust plan`: the best allocation of a budget across levers and segments, checked against
brute force over every allocation, under a known truth (synthetic logs, labelled synthetic)."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from cheaptalk.cli.main import main
from cheaptalk.dynamics.generate import SyntheticWorld, generate_logs
from cheaptalk.dynamics.investment.plan import read_levers, solve_plan, value_table

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "levers-example.toml"


@pytest.fixture(scope="module")
def logs_and_fit(tmp_path_factory):
    base = tmp_path_factory.mktemp("plan")
    logs = base / "logs"
    truth = generate_logs(logs, 3000, 40, seed=5, world=SyntheticWorld())
    return logs, truth, None


def _batches(logs, n=3000):
    from cheaptalk.dynamics.engines.local import LocalEngine
    from cheaptalk.dynamics.logs import resolve_logs
    engine = LocalEngine(resolve_logs(logs))
    try:
        return engine.sample(n, event_values=True), engine.source.options.fidelity_scale
    finally:
        engine.close()


def _brute_force(table, sellers, budget):
    """The best total value over every allocation (one combination per segment) within budget."""
    segs = list(table)
    best = -np.inf
    for choice in itertools.product(*[range(len(table[s]["cost"])) for s in segs]):
        cost = sum(sellers[s] * table[s]["cost"][g] for s, g in zip(segs, choice))
        if cost <= budget + 1e-9:
            best = max(best, sum(sellers[s] * np.nanmean(table[s]["values"][:, g]) for s, g in zip(segs, choice)))
    return best


def test_the_plan_is_the_brute_force_optimum_and_more_budget_never_hurts(logs_and_fit):
    logs, truth, _ = logs_and_fit
    batches, scale = _batches(logs)
    levers = read_levers(EXAMPLE)
    table = value_table(batches, truth["params"], "continuous", "asymmetric", levers.levers, levers.objective, scale)
    sellers = {s: 1000.0 for s in table}
    means = {s: t["values"].mean(axis=0) for s, t in table.items()}
    costs = {s: t["cost"] for s, t in table.items()}
    previous = -np.inf
    for budget in (0.0, 1500.0, 3000.0, 6000.0, 12000.0, 24000.0):
        plan, value, cost = solve_plan(means, costs, sellers, budget)
        assert cost <= budget + 1e-6
        assert value == pytest.approx(_brute_force(table, sellers, budget), rel=1e-12)
        assert value >= previous - 1e-9            # doubling the budget never lowers the objective
        previous = value
    # the next best plan is a different allocation, no better than the plan
    plan, value, _ = solve_plan(means, costs, sellers, 6000.0)
    runner = solve_plan(means, costs, sellers, 6000.0, exclude=plan)
    assert runner[0] != plan and runner[1] <= value + 1e-9


def test_plan_under_a_fit_covers_the_true_optimum(logs_and_fit, tmp_path, capsys):
    """Fitted on synthetic logs, the plan's estimated gain over the status quo has an interval
    that holds the gain of the best allocation found by brute force under the true
    parameters, and the plan's own gain under the truth is close to that optimum."""
    logs, truth, _ = logs_and_fit
    capsys.readouterr()
    assert main(["trust", "fit", "--logs", str(logs), "--quiet", "--json"]) == 0
    fit = tmp_path / "fit.json"
    fit.write_text(capsys.readouterr().out)
    out = tmp_path / "out"
    budget = 3000 * 2.0
    assert main(["trust", "plan", "--fit", str(fit), "--logs", str(logs), "--levers", str(EXAMPLE), "--budget",
                 str(budget), "--parameter-draws", "10", "--quiet", "--json", "--out", str(out)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["result"] == "trust-plan" and plan["cost"] <= budget
    assert (out / "plan.png").stat().st_size > 5000 and (out / "plan.json").exists()
    batches, scale = _batches(logs)
    levers = read_levers(EXAMPLE)
    true_table = value_table(batches, truth["params"], "continuous", "asymmetric", levers.levers, levers.objective,
                             scale)
    sellers = {s: v for s, v in plan["sellers"]["by_segment"].items()}
    best_true = _brute_force(true_table, sellers, budget)
    sq_true = sum(sellers[s] * true_table[s]["values"][:, 0].mean() for s in true_table)
    lo, hi = plan["against_status_quo"]["interval_95"]
    assert lo <= best_true - sq_true <= hi or abs(plan["against_status_quo"]["gain"] - (best_true - sq_true)) < \
        3 * plan["against_status_quo"]["se"]
    # the plan chosen under the fit, valued under the truth, is (nearly) the true optimum
    chosen = {}
    for s, p in plan["plan"].items():
        combos = true_table[s]["combinations"]
        chosen[s] = next(j for j, (idx, change, _) in enumerate(combos)
                         if all(getattr(change, k) == v for k, v in p["levers"].items()))
    value_true = sum(sellers[s] * true_table[s]["values"][:, g].mean() for s, g in chosen.items())
    assert value_true >= best_true - 3 * plan["against_status_quo"]["se"]
    assert plan["against_status_quo"]["probability_plan_better"] > 0.99
    assert set(plan["marginal_value_per_lever"]) == {"error_scale", "feedback_added", "initial_trust_shift[mid,low]"}
    budgets = [f["budget"] for f in plan["frontier"]]
    values = [f["value"] for f in plan["frontier"]]
    assert budgets == sorted(budgets) and all(b >= a - 1e-6 for a, b in zip(values, values[1:]))


def test_plan_under_every_rule_of_a_comparison(logs_and_fit, tmp_path, capsys):
    logs = logs_and_fit[0]
    capsys.readouterr()
    assert main(["trust", "compare", "--logs", str(logs), "--rules", "asymmetric,symmetric", "--quiet", "--json"]) == 0
    comparison = tmp_path / "compare.json"
    comparison.write_text(capsys.readouterr().out)
    assert main(["trust", "plan", "--fit", str(comparison), "--logs", str(logs), "--levers", str(EXAMPLE),
                 "--budget", "4000", "--parameter-draws", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "=== rule asymmetric" in out and "=== rule symmetric" in out and "gain over the status quo" in out


LEVERS_OK = """
[objective]
profit = 1.0
horizon = 20

[[lever]]
name = "error_scale"
levels = [1.0, 0.5]
cost = [0.0, 1.0]
"""


@pytest.mark.parametrize("text, message", [
    ("", "no [[lever]] entry"),
    ("[objective]\nprofit = 0\nadoption = 0\n" + LEVERS_OK.split("[[lever]]")[1].join(["[[lever]]", ""]),
     "both weight 0"),
    (LEVERS_OK.replace("levels = [1.0, 0.5]", "levels = [0.5, 1.0]"), "first level must be the status quo"),
    (LEVERS_OK.replace("cost = [0.0, 1.0]", "cost = [0.0]"), "2 levels but 1 costs"),
    (LEVERS_OK.replace('"error_scale"', '"feedback_rate"'), "a plan's levers are"),
    (LEVERS_OK.replace("horizon = 20", "horizon = 0"), "horizon = 0"),
    (LEVERS_OK.replace("cost = [0.0, 1.0]", "cost = [0.0, -1.0]"), "costs must be numbers from 0"),
    (LEVERS_OK.replace("levels = [1.0, 0.5]", "levels = [1.0, 11.0]"), "outside [0, 10]"),
    (LEVERS_OK + LEVERS_OK.split("[objective]")[1].split("horizon = 20")[1], "listed twice"),
    (LEVERS_OK.replace("[objective]", "[objectve]"), "unknown section"),
    ("[[lever]\n", "not a TOML file"),
])
def test_levers_file_mistakes_are_one_line(tmp_path, capsys, logs_and_fit, text, message):
    path = tmp_path / "levers.toml"
    path.write_text(text)
    assert main(["trust", "plan", "--fit", str(tmp_path / "none.json"), "--logs", str(logs_and_fit[0]),
                 "--levers", str(path), "--budget", "10", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "Traceback" not in err


def test_example_levers_file_reads():
    lv = read_levers(EXAMPLE)
    assert [x.name for x in lv.levers] == ["error_scale", "feedback_added", "initial_trust_shift"]
    assert lv.objective.horizon == 50


@pytest.mark.parametrize("shuffled", [False, True])
def test_spark_replays_every_seller_and_gives_the_same_plan(logs_and_fit, spark, tmp_path, shuffled):
    """The plan with every seller replayed on Spark's executors equals the one replayed here
    on the same sellers: logs read as stored, and logs Spark must sort (a file out of order)."""
    import shutil

    import pyarrow.parquet as pq

    from cheaptalk.dynamics.engines.spark import SparkEngine
    from cheaptalk.dynamics.logs import resolve_logs
    from cheaptalk.dynamics.investment.plan import trust_plan
    logs, truth, _ = logs_and_fit
    if shuffled:
        copy = tmp_path / "logs"
        shutil.copytree(logs, copy)
        first = pq.read_table(copy / "events" / "part-00000.parquet")
        cut = first.num_rows // 2 + 7             # one seller's events in two files
        pq.write_table(first.slice(0, cut), copy / "events" / "part-00000.parquet")
        pq.write_table(first.slice(cut), copy / "events" / "part-zz-late.parquet")
        logs = copy
    levers = read_levers(EXAMPLE)
    cov = np.diag([0.01] * len(truth["params"]))
    batches, scale = _batches(logs, 10_000)
    here = trust_plan(batches, truth["params"], "continuous", "asymmetric", levers, 6000.0, scale, 3000,
                      cov_unconstrained=cov, parameter_draws=2)
    engine = SparkEngine(resolve_logs(logs), spark=spark, partitions=3)
    try:
        there = trust_plan(None, truth["params"], "continuous", "asymmetric", levers, 6000.0, scale, 3000,
                           cov_unconstrained=cov, parameter_draws=2, engine=engine)
        assert engine.read_in_order is (not shuffled)
    finally:
        engine.close()
    assert there["sellers"]["sampled"] == here["sellers"]["sampled"] == 3000
    assert there["plan"] == here["plan"] and there["next_best"] == here["next_best"]
    assert there["value"] == pytest.approx(here["value"], rel=1e-12)
    for key in ("gain", "se_sellers", "se_parameters"):
        assert there["against_status_quo"][key] == pytest.approx(here["against_status_quo"][key], rel=1e-9), key


def test_the_sample_of_sellers_keeps_the_segments_shares(logs_and_fit):
    """Logs stored segment by segment: the first sellers would all be of one segment; the
    random sample keeps each segment's share."""
    from cheaptalk.dynamics.engines import first_sellers, sellers_at_random
    from cheaptalk.dynamics.logs.packing import take_sellers
    batches, _ = _batches(logs_and_fit[0], 10_000)
    ordered = []
    for seg in ("high", "low", "mid"):
        for b in batches:
            part = take_sellers(b, np.asarray(b["segment"][:int(b["n_sellers"])]) == seg)
            if part is not None:
                ordered.append(part)
    def shares(bs):
        labels = np.concatenate([np.asarray(b["segment"][:int(b["n_sellers"])]) for b in bs])
        return {s: float(np.mean(labels == s)) for s in ("high", "low", "mid")}
    assert shares(first_sellers(ordered, 600))["high"] == 1.0
    sample = sellers_at_random(ordered, 3000, 600, seed=1)
    n = sum(int(b["n_sellers"]) for b in sample)
    assert 480 < n < 720
    for s, share in shares(sample).items():
        assert abs(share - shares(ordered)[s]) < 0.06, s


def test_plan_under_a_fit_with_initial_trust_by_segment(tmp_path, capsys):
    """Each segment's sellers are replayed at their own mean of initial trust: the segment's
    values equal those of a one-mean model at that mean."""
    logs = tmp_path / "logs"
    truth = generate_logs(logs, 900, 30, seed=8, world=SyntheticWorld(initial_trust_means={"high": 0.8, "low": 0.3}))
    batches, scale = _batches(logs)
    levers = read_levers(EXAMPLE)
    segments = ("high", "low", "mid")
    by_segment = value_table(batches, truth["params"], "continuous", "asymmetric", levers.levers, levers.objective,
                             scale, segments=segments)
    for s in segments:
        one = {k: v for k, v in truth["params"].items() if not k.startswith("initial_trust_mean[")}
        one["initial_trust_mean"] = truth["params"][f"initial_trust_mean[{s}]"]
        alone = value_table(batches, one, "continuous", "asymmetric", levers.levers, levers.objective, scale)
        np.testing.assert_allclose(by_segment[s]["values"], alone[s]["values"], rtol=1e-12)
    capsys.readouterr()
    assert main(["trust", "fit", "--logs", str(logs), "--initial-trust-by", "segment", "--quiet", "--json"]) == 0
    fit = tmp_path / "fit.json"
    fit.write_text(capsys.readouterr().out)
    assert main(["trust", "plan", "--fit", str(fit), "--logs", str(logs), "--levers", str(EXAMPLE), "--budget",
                 "2000", "--parameter-draws", "3", "--quiet", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["initial_trust_by_segment"] == list(segments) and plan["against_status_quo"]["parameter_draws"] == 3


def test_a_profit_objective_needs_truth_and_own_estimates(tmp_path, capsys):
    import pyarrow.parquet as pq
    logs = tmp_path / "logs"
    generate_logs(logs, 60, 10, seed=2, world=SyntheticWorld(adoption="binary"))
    part = logs / "events" / "part-00000.parquet"
    pq.write_table(pq.read_table(part).drop(["own_estimate"]), part)
    assert main(["trust", "fit", "--logs", str(logs), "--quiet", "--json"]) == 0
    fit = tmp_path / "fit.json"
    fit.write_text(capsys.readouterr().out)
    assert main(["trust", "plan", "--fit", str(fit), "--logs", str(logs), "--levers", str(EXAMPLE), "--budget",
                 "10", "--quiet"]) == 2
    assert "no own_estimate column" in capsys.readouterr().err
