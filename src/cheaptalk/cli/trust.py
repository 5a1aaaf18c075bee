"""``cheaptalk trust``: trust over time from recommendation logs (docs/models.md, section 6).

Subcommands: ``generate`` (synthetic logs with a known truth), ``fit`` (population
parameters with seller-clustered SEs, per-seller trust, figures) and ``whatif`` (adoption
and profit under more accurate recommendations or more feedback), and ``from-experiment``
(logs from a partners session of the forecast-sharing oTree app).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from ..dynamics.parameters import DECAY, RULES
from ..errors import InputError
from .common import number_in, dump_json
from .trust_common import (check_replayable, fit_nodes, logs_arguments, open_engine,
                           report_exclusions, rule_argument, seller_fraction, write_result)

RULE_HELP = ("asymmetric: trust gained at eta_up, lost at eta_down",
             "symmetric: one rate eta",
             "confirmation: eta_confirm when feedback confirms the current leaning, eta_disconfirm otherwise",
             "bayes: trust is the posterior mean of fidelity under a Beta prior whose strength varies "
             "across sellers (median prior_strength, sd of its log prior_strength_sd)",
             "wsls: win-stay / lose-shift, trust_after_win after fidelity >= 1/2, trust_after_loss below",
             f"RULE{DECAY} (any rule, e.g. bayes{DECAY}): trust also drifts back toward its initial value "
             "after each event without feedback, at the rate decay")


# synthetic events written by one `trust generate` (about 20 bytes each on disk)
MAX_GENERATED_EVENTS = 10_000_000_000


def register(sub):
    p = sub.add_parser("trust", help="trust over time from recommendation logs",
                       description="Dynamic trust: how recommendation fidelity builds or breaks trust.")
    tsub = p.add_subparsers(dest="trust_command", metavar="SUBCOMMAND")

    g = tsub.add_parser("generate", help="write synthetic logs with a known truth",
                        description="Write synthetic recommendation logs (labelled synthetic) as "
                                    "partitioned Parquet under OUT/events, with the true parameters "
                                    "in OUT/truth.json under the names `trust fit --json` reports.")
    g.add_argument("--sellers", type=number_in(1, 1e9, "--sellers", whole=True), required=True,
                   help="number of sellers")
    g.add_argument("--events-per-seller", type=number_in(1, 1e6, "--events-per-seller", whole=True), required=True,
                   help="events per seller")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--out", required=True, help="output directory")
    g.add_argument("--adoption", choices=("continuous", "binary"), default="continuous",
                   help="continuous action or binary follow decision (default continuous)")
    g.add_argument("--rule", type=rule_argument, default="asymmetric",
                   help="learning rule of trust (default: asymmetric); --eta-up and --eta-down are its "
                        "first and second rates (confirmation: confirming, disconfirming; symmetric: --eta-up); "
                        "bayes takes --prior-strength, wsls --trust-after-win and --trust-after-loss; "
                        f"RULE{DECAY} takes --decay")
    g.add_argument("--eta-up", type=number_in(0, 1, "--eta-up"), default=0.15, help="true rate of trust gained (0.15)")
    g.add_argument("--eta-down", type=number_in(0, 1, "--eta-down"), default=0.35,
                   help="true rate of trust lost (0.35)")
    g.add_argument("--prior-strength", type=number_in(1e-3, 1e6, "--prior-strength"), default=4.0,
                   help="bayes rule: median weight of the prior across sellers, in fidelity observations (4)")
    g.add_argument("--prior-strength-sd", type=number_in(0, 5, "--prior-strength-sd"), default=0.5,
                   help="bayes rule: sd of the log prior strength across sellers (0.5)")
    g.add_argument("--trust-after-win", type=number_in(1e-6, 1 - 1e-6, "--trust-after-win"), default=0.8,
                   help="wsls rule: trust after feedback of fidelity >= 1/2 (0.8)")
    g.add_argument("--trust-after-loss", type=number_in(1e-6, 1 - 1e-6, "--trust-after-loss"), default=0.3,
                   help="wsls rule: trust after feedback of fidelity < 1/2 (0.3)")
    g.add_argument("--decay", type=number_in(0, 1, "--decay"), default=0.1,
                   help=f"RULE{DECAY}: share of the way back to initial trust after an event without feedback (0.1)")
    g.add_argument("--advisors-per-subject", type=number_in(1, 1000, "--advisors-per-subject", whole=True),
                   default=1, help="subjects of this many sellers (advisors) sharing one initial trust, listed "
                                   "in OUT/sellers.parquet (seller, subject) (default 1: none)")
    g.add_argument("--initial-trust-mean", type=number_in(1e-6, 1 - 1e-6, "--initial-trust-mean"), default=0.5,
                   help="(0.5)")
    g.add_argument("--initial-trust-means", metavar="SEGMENT=MEAN,...",
                   help="initial trust by segment: the mean of each named segment (high, mid, low), e.g. "
                        "high=0.8,low=0.3; the others keep --initial-trust-mean")
    g.add_argument("--initial-trust-concentration", type=number_in(1e-6, 1e6, "--initial-trust-concentration"),
                   default=6.0, help="(6)")
    g.add_argument("--feedback-rate", type=number_in(0, 1, "--feedback-rate"), default=0.7,
                   help="probability the outcome is shown after an event (0.7)")
    g.add_argument("--events-per-file", type=number_in(1, 1e9, "--events-per-file", whole=True), default=2_000_000,
                   help="events per Parquet file (default 2e6)")
    g.add_argument("--randomize", metavar="LEVER=VALUE,share=S,from=T",
                   help="a randomised experiment in the logs: a random share S of sellers get the lever(s) from "
                        "event T on (levers: error_scale, feedback_rate, feedback_added, initial_trust_shift; e.g. "
                        "error_scale=0.5,share=0.5,from=20); the arms in OUT/sellers.parquet (column treatment), "
                        "the true effect in OUT/truth.json")
    g.add_argument("--json", action="store_true", help="print the truth as JSON")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=run_generate)

    f = tsub.add_parser("fit", help="fit the dynamic trust model to logs",
                        description="Fit the dynamic trust model by maximum likelihood: population "
                                    "parameters with seller-clustered SEs; per-seller trust "
                                    "trajectories and figures with --out.")
    logs_arguments(f, required=False)
    f.add_argument("--dataset", metavar="NAME:PART",
                   help="instead of --logs: the trust logs of a public repeated-play data set, e.g. "
                        "advice-taking:gen1 (fetched and imported with its map once)")
    f.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local (Arrow and DuckDB, default) or spark (PySpark)")
    f.add_argument("--master", default="local[2]",
                   help="Spark master (default local[2]; 'submit' takes spark-submit's settings)")
    f.add_argument("--json", metavar="OUT", nargs="?", const="-",
                   help="write the fit as JSON to OUT (stdout without OUT or with '-')")
    f.add_argument("--out", metavar="DIR",
                   help="write per-seller trust (Parquet), figures and fit.json to DIR")
    f.add_argument("--rule", type=rule_argument, default="asymmetric",
                   help="learning rule of trust: " + "; ".join(RULE_HELP))
    f.add_argument("--shared-initial-trust", action="store_true",
                   help="each subject's sellers (e.g. one subject's advisors in a lab design) share one initial "
                        "trust; the subjects come from the seller table's subject column (--sellers-table, or "
                        "sellers.parquet beside events/); the logs are held in memory, standard errors "
                        "cluster by subject")
    f.add_argument("--nodes", type=number_in(2, 640, "--nodes", whole=True), default=None,
                   help="quadrature nodes of initial trust, used as given (default: 20, doubled until twice as many "
                        "move the log-likelihood by less than 0.01 and no estimate by 0.05 se; at most 640)")
    f.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE",
                   help="hold a parameter at a value (repeatable), e.g. --fix decay=0.1")
    f.add_argument("--initial-trust-by", metavar="COLUMN",
                   help="one mean of initial trust per segment of sellers (COLUMN: segment, from the events or the "
                        "seller table); not with --shared-initial-trust")
    f.add_argument("--intervals", choices=("wald", "profile"), default="wald",
                   help="95%% intervals: wald (on each parameter's unbounded scale, mapped back; default) or "
                        "profile (profile likelihood: a few passes over the logs per step)")
    f.add_argument("--warm-start-sellers", type=number_in(1, 1e9, "--warm-start-sellers", whole=True), default=10_000,
                   help="sellers in the sample that gives the starting values (10000)")
    f.add_argument("--cache-mb", type=number_in(0, 1e7, "--cache-mb"), default=1024,
                   help="MB of packed logs kept in memory (local engine: before spilling to disk; "
                        "spark: by each Python worker between passes, which also share them "
                        "through the executor's local directory; 0 keeps nothing) (1024)")
    f.add_argument("--seller-fraction", type=seller_fraction, default=1.0, metavar="F",
                   help="fit a random sample of the sellers, for a first look at large logs: each "
                        "seller is kept, with all its events, with probability F, by a hash of its "
                        "id (the same sellers on either engine) (default 1: all)")
    f.add_argument("--sample-seed", type=int, default=0,
                   help="which random sample --seller-fraction draws (0)")
    f.add_argument("--quiet", action="store_true", help="no progress output")
    f.set_defaults(func=run_fit)

    c = tsub.add_parser("compare", help="fit every learning rule of trust and compare them",
                        description="Fit each learning rule (" + "; ".join(RULE_HELP) + ") to the same logs "
                                    "and compare: log-likelihood, AIC, BIC, likelihood-ratio tests for the "
                                    "nested pairs (symmetric in asymmetric and in confirmation), Vuong tests "
                                    "on the sellers' contributions for the others, the best rule by BIC. "
                                    "--per-subject fits the field's models (rl, wsls-choice, none) to each "
                                    "subject of advice-taking data instead, as computational modellers do.")
    logs_arguments(c, required=False)
    c.add_argument("--per-subject", action="store_true",
                   help="fit each subject separately (maximum a posteriori; a subject's advisors pooled) with "
                        "the rules rl, wsls-choice and none, and compare them by AICc (corrected likelihood per "
                        "trial, best-fit counts) and Bayesian model selection; reads --dataset or --data")
    c.add_argument("--dataset", metavar="NAME:PART",
                   help="instead of --logs: the trust logs of a public repeated-play data set, e.g. "
                        "advice-taking:gen1; with --per-subject, its trials")
    c.add_argument("--data", metavar="CSV", help="with --per-subject: an advice-taking export (SubID, trial_num, "
                                                 "Advisor, choice, AdvisorCorrect)")
    c.add_argument("--recover", type=number_in(0, 1000, "--recover", whole=True), default=0, metavar="R",
                   help="with --per-subject: model and parameter recovery on the data's design, R simulated data "
                        "sets per rule (each subject at her own estimates); the confusion matrix P(best | true) "
                        "with Monte Carlo standard errors and its inversion P(true | best) (default 0: none)")
    c.add_argument("--rules", default=None, metavar="A,B",
                   help=f"comma-separated rules, each may take the decay option, e.g. asymmetric,asymmetric{DECAY} "
                        f"(default: {','.join(RULES)})")
    c.add_argument("--folds", type=number_in(2, 100, "--folds", whole=True), metavar="K",
                   help="also cross-validate by seller with K folds (e.g. 5); the best rule is then the one "
                        "that predicts held-out sellers best (default: no cross-validation, best by BIC)")
    c.add_argument("--cv-sellers", type=number_in(10, 1e9, "--cv-sellers", whole=True), default=20_000,
                   help="cross-validate on a sample of about this many sellers (the first in the packed logs; "
                        "all of them if fewer) (20000)")
    c.add_argument("--cv-seed", type=int, default=0, help="which sellers fall in which fold (0)")
    c.add_argument("--engine", choices=("local", "spark"), default="local", help="where the passes run (local)")
    c.add_argument("--master", default="local[2]", help="Spark master (local[2]; a spark:// URL for a cluster)")
    c.add_argument("--json", metavar="OUT", nargs="?", const="-", help="write the comparison JSON (- for stdout)")
    c.add_argument("--out", metavar="DIR",
                   help="also write DIR/compare.json, each rule's per-seller trust (DIR/RULE/) and the "
                        "figures DIR/rules.png (mean trust by event and segment, and the response to "
                        "feedback, under every rule) and DIR/adoption.png (observed adoption against each "
                        "rule's prediction by event and segment)")
    c.add_argument("--shared-initial-trust", action="store_true",
                   help="each subject's sellers (e.g. one subject's advisors in a lab design) share one initial "
                        "trust; the subjects come from the seller table's subject column (--sellers-table, or "
                        "sellers.parquet beside events/); the logs are held in memory, standard errors "
                        "cluster by subject")
    c.add_argument("--nodes", type=number_in(2, 640, "--nodes", whole=True), default=None,
                   help="quadrature nodes of initial trust, used as given (default: 20, doubled per rule until "
                        "twice as many move the log-likelihood by less than 0.01 and no estimate by 0.05 se)")
    c.add_argument("--initial-trust-by", metavar="COLUMN",
                   help="one mean of initial trust per segment of sellers in every rule (COLUMN: segment)")
    c.add_argument("--warm-start-sellers", type=number_in(1, 1e9, "--warm-start-sellers", whole=True), default=10_000,
                   help="sellers of the warm-start sample (10000)")
    c.add_argument("--cache-mb", type=number_in(0, 1e7, "--cache-mb"), default=1024, help="memory for packed logs before spilling (1024)")
    c.add_argument("--seller-fraction", type=seller_fraction, default=1.0, metavar="F",
                   help="fit on a random sample of sellers, each kept with probability F (1)")
    c.add_argument("--sample-seed", type=int, default=0, help="seed of the seller sample (0)")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=run_compare)

    w = tsub.add_parser("whatif", help="adoption and profit under better fidelity or more feedback",
                        description="Counterfactual adoption and seller profit on a sample of the "
                                    "logged sellers, at fitted parameters.")
    logs_arguments(w)
    w.add_argument("--fit", required=True, metavar="FIT.json",
                   help="output of `trust fit --json`; or of `trust compare --json`: the what-if under every "
                        "rule in it, side by side")
    w.add_argument("--error-scale", default="1,0.75,0.5",
                   help="comma list: multipliers of the recommendation error (1 = as logged)")
    w.add_argument("--feedback-rate", default="logged",
                   help="comma list of probabilities that the outcome is shown, or 'logged'")
    w.add_argument("--price", type=number_in(-1e12, 1e12, "--price"), default=1.0, help="seller's price per unit sold (1)")
    w.add_argument("--unit-cost", type=number_in(-1e12, 1e12, "--unit-cost"), default=0.6, help="seller's cost per unit stocked (0.6)")
    w.add_argument("--sample-sellers", type=number_in(1, 1e8, "--sample-sellers", whole=True), default=20_000, help="sellers simulated (20000)")
    w.add_argument("--seed", type=int, default=0, help="seed of the feedback draws (0)")
    w.add_argument("--parameter-draws", type=number_in(0, 10_000, "--parameter-draws", whole=True), default=0, metavar="R",
                   help="also replay the scenarios at R parameter vectors drawn from the fit's "
                        "sampling distribution, so that the standard errors of the changes include "
                        "the parameters' uncertainty (e.g. 30; default 0: sellers only)")
    w.add_argument("--out", metavar="DIR", help="write whatif.json and the figure whatif.png to DIR")
    w.add_argument("--json", action="store_true", help="print JSON")
    w.set_defaults(func=run_whatif)

    from .trust_experiment import register as register_from_experiment
    register_from_experiment(tsub)   # logs from a partners session of the oTree app
    from .trust_invest import register as register_invest
    register_invest(tsub)     # effect and plan
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _fit_engine(engine, args):
    """The engine the fit runs on: ``engine``, or, with ``--shared-initial-trust``, its logs
    regrouped in memory so that each subject's sellers share one initial trust."""
    if not getattr(args, "shared_initial_trust", False):
        return engine
    from ..dynamics.engines.memory import SharedTrustEngine
    return SharedTrustEngine(engine)


