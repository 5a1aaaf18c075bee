"""``cheaptalk trust effect`` (a randomised change in the logs: its causal effect beside the
trust model's prediction) and ``cheaptalk trust plan`` (the best use of a budget across
levers and segments under a fitted trust model)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..errors import InputError
from .common import dump_json, number_in
from .trust_common import (check_replayable, dataset_logs, fit_nodes, logs_arguments, open_engine,
                           report_exclusions, rule_argument, write_result)


def register(tsub):
    e = tsub.add_parser(
        "effect", help="causal effect of a randomised change, beside the trust model's prediction",
        description="The average effect of a randomised change (the treatment column of the seller table) on "
                    "the sellers' later adoption and profit, by double machine learning with cross-fitting "
                    "(DoubleML), overall and by segment; beside it, the trust model's prediction of the same "
                    "contrast, fitted on the control arm only, and a test of their difference.",
        epilog="example: cheaptalk trust generate --sellers 4000 --events-per-seller 60 --out logs "
               "--randomize error_scale=0.5,share=0.5,from=20 && cheaptalk trust effect --logs logs "
               "--treatment treatment")
    logs_arguments(e, required=False)
    e.add_argument("--dataset", metavar="NAME:PART", help="a public data set's trust logs in place of --logs")
    e.add_argument("--treatment", required=True, metavar="COLUMN",
                   help="the seller table's column of arms: 1 (or true, treated) for sellers who got the change, "
                        "0 (false, control) for the others; the seller table is --sellers-table or "
                        "LOGS/sellers.parquet")
    e.add_argument("--change", metavar="LEVER=VALUE,...,from=T",
                   help="what the treated arm got, from which event on (levers: error_scale, feedback_rate, "
                        "feedback_added, initial_trust_shift); the trust model predicts its effect. Default: the "
                        "change recorded in LOGS/truth.json by `trust generate --randomize`")
    e.add_argument("--from", dest="start", type=number_in(0, 1e6, "--from", whole=True),
                   help="without --change: the event index (from 0) the change started at (causal effect only)")
    e.add_argument("--covariates", metavar="COLUMN,...",
                   help="columns of the seller table measured before the change (numbers, or text as categories) "
                        "given which the change was as good as random; added to the learners' features")
    e.add_argument("--fit", metavar="FIT.json",
                   help="a saved `trust fit --json` to predict with (fitted on data the change did not touch); "
                        "default: --rule fitted on the control arm")
    e.add_argument("--rule", type=rule_argument, default="asymmetric", help="learning rule fitted on the control arm "
                                                                        "(default asymmetric)")
    e.add_argument("--folds", type=number_in(2, 20, "--folds", whole=True), default=5,
                   help="cross-fitting folds of the double machine learning (5)")
    e.add_argument("--parameter-draws", type=number_in(0, 10_000, "--parameter-draws", whole=True), default=30,
                   help="parameter vectors drawn from the fit's sampling distribution for the model's standard "
                        "error (30; 0: sellers only)")
    e.add_argument("--sample-sellers", type=number_in(1, 1e8, "--sample-sellers", whole=True), default=20_000,
                   help="control sellers replayed for the model's prediction, drawn at random (20000)")
    _common_arguments(e, "effect", "seed of the folds and draws (0)")
    e.set_defaults(func=run_effect)

    p = tsub.add_parser(
        "plan", help="the best use of a budget across levers and segments under a fitted trust model",
        description="The allocation of a budget across levers (better recommendations, more visible outcomes, "
                    "an explanation for new sellers) and segments that maximises the objective of a levers file "
                    "under the fitted learning rule (a mixed-integer program over the levers' levels, solved "
                    "exactly by HiGHS), on sampled sellers replayed with common random numbers; its gain over the "
                    "status quo and the next best plan with intervals that include the parameters' uncertainty, "
                    "and the marginal value of budget per lever. A `trust compare` JSON plans under every rule.",
        epilog="example: cheaptalk trust plan --fit fit.json --logs logs --levers docs/levers-example.toml "
               "--budget 40000")
    logs_arguments(p, required=False)
    p.add_argument("--dataset", metavar="NAME:PART", help="a public data set's trust logs in place of --logs")
    p.add_argument("--fit", required=True, metavar="FIT.json",
                   help="output of `trust fit --json`, or of `trust compare --json` (a plan under every rule)")
    p.add_argument("--levers", required=True, metavar="FILE.toml",
                   help="the levers, their levels and costs, and the objective (docs/levers-example.toml)")
    p.add_argument("--budget", required=True, type=number_in(0, 1e15, "--budget"),
                   help="total budget, in the levers' cost units, for all sellers")
    p.add_argument("--sample-sellers", type=number_in(1, 1e8, "--sample-sellers", whole=True), default=20_000,
                   help="sellers replayed by the local engine, drawn at random (20000)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: a sample of sellers replayed here; spark: every seller replayed on Spark's "
                        "executors, for logs beyond one machine (the same plan on the same sellers)")
    p.add_argument("--master", default="local[2]", help="Spark master (local[2]; a spark:// URL for a cluster; "
                                                         "'submit' takes spark-submit's settings)")
    p.add_argument("--parameter-draws", type=number_in(0, 10_000, "--parameter-draws", whole=True), default=30,
                   help="parameter vectors drawn from the fit's sampling distribution for the intervals (30; "
                        "0: sellers only)")
    _common_arguments(p, "plan", "seed of the feedback uniforms and parameter draws (0)")
    p.set_defaults(func=run_plan)


def _common_arguments(p, stem: str, seed_help: str) -> None:
    """The seller's economics, the seed and the outputs (the same in `effect` and `plan`)."""
    p.add_argument("--price", type=number_in(-1e12, 1e12, "--price"), default=1.0, help="price per unit sold (1)")
    p.add_argument("--unit-cost", type=number_in(-1e12, 1e12, "--unit-cost"), default=0.6,
                   help="cost per unit stocked (0.6)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--out", metavar="DIR", help=f"write {stem}.json and the figure {stem}.png to DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _need_causal_libraries() -> None:
    try:
        import doubleml  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        raise InputError("trust effect needs DoubleML and scikit-learn: pip install 'cheaptalk[causal]'") from None


def _read_fit(path, fitj: dict | None = None, segments_ok: bool = False) -> dict:
    from ..estimation.result import read_json
    from ..estimation.schema import check_result
    if fitj is None:
        fitj = read_json(path)
        check_result(fitj, str(path))
    if "params" not in fitj or not str(fitj.get("model", "")).startswith("trust-dynamics"):
        raise InputError(f"{path}: not a saved trust fit (`cheaptalk trust fit --json`)")
    if fitj.get("cluster") == "subject":
        raise InputError(f"{path}: a fit with one initial trust shared by each subject's sellers; plans and effects "
                         "replay sellers each with its own initial trust (fit again without --shared-initial-trust)")
    check_replayable(path, fitj, segments_ok)
    cov = fitj.get("diagnostics", {}).get("covariance_unconstrained", {}).get("matrix")
    return {"params": fitj["params"], "rule": fitj.get("rule", "asymmetric"),
            "n_nodes": fit_nodes(fitj), "segments": tuple(str(x) for x in fitj.get("segments") or ()),
            "converged": fitj.get("converged", True), "warnings": fitj.get("warnings", []), "covariance": cov}


def run_effect(args) -> int:
    from ..dynamics.investment.effect import read_treatment, trust_effect
    from ..dynamics.investment.levers import change_of_logs, parse_change
    _need_causal_libraries()
    dataset_logs(args)
    change = parse_change(args.change)[0] if args.change else None
    truth_file = Path(args.logs) / "truth.json"
    if change is None and args.start is None and truth_file.is_file():
        try:
            change = change_of_logs(json.loads(truth_file.read_text()))
        except (ValueError, TypeError, InputError):
            change = None
    if change is None and args.start is None:
        raise InputError("say what the treated arm got (--change LEVER=VALUE,from=T), or at least the event it "
                         "started at (--from T, causal effect only)")
    if change is not None and args.start is not None and args.start != change.start:
        raise InputError(f"--from {args.start} and the change's from={change.start} disagree; give one")
    table = Path(args.sellers_table) if args.sellers_table else Path(args.logs) / "sellers.parquet"
    treatment = read_treatment(table, args.treatment)
    covariates = None
    if args.covariates:
        from ..dynamics.investment.effect import read_covariates
        names = [c.strip() for c in args.covariates.split(",") if c.strip()]
        if args.treatment in names:
            raise InputError(f"--covariates: {args.treatment!r} is the treatment, not a covariate")
        covariates = read_covariates(table, names)
    fit = _read_fit(args.fit) if args.fit else None
    progress = not args.quiet and sys.stderr.isatty()
    engine = open_engine(args, progress)
    try:
        report_exclusions(engine, args.strict)
        result = trust_effect(engine, treatment, change, args.start, fit, args.rule, args.folds, args.seed,
                              args.parameter_draws, args.sample_sellers, args.price, args.unit_cost, progress,
                              covariates)
    finally:
        engine.close()
    result["treatment"] = {"column": args.treatment, "table": str(table)}
    if args.out:
        from ..dynamics.plots import plot_effect
        write_result(result, args.out, "effect", lambda path: plot_effect(result, path))
    if args.json:
        dump_json(result)
        return 0
    for line in effect_lines(result):
        print(line)
    if args.out:
        print(f"\neffect.json and effect.png in {args.out}")
    return 0


def effect_lines(result: dict) -> list[str]:
    """The effect report as text: each outcome's causal estimate, the model's prediction, their
    difference and what it means."""
    s = result["sellers"]
    lines = [f"sellers: {s['treated']:,} treated, {s['control']:,} control; outcomes over each seller's events "
             f"from event {result['start']} on"]
    fit = result.get("fit")
    if "change" in result:
        lines.append("change: " + ", ".join(f"{k}={v:g}" for k, v in result["change"].items() if k != "start"))
    if fit:
        lines.append(f"model: rule {fit['rule']} ({fit['fitted_on']}), prediction on {fit['sellers_replayed']:,} "
                     f"control sellers" + (f", se with {fit['parameter_draws']} parameter draws"
                                           if fit["parameter_draws"] else ", se of sellers only"))
        if not fit.get("converged", True):
            lines.append("warning: the fit behind the prediction did not converge")
    lines.append("")
    lines.append(f"{'outcome':<10} {'segment':<8} {'causal (se)':>20} {'model (se)':>20} {'difference (se)':>20} "
                 f"{'p':>8}")
    for outcome, e in result["outcomes"].items():
        rows = [("all", e["causal"], e.get("model"), e.get("difference"))]
        for seg, c in e["causal"].get("by_segment", {}).items():
            rows.append((seg, c, e.get("model", {}).get("by_segment", {}).get(seg),
                         e.get("difference_by_segment", {}).get(seg)))
        for seg, c, m, d in rows:
            fmt = (lambda x: f"{x['estimate']:+.4f} ({x['se']:.4f})" if x else "")
            p = f"{d['p_value']:.3g}" if d and math.isfinite(d["p_value"]) else ""
            lines.append(f"{outcome:<10} {seg:<8} {fmt(c):>20} {fmt(m):>20} {fmt(d):>20} {p:>8}")
    lines.append("")
    for outcome, e in result["outcomes"].items():
        d = e.get("difference")
        if not d:
            continue
        lo, hi = d["interval_95"]
        if d["p_value"] < 0.05:
            lines.append(f"{outcome}: the experiment contradicts the model's prediction (difference {d['estimate']:+.4f},"
                         f" p = {d['p_value']:.3g}): its counterfactual for this change is not supported")
        else:
            lines.append(f"{outcome}: the experiment does not contradict the model's prediction (p = "
                         f"{d['p_value']:.2g}); at this precision it rules out differences beyond [{lo:+.4f}, {hi:+.4f}]")
    for note in result.get("notes", []):
        lines.append("note: " + note)
    return lines


def run_plan(args) -> int:
    from ..dynamics.engines import sellers_at_random
    from ..dynamics.investment.plan import read_levers, trust_plan
    from ..estimation.result import comparison_models, read_json
    from ..estimation.schema import check_result
    levers = read_levers(args.levers)
    fitj = read_json(args.fit)
    check_result(fitj, str(args.fit))
    models = comparison_models(fitj)
    fits = [m for m in models if str(m.get("model", "")).startswith("trust-dynamics")] if models is not None \
        else [fitj]
    if not fits:
        raise InputError(f"{args.fit}: no trust fit in the comparison")
    fits = [_read_fit(args.fit, m, segments_ok=True) for m in fits]
    kind = str((models[0] if models else fitj)["model"]).rsplit("-", 1)[-1]
    args.adoption = args.adoption or kind
    dataset_logs(args)
    progress = not args.quiet and sys.stderr.isatty()
    engine = open_engine(args, progress)
    try:
        report_exclusions(engine, args.strict)
        opts = engine.source.options
        if levers.objective.profit and not (opts.fidelity_source == "truth" and opts.has_own_estimate):
            raise InputError(f"{args.levers}: the objective values profit, which needs the truth (demand) and the "
                             f"sellers' own estimates in the logs; {args.logs} has "
                             + ("no truth column" if opts.fidelity_source != "truth" else "no own_estimate column")
                             + " (set profit = 0 and value adoption)")
        on_spark = args.engine == "spark"
        total = engine.n_sellers()
        batches = None if on_spark else \
            sellers_at_random(engine.batches(event_values=True), total, args.sample_sellers, args.seed)
        if not total or (batches is not None and not batches):
            raise InputError(f"{args.logs}: no usable event in the logs: there is nothing to replay")
        plans = {}
        for fit in fits:
            params = {k: v["estimate"] for k, v in fit["params"].items()}
            plans[fit["rule"]] = trust_plan(batches, params, kind, fit["rule"], levers, args.budget,
                                            engine.source.options.fidelity_scale, total, fit["n_nodes"],
                                            fit["covariance"], args.parameter_draws, args.price, args.unit_cost,
                                            args.seed, progress, engine=engine if on_spark else None,
                                            segments=fit["segments"])
    finally:
        engine.close()
    for fit, plan in zip(fits, plans.values()):
        if not fit.get("converged", True):
            plan["notes"].append(f"the fit of rule {fit['rule']} did not converge: its plan rests on unconverged "
                                 "parameters")
    result = next(iter(plans.values())) if models is None else \
        {"result": "trust-plan-by-rule", "budget": args.budget, "by_rule": plans}
    if args.out:
        from ..dynamics.plots import plot_plan
        write_result(result, args.out, "plan", lambda path: plot_plan(plans, path))
    if args.json:
        dump_json(result)
        return 0
    for rule, plan in plans.items():
        if len(plans) > 1:
            print(f"=== rule {rule}")
        for line in plan_lines(plan):
            print(line)
        print()
    if args.out:
        print(f"plan.json and plan.png in {args.out}")
    return 0


def plan_lines(plan: dict) -> list[str]:
    """A plan as text: what to buy where, what it costs, what it gains and how sure that is."""
    o = plan["objective"]
    what = " + ".join(f"{w:g} x {k}" for k, w in (("adoption", o["adoption"]), ("profit", o["profit"])) if w)
    lines = [f"plan for a budget of {plan['budget']:,.6g} under rule {plan['rule']}: objective {what} per event "
             f"over {o['horizon']} events, {plan['sellers']['total']:,} sellers ({plan['sellers']['sampled']:,} "
             f"replayed), {plan['combinations_replayed']} policies evaluated"]
    lines.append(f"{'segment':<10} {'sellers':>10} {'cost/seller':>12}  levers")
    for seg, p in plan["plan"].items():
        levers = ", ".join(f"{k}={v:g}" for k, v in p["levers"].items())
        lines.append(f"{seg:<10} {plan['sellers']['by_segment'][seg]:>10,.0f} {p['cost_per_seller']:>12,.4g}  {levers}")
    lines.append(f"cost {plan['cost']:,.6g} of {plan['budget']:,.6g}")
    for key, label in (("against_status_quo", "the status quo"), ("against_next_best", "the next best plan")):
        e = plan.get(key)
        if e is None:
            continue
        lo, hi = e["interval_95"]
        lines.append(f"gain over {label}: {e['gain']:+,.6g} (95% interval {lo:+,.6g} to {hi:+,.6g}; "
                     f"probability the plan is better {e['probability_plan_better']:.3f})")
    if "next_best" in plan:
        nb = "; ".join(f"{s}: " + ", ".join(f"{k}={v:g}" for k, v in p["levers"].items())
                       for s, p in plan["next_best"].items())
        lines.append(f"next best plan: {nb}")
    lines.append("marginal value of one more unit of budget, by lever (best segment, next level):")
    for name, m in plan["marginal_value_per_lever"].items():
        if m is None:
            lines.append(f"  {name}: at its last level everywhere")
        else:
            lines.append(f"  {name}: {m['value_per_unit_cost']:,.4g} per unit (in {m['segment']}, to {m['to_level']:g})")
    sq = plan.get("against_status_quo")
    if sq and sq["interval_95"][0] <= 0 <= sq["interval_95"][1]:
        lines.append("the gain over the status quo is not distinguishable from zero at this precision")
    nb = plan.get("against_next_best")
    if nb and nb["interval_95"][0] <= 0:
        lines.append("the plan and the next best plan are not separated at this precision: either is as good")
    for note in plan.get("notes", []):
        lines.append("note: " + note)
    return lines
