"""M1 on finite sender-receiver games (G2): level-k and Poisson cognitive hierarchy.

Anchors: the level-0 sender is truthful - she maximizes the unit-range "truth payoff"
``-|l(m) - s| / range(states)``, i.e. sends a message whose literal meaning is her state
(uniformly if several do; the nearest meaning if none does); the level-0 receiver is
credulous - he best-responds to the point belief ``s = l(m)``.

Level-k (``FiniteLevelK``): the level-k sender best-responds to the level-(k-1) receiver,
the level-k receiver to the level-(k-1) sender's strategy and the prior (Bayes' rule; a
message that level never sends is read literally, as level 0 would). Best responses are
noiseless with ties spread uniformly; a subject of level k then *chooses* by the logit of
the payoffs of her level (noise as in every G2 model).

Two equalities hold in every game (and are tested): the level-1 receiver is credulous
(Bayes' rule applied to a truthful sender gives the point belief ``l(m)``), so he equals
level 0; hence the level-2 sender, best-responding to him, equals the level-1 sender, the
level-3 receiver equals the level-2 receiver, and so on. Only levels
``{0, 1, 3, 5, ...}`` of senders and ``{0, 2, 4, ...}`` of receivers are distinct; these
are the model's types (the sender type "L1-2" is levels 1 and 2 together). With
``max_level = 3`` (default) senders are L0, L1-2, L3 and receivers L0-1, L2-3.

Type shares are identified and bounded by continuation shares: ``sender_level1_share`` =
P(level >= 1), ``sender_level3_share`` = P(level >= 3 | level >= 1), likewise
``receiver_level2_share`` = P(level >= 2), ``receiver_level4_share``... The shares of the
types are ``(1 - q1, q1 (1 - q3), q1 q3)``. With ``max_level = 2`` the parameters are
``sender_level1_share`` and ``receiver_level2_share``, as in the forecast-sharing model.

Cognitive hierarchy (``FiniteCognitiveHierarchy``): levels ``0..max_level`` per role with
truncated Poisson shares ``p_k ∝ tau^k / k!`` (``tau_sender``, ``tau_receiver``). Level k
best-responds to the normalized mix of the other role's levels below k: the sender to
``sum_{h<k} p_R(h) rho_h / sum_{h<k} p_R(h)``, the receiver by Bayes' rule to the mix of
sender levels ``h < k`` weighted by ``p_S(h)``. All levels are types (level 1 receivers
equal level 0 and level 2 senders equal level 1 here too; their shares add up).
"""

from __future__ import annotations

import math

import numpy as np

from .._jax import jax, jnp
from .base import Option, Parameter
from .finite_common import (Behaviour, FiniteModel, best_response, literal_beliefs, normalized_payoffs,
                            posterior_beliefs, receiver_utility, sender_utility, stick_breaking_log_weights,
                            truth_utility)

__all__ = ["FiniteLevelK", "FiniteCognitiveHierarchy", "level_k_chain"]


def level_k_chain(game, max_level: int) -> dict:
    """Noiseless level-k strategies and the payoffs each level maximizes, levels ``0..max_level``.

    Returns ``{"sender_utility": [U_k (S, M)], "receiver_utility": [V_k (M, A)],
    "sender_strategy": [sigma_k], "receiver_strategy": [rho_k]}`` (lists indexed by level),
    utilities on the unit payoff range.
    """
    uS, uR = normalized_payoffs(game)
    literal = literal_beliefs(game)
    U = [truth_utility(game)]
    V = [receiver_utility(uR, literal)]
    sig = [best_response(U[0])]
    rho = [best_response(V[0])]
    for _ in range(1, max_level + 1):
        U.append(sender_utility(uS, rho[-1]))
        V.append(receiver_utility(uR, posterior_beliefs(game.prior, sig[-1], literal)))
        sig.append(best_response(U[-1]))
        rho.append(best_response(V[-1]))
    return {"sender_utility": U, "receiver_utility": V, "sender_strategy": sig, "receiver_strategy": rho}


# Levels above this add types that no data set can tell apart (each level's share falls with k),
# while the work grows with every level.
MAX_LEVEL_LIMIT = 20
_MAX_LEVEL = Option("max_level", 3, "int", "highest level of reasoning (types are levels 0..max_level)",
                     minimum=1, maximum=MAX_LEVEL_LIMIT)


def _check_max_level(max_level) -> int:
    return _MAX_LEVEL.parse(max_level)


