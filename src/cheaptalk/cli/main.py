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
from ..errors import CheaptalkError

# command modules, in the order `cheaptalk --help` lists them
COMMAND_MODULES = ("describe", "predict", "simulate", "fit", "compare", "design", "trust",
                   "experiment", "import_otree", "import_data", "datasets", "table")
# commands whose module has another name (``import`` is a Python keyword)
_COMMAND_ALIASES = {"import": "import_data"}


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line reported in one line (what was wrong and
    where to read more) instead of the usage block followed by the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a command, only that command's module is imported
    (the modeling commands import JAX and the model library, which the others need not
    pay for at start-up); without one, every command is registered for the overview."""
    parser = OneLineParser(
        prog="cheaptalk",
        description="Cheap-talk games: predict, simulate, fit and compare behavioural models.")
    parser.add_argument("--version", action="version", version=f"cheaptalk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = _command_module(argv)
    for name in COMMAND_MODULES:
        if wanted is not None and name != wanted:
            continue
        module_name = f"cheaptalk.cli.{name}"
        if find_spec(module_name) is not None:
            import_module(module_name).register(sub)
    return parser


def _command_module(argv: list[str] | None) -> str | None:
    """The command module named by the first word of ``argv`` (None if there is none)."""
    if not argv or argv[0].startswith("-"):
        return None
    name = _COMMAND_ALIASES.get(argv[0], argv[0].replace("-", "_"))
    return name if name in COMMAND_MODULES else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv              # tracebacks instead of one-line errors
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`cheaptalk predict | head`): nothing more to say, to no one
        sys.stderr.close()
        return 0
    except (CheaptalkError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        # what the user gave cannot be used (bad game file, unknown parameter, malformed data,
        # a path that is not there): one clear line. The toolkit's own errors all derive from
        # CheaptalkError; any other exception is a bug, reported below as one.
        if debug:
            raise
        print(f"cheaptalk {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        print(f"cheaptalk {args.command}: internal error: {type(exc).__name__}: {exc}\n"
              f"This is a bug in cheaptalk, not in what you gave it. Run the command again with --debug "
              f"for the traceback, and report it with the command you ran.", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
