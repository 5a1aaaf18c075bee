"""``cheaptalk compare``: fit every model, compare them, and optionally write an HTML report."""

from __future__ import annotations

import sys

from ..errors import InputError
from .common import number_in, add_game_argument, add_option_argument, dump_json, parse_options, show_progress
from .fit import add_data_arguments, data_and_game, enable_compilation_cache


def register(sub):
    p = sub.add_parser("compare", help="fit and compare every model (CV, Vuong, report)",
                       description="Fit every model to the same data and compare them: log-likelihood, AIC, "
                                   "BIC, Vuong tests, k-fold cross-validation by subject, held-out treatments, "
                                   "behavioural regularities, welfare. Without --data it uses the bundled "
                                   "synthetic forecast-sharing data set.")
    add_game_argument(p)
    add_data_arguments(p, required=False)
    p.add_argument("--models", metavar="A,B,...", help="comma-separated model names (default: all for the game)")
    p.add_argument("--errors", metavar="E1,E2,...",
                   help="error models every family is fitted under: logit, tremble, mixed (default: all "
                        "that the game's families are defined under; see docs/models.md)")
    add_option_argument(p, per_model=True)
    p.add_argument("--folds", type=number_in(0, 1000, "--folds", whole=True), default=5, metavar="K",
                   help="k-fold cross-validation by subject (default 5; 0 to skip)")
    p.add_argument("--level", type=number_in(0.5, 0.999, "--level"), default=0.90, metavar="P",
                   help="level of the model confidence sets behind the verdict (default 0.90)")
    p.add_argument("--bootstrap-lr", type=number_in(0, 10_000, "--bootstrap-lr", whole=True), default=0, metavar="B",
                   help="parametric bootstrap (B simulated data sets) of each likelihood-ratio test of a mixture "
                        "against one of its families, whose null puts a share on its bound (default 0: no p-value)")
    p.add_argument("--no-holdout", action="store_true", help="skip predicting each treatment from the others")
    p.add_argument("--no-regularities", action="store_true",
                   help="skip simulating each model for the regularities table")
    p.add_argument("--report", metavar="DIR", help="write a self-contained HTML report (index.html) to DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..comparison import available_models, compare_models

    enable_compilation_cache()
    if args.data is None and not args.dataset:
        if args.game != "forecast-sharing":
            raise InputError(f"--data is required with --game {args.game}; the bundled data set is for "
                             "the forecast-sharing game")
        from ..datasets import default_data_path
        args.data = str(default_data_path())
    data, cleaning, game, path = data_and_game(args, args.quiet)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    errors = [e.strip() for e in args.errors.split(",") if e.strip()] if args.errors else None
    model_options = _per_model_options(parse_options(args.option), models or available_models(game), game)
    if not args.quiet:
        print(f"comparing models on {path} ({cleaning.n_used} decisions)", file=sys.stderr)
    comparison = compare_models(game, data, models, folds=args.folds, starts=args.starts, seed=args.seed,
                                holdout=not args.no_holdout, with_regularities=not args.no_regularities,
                                data_path=str(path), cleaning=cleaning, progress=show_progress(args),
                                model_options=model_options, errors=errors, level=args.level,
                                bootstrap_lr=args.bootstrap_lr, intervals=args.intervals)
    if args.report:
        from ..reports import write_report
        page = write_report(comparison, args.report)
        if not args.quiet:
            print(f"report written to {page}", file=sys.stderr)
    if args.json is not None:
        dump_json(comparison.to_dict(), args.json)
        if args.json == "-":
            return 0
    print(comparison)
    return 0


def _per_model_options(given: dict, models: list, game) -> dict:
    """``{model: {option: value}}`` from ``MODEL.NAME=VALUE`` (one model) and ``NAME=VALUE``
    (every compared model that has the option; an error if none has it)."""
    from ..models import model_class

    specs = {m: {o.name: o for o in model_class(m, game.kind).option_specs()} for m in models}
    out = {m: {} for m in models}
    for key, value in given.items():
        if key == "errors" or key.endswith(".errors"):
            raise InputError("compare fits every family under each error model: use --errors, not --option errors")
        model, dot, name = key.partition(".")
        if dot:
            if model not in specs:
                raise InputError(f"--option {key}: {model!r} is not among the compared models {models}")
            if name not in specs[model]:
                raise InputError(f"--option {key}: model {model!r} has no option {name!r}; its options are "
                                 f"{', '.join(specs[model]) or 'none'}")
            takers, key = [model], name
        else:
            takers = [m for m in models if key in specs[m]]
            if not takers:
                raise InputError(f"--option {key}: none of the compared models {models} has this option")
        for m in takers:       # checked here, before any model is fitted
            out[m][key] = specs[m][key].parse(value, m)
    return out