class FiniteLevelK(FiniteModel):
    """Level-k with truthful / credulous anchors; see the module docstring."""

    name = "levelk"
    description = "level-k: truthful/credulous anchors, best responses to the level below, logit noise"

    def __init__(self, game, max_level: int = 3, **options):
        super().__init__(game, max_level=_check_max_level(max_level), **options)
        K = self.options["max_level"]
        self.sender_levels = [0] + list(range(1, K + 1, 2))
        self.receiver_levels = [0] + list(range(2, K + 1, 2))
        self._cache = {}

    @classmethod
    def option_specs(cls):
        return super().option_specs() + [_MAX_LEVEL]

    def rule_types(self) -> dict:
        return {"sender": np.array(self.sender_levels) == 0, "receiver": np.array(self.receiver_levels) == 0}

    def family_parameters(self) -> list[Parameter]:
        out = []
        for role, levels in (("sender", self.sender_levels), ("receiver", self.receiver_levels)):
            for prev, k in zip(levels[:-1], levels[1:]):
                given = "" if prev == 0 else f" among {role}s of level >= {prev}"
                out.append(Parameter(f"{role}_level{k}_share", 0.5 if k == 1 else (0.4 if k == 2 else 0.3),
                                     0.0, 1.0, f"share of {role}s of level >= {k}{given}"))
        return out

    def type_labels(self) -> dict:
        K = self.options["max_level"]

        def label(k, partner):
            return f"L{k}" if partner > K else f"L{k}-{partner}"
        return {"sender": [label(k, k + 1) if k else "L0" for k in self.sender_levels],
                "receiver": [label(k, k + 1) for k in self.receiver_levels]}

    def type_attributes(self) -> dict:
        return {"sender": {"level": np.array(self.sender_levels, float)},
                "receiver": {"level": np.array(self.receiver_levels, float)}}

    def chain(self, treatment: str | None = None) -> dict:
        """The noiseless level-k strategies of a treatment (:func:`level_k_chain`)."""
        treatment = treatment or self.treatment_names[0]
        if treatment not in self._cache:
            self._cache[treatment] = level_k_chain(self.game.game(treatment), self.options["max_level"])
        return self._cache[treatment]

    def level_log_weights(self, values: dict, role: str):
        levels = self.sender_levels if role == "sender" else self.receiver_levels
        if len(levels) == 1:
            return jnp.zeros(1)
        at_least = [values[f"{role}_level{k}_share"] for k in levels[1:]]
        return stick_breaking_log_weights([1.0 - q for q in at_least])

    def behaviour(self, values: dict, treatment: str) -> Behaviour:
        chain = self.chain(treatment)
        U = jnp.asarray(np.stack([chain["sender_utility"][k] for k in self.sender_levels]))
        V = jnp.asarray(np.stack([chain["receiver_utility"][k] for k in self.receiver_levels]))
        return Behaviour(self.choose(values, "sender", U), self.choose(values, "receiver", V),
                         self.level_log_weights(values, "sender"), self.level_log_weights(values, "receiver"))


class FiniteCognitiveHierarchy(FiniteModel):
    """Poisson cognitive hierarchy with truthful / credulous level-0 anchors; see the module docstring."""

    name = "ch"
    description = "Poisson cognitive hierarchy: each level best-responds to the mix of lower levels, logit noise"

    def __init__(self, game, max_level: int = 3, **options):
        super().__init__(game, max_level=_check_max_level(max_level), **options)
        self._cache = {}

    @classmethod
    def option_specs(cls):
        return super().option_specs() + [_MAX_LEVEL]

    def rule_types(self) -> dict:
        level0 = np.arange(self.options["max_level"] + 1) == 0
        return {"sender": level0, "receiver": level0.copy()}

    def family_parameters(self) -> list[Parameter]:
        return [Parameter("tau_sender", 1.0, 0.0, 10.0, "Poisson mean level of senders"),
                Parameter("tau_receiver", 1.0, 0.0, 10.0, "Poisson mean level of receivers")]

    def type_labels(self) -> dict:
        labels = [f"L{k}" for k in range(self.options["max_level"] + 1)]
        return {"sender": labels, "receiver": list(labels)}

    def type_attributes(self) -> dict:
        levels = np.arange(self.options["max_level"] + 1, dtype=float)
        return {"sender": {"level": levels}, "receiver": {"level": levels.copy()}}

    def poisson_shares(self, tau):
        """Truncated Poisson shares of levels ``0..max_level`` (``jax``)."""
        k = np.arange(self.options["max_level"] + 1)
        # tau is floored at 1e-12 so that tau = 0 (everyone level 0) stays finite
        log_p = k * jnp.log(jnp.maximum(tau, 1e-12)) - np.array([math.lgamma(i + 1) for i in k])
        return jnp.exp(log_p - jax.scipy.special.logsumexp(log_p))

    def _static(self, treatment: str):
        if treatment not in self._cache:
            game = self.game.game(treatment)
            uS, uR = normalized_payoffs(game)
            self._cache[treatment] = (game, uS, uR, literal_beliefs(game), truth_utility(game))
        return self._cache[treatment]

    def utilities(self, values: dict, treatment: str):
        """``(U (K+1, S, M), V (K+1, M, A))``: the payoffs each level maximizes (``jax``)."""
        game, uS, uR, literal, truth = self._static(treatment)
        p_s = self.poisson_shares(values["tau_sender"])
        p_r = self.poisson_shares(values["tau_receiver"])
        prior = jnp.asarray(game.prior)
        U = [jnp.asarray(truth)]
        V = [receiver_utility(uR, literal, xp=jnp)]
        sig = [best_response(U[0], xp=jnp)]
        rho = [best_response(V[0], xp=jnp)]
        for k in range(1, self.options["max_level"] + 1):
            g_r = p_r[:k] / jnp.sum(p_r[:k])
            g_s = p_s[:k] / jnp.sum(p_s[:k])
            rho_mix = jnp.einsum("h,hma->ma", g_r, jnp.stack(rho))
            sig_mix = jnp.einsum("h,hsm->sm", g_s, jnp.stack(sig))
            U.append(sender_utility(uS, rho_mix, xp=jnp))
            V.append(receiver_utility(uR, posterior_beliefs(prior, sig_mix, literal, xp=jnp), xp=jnp))
            sig.append(best_response(U[-1], xp=jnp))
            rho.append(best_response(V[-1], xp=jnp))
        return jnp.stack(U), jnp.stack(V)

    def behaviour(self, values: dict, treatment: str) -> Behaviour:
        U, V = self.utilities(values, treatment)
        floor = 1e-300
        return Behaviour(self.choose(values, "sender", U), self.choose(values, "receiver", V),
                         jnp.log(jnp.maximum(self.poisson_shares(values["tau_sender"]), floor)),
                         jnp.log(jnp.maximum(self.poisson_shares(values["tau_receiver"]), floor)))
