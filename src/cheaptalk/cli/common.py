"""Argument helpers shared by the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..games.catalog import PRESETS


def show_progress(args) -> bool:
    """Progress bars only on a terminal (redirected to a file they would fill it with frames)."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def add_game_argument(parser, default: str | None = "forecast-sharing"):
    parser.add_argument("--game", default=default,
                        help=f"preset ({', '.join(PRESETS)}) or path to a TOML game file"
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
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--param {name.strip()}: {value!r} is not a number") from None
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
            raise ValueError(f"--option expects NAME=VALUE, got {item!r}")
        if name in out:
            raise ValueError(f"--option {name} is given twice")
        out[name] = value.strip()
    return out


def model_from_args(args):
    """The model named by ``--model`` (or the positional MODEL) with its ``--option`` values."""
    from ..models import get_model
    return get_model(args.model, game_from_args(args), **parse_options(args.option))


def game_from_args(args):
    from ..games import load_game
    return load_game(args.game)


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
