"""M2 on finite sender-receiver games (G2): the trust-embedded model.

Receiver with trust ``alpha`` believes

    mu_alpha(s | m) = alpha 1{s = l(m)} + (1 - alpha) pi(s)

(``alpha = 1``: credulous, the level-0 receiver; ``alpha = 0``: the message is ignored, the
babbling receiver) and chooses by the logit of his expected normalized payoff,
``rho_alpha(a | m) ∝ exp(lambda_R sum_s mu_alpha(s | m) u_R(s, m, a) / range(u_R))``.
Because ``mu_alpha`` is linear in ``alpha`` so is that payoff, and it is tabulated once.

Sender with trustworthiness ``beta`` expects the receiver population's trust
distribution (trust-embedded equilibrium: senders know how much receivers trust, and how
noisily they act), ``rho_bar(a | m) = sum_alpha w(alpha) rho_alpha(a | m)``, and pays a
lying cost:

    U_beta(s, m) = sum_a rho_bar(a | m) u_S(s, m, a) / range(u_S)
                   - beta (|l(m) - s| / range(states)) ** gamma,

i.e. ``beta range(u_S) (|l(m) - s| / range(states))^gamma`` in money; ``gamma = 1`` by
default, ``convex=True`` adds ``lying_cost_exponent`` (gamma >= 1). With payoffs linear in
the action a linear cost gives corner solutions (truth or the top message), a convex one
interior inflation. ``sigma_beta(m | s) ∝ exp(lambda_S U_beta(s, m))``.

Heterogeneity: ``alpha`` and ``beta`` each follow a zero-one-inflated Beta on the fixed
nodes of :mod:`cheaptalk.models.heterogeneity` (parameters ``trust_at_0``, ``trust_at_1``,
``trust_mean``, ``trust_concentration`` and the same for ``trustworthiness``); a subject
keeps her node across rounds, and posterior means over the nodes estimate each person's
trust and trustworthiness.
"""

from __future__ import annotations

import numpy as np

from .._jax import jnp
from .base import Parameter
from .finite_common import Behaviour, FiniteModel, literal_beliefs, normalized_payoffs, receiver_utility, sender_utility
from .heterogeneity import (DEFAULT_INTERIOR_NODES, TRUST_OPTIONS, zoib_log_weights_from, zoib_nodes,
                            zoib_parameters)

__all__ = ["FiniteTrust"]


class FiniteTrust(FiniteModel):
    """Trust-embedded model on a finite game; see the module docstring."""

    name = "trust"
    description = ("trust-embedded model: receivers trust messages to a degree alpha, senders "
                   "dislike lying to a degree beta (both zero-one-inflated Beta across people)")

    def __init__(self, game, convex: bool = False, n_nodes: int = DEFAULT_INTERIOR_NODES, **options):
        super().__init__(game, convex=bool(convex), n_nodes=int(n_nodes), **options)
        self.nodes = zoib_nodes(int(n_nodes))
        self._cache = {}

    @classmethod
    def option_specs(cls):
        return super().option_specs() + TRUST_OPTIONS

    def rule_types(self) -> dict:
        # the masses at trustworthiness 1 (truthful) and trust 1 (credulous) are the last nodes
        last = np.arange(len(self.nodes)) == len(self.nodes) - 1
        return {"sender": last, "receiver": last.copy()}

    def family_parameters(self) -> list[Parameter]:
        params = (zoib_parameters("trust", at_0=0.1, at_1=0.15, mean=0.55, concentration=4.0)
                  + zoib_parameters("trustworthiness", at_0=0.2, at_1=0.15, mean=0.3, concentration=4.0))
        if self.options["convex"]:
            params.append(Parameter("lying_cost_exponent", 1.5, 1.0, 4.0,
                                    "gamma >= 1: convexity of the lying cost beta*range(u_S)*(|l(m)-s|/range(s))^gamma"))
        return params

    def precision_groups(self) -> dict:
        # the masses at 0 and 1 and the Beta part between: three precisions per role
        groups = ["at_0"] + ["interior"] * (len(self.nodes) - 2) + ["at_1"]
        return {"sender": groups, "receiver": list(groups)}

    def type_labels(self) -> dict:
        return {"sender": [f"trustworthiness={x:.3f}" for x in self.nodes],
                "receiver": [f"trust={x:.3f}" for x in self.nodes]}

    def type_attributes(self) -> dict:
        return {"receiver": {"trust": self.nodes.copy()}, "sender": {"trustworthiness": self.nodes.copy()}}

    def tables(self, treatment: str) -> dict:
        """What does not depend on the parameters: payoffs, the receivers' expected payoff at
        every trust node ``(T, M, A)``, and the normalized lying distance ``(S, M)``."""
        if treatment not in self._cache:
            game = self.game.game(treatment)
            uS, uR = normalized_payoffs(game)
            v_literal = receiver_utility(uR, literal_beliefs(game))
            v_prior = receiver_utility(uR, np.tile(game.prior, (game.n_messages, 1)))
            alpha = self.nodes[:, None, None]
            span = float(game.states.max() - game.states.min()) or 1.0
            self._cache[treatment] = {
                "u_sender": uS,
                "receiver_utility": alpha * v_literal[None] + (1 - alpha) * v_prior[None],
                "lie_distance": np.abs(game.message_values[None, :] - game.states[:, None]) / span,
            }
        return self._cache[treatment]

    def lying_cost(self, values: dict, distance):
        """``(|l(m) - s| / range(states)) ** gamma`` (per unit of trustworthiness, unit payoff range)."""
        if not self.options["convex"]:
            return jnp.asarray(distance)
        gamma = values["lying_cost_exponent"]
        positive = distance > 0
        # exp(gamma log d) with a safe log so that d = 0 has cost 0 and a finite gradient in gamma
        return jnp.where(positive, jnp.exp(gamma * jnp.log(np.where(positive, distance, 1.0))), 0.0)

    def behaviour(self, values: dict, treatment: str) -> Behaviour:
        tab = self.tables(treatment)
        log_trust_w = zoib_log_weights_from(values, "trust", self.options["n_nodes"])
        log_worthy_w = zoib_log_weights_from(values, "trustworthiness", self.options["n_nodes"])
        log_rho = self.choose(values, "receiver", jnp.asarray(tab["receiver_utility"]))      # (T, M, A)
        rho_bar = jnp.einsum("t,tma->ma", jnp.exp(log_trust_w), jnp.exp(log_rho))
        payoff = sender_utility(jnp.asarray(tab["u_sender"]), rho_bar, xp=jnp)               # (S, M)
        cost = self.lying_cost(values, tab["lie_distance"])
        beta = jnp.asarray(self.nodes)[:, None, None]
        # under `mixed` the fully trustworthy sender follows the rule of truth-telling
        log_sigma = self.choose(values, "sender", payoff[None] - beta * cost[None],          # (T, S, M)
                                rule_utility=-tab["lie_distance"][None])
        return Behaviour(log_sigma, log_rho, log_worthy_w, log_trust_w)