def _trajectory_batches(engine, args):
    """The packed batches with every column for the per-seller trust of ``--out``; with
    ``--shared-initial-trust`` regrouped by subject, so that each seller's filtered trust uses
    the decisions of all of its subject's sellers."""
    if not getattr(args, "shared_initial_trust", False):
        return engine.batches(event_values=True)
    from ..dynamics.engines.memory import regroup_by_subject
    return regroup_by_subject(engine, engine.batches(event_values=True))


def run_generate(args) -> int:
    from ..dynamics.generate import SyntheticWorld, generate_logs
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out {args.out}: is a file; generate writes a folder (events/ and truth.json)")
    if args.sellers * args.events_per_seller > MAX_GENERATED_EVENTS:
        raise InputError(f"--sellers {args.sellers:,} x --events-per-seller {args.events_per_seller:,} = "
                         f"{args.sellers * args.events_per_seller:,} events, more than {MAX_GENERATED_EVENTS:,} "
                         f"(about 200 GB of Parquet); generate fewer, or in parts with different --seed")
    world = SyntheticWorld(adoption=args.adoption, eta_up=args.eta_up, eta_down=args.eta_down, rule=args.rule,
                           prior_strength=args.prior_strength, prior_strength_sd=args.prior_strength_sd,
                           trust_after_win=args.trust_after_win,
                           trust_after_loss=args.trust_after_loss, decay=args.decay,
                           advisors_per_subject=args.advisors_per_subject,
                           initial_trust_mean=args.initial_trust_mean,
                           initial_trust_means=_segment_means(args.initial_trust_means),
                           initial_trust_concentration=args.initial_trust_concentration,
                           feedback_rate=args.feedback_rate)
    randomize = None
    if args.randomize:
        from ..dynamics.investment.levers import parse_randomize
        randomize = parse_randomize(args.randomize)
        if randomize[0].start >= args.events_per_seller:
            raise InputError(f"--randomize: from={randomize[0].start} is not before the last event "
                             f"(--events-per-seller {args.events_per_seller}): no event would be treated")
    truth = generate_logs(args.out, args.sellers, args.events_per_seller, args.seed, world,
                          events_per_file=args.events_per_file, progress=not args.quiet, randomize=randomize)
    if args.json:
        dump_json(truth)
    else:
        print(f"wrote {truth['n_events']:,} synthetic events of {args.sellers:,} sellers to "
              f"{Path(args.out) / 'events'}; true parameters in {Path(args.out) / 'truth.json'}")
        if randomize:
            e = truth["effect"]
            print(f"randomised: {', '.join(f'{k}={v:g}' for k, v in truth['randomize']['levers'].items())} for a "
                  f"share {randomize[1]:g} of sellers from event {randomize[0].start} (arms in "
                  f"{Path(args.out) / 'sellers.parquet'}); true effect on adoption {e['adoption']:+.4f}, "
                  f"on profit per event {e['profit']:+.4f}")
    return 0


