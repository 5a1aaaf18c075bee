"""Session rules shared by the apps: seeds, matching, time limits, the paid round.

The economics (game, draws, defaults, profits) live in ``cheaptalk.experiments.lab``; this
module holds what needs oTree's objects.
"""

import secrets
from pathlib import Path

import numpy as np

from cheaptalk.experiments import lab

PROJECT_DIR = Path(__file__).resolve().parent
MATCHING = ("strangers", "partners")


def game_of(session):
    """The game of this session, read from its config (``game``, ``treatment``)."""
    return lab.session_game(session.config, base_dir=PROJECT_DIR)


def session_seed(subsession) -> int:
    """The session's random seed: from the config, or drawn once and kept in ``session.vars``."""
    session = subsession.session
    if "seed" not in session.vars:
        raw = str(session.config.get("seed", "")).strip()
        try:
            session.vars["seed"] = int(raw) if raw else secrets.randbits(32)
        except ValueError:
            raise ValueError(f"session config 'seed' must be an integer or empty, got {raw!r}") from None
    return session.vars["seed"]


def round_rng(subsession, stream: int = 0) -> np.random.Generator:
    """Independent random numbers for each round (so a round's draws do not depend on others)."""
    return np.random.default_rng([session_seed(subsession), subsession.round_number, stream])


def num_rounds(session, max_rounds: int) -> int:
    n = int(session.config.get("num_rounds", max_rounds))
    if not 1 <= n <= max_rounds:
        raise ValueError(f"session config 'num_rounds' must be between 1 and {max_rounds}, got {n}")
    return n


def match(subsession):
    """Pairs for this round; roles (id_in_group) stay with a participant all session.

    Round 1: random pairs and random roles. Partners keep the round-1 pairs; strangers are
    re-matched at random every round among the participants of the other role.
    """
    matching = str(subsession.session.config.get("matching", "strangers"))
    if matching not in MATCHING:
        raise ValueError(f"session config 'matching' must be one of {MATCHING}, got {matching!r}")
    if subsession.session.num_participants % 2:
        raise ValueError("these games are played in pairs: the number of participants must be even")
    if subsession.round_number == 1:
        subsession.group_randomly()
    else:
        subsession.group_like_round(1)
        if matching == "strangers":
            subsession.group_randomly(fixed_id_in_group=True)
    return matching


def seconds(session, key: str):
    """A time limit from the config; ``0`` or empty means none."""
    value = session.config.get(key, 0) or 0
    value = float(value)
    return value if value > 0 else None


def pay_random_round(player, played_rounds: int, app: str):
    """Pick the paid round for this participant (uniform over the rounds played).

    The paid round's profit becomes the payoff; a loss in that round is paid as zero, so
    nobody owes money (the round's profit itself stays in the data unchanged).
    """
    rng = np.random.default_rng([session_seed(player.subsession), 10_000 + player.participant.id_in_session])
    chosen = lab.paid_round(rng, played_rounds)
    for p in player.in_all_rounds():
        p.payoff = 0
    paid = player.in_round(chosen)
    paid.payoff = max(paid.round_profit, 0.0)
    participant = player.participant
    participant.paid_app = app
    participant.paid_round = chosen
    participant.paid_profit = paid.round_profit
