"""Argument helpers shared by the commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..games.catalog import PRESETS


def show_progress(args) -> bool:
    """Progress bars only on a terminal (redirected to a file they would fill it with frames)."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def add_game_argument(parser, default: str | None = "forecast-sharing"):
    parser.add_argument("--game", default=default,
                        help=f"preset ({', '.join(PRESETS)}), path to a TOML game file, or a public data "
                             f"set's name (its game)"
                             + (f" (default: {default})" if default else ""))


def add_param_argument(parser):
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="set a model parameter (repeatable); others take their defaults "
                             "(see `cheaptalk describe MODEL`)")


def parse_params(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--param {name.strip()}: {value!r} is not a number") from None
    return out


def add_option_argument(parser, per_model: bool = False):
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="set a model option (repeatable), e.g. errors=mixed, max_level=2, convex=true "
                             + ("(MODEL.NAME=VALUE for one model; NAME=VALUE for every model that has it) "
                                if per_model else "")
                             + "(see `cheaptalk describe MODEL`)")


def parse_options(items: list[str]) -> dict:
    """``NAME=VALUE`` strings to ``{NAME: VALUE}`` (values stay text: each model parses its own)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"--option expects NAME=VALUE, got {item!r}")
        if name in out:
            raise InputError(f"--option {name} is given twice")
        out[name] = value.strip()
    return out


def model_from_args(args):
    """The model named by ``--model`` (or the positional MODEL) with its ``--option`` values."""
    from ..models import get_model
    return get_model(args.model, game_from_args(args), **parse_options(args.option))


def game_from_args(args):
    """The game of ``--game``: a preset, a game file, or the name of a public data set with a
    game (``--game bullshitter``: the game its data were collected in)."""
    from ..games import load_game
    name = args.game or "forecast-sharing"
    if name not in PRESETS and not Path(name).exists():
        game = _dataset_game(name)
        if game is not None:
            return game
    return load_game(name)


def _dataset_game(name: str):
    """The game of the public data set called ``name`` (None when there is none)."""
    from ..datasets.public import list_datasets
    from ..games import load_game
    for ds in list_datasets():
        if ds.game and ds.name == name:
            return load_game(ds.game_path)
    return None


def add_fit_argument(parser):
    parser.add_argument("--fit", metavar="FILE",
                        help="take the model, its options, the game and the parameters from a fit "
                             "(`fit --json` or a fit's save()), or from a comparison (`compare --json`: "
                             "its best model, or the one named by --fit-model); --param overrides")
    parser.add_argument("--fit-model", metavar="LABEL",
                        help="with --fit on a comparison: the model to use (a label such as trust/mixed)")


def fitted_model_from_args(args):
    """``(model, params)``: from ``--fit`` (a fit or comparison JSON), else from ``--model``,
    ``--option`` and ``--param``. ``--param`` overrides fitted values; ``--game`` overrides the
    fit's game only when given."""
    from ..models import get_model

    params = parse_params(args.param)
    if not getattr(args, "fit", None):
        if not args.model:
            raise InputError("give --model MODEL (or --fit FILE with a fitted model)")
        return model_from_args(args), params
    fit = _fit_entry(args.fit, getattr(args, "fit_model", None))
    name = fit["model"]
    if args.model and args.model != name:
        raise InputError(f"--model {args.model} but {args.fit} holds a fit of {name}")
    game = game_from_args(args) if args.game else _game_of_fit(fit.get("game") or "forecast-sharing", args.fit)
    options = {k: v for k, v in (fit.get("options") or {}).items() if v is not None}
    options.update(parse_options(args.option))
    try:
        model = get_model(name, game, **options)
    except ValueError as exc:
        raise InputError(f"{args.fit}: the fit of {name} on {fit.get('game')} does not apply to "
                         f"{game.name}: {exc}") from None
    fitted = {k: v["estimate"] for k, v in fit["params"].items()}
    missing = [k for k, v in fit["params"].items()
               if (v.get("identified") is False or v["estimate"] is None) and k not in params]
    if missing:
        raise InputError(f"{args.fit}: the fit did not identify {', '.join(missing)}, so it has no value to use; "
                         f"give {' '.join(f'--param {k}=VALUE' for k in missing)}")
    if set(fitted) != set(model.param_names):
        raise InputError(f"{args.fit}: its parameters ({', '.join(fitted)}) are not those of {name} on "
                         f"{game.name} ({', '.join(model.param_names)})")
    return model, {**fitted, **params}


def _game_of_fit(name: str, path) -> object:
    """The game a saved fit names: a preset, a registry data set's game, or a game file
    (a regular ``.toml`` file) at that path; anything else asks for ``--game``. A saved file
    is not trusted to open other paths."""
    from ..games import load_game

    if name in PRESETS:
        return load_game(name)
    game = _dataset_game(name)
    if game is not None:
        return game
    candidate = Path(name)
    if candidate.suffix.lower() == ".toml" and candidate.is_file():
        return load_game(candidate)
    raise InputError(f"{path}: the fit was made on game {name[:80]!r}, which is not a preset or a data set's game "
                     f"here; give its game file with --game FILE")


def _fit_entry(path, label=None) -> dict:
    """The fit JSON in ``path``, or one model's entry of a comparison JSON."""
    from ..errors import InputError
    from ..estimation.result import comparison_models, read_json
    from ..estimation.schema import check_result

    data = read_json(path)
    check_result(data, str(path))                # the shape, its sizes and the schema version
    models = comparison_models(data)
    if models is not None:
        label = label or data.get("best_label")
        entries = {m.get("label", m.get("model")): m for m in models}
        if label not in entries:
            raise InputError(f"{path}: no model {label!r} in this comparison; its models are "
                             f"{', '.join(map(str, entries))}")
        data = entries[label]
    elif label:
        raise InputError(f"{path}: --fit-model applies to a comparison's JSON; this is one fit")
    if str(data["model"]).startswith("trust-dynamics"):
        raise InputError(f"{path}: a fit of trust over time; use it with `cheaptalk trust whatif --fit`")
    return data


def _default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot serialize {type(o).__name__}")


def dump_json(obj, path: str | None = None) -> None:
    """Write JSON to ``path``, or to standard output when ``path`` is None or ``-``."""
    text = json.dumps(obj, indent=2, default=_default, allow_nan=True)
    if path in (None, "-"):
        sys.stdout.write(text + "\n")
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")


def number_in(low: float, high: float, what: str, whole: bool = False):
    """An argparse type: a number (``whole``: a whole number) in ``[low, high]``. Every number
    that sizes work (subjects, rounds, starts, replications, folds) has such a range, so that a
    typo is refused at once instead of running for hours or exhausting memory."""
    def parse(text):
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if whole else ''}number") from None
        if not (low <= value <= high):
            raise argparse.ArgumentTypeError(f"{what} must be from {low:g} to {high:g}, got {text}" if whole
                                             else f"{what} must be in [{low:g}, {high:g}], got {text}")
        return value
    return parse