def run_fit(args) -> int:
    from ..dynamics.estimate import fit_trust
    progress = not args.quiet
    engine = open_engine(args, progress)
    try:
        report_exclusions(engine, args.strict)
        fit_engine = _fit_engine(engine, args)
        fit = fit_trust(fit_engine, kind=args.adoption, n_nodes=args.nodes, rule=args.rule,
                        warm_start_sellers=args.warm_start_sellers, progress=progress,
                        fixed=_fixed_values(args.fix), initial_trust_by=args.initial_trust_by)
        if args.intervals == "profile":
            from ..dynamics.estimate import profile_intervals
            fit.profile = profile_intervals(fit_engine, fit, n_nodes=fit.n_nodes, progress=progress)
            fit.warnings.extend(f"the 95% profile-likelihood interval of {name} reaches the {side} edge of its "
                                "range (the data do not exclude it)" for name, side in fit.profile["open_at"].items())
        result = fit.to_json()
        if args.out:
            from ..dynamics.plots import plot_adoption, plot_after_feedback, plot_trajectories
            from ..dynamics.trajectories import write_trajectories
            out = Path(args.out)
            agg = write_trajectories(_trajectory_batches(engine, args), fit.model(),
                                     fit.u, out, progress=progress)
            plot_trajectories(agg, out / "trust_by_segment.png")
            plot_adoption({fit.rule: agg}, out / "adoption.png")
            plot_after_feedback({fit.rule: agg}, out / "adoption_after_feedback.png")
            dump_json(result, str(out / "fit.json"))
        if args.json:
            dump_json(result, args.json)
        if args.json != "-":
            print(fit.summary())
            if args.out:
                print(f"\nper-seller trust, figures and fit.json in {args.out}")
    finally:
        engine.close()
    return 0


