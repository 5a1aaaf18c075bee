"""``cheaptalk import DATA --map MAP.toml -o OUT``: any export -> the long format, by a column map."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .common import dump_json


def register(sub):
    p = sub.add_parser(
        "import", help="convert any export (CSV, Parquet, Stata, Excel, oTree wide) with a column map",
        description="Convert another study's export into the long format read by `cheaptalk fit` and "
                    "`cheaptalk compare` (or, with [output] kind = \"trust-logs\", into trust logs for "
                    "`cheaptalk trust fit`), as a small TOML map says: which source column makes each "
                    "long-format column, how role labels and codes translate, which rows to keep. "
                    "Every source row is imported or counted with its reason. See docs/importing.md.")
    p.add_argument("data", type=Path, help="the export (.csv, .tsv, .parquet, .dta, .xlsx)")
    p.add_argument("--map", required=True, type=Path, metavar="MAP.toml", help="the column map")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                   help="output file, .csv or .parquet; a new folder when the map's output is trust-logs")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="write the import report (counts, rows not imported by reason) as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data import write_decisions
    from ..data.importing import import_table, load_map, read_source

    spec = load_map(args.map)
    if args.output.exists() and args.output.resolve() == args.data.resolve():
        raise InputError(f"{args.output}: the output would overwrite the input; choose another --output")
    if spec.output == "trust-logs":
        from ..data.trust_logs import import_trust_logs, write_trust_logs
        events, sellers, report = import_trust_logs(read_source(args.data, spec.fmt, spec.sheet), spec,
                                                    source=str(args.data))
        write_trust_logs(events, sellers, args.output, meta={"source": str(args.data), "import": report.to_dict()})
        if args.json:
            dump_json(report.to_dict() | {"logs": str(args.output)}, args.json)
        if args.json != "-":
            print(report)
            print(f"wrote trust logs of {report.n_sellers} sellers to {args.output} (events/, "
                  f"{'sellers.parquet, ' if sellers is not None else ''}schema.json)")
        return 0
    frame, report = import_table(read_source(args.data, spec.fmt, spec.sheet), spec, source=str(args.data))
    write_decisions(frame, args.output)
    if args.json:
        dump_json(report.to_dict() | {"output": str(args.output)}, args.json)
    if args.json != "-":
        print(report)
        print(f"wrote {report.n_decisions} decisions to {args.output}")
    return 0
