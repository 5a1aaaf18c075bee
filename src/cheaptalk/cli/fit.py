"""``cheaptalk fit``: fit one model to experiment data by maximum likelihood."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from ..errors import InputError
from .common import number_in, add_game_argument, add_option_argument, dump_json, game_from_args, parse_options, show_progress


def add_data_arguments(parser, required: bool):
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--data", metavar="FILE",
                        help="decisions in the long format (.csv or .parquet): subject, role, round, "
                             "state, message, action [, session, pair, treatment, timeout]")
    source.add_argument("--dataset", metavar="NAME",
                        help="a public data set (see `cheaptalk datasets list`): fetched, imported with its "
                             "map and fitted in its own game")
    parser.add_argument("--min-rounds", type=number_in(0, 1e6, "--min-rounds", whole=True), default=5, metavar="N",
                        help="drop (and count) subjects with fewer usable decisions in a role (default 5)")
    parser.add_argument("--starts", type=number_in(1, 1000, "--starts", whole=True), default=None, metavar="N",
                        help="starting points per model: the defaults, then seeded random points "
                             "(default: 3 for fit; compare runs two and a third when they disagree; "
                             "a number given here runs them all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of starts, folds, bootstrap (default 0)")
    parser.add_argument("--intervals", choices=("wald", "profile"), default="wald",
                        help="95%% intervals: wald (on each parameter's unbounded scale, mapped back; default) "
                             "or profile (profile likelihood: slower, one refit per step)")
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="OUT",
                        help="write JSON to OUT (or to standard output when OUT is omitted or '-')")


def enable_compilation_cache() -> None:
    """Keep compiled likelihoods on disk between runs (JAX's persistent compilation cache).

    Compiling a model's likelihood takes seconds and running it milliseconds, so running
    ``compare`` or ``fit`` again on the same data starts much faster. The cache lives in
    ``~/.cache/cheaptalk/jax`` or ``$CHEAPTALK_JAX_CACHE``; set that to ``off`` to disable it.
    """
    from .._jax import jax

    path = os.environ.get("CHEAPTALK_JAX_CACHE", str(Path.home() / ".cache" / "cheaptalk" / "jax"))
    if path.strip().lower() in ("", "0", "off", "none", "false"):
        return
    try:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except (AttributeError, ValueError):     # an older jax without the options: no cache, no harm
        pass


def load_clean(path, game, min_rounds: int):
    from ..data import clean_decisions, read_decisions

    frame = read_decisions(path)
    return clean_decisions(frame, game, source=str(path), min_rounds=min_rounds)


def data_and_game(args, quiet: bool = False):
    """``(clean data, cleaning report, game, data label)`` from ``--data``/``--game`` or ``--dataset``."""
    from ..data import clean_decisions

    if getattr(args, "dataset", None):
        from ..datasets.public import load_dataset

        if args.game != "forecast-sharing":
            raise InputError("--dataset brings its own game file; leave out --game")
        frame, report, game = load_dataset(args.dataset)
        if not quiet:
            print(report, file=sys.stderr)
        data, cleaning = clean_decisions(frame, game, source=frame.attrs["source"], min_rounds=args.min_rounds)
        return data, cleaning, game, f"dataset {args.dataset} ({frame.attrs['source']})"
    game = game_from_args(args)
    data, cleaning = load_clean(args.data, game, args.min_rounds)
    return data, cleaning, game, str(args.data)


def register(sub):
    from ..models import MODEL_NAMES

    p = sub.add_parser("fit", help="fit a model to data (maximum likelihood, clustered SEs)",
                       description="Fit one model by maximum likelihood with exact gradients, bounds and "
                                   "several starts; standard errors cluster-robust by subject; warnings for "
                                   "non-convergence, parameters at bounds and flat directions.")
    add_game_argument(p)
    p.add_argument("--model", required=True, choices=MODEL_NAMES, help="model name (see `cheaptalk describe`)")
    add_data_arguments(p, required=True)
    add_option_argument(p)
    p.add_argument("--bootstrap", type=number_in(0, 10_000, "--bootstrap", whole=True), default=0, metavar="B",
                   help="also bootstrap by subject with B replications (progress bar on stderr)")
    p.add_argument("--subjects", metavar="CSV",
                   help="write each subject's posterior trust / trustworthiness / type to CSV")
    p.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..estimation import EstimationWarning, fit
    from ..models import get_model

    enable_compilation_cache()
    data, cleaning, game, label = data_and_game(args, args.quiet)
    model = get_model(args.model, game, **parse_options(args.option))
    if not args.quiet:
        print(f"fitting {args.model} to {cleaning.n_used} decisions ...", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)    # printed with the table instead
        result = fit(model, data, starts=args.starts or 3, seed=args.seed,
                     bootstrap_replications=args.bootstrap, progress=show_progress(args), warn=False,
                     intervals=args.intervals)
    if args.subjects:
        post = result.subject_posteriors()
        post.to_csv(args.subjects, index=False)
    if args.json is not None:
        out = result.to_dict()
        out["data"] = label
        out["cleaning"] = cleaning.to_dict()
        dump_json(out, args.json)
        if args.json == "-":
            return 0
    print(cleaning)
    print()
    print(result)
    return 0