def run_per_subject(args) -> int:
    """``trust compare --per-subject``: the field's models fitted subject by subject."""
    from ..dynamics.per_subject import PER_SUBJECT_RULES, compare_per_subject, read_advice_taking
    if args.logs:
        raise InputError("--per-subject reads advice-taking trials from --dataset NAME:PART or --data CSV; "
                         "per-subject fits of recommendation logs are not available yet")
    if bool(args.dataset) == bool(args.data):
        raise InputError("--per-subject needs one of --dataset NAME:PART (e.g. advice-taking:gen1) or --data CSV")
    given = [r.strip() for r in args.rules.split(",") if r.strip()] if args.rules_given else list(PER_SUBJECT_RULES)
    if args.dataset:
        from ..datasets.public import fetch_dataset, get_dataset
        ds = get_dataset(args.dataset.partition(":")[0])
        if ds.kind != "advice-taking":
            raise InputError(f"--per-subject needs advice-taking trials; {ds.name} holds {ds.kind}")
        path, source = fetch_dataset(args.dataset), f"dataset {args.dataset}"
    else:
        path = source = args.data
    trials = read_advice_taking(path)
    comparison = compare_per_subject(trials, rules=given, source=source)
    out = {"data": source, "per_subject": comparison.to_dict()}
    recovery = None
    if args.recover:
        from ..dynamics.per_subject import recover_per_subject
        recovery = recover_per_subject(trials, comparison.fits, comparison.rules, datasets=args.recover)
        out["per_subject"]["recovery"] = recovery
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        comparison.fits.to_csv(folder / "per_subject_fits.csv", index=False)
        from ..dynamics.per_subject import model_free_table, plot_model_free
        table = model_free_table(trials, comparison.fits, comparison.rules)
        table.to_csv(folder / "model_free.csv", index=False)
        plot_model_free(table, comparison.rules, folder / "model_free.png")
        dump_json(out, str(folder / "compare.json"))
    if args.json:
        dump_json(out, args.json)
    if args.json != "-":
        print(comparison)
        if recovery is not None:
            from ..dynamics.per_subject import recovery_lines
            print("\n" + "\n".join(recovery_lines(recovery)))
        if args.out:
            print(f"\nper-subject fits (per_subject_fits.csv), the model-free table and figure (model_free.csv, "
                  f"model_free.png) and compare.json in {args.out}")
    return 0


