"""The ``cheaptalk`` command.

Each command lives in its own module of this package and exposes
``register(subparsers)``; the module adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from importlib.util import find_spec

from .. import __version__

# command modules, in the order `cheaptalk --help` lists them
COMMAND_MODULES = ("describe", "predict", "simulate", "fit", "compare", "trust",
                   "experiment", "import_otree")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cheaptalk",
        description="Cheap-talk games: predict, simulate, fit and compare behavioural models.")
    parser.add_argument("--version", action="version", version=f"cheaptalk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module_name = f"cheaptalk.cli.{name}"
        if find_spec(module_name) is not None:
            import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError) as exc:
        # user errors (bad game file, unknown parameter, malformed data) get one clear line
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"cheaptalk {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
