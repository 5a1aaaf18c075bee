"""oTree settings for the cheap-talk experiments.

Session configurations are built from the game definitions in ``cheaptalk.games`` (the
presets or a TOML game file), so the parameters participants play are the ones the
estimator later uses. Every config field below can be changed per session on oTree's
"create session" page or with ``cheaptalk experiment CONFIG --set NAME=VALUE``.
"""

from os import environ

from cheaptalk.games import load_game

# Fields every session understands (see docs/experiments.md for what each one does).
COMMON = dict(
    num_rounds=10,          # rounds played (at most C.NUM_ROUNDS of the app, 30)
    matching="strangers",   # "strangers": re-matched at random every round; "partners": fixed pairs
    feedback=True,          # show the outcome (demand, sales, profits) and the true state after each round
    decision_seconds=120,   # time for a report or a capacity; then a flagged default is recorded (0 = no limit)
    results_seconds=30,     # time on the round's results page (0 = no limit)
    decimals=0,             # decimals of forecasts, demand, reports and capacities
    seed="",                # random seed for forecasts, noise, states and paid rounds ("" = fresh)
)

FORECAST_GAME = "forecast-sharing"
FINITE_GAMES = ("crawford-sobel", "monotone")


def _forecast_configs():
    spec = load_game(FORECAST_GAME)
    configs = []
    for treatment, description in spec.descriptions.items():
        configs.append(dict(
            name=f"forecast_{treatment.replace('-', '_')}",
            display_name=f"Forecast sharing {treatment} ({description})",
            app_sequence=["forecast_sharing", "payment"],
            num_demo_participants=2,
            game=FORECAST_GAME, treatment=treatment, supplier_aid=False, **COMMON))
    first = next(iter(spec.treatments))
    variants = [
        ("partners", "fixed partners", dict(matching="partners")),
        ("no_feedback", "no feedback after rounds", dict(feedback=False)),
        ("aid", "with the supplier's profit calculator", dict(supplier_aid=True)),
    ]
    for suffix, what, change in variants:
        config = dict(configs[0])
        config.update(change)
        config.update(name=f"forecast_{first.replace('-', '_')}_{suffix}",
                      display_name=f"Forecast sharing {first}, {what}")
        configs.append(config)
    return configs


def _finite_configs():
    configs = []
    for game in FINITE_GAMES:
        spec = load_game(game)
        configs.append(dict(
            name=f"sender_receiver_{game.replace('-', '_')}",
            display_name=f"Sender-receiver game: {game} ({spec.descriptions[next(iter(spec.treatments))]})",
            app_sequence=["sender_receiver", "payment"],
            num_demo_participants=2,
            game=game, treatment="", **COMMON))
    return configs


SESSION_CONFIGS = _forecast_configs() + _finite_configs()

SESSION_CONFIG_DEFAULTS = dict(
    real_world_currency_per_point=0.10, participation_fee=5.00, doc="",
)

PARTICIPANT_FIELDS = ["paid_app", "paid_round", "paid_profit"]
SESSION_FIELDS = []

ROOMS = [dict(name="lab", display_name="Laboratory")]

LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "USD"
USE_POINTS = True
POINTS_DECIMAL_PLACES = 2

ADMIN_USERNAME = "admin"
# Production: set OTREE_PRODUCTION=1, OTREE_AUTH_LEVEL=STUDY, OTREE_ADMIN_PASSWORD and
# OTREE_SECRET_KEY in the environment (docs/experiments.md, "A production lab run").
ADMIN_PASSWORD = environ.get("OTREE_ADMIN_PASSWORD")
SECRET_KEY = environ.get("OTREE_SECRET_KEY", "development-only-key-not-for-production")

DEMO_PAGE_INTRO_HTML = """Cheap-talk experiments: forecast sharing (manufacturer and supplier)
and finite sender-receiver games. Data export in the long format of <code>cheaptalk</code>."""