def run_compare(args) -> int:
    from ..dynamics.compare import check_rules, compare_rules
    args.rules_given = args.rules is not None
    if args.per_subject:
        return run_per_subject(args)
    if args.data:
        raise InputError("--data goes with --per-subject; a population comparison reads --logs or --dataset")
    args.rules = args.rules or ",".join(RULES)
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    check_rules(rules)              # before the logs are read
    progress = not args.quiet
    engine = open_engine(args, progress)
    try:
        report_exclusions(engine, args.strict)
        if args.folds and engine.n_sellers() < 2 * args.folds:      # before any rule is fitted
            raise InputError(f"cross-validation needs at least {2 * args.folds} sellers for {args.folds} folds; "
                             f"the logs have {engine.n_sellers()}")
        comparison = compare_rules(_fit_engine(engine, args), rules, kind=args.adoption, n_nodes=args.nodes,
                                   initial_trust_by=args.initial_trust_by,
                                   warm_start_sellers=args.warm_start_sellers, progress=progress,
                                   folds=args.folds, cv_sellers=args.cv_sellers, cv_seed=args.cv_seed)
        if args.out:
            from ..dynamics.plots import plot_adoption, plot_after_feedback, plot_rules
            from ..dynamics.trajectories import write_trajectories
            out = Path(args.out)
            aggregates = {rule: write_trajectories(_trajectory_batches(engine, args),
                                                   fit.model(), fit.u, out / rule,
                                                   progress=progress)
                          for rule, fit in comparison.fits.items()}
            plot_rules(aggregates, out / "rules.png")
            plot_adoption(aggregates, out / "adoption.png")
            plot_after_feedback(aggregates, out / "adoption_after_feedback.png")
            dump_json(comparison.to_dict(), str(out / "compare.json"))
    finally:
        engine.close()
    if args.json:
        dump_json(comparison.to_dict(), args.json)
    if args.json != "-":
        print(comparison)
        if args.out:
            print(f"\nfigure, compare.json and each rule's per-seller trust in {args.out}")
    return 0


