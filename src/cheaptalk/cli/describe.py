"""``cheaptalk describe MODEL``: a model's parameters, defaults, bounds and meaning."""

from __future__ import annotations

from ..models import MODEL_NAMES, get_model
from .common import add_game_argument, dump_json, game_from_args


def register(sub):
    p = sub.add_parser("describe", help="list a model's parameters with defaults and bounds",
                       description="List a model's parameters: default, lower and upper bound, meaning.")
    p.add_argument("model", choices=MODEL_NAMES, help="model name")
    add_game_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON: {\"params\": {NAME: {...}}}")
    p.set_defaults(func=run)


def run(args) -> int:
    model = get_model(args.model, game_from_args(args))
    params = {p.name: p.as_dict() for p in model.parameters()}
    if args.json:
        dump_json({"model": args.model, "game": model.game.name, "params": params})
        return 0
    print(f"{args.model} on {model.game.name}: {model.description}")
    width = max(len(n) for n in params)
    print(f"{'parameter':<{width}}  {'default':>9}  {'lower':>9}  {'upper':>9}  description")
    for name, p in params.items():
        print(f"{name:<{width}}  {p['default']:>9.4g}  {p['lower']:>9.4g}  {p['upper']:>9.4g}  {p['description']}")
    return 0
