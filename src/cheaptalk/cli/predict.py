"""``cheaptalk predict``: what a model predicts on a game, as tables, JSON and a figure."""

from __future__ import annotations

from ..models import MODEL_NAMES
from .common import add_fit_argument, add_game_argument, add_option_argument, add_param_argument, dump_json, fitted_model_from_args


def register(sub):
    p = sub.add_parser(
        "predict", help="print a model's predictions (schedules, profits, efficiency)",
        description="Print what a model predicts on a game: the report schedule by forecast and the "
                    "capacity schedule by report (forecast sharing) or the strategies (finite games), "
                    "expected profits and efficiency against the first best, by treatment.")
    add_game_argument(p, default=None)
    p.add_argument("--model", choices=MODEL_NAMES, help="model name (or --fit FILE)")
    add_fit_argument(p)
    add_param_argument(p)
    add_option_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--figure", metavar="FILE", help="save a figure of the predictions (.png, .pdf, .svg)")
    p.set_defaults(func=run)


def run(args) -> int:
    model, params = fitted_model_from_args(args)
    prediction = model.predict(params)
    if args.json:
        dump_json(prediction.to_dict() | ({"fit": args.fit} if args.fit else {}))
    else:
        print(prediction)
    if args.figure:
        from ..reports.prediction_plots import plot_prediction

        path = plot_prediction(prediction, args.figure)
        print(f"figure saved to {path}")
    return 0