def _segment_means(text: str | None) -> dict | None:
    """``--initial-trust-means high=0.8,low=0.3`` as ``{segment: mean}``."""
    from ..dynamics.generate import SEGMENTS
    if not text:
        return None
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            mean = float(value)
        except ValueError:
            sep = ""
        if not sep or name not in SEGMENTS or not 0.0 < mean < 1.0:
            raise InputError(f"--initial-trust-means {item!r}: write SEGMENT=MEAN with a segment of {', '.join(SEGMENTS)} "
                             f"and a mean in (0, 1), e.g. high=0.8,low=0.3")
        out[name] = mean
    return out


def _fixed_values(items: list) -> dict:
    """``--fix NAME=VALUE`` options as ``{name: value}`` (the fit checks the names)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"--fix {item!r}: write NAME=VALUE with a number, e.g. --fix decay=0.1")
    return out


def _floats(text: str, option: str, low: float, high: float, words=()) -> list:
    """A comma-separated list of numbers in ``[low, high]`` (or the given words), checked."""
    items = [x.strip() for x in str(text).split(",") if x.strip()]
    if not items:
        raise InputError(f"{option} needs at least one value, got {text!r}")
    out = []
    for x in items:
        if x in words:
            out.append(None)
            continue
        try:
            value = float(x)
        except ValueError:
            raise InputError(f"{option}: {x!r} is not a number") from None
        if not (low <= value <= high):
            raise InputError(f"{option}: {x} is outside [{low:g}, {high:g}]")
        out.append(value)
    return out


@contextmanager
def _replay_inputs(args, shared: bool = False):
    """What a what-if replays: the packed batches of the sampled sellers (``shared``: grouped
    by subject, for a fit with a shared initial trust), the error scales and feedback rates
    asked for, and the logs' fidelity scale (the engine open meanwhile)."""
    engine = open_engine(args, progress=False)
    try:
        report_exclusions(engine, args.strict)
        batches = engine.sample(args.sample_sellers, event_values=True)
        if shared:
            from ..dynamics.engines.memory import regroup_by_subject
            batches = regroup_by_subject(engine, batches)
        rates = _floats(args.feedback_rate, "--feedback-rate", 0.0, 1.0, words=("logged",))
        scales = _floats(args.error_scale, "--error-scale", 0.0, 1e6)
        if not batches:
            raise InputError(f"{args.logs}: no usable event in the logs: there is nothing to replay")
        yield batches, scales, rates, engine.source.options.fidelity_scale
    finally:
        engine.close()


