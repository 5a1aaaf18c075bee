"""``cheaptalk describe MODEL``: a model's parameters, defaults, bounds and meaning."""

from __future__ import annotations

from ..models import MODEL_NAMES
from .common import add_game_argument, add_option_argument, dump_json, model_from_args


def register(sub):
    p = sub.add_parser("describe", help="list a model's parameters with defaults and bounds",
                       description="List a model's parameters: default, lower and upper bound, meaning.")
    p.add_argument("model", choices=MODEL_NAMES, help="model name")
    add_game_argument(p)
    add_option_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON: {\"params\": {NAME: {...}}}")
    p.set_defaults(func=run)


def run(args) -> int:
    model = model_from_args(args)
    params = {p.name: p.as_dict() for p in model.parameters()}
    options = {o.name: o.as_dict() for o in model.option_specs()}
    chosen = {name: model.options.get(name, spec["default"]) for name, spec in options.items()}
    if args.json:
        dump_json({"model": args.model, "game": model.game.name, "options": options,
                   "options_chosen": chosen, "params": params})
        return 0
    print(f"{args.model} on {model.game.name}: {model.description}")
    width = max(len(n) for n in params)
    print(f"{'parameter':<{width}}  {'default':>9}  {'lower':>9}  {'upper':>9}  description")
    for name, p in params.items():
        print(f"{name:<{width}}  {p['default']:>9.4g}  {p['lower']:>9.4g}  {p['upper']:>9.4g}  {p['description']}")
    print("\noptions (--option NAME=VALUE)")
    width = max(len(n) for n in options)
    for name, o in options.items():
        span = (f">= {o.get('minimum')}" if o.get("maximum") is None
                else f"{o.get('minimum')} to {o['maximum']}")
        allowed = (", ".join(map(str, o["allowed"])) if "allowed" in o else
                   {"int": f"integer {span}", "float": f"number {span}"}.get(o["kind"], "true, false"))
        value = chosen[name]
        value = ",".join(value) if isinstance(value, (tuple, list)) else value
        print(f"{name:<{width}}  {str(value):<16}  {o['description']} [{allowed}]")
    return 0
