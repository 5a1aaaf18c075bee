"""``cheaptalk simulate``: synthetic decisions from a model, in the long format."""

from __future__ import annotations

from ..errors import InputError
from ..data import write_decisions
from ..models import MODEL_NAMES
from .common import number_in, add_fit_argument, add_game_argument, add_option_argument, add_param_argument, fitted_model_from_args


# decisions simulated at once: a table of this many rows takes about a gigabyte
MAX_SIMULATED_DECISIONS = 20_000_000


def register(sub):
    p = sub.add_parser(
        "simulate", help="simulate decisions from a model (long format, .csv or .parquet)",
        description="Simulate a lab experiment from a model: N subjects per role and treatment, types "
                    "drawn once per subject, strangers re-matched every round. Writes one row per "
                    "decision with columns subject, role, round, state, message, action, session, "
                    "pair, treatment. The output is synthetic data.")
    add_game_argument(p, default=None)
    p.add_argument("--model", choices=MODEL_NAMES, help="model name (or --fit FILE)")
    add_fit_argument(p)
    add_param_argument(p)
    add_option_argument(p)
    p.add_argument("--subjects", type=number_in(1, 1e6, "--subjects", whole=True), default=40, metavar="N", help="subjects per role and treatment (default 40)")
    p.add_argument("--rounds", type=number_in(1, 1e5, "--rounds", whole=True), default=30, metavar="T", help="rounds (default 30)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--treatments", metavar="A,B", help="comma-separated treatments (default: all of the game)")
    p.add_argument("--out", required=True, metavar="FILE", help="output file, .csv or .parquet")
    p.set_defaults(func=run)


def run(args) -> int:
    model, params = fitted_model_from_args(args)
    treatments = args.treatments.split(",") if args.treatments else None
    if treatments:
        for t in treatments:
            model.game.game(t)      # unknown treatment -> clear error
    decisions = 2 * args.subjects * args.rounds * len(treatments or model.game.treatments)
    if decisions > MAX_SIMULATED_DECISIONS:
        raise InputError(f"--subjects {args.subjects} x --rounds {args.rounds} would simulate {decisions:,} decisions, "
                         f"more than the {MAX_SIMULATED_DECISIONS:,} held in memory at once; simulate in parts "
                         f"(different --seed) and concatenate")
    data = model.simulate(params, args.subjects, args.rounds, seed=args.seed,
                          treatments=treatments)
    path = write_decisions(data, args.out)
    print(f"wrote {len(data)} simulated decisions ({data['subject'].nunique()} subjects) to {path}")
    return 0
