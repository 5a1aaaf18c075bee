"""What the oTree apps in ``experiments/`` take from a game definition.

The apps run in their own virtual environment (oTree pins old web libraries) with this
package installed without its heavy dependencies, so this module needs only NumPy and
SciPy through :mod:`cheaptalk.games`; it never imports oTree. Keeping the economics here
means a session plays exactly the game that ``cheaptalk fit`` later estimates: the
parameters, bounds, payoffs and expected profits all come from the same game file.

Forecast sharing (G1): the manufacturer sees ``xi``, reports ``m``; the supplier sees
only ``m`` and builds ``K``; demand ``D = xi + eps``; sales ``min(D, K)``; the
manufacturer earns ``(r - w) min(D, K)``, the supplier ``w min(D, K) - c K``.

Finite sender-receiver games (G2): the sender sees a state ``s ~ pi``, picks a message,
the receiver picks an action; payoffs ``u_S(s, m, a)``, ``u_R(s, m, a)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..games import FiniteGame, ForecastGame, load_game

__all__ = ["LONG_COLUMNS", "session_game", "ForecastRound", "draw_forecast_rounds",
           "draw_states", "default_report", "default_capacity", "default_message",
           "default_action", "forecast_outcome", "supplier_aid", "forecast_quiz",
           "finite_quiz", "payoff_table", "check_number", "round_value", "paid_round",
           "long_row"]

# Column order of the long format written by the apps' custom exports.
LONG_COLUMNS = ("session", "subject", "role", "round", "state", "message", "action",
                "pair", "treatment", "timeout")


@lru_cache(maxsize=32)
def _load(game: str, treatment: str | None, base_dir: str):
    path = Path(game)
    if game.endswith(".toml") and not path.is_absolute():
        path = Path(base_dir) / path
        game = str(path)
    return load_game(game).game(treatment)


def session_game(config: dict, base_dir: str | Path = "."):
    """The game a session plays, from its config keys ``game`` and ``treatment``.

    ``game`` is a preset name or a TOML game file; a relative path is taken relative to
    ``base_dir`` (the oTree project folder).
    """
    game = str(config.get("game") or "forecast-sharing")
    treatment = config.get("treatment") or None
    return _load(game, None if treatment is None else str(treatment), str(Path(base_dir).resolve()))


def round_value(x: float, decimals: int) -> float:
    """Round to the precision shown to participants (so what they see is what is stored)."""
    return float(round(float(x), int(decimals)))


@dataclass(frozen=True)
class ForecastRound:
    forecast: float   # xi, the manufacturer's private forecast
    noise: float      # eps, market noise; demand D = xi + eps


def draw_forecast_rounds(game: ForecastGame, n_groups: int, n_rounds: int,
                         rng: np.random.Generator, decimals: int = 0) -> list[list[ForecastRound]]:
    """Forecast and market noise for every group and round, ``[round][group]``.

    Values are rounded to ``decimals`` places and kept inside the supports of ``F`` and ``G``.
    """
    lo, hi = game.forecast.support
    nlo, nhi = game.noise.support
    xi = np.clip(np.round(game.forecast.sample(rng, (n_rounds, n_groups)), decimals), lo, hi)
    eps = np.clip(np.round(game.noise.sample(rng, (n_rounds, n_groups)), decimals), nlo, nhi)
    return [[ForecastRound(float(xi[t, g]), float(eps[t, g])) for g in range(n_groups)]
            for t in range(n_rounds)]


def draw_states(game: FiniteGame, n_groups: int, n_rounds: int,
                rng: np.random.Generator) -> np.ndarray:
    """State indices ``[round, group]`` drawn from the prior ``pi``."""
    return rng.choice(game.n_states, size=(n_rounds, n_groups), p=game.prior)


# --- default decisions after a timeout -------------------------------------------------
# A default is recorded with a flag (``timeout`` = 1 in the long format) and never enters
# an estimate as a choice. The defaults carry no information about the state, so a
# receiver whose sender dropped out is not handed the truth by the platform.

def default_report(game: ForecastGame, decimals: int = 0) -> float:
    """Midpoint of the message space: a report that says nothing about ``xi``."""
    lo, hi = game.message_range
    return round_value(0.5 * (lo + hi), decimals)


def default_capacity(game: ForecastGame, decimals: int = 0) -> float:
    """Babbling capacity ``F_D^-1(rho)``: what a supplier who ignores the report builds."""
    lo, hi = game.capacity_range
    return float(np.clip(round_value(game.babbling_capacity(), decimals), lo, hi))


def default_message(game: FiniteGame) -> int:
    """The message whose literal meaning is the state closest to the prior mean."""
    mean = float(game.prior @ game.states)
    return int(np.argmin(np.abs(game.message_values - mean)))


def default_action(game: FiniteGame) -> int:
    """The receiver's best action under the prior (what she does when ignoring the message)."""
    expected = game.prior @ game.receiver_payoff[:, 0, :]
    return int(np.argmax(expected))


