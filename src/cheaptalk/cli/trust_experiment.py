"""``cheaptalk trust from-experiment``: a partners session of the forecast-sharing app ->
recommendation logs that ``cheaptalk trust fit --logs DIR`` reads."""

from __future__ import annotations

import sys

from .common import add_game_argument, dump_json


def register(tsub):
    p = tsub.add_parser(
        "from-experiment", help="recommendation logs from a partners session of the oTree app",
        description="Convert the decisions of a repeated-partners forecast-sharing session (the app's "
                    "custom export or any long-format file, or oTree's wide / per-app export) into "
                    "the recommendation logs of `cheaptalk trust fit`: one seller per supplier, "
                    "time = round, recommendation = the partner's report, truth = the partner's "
                    "forecast, action = capacity - z* and own estimate = babbling capacity - z* "
                    "(the capacity mapped onto the report's scale by inverting the supplier's "
                    "newsvendor rule; docs/dynamics.md, 'From a partners experiment'). Writes "
                    "OUT/events/session=CODE/part-0.parquet, OUT/schema.json and "
                    "OUT/conversion.json. Strangers sessions are refused unless --allow-strangers. "
                    "Rows left out or written in part are counted, never dropped silently.",
        epilog="example: cheaptalk trust from-experiment --data forecast_sharing_custom.csv "
               "--feedback yes --out trust-logs/ && cheaptalk trust fit --logs trust-logs/")
    p.add_argument("--data", required=True, metavar="FILE",
                   help="decisions: long format (.csv/.parquet, e.g. the app's custom export) or "
                        "oTree's all_apps_wide.csv / forecast_sharing.csv (these record matching "
                        "and feedback)")
    add_game_argument(p)
    p.add_argument("--treatment", default=None,
                   help="treatment for rows that do not name one (default: the data's column, or "
                        "the game's only treatment)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory of the logs")
    p.add_argument("--feedback", choices=("yes", "no"), default=None,
                   help="whether results (true forecast, demand) were shown after each round; "
                        "needed when the data do not record it (the long format does not), "
                        "checked against the data when they do")
    p.add_argument("--fidelity-scale", type=float, default=None,
                   help="scale in fidelity = 1 - min(1, |report - forecast| / scale) (default: "
                        "the width of the forecast range); written to OUT/schema.json")
    p.add_argument("--allow-strangers", action="store_true",
                   help="convert a strangers session too (trust is then trust in the manufacturers' "
                        "reports in general, not in one partner)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="write the conversion report (counts by reason, mapping) as JSON to FILE "
                        "(stdout without FILE)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..dynamics.experiment import experiment_to_logs, read_experiment, write_trust_logs
    from ..games import load_game

    data = read_experiment(args.data)
    spec = load_game(args.game)
    feedback = None if args.feedback is None else args.feedback == "yes"
    events, report = experiment_to_logs(data, spec, feedback=feedback,
                                        allow_strangers=args.allow_strangers,
                                        fidelity_scale=args.fidelity_scale, treatment=args.treatment)
    out = write_trust_logs(events, report, args.out)
    if args.json:
        dump_json(report.as_dict() | {"output": str(out)}, args.json)
    if args.json != "-":
        print(report.summary())
        print(f"wrote {out / 'events'}; fit with: cheaptalk trust fit --logs {out}")
    else:
        print(report.summary(), file=sys.stderr)
    return 0
