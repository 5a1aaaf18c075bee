"""``cheaptalk import-otree FILE``: oTree's wide export -> the long format for fit/compare."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .common import dump_json


def register(sub):
    p = sub.add_parser(
        "import-otree", help="convert an oTree export of the experiment apps to the long format",
        description="Convert oTree's all_apps_wide CSV, an app's CSV (forecast_sharing.csv, "
                    "sender_receiver.csv) or the apps' custom export into the long format read by "
                    "`cheaptalk fit` and `cheaptalk compare`. Defaults after timeouts are kept "
                    "with timeout=1; participant-rounds without a decision are counted and "
                    "reported, not written.")
    p.add_argument("file", type=Path, help="the oTree export (.csv)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output file, .csv or .parquet (default: FILE's name with _long.csv)")
    p.add_argument("--app", choices=["forecast_sharing", "sender_receiver"], default=None,
                   help="which app's data to take (needed only when a file holds both)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="print the import summary (counts, skipped rows by reason) as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data import write_decisions
    from ..experiments.otree_import import import_otree

    frame, report = import_otree(args.file, app=args.app)
    output = args.output or args.file.with_name(args.file.stem + "_long.csv")
    if output.resolve() == args.file.resolve():
        raise InputError(f"{output}: the output would overwrite the input; choose another --output")
    write_decisions(frame, output)
    summary = report.as_dict() | {"output": str(output)}
    if args.json:
        dump_json(summary, args.json)
    if args.json != "-":
        print(report.summary())
        print(f"wrote {output}")
    return 0
