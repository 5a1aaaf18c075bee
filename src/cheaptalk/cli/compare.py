"""``cheaptalk compare``: fit every model, compare them, and optionally write an HTML report."""

from __future__ import annotations

import sys

from .common import add_game_argument, dump_json, game_from_args
from .fit import add_data_arguments, enable_compilation_cache, load_clean


def register(sub):
    p = sub.add_parser("compare", help="fit and compare every model (CV, Vuong, report)",
                       description="Fit every model to the same data and compare them: log-likelihood, AIC, "
                                   "BIC, Vuong tests, k-fold cross-validation by subject, held-out treatments, "
                                   "behavioural regularities, welfare. Without --data it uses the bundled "
                                   "synthetic forecast-sharing data set.")
    add_game_argument(p)
    add_data_arguments(p, required=False)
    p.add_argument("--models", metavar="A,B,...", help="comma-separated model names (default: all for the game)")
    p.add_argument("--folds", type=int, default=5, metavar="K",
                   help="k-fold cross-validation by subject (default 5; 0 to skip)")
    p.add_argument("--no-holdout", action="store_true", help="skip predicting each treatment from the others")
    p.add_argument("--no-regularities", action="store_true",
                   help="skip simulating each model for the regularities table")
    p.add_argument("--report", metavar="DIR", help="write a self-contained HTML report (index.html) to DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..comparison import compare_models

    enable_compilation_cache()
    game = game_from_args(args)
    path = args.data
    if path is None:
        if game.name != "forecast-sharing":
            raise ValueError(f"--data is required with --game {args.game}; the bundled data set is for "
                             "the forecast-sharing game")
        from ..datasets import default_data_path
        path = str(default_data_path())
    data, cleaning = load_clean(path, game, args.min_rounds)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if not args.quiet:
        print(f"comparing models on {path} ({cleaning.n_used} decisions)", file=sys.stderr)
    comparison = compare_models(game, data, models, folds=args.folds, starts=args.starts or 1, seed=args.seed,
                                holdout=not args.no_holdout, with_regularities=not args.no_regularities,
                                data_path=str(path), cleaning=cleaning, progress=not args.quiet)
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