def _whatif_by_rule(args, fits: list) -> int:
    """The what-if under every rule of a `trust compare` JSON, on the same sellers and
    feedback draws: how much the policy conclusion depends on the learning rule."""
    from ..dynamics.whatif import whatif
    kinds = {m["model"].rsplit("-", 1)[-1] for m in fits}
    if len(kinds) != 1 or not kinds <= {"continuous", "binary"}:
        raise InputError(f"{args.fit}: the comparison's fits are not of one adoption kind ({', '.join(sorted(kinds))})")
    if args.parameter_draws:
        raise InputError("--parameter-draws applies to one fit; give a `trust fit --json` file")
    args.adoption = args.adoption or kinds.pop()
    for m in fits:
        check_replayable(args.fit, m)
    shared = any(m.get("cluster") == "subject" for m in fits)
    with _replay_inputs(args, shared) as (batches, scales, rates, fidelity_scale):
        by_rule = {}
        for m in fits:
            rule = m.get("rule", m.get("label", "asymmetric"))
            params = {k: v["estimate"] for k, v in m["params"].items()}
            rows = whatif(batches, params, args.adoption, scales, rates, fidelity_scale=fidelity_scale,
                          price=args.price, unit_cost=args.unit_cost, seed=args.seed, progress=False, rule=rule,
                          n_nodes=fit_nodes(m))
            by_rule[rule] = {"params": params, "bic": m.get("bic"), "scenarios": rows}
    result = {"model": f"trust-dynamics-{args.adoption}", "by_rule": by_rule, "price": args.price,
              "unit_cost": args.unit_cost,
              "sellers": next(iter(by_rule.values()))["scenarios"][0]["sellers"] if by_rule else 0}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        dump_json(result, str(out / "whatif_by_rule.json"))
    if args.json:
        dump_json(result)
        return 0
    print(f"what-if under each learning rule on {result['sellers']:,} sellers (the same sellers and "
          "feedback draws; changes against the baseline, paired by seller, se in parentheses)")
    print(f"{'rule':>13} {'error scale':>11} {'feedback':>9} {'adoption change':>20} {'profit change':>20}")
    for rule, r in by_rule.items():
        for row in r["scenarios"]:
            if row["baseline"]:
                continue
            fb = row["feedback_rate"] if isinstance(row["feedback_rate"], str) else f"{row['feedback_rate']:.2f}"
            print(f"{rule:>13} {row['error_scale']:>11g} {fb:>9} "
                  f"{row['adoption_change']:>+11.4f} ({row['adoption_change_se']:.4f}) "
                  f"{row['profit_change']:>+11.4f} ({row['profit_change_se']:.4f})")
    return 0


