"""``cheaptalk design``: which treatments tell the competing models apart, before the experiment."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from .common import add_game_argument, add_option_argument, dump_json, game_from_args, number_in, parse_options


def register(sub):
    p = sub.add_parser(
        "design", help="which treatments tell the models apart (expected information) and power by simulation",
        description="For each treatment of the game: the expected information (mutual information, in nats) "
                    "that one subject's decisions carry about which of the competing models generated them, "
                    "averaged over each model's parameter uncertainty (draws from a fit's estimates and "
                    "covariance, or the models' defaults), and the pairwise divergences (expected log Bayes "
                    "factors). Computed by simulating each model and scoring the data under every model. "
                    "See docs/design.md.")
    add_game_argument(p)
    p.add_argument("--models", default="trust,levelk", metavar="A,B,...",
                   help="the competing model families (default trust,levelk)")
    p.add_argument("--errors", default="logit", metavar="E1,E2,...",
                   help="error models (each family under each; default logit)")
    add_option_argument(p, per_model=False)
    p.add_argument("--fit", metavar="FILE",
                   help="a comparison JSON (`compare --json`) or fit JSON whose estimates and covariances give "
                        "the models' parameters (matched by family/errors); without it, the models' defaults")
    p.add_argument("--draws", type=number_in(1, 1000, "--draws", whole=True), default=None, metavar="K",
                   help="parameter draws per model from the fit (default 20 with --fit; 1 without)")
    p.add_argument("--treatments", metavar="T1,T2,...", help="candidate treatments (default: all of the game)")
    p.add_argument("--rounds", type=number_in(1, 1000, "--rounds", whole=True), default=10,
                   help="rounds each subject plays (the panel; default 10)")
    p.add_argument("--mc-subjects", type=number_in(10, 100_000, "--mc-subjects", whole=True), default=200,
                   metavar="N", help="subjects simulated for the information, per role, treatment, model and draw "
                                     "(default 200; more: smaller Monte Carlo standard errors)")
    power = p.add_argument_group("power by simulation (with --subjects)")
    power.add_argument("--subjects", metavar="N1,N2,...",
                       help="sample sizes (subjects per role and treatment) at which to simulate the comparison "
                            "a user would run and count how often it names the true family")
    power.add_argument("--design", metavar="T1,T2,...",
                       help="the treatments the experiment plays (default: the most informative one)")
    power.add_argument("--simulations", type=number_in(1, 10_000, "--simulations", whole=True), default=20,
                       metavar="S", help="simulated data sets per true model and size (default 20)")
    power.add_argument("--target", type=number_in(0.05, 0.999, "--target"), default=0.8,
                       help="the power wanted (default 0.8): the smallest size reaching it is recommended")
    power.add_argument("--folds", type=number_in(2, 10, "--folds", whole=True), default=3,
                       help="cross-validation folds of each simulated comparison (default 3)")
    power.add_argument("--level", type=number_in(0.5, 0.999, "--level"), default=0.90,
                       help="level of the comparison's model confidence set (default 0.90)")
    power.add_argument("--workers", type=number_in(1, 64, "--workers", whole=True), default=None,
                       help="processes running simulated comparisons (default: the CPU cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulations and the draws (default 0)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="OUT",
                   help="write the information JSON (- for standard output)")
    p.add_argument("--out", metavar="DIR", help="write design.json and the figure information.png to DIR")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=run)


def _fits_by_label(path) -> dict:
    from ..estimation.result import comparison_models, read_json
    from ..estimation.schema import check_result

    data = read_json(path)
    check_result(data, str(path))
    entries = comparison_models(data) or [data]
    out = {}
    for entry in entries:
        errors = entry.get("errors") or "logit"
        out[f"{entry['model']}/{errors}"] = entry
    return out


def run(args) -> int:
    from ..design import candidate, treatment_information
    from ..models import get_model

    game = game_from_args(args)
    families = [m.strip() for m in args.models.split(",") if m.strip()]
    errors = [e.strip() for e in args.errors.split(",") if e.strip()]
    options = parse_options(args.option)
    if "errors" in options:
        raise InputError("design compares each family under each error model: use --errors, not --option errors")
    fits = _fits_by_label(args.fit) if args.fit else {}
    draws = args.draws or (20 if args.fit else 1)
    candidates = []
    for family in families:
        for err in errors:
            label = f"{family}/{err}"
            try:
                model = get_model(family, game, **({"errors": err} | options))
            except InputError:
                raise
            except ValueError as exc:
                raise InputError(f"{label}: {exc}") from None
            if args.fit and label not in fits:
                raise InputError(f"{args.fit}: no fit of {label}; it has {', '.join(fits) or 'none'}")
            fit = fits.get(label)
            if fit is not None and fit.get("game") not in (None, game.name):
                print(f"note: {label} was fitted on game {fit.get('game')!r}; its parameters are used on "
                      f"{game.name!r}", file=sys.stderr)
            candidates.append(candidate(label, model, fit, n_draws=draws, seed=args.seed))
    treatments = [t.strip() for t in args.treatments.split(",")] if args.treatments else None
    for t in treatments or []:
        game.game(t)                     # an unknown treatment is a clear error
    say = (lambda text: print(text, file=sys.stderr)) if not args.quiet else None
    sizes = _sizes(args.subjects) if args.subjects else None
    report = treatment_information(candidates, treatments, rounds=args.rounds, subjects=args.mc_subjects,
                                   seed=args.seed, progress=say)
    result = {"game": game.name, "errors": errors, "fit": args.fit, "seed": args.seed, **report.to_dict()}
    design = [t.strip() for t in args.design.split(",")] if args.design else [report.ranking().iloc[0]["treatment"]]
    for t in design:
        game.game(t)
    recommended = {"treatments": design, "rounds": args.rounds, "subjects": None, "target": args.target}
    power = None
    if sizes:
        import os
        from ..design.power import power_by_simulation
        workers = args.workers or min(os.cpu_count() or 1, 4)

        def tick(done, total):
            if not args.quiet and (done == total or done % max(1, total // 20) == 0):
                print(f"power: {done}/{total} simulated comparisons", file=sys.stderr)
        power = power_by_simulation(candidates, sizes, design, rounds=args.rounds, simulations=args.simulations,
                                    seed=args.seed, folds=args.folds, level=args.level, workers=workers,
                                    progress=tick)
        result["power"] = power.to_dict(args.target)
        recommended["subjects"] = power.smallest_size(args.target)
    result["recommended"] = recommended
    if args.out:
        from ..design.plots import plot_information
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        dump_json(result, str(out / "design.json"))
        plot_information(report, out / "information.png")
        if power is not None:
            from ..design.power import plot_power
            plot_power(power, out / "power.png", args.target)
    if args.json:
        dump_json(result, args.json)
        if args.json == "-":
            return 0
    print(_summary(report, game.name))
    if power is not None:
        print(_power_summary(power, args.target))
    if args.out:
        print(f"\ndesign.json, information.png{' and power.png' if power is not None else ''} in {args.out}")
    return 0


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"--subjects expects whole numbers separated by commas, got {text!r}") from None
    if not sizes or sizes[0] < 2 or sizes[-1] > 100_000:
        raise InputError(f"--subjects: sizes from 2 to 100,000 subjects per role and treatment, got {text!r}")
    return sizes


def _power_summary(power, target: float) -> str:
    lines = [f"\npower of `compare` ({power.folds}-fold cross-validation, {power.level:.0%} model confidence set) on "
             f"{', '.join(map(str, power.treatments))}, {power.rounds} rounds, {power.simulations} simulated data "
             f"sets per point: share of verdicts (Monte Carlo se)",
             f"{'true model':<22} {'subjects':>8} {'names it':>15} {'undecided':>10} {'wrong':>7} {'failed':>7}"]
    t = power.table
    for (true, n), g in t.groupby(["true", "subjects"], sort=False):
        share = dict(zip(g["outcome"], g["share"]))
        se = dict(zip(g["outcome"], g["se"]))
        lines.append(f"{true:<22} {n:>8} {share['named']:>8.2f} ({se['named']:.2f}) {share['indistinguishable']:>10.2f}"
                     f" {share['wrong']:>7.2f} {share['failed']:>7.2f}")
    n = power.smallest_size(target)
    lines.append(f"\nsmallest size with power >= {target:g} for every true model: "
                 + (f"{n} subjects per role and treatment" if n is not None else
                    "none of the sizes simulated (try larger --subjects)"))
    return "\n".join(lines)


def _summary(report, game_name: str) -> str:
    import math
    ranking = report.ranking("panel")
    top = math.log(len(report.labels))
    lines = [f"design on {game_name}: which treatment tells {', '.join(report.labels)} apart",
             f"(expected information in nats about which model generated one subject's data, per role summed; "
             f"at most log {len(report.labels)} = {top:.3f} per role; Monte Carlo se in parentheses; "
             f"{report.subjects} simulated subjects per role, treatment, model and draw)", ""]
    per = report.table.pivot_table(index="treatment", columns=["unit", "role"], values="information")
    lines.append(f"{'treatment':<16} {'panel of ' + str(report.rounds) + ' rounds':>22} {'one decision':>16}"
                 f" {'sender':>8} {'receiver':>9}")
    for _, row in ranking.iterrows():
        t = row["treatment"]
        dec = report.table[(report.table["treatment"] == t) & (report.table["unit"] == "decision")]
        lines.append(f"{str(t):<16} {row['information']:>13.4f} ({row['se']:.4f}) {dec['information'].sum():>16.4f}"
                     f" {per.loc[t, ('panel', 'sender')] if ('panel', 'sender') in per.columns else float('nan'):>8.4f}"
                     f" {per.loc[t, ('panel', 'receiver')] if ('panel', 'receiver') in per.columns else float('nan'):>9.4f}")
    if len(ranking) > 1:
        best, second = ranking.iloc[0], ranking.iloc[1]
        gap, se = best["information"] - second["information"], math.hypot(best["se"], second["se"])
        if gap > 2 * se:
            lines.append(f"\nmost informative: {best['treatment']} ({best['information']:.4f} nats per subject, "
                         f"{gap:.4f} more than {second['treatment']}, {gap / se:.1f} Monte Carlo se)")
        else:
            lines.append(f"\n{best['treatment']} and {second['treatment']} are within the simulation's precision "
                         f"({gap:.4f} nats apart, {gap / se if se else 0:.1f} Monte Carlo se): simulate more "
                         f"subjects (--mc-subjects) to rank them")
    return "\n".join(lines)
