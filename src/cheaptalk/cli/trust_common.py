"""What the `trust` subcommands share: the logs arguments, opening the logs on an engine,
the report of unusable rows, and the checks of a saved fit that is to be replayed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..dynamics.parameters import split_rule
from ..errors import InputError
from .common import dump_json

__all__ = ["rule_argument", "logs_arguments", "seller_fraction", "dataset_logs", "open_engine", "report_exclusions",
           "check_replayable", "fit_nodes", "write_result"]


def rule_argument(text: str) -> str:
    """An argparse type: a learning rule, with or without the decay option."""
    try:
        split_rule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def logs_arguments(p, required: bool = True):
    p.add_argument("--logs", required=required, metavar="DIR", help="directory of Parquet event logs")
    p.add_argument("--adoption", choices=("continuous", "binary"),
                   help="adoption kind (default: from the columns present)")
    p.add_argument("--fidelity-scale", type=float,
                   help="scale in fidelity = 1 - min(1, |recommendation - truth| / scale) "
                        "(default: from DIR/schema.json)")
    p.add_argument("--sellers-table", metavar="FILE",
                   help="Parquet seller table (seller, segment) joined to the events")
    p.add_argument("--strict", action="store_true",
                   help="fail on the first unusable row instead of counting exclusions")


def seller_fraction(text):
    try:
        f = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < f <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction of sellers must be in (0, 1], got {text}")
    return f


def dataset_logs(args) -> None:
    """``--dataset NAME:PART`` in place of ``--logs``: the data set's trust logs (imported once)."""
    if getattr(args, "dataset", None):
        if args.logs:
            raise InputError("give --logs DIR or --dataset NAME:PART, not both")
        from ..datasets.public import dataset_trust_logs
        args.logs = str(dataset_trust_logs(args.dataset))
    elif not args.logs:
        raise InputError("give --logs DIR (a folder of event logs) or --dataset NAME:PART (a public data set)")


def open_engine(args, progress):
    from ..dynamics.engines import get_engine
    from ..dynamics.logs import resolve_logs
    dataset_logs(args)
    source = resolve_logs(args.logs, args.adoption, args.fidelity_scale, args.sellers_table,
                          seller_fraction=getattr(args, "seller_fraction", 1.0),
                          sample_seed=getattr(args, "sample_seed", 0))
    if getattr(args, "engine", "local") == "spark":
        master = None if args.master == "submit" else args.master
        engine = get_engine("spark", source, master=master, progress=progress,
                            worker_cache_mb=getattr(args, "cache_mb", 1024))
        engine.spark.sparkContext.setLogLevel("ERROR" if not progress else "WARN")
        return engine
    return get_engine("local", source, progress=progress, cache_mb=getattr(args, "cache_mb", 1024))


def report_exclusions(engine, strict):
    engine.prepare()
    ex = engine.exclusions
    lines = ex.report_lines()
    if lines:
        where = ""
        if ex.examples:
            e = ex.examples[0]
            where = (f" first: {e.get('file', '?')} row {e.get('row', '?')}, column {e['column']!r} "
                     f"(seller {e['seller']}, time {e['time']}): {e['reason']}")
        if strict:
            raise InputError(f"{engine.source.events}: unusable rows ({'; '.join(lines)}).{where}")
        print("excluded or partly used rows: " + "; ".join(lines) + "." + where, file=sys.stderr)


def check_replayable(path, fitj: dict, segments_ok: bool = False) -> None:
    """A fit that can be replayed: every parameter estimated and in its range, and (unless
    ``segments_ok``: plans replay each segment at its own mean) one mean of initial trust."""
    segments = tuple(fitj.get("segments") or ())
    if segments and not segments_ok:
        raise InputError(f"{path}: a fit with initial trust by segment; the what-if replays fits with one mean of "
                         "initial trust (fit again without --initial-trust-by)")
    missing = [n for n, p in fitj.get("params", {}).items() if p.get("estimate") is None]
    if missing:
        raise InputError(f"{path}: {', '.join(missing)} not identified by the fit; the what-if needs every parameter "
                         "(fit again with the rule without it, e.g. without +decay)")
    from ..dynamics.parameters import check_rule, parameter_names, TRANSFORMS
    from ..errors import ModelError
    kind = str(fitj["model"]).rsplit("-", 1)[-1]
    rule = fitj.get("rule", "asymmetric")
    try:
        wanted = parameter_names(kind, check_rule(str(rule)), segments)
    except (ModelError, KeyError, TypeError):
        raise InputError(f"{path}: not a trust fit this version can replay (model {str(fitj['model'])[:60]!r}, "
                         f"rule {str(rule)[:60]!r})") from None
    if list(fitj["params"]) != list(wanted):
        raise InputError(f"{path}: its parameters ({', '.join(fitj['params'])[:200]}) are not those of rule {rule} "
                         f"with {kind} adoption ({', '.join(wanted)})")
    for name, entry in fitj["params"].items():      # the domain each parameter's transform maps
        value, unit = entry["estimate"], TRANSFORMS[name] == "logit"
        if not (0 < value < 1 if unit else 0 < value < float("inf")):
            raise InputError(f"{path}: {name} = {value!r} is outside its range "
                             f"({'between 0 and 1' if unit else 'above 0'})")


def fit_nodes(fitj: dict) -> int:
    """The initial-trust nodes a trust fit JSON was estimated on (20 before they were recorded)."""
    nodes = (fitj.get("diagnostics") or {}).get("quadrature", {}).get("nodes", 20)
    if not isinstance(nodes, int) or not 2 <= nodes <= 640:
        raise InputError(f"diagnostics.quadrature.nodes of the fit is {nodes!r}, not a whole number in [2, 640]")
    return nodes


def write_result(result: dict, out: str, stem: str, draw) -> None:
    """``OUT/STEM.json`` and the figure ``OUT/STEM.png`` drawn by ``draw(path)``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    dump_json(result, str(folder / f"{stem}.json"))
    draw(folder / f"{stem}.png")