def run_whatif(args) -> int:
    from ..dynamics.whatif import whatif
    from ..estimation.result import comparison_models, read_json
    from ..estimation.schema import check_result
    fitj = read_json(args.fit)
    check_result(fitj, str(args.fit))
    models = comparison_models(fitj)
    if models is not None:
        return _whatif_by_rule(args, [m for m in models if str(m.get("model", "")).startswith("trust-dynamics")])
    kind = fitj["model"].rsplit("-", 1)[-1]
    if kind not in ("continuous", "binary"):
        raise InputError(f"{args.fit}: not a dynamic trust fit (model {fitj.get('model')!r})")
    params = {k: v["estimate"] for k, v in fitj["params"].items()}
    rule = fitj.get("rule", "asymmetric")
    check_replayable(args.fit, fitj)
    args.adoption = args.adoption or kind
    # a fit with a shared initial trust per subject replays subjects, not lone sellers
    with _replay_inputs(args, fitj.get("cluster") == "subject") as (batches, scales, rates, fidelity_scale):
        cov = None
        if args.parameter_draws:
            cov = fitj.get("diagnostics", {}).get("covariance_unconstrained", {}).get("matrix")
            if cov is None:
                raise InputError(f"{args.fit}: no covariance of the parameters "
                                 "(diagnostics.covariance_unconstrained): fit again with this "
                                 "version of `cheaptalk trust fit`, or leave out --parameter-draws")
        rows = whatif(batches, params, kind, scales, rates, fidelity_scale=fidelity_scale, price=args.price,
                      unit_cost=args.unit_cost, seed=args.seed, parameter_draws=args.parameter_draws,
                      cov_unconstrained=cov, progress=sys.stderr.isatty(), rule=rule, n_nodes=fit_nodes(fitj))
    result = {"model": fitj["model"], "rule": rule, "params": params, "sellers": rows[0]["sellers"] if rows else 0,
              "price": args.price, "unit_cost": args.unit_cost, "scenarios": rows}
    if args.out:
        from ..dynamics.plots import plot_whatif
        write_result(result, args.out, "whatif", lambda path: plot_whatif(rows, path))
    if args.json:
        dump_json(result)
        return 0
    import math
    base = next(r for r in rows if r["baseline"])
    print(f"what-if on {result['sellers']:,} sellers (price {args.price}, unit cost {args.unit_cost}); "
          f"changes against error scale {base['error_scale']:g} with "
          f"{'the logged feedback' if base['feedback_rate'] == 'logged' else 'feedback rate ' + str(base['feedback_rate'])}, "
          "paired by seller (se: " + (f"sellers and {args.parameter_draws} parameter draws)"
                                      if args.parameter_draws else "seller-clustered, at the fitted parameters)"))
    print(f"{'error scale':>11} {'feedback':>9} {'trust':>7} {'adoption':>9} {'change (se)':>18} "
          f"{'profit/event':>13} {'change (se)':>18} {'|error|':>8}")
    if any(math.isnan(r["profit_per_event"]) for r in rows):
        print("(profit needs the sellers' own estimates: no 'own_estimate' column in these logs)")
    for r in rows:
        fb = r["feedback_rate"] if isinstance(r["feedback_rate"], str) else f"{r['feedback_rate']:.2f}"
        total = "_se_total" if args.parameter_draws else "_se"
        a_ch = "baseline" if r["baseline"] else f"{r['adoption_change']:+.4f} ({r['adoption_change' + total]:.4f})"
        p_ch = "baseline" if r["baseline"] else f"{r['profit_change']:+.3f} ({r['profit_change' + total]:.3f})"
        print(f"{r['error_scale']:>11.2f} {fb:>9} {r['mean_trust']:>7.3f} {r['mean_adoption']:>9.3f} {a_ch:>18} "
              f"{r['profit_per_event']:>13.3f} {p_ch:>18} {r['abs_error_per_event']:>8.3f}")
    if args.out:
        print(f"\nwhatif.json and whatif.png in {args.out}")
    return 0
