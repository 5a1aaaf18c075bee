"""``cheaptalk table``: estimation tables for papers from fit and comparison JSON."""

from __future__ import annotations

from pathlib import Path

from ..reports.tables import FORMATS
from .common import number_in


def register(sub):
    p = sub.add_parser("table", help="estimation table (LaTeX, Markdown, HTML) of fits and comparisons",
                       description="Models side by side as in a paper: estimates with standard errors (or "
                                   "95%% intervals) below, optional stars, parameters labelled in words (and "
                                   "symbols in LaTeX), then log-likelihood, parameters, AIC, BIC, "
                                   "cross-validated log-likelihood, subjects and decisions. Takes JSON of "
                                   "`cheaptalk fit --json`, `compare --json` and `trust fit --json`; a "
                                   "comparison contributes the models of its best error model, or those "
                                   "given with --models.")
    p.add_argument("results", nargs="+", metavar="JSON", help="fit or comparison JSON files")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="output format (default: markdown)")
    p.add_argument("--models", metavar="A,B", help="comma-separated model labels to show (e.g. trust/mixed,levelk/mixed)")
    p.add_argument("--stars", action="store_true", help="significance stars against zero (p < 0.1, 0.05, 0.01)")
    p.add_argument("--ci", action="store_true", help="95%% intervals instead of standard errors")
    p.add_argument("--names", metavar="A,B", help="comma-separated column headers (default: family, error model "
                                                   "or learning rule)")
    p.add_argument("--caption", help="table caption")
    p.add_argument("--label", help="LaTeX label (\\label{...})")
    p.add_argument("--digits", type=number_in(0, 10, "--digits", whole=True), default=3, help="digits after the decimal point (default: 3)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..reports.tables import estimation_table
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    text = estimation_table(*args.results, models=models, fmt=args.format, stars=args.stars, ci=args.ci,
                            caption=args.caption, label=args.label, digits=args.digits, names=names)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(f"table written to {args.output}")
    else:
        print(text, end="")
    return 0
