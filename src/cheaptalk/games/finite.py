"""G2: finite sender-receiver games.

States ``s`` with prior ``pi(s)``; messages ``m`` each with a literal meaning ``l(m)`` (a
state); actions ``a`` on a finite grid; payoffs ``u_S(s, m, a)`` and ``u_R(s, m, a)`` stored
as arrays of shape ``(n_states, n_messages, n_actions)`` (payoffs that do not depend on the
message are broadcast along that axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from ..errors import GameError

__all__ = ["FiniteGame"]


@dataclass(frozen=True, eq=False)
class FiniteGame:
    states: np.ndarray
    prior: np.ndarray
    meanings: np.ndarray          # literal meaning of each message, as a state index
    actions: np.ndarray
    sender_payoff: np.ndarray     # (S, M, A)
    receiver_payoff: np.ndarray   # (S, M, A)
    message_labels: tuple = field(default=())
    name: str = "finite"
    treatment: str = "default"

    kind = "finite"

    def __post_init__(self):
        states = np.asarray(self.states, float)
        prior = np.asarray(self.prior, float)
        meanings = np.asarray(self.meanings, int)
        actions = np.asarray(self.actions, float)
        S, M, A = len(states), len(meanings), len(actions)
        if S < 2 or M < 1 or A < 2:
            raise GameError("a finite game needs at least 2 states, 1 message and 2 actions")
        if prior.shape != (S,) or np.any(prior < 0) or not np.isclose(prior.sum(), 1.0):
            raise GameError(f"prior must be {S} non-negative numbers summing to 1, got {prior.tolist()}")
        if np.any((meanings < 0) | (meanings >= S)):
            raise GameError("every message's literal meaning must be one of the states")
        uS = np.broadcast_to(np.asarray(self.sender_payoff, float), (S, M, A)).copy()
        uR = np.broadcast_to(np.asarray(self.receiver_payoff, float), (S, M, A)).copy()
        for label, u in (("sender", uS), ("receiver", uR)):
            if not np.all(np.isfinite(u)):
                raise GameError(f"{label} payoffs contain non-finite values")
        labels = tuple(self.message_labels) or tuple(_fmt(states[i]) for i in meanings)
        for name, value in (("states", states), ("prior", prior), ("meanings", meanings),
                            ("actions", actions), ("sender_payoff", uS), ("receiver_payoff", uR),
                            ("message_labels", labels)):
            object.__setattr__(self, name, value)

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_messages(self) -> int:
        return len(self.meanings)

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    @property
    def message_values(self) -> np.ndarray:
        """The state value each message literally claims (what data record as the message)."""
        return self.states[self.meanings]

    @property
    def message_range(self) -> tuple[float, float]:
        v = self.message_values
        return (float(v.min()), float(v.max()))

    def payoff_range(self, role: str) -> float:
        u = self.sender_payoff if role == "sender" else self.receiver_payoff
        span = float(u.max() - u.min())
        return span if span > 0 else 1.0

    # --- decoding data values to indices ---------------------------------------------
    def state_index(self, values) -> np.ndarray:
        return _index_of(self.states, values, "state")

    def message_index(self, values) -> np.ndarray:
        return _index_of(self.message_values, values, "message")

    def action_index(self, values) -> np.ndarray:
        return _index_of(self.actions, values, "action")

    def expected_payoffs(self, sender_strategy, receiver_strategy):
        """Expected ``(sender, receiver)`` payoffs of behaviour strategies
        ``sigma[s, m]`` and ``rho[m, a]``."""
        joint = self.prior[:, None, None] * sender_strategy[:, :, None] * receiver_strategy[None, :, :]
        return float((joint * self.sender_payoff).sum()), float((joint * self.receiver_payoff).sum())

    def first_best(self):
        """Receiver payoff-maximizing action per state (what a receiver knowing ``s`` does)."""
        # payoffs may depend on the message only through lying costs; use the truthful message
        truthful = np.array([int(np.argmax(self.meanings == s)) if np.any(self.meanings == s) else 0
                             for s in range(self.n_states)])
        return np.array([np.argmax(self.receiver_payoff[s, truthful[s]]) for s in range(self.n_states)])

    def with_(self, **changes) -> "FiniteGame":
        return replace(self, **changes)

    def describe(self) -> dict:
        return {
            "kind": "finite", "name": self.name, "treatment": self.treatment,
            "states": self.states.tolist(), "prior": self.prior.tolist(),
            "messages": list(self.message_labels), "meanings": self.meanings.tolist(),
            "actions": self.actions.tolist(),
        }


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _index_of(grid: np.ndarray, values, what: str) -> np.ndarray:
    values = np.asarray(values, float)
    idx = np.searchsorted(grid, values) if np.all(np.diff(grid) > 0) else None
    if idx is None:
        match = np.isclose(values[..., None], grid[None, ...], rtol=0, atol=1e-9)
        ok = match.any(-1)
        idx = match.argmax(-1)
    else:
        idx = np.clip(idx, 0, len(grid) - 1)
        left = np.clip(idx - 1, 0, len(grid) - 1)
        idx = np.where(np.abs(grid[left] - values) < np.abs(grid[idx] - values), left, idx)
        ok = np.isclose(grid[idx], values, rtol=0, atol=1e-9)
    if not np.all(ok):
        bad = values[~ok]
        raise GameError(f"{bad.size} value(s) are not a valid {what}, e.g. {bad.flat[0]!r}; "
                         f"valid are {grid.tolist()}")
    return idx