# --- outcomes and the supplier aid ---------------------------------------------------------

def forecast_outcome(game: ForecastGame, forecast: float, noise: float, capacity: float) -> dict:
    """Realized demand, sales and profits of one round."""
    demand = forecast + noise
    sales = min(demand, capacity)
    return {"demand": demand, "sales": sales,
            "manufacturer_profit": (game.r - game.w) * sales,
            "supplier_profit": game.w * sales - game.c * capacity}


def supplier_aid(game: ForecastGame, belief, capacity) -> dict:
    """Expected supplier profit of ``capacity`` if the forecast were ``belief``.

    ``E[w min(belief + eps, K)] - c K`` with ``E min(xi + eps, K) = K - int_{-a}^{K - xi} G``.
    Raises ``ValueError`` with a message fit for the participant on bad input (the values
    arrive from the browser and are checked here, on the server).
    """
    belief = check_number(belief, "belief", *game.forecast_range)
    capacity = check_number(capacity, "capacity", *game.capacity_range)
    _, supplier_profit = game.expected_profits(belief, capacity)
    return {"belief": belief, "capacity": capacity,
            "expected_sales": float(game.expected_sales(belief, capacity)),
            "expected_profit": float(supplier_profit)}


def check_number(value, name: str, low: float, high: float) -> float:
    """A finite number in ``[low, high]``, or ``ValueError`` naming the problem."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be a number")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number") from None
    if not math.isfinite(x):
        raise InputError(f"{name} must be a finite number")
    if x < low or x > high:
        raise InputError(f"{name} must be between {low:g} and {high:g}")
    return x


# --- comprehension quizzes ---------------------------------------------------------------

def forecast_quiz(game: ForecastGame) -> dict:
    """A worked scenario and its correct answers, computed from the game's parameters.

    Forecast at the lower quartile of ``F``'s support, demand above it by half of ``a``,
    capacity above demand by ``a / 2`` (so the supplier over-builds and sales equal demand).
    """
    lo, hi = game.forecast_range
    a = game.noise_half_width
    forecast = float(round(lo + 0.25 * (hi - lo)))
    demand = forecast + float(round(a / 2))
    capacity = demand + float(round(a / 2))
    out = forecast_outcome(game, forecast, demand - forecast, capacity)
    return {"forecast": forecast, "demand": demand, "capacity": capacity,
            "sales": out["sales"], "supplier_profit": out["supplier_profit"],
            "manufacturer_profit": out["manufacturer_profit"]}


def finite_quiz(game: FiniteGame) -> dict:
    """A scenario (state, message, action) and both payoffs, from the game's payoff arrays."""
    s = min(1, game.n_states - 1)
    m = game.n_messages - 1
    a = game.n_actions // 2
    return {"state": float(game.states[s]), "message": game.message_labels[m],
            "action": float(game.actions[a]),
            "sender_payoff": float(game.sender_payoff[s, m, a]),
            "receiver_payoff": float(game.receiver_payoff[s, m, a])}


def payoff_table(game: FiniteGame, role: str) -> list[list[float]]:
    """Payoffs by state (rows) and action (columns) for the instructions.

    The apps show one table per role, so payoffs must not depend on the message.
    """
    u = game.sender_payoff if role == "sender" else game.receiver_payoff
    if not np.allclose(u, u[:, :1, :]):
        raise InputError(f"game {game.name!r}: the {role}'s payoffs depend on the message; the "
                         "sender_receiver app shows payoff tables by state and action only")
    return np.round(u[:, 0, :], 2).tolist()


# --- payment and export ---------------------------------------------------------------------

def paid_round(rng: np.random.Generator, rounds_played: int) -> int:
    """The round (1-based) that is paid, uniformly among those played."""
    return int(rng.integers(1, rounds_played + 1))


def long_row(*, session, subject, role, round_number, state, message, action, pair,
             treatment, timeout) -> list:
    """One row of the long format in :data:`LONG_COLUMNS` order (empty cells as '')."""
    def cell(x):
        return "" if x is None else x
    return [session, subject, role, round_number, cell(state), cell(message), cell(action),
            pair, treatment, int(bool(timeout))]
