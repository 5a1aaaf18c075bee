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
    check_output_path(args.output, {"data": args.data, "map": args.map}, folder=spec.output == "trust-logs")
    if spec.output == "trust-logs":
        from ..data.trust_logs import import_trust_logs, write_trust_logs
        events, sellers, report = import_trust_logs(read_source(args.data, spec.fmt, spec.sheet), spec,
                                                    source=str(args.data))
        try:
            write_trust_logs(events, sellers, args.output, meta={"source": str(args.data), "import": report.to_dict()})
        except OSError as exc:
            raise InputError(f"{args.output}: cannot be written ({exc.strerror or exc})") from None
        if args.json:
            dump_json(report.to_dict() | {"logs": str(args.output)}, args.json)
        if args.json != "-":
            print(report)
            print(f"wrote trust logs of {report.n_sellers} sellers to {args.output} (events/, "
                  f"{'sellers.parquet, ' if sellers is not None else ''}schema.json)")
        return 0
    frame, report = import_table(read_source(args.data, spec.fmt, spec.sheet), spec, source=str(args.data))
    try:
        write_decisions(frame, args.output)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot be written ({exc.strerror or exc})") from None
    if args.json:
        dump_json(report.to_dict() | {"output": str(args.output)}, args.json)
    if args.json != "-":
        print(report)
        print(f"wrote {report.n_decisions} decisions to {args.output}")
    return 0


def check_output_path(out: Path, inputs: dict, folder: bool) -> None:
    """Refuse, before any work, an output that would overwrite an input or cannot be made:
    one line naming the path."""
    target = out.resolve()
    for what, path in inputs.items():
        if target == Path(path).resolve():
            raise InputError(f"{out}: the output would overwrite the {what} file; choose another -o")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{out}: cannot be written: {parent} is a file, not a folder")
            break
    if not folder:
        if out.is_dir():
            raise InputError(f"{out}: is a folder; -o names the output file (.csv or .parquet)")
        if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise InputError(f"{out}: unknown output type {out.suffix!r}; use .csv or .parquet")
