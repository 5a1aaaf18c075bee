"""What every model on a finite sender-receiver game (G2) shares.

A G2 model is defined by its *behaviour* in each treatment: for every sender type ``t`` a
message strategy ``sigma_t(m | s)`` and for every receiver type a response ``rho_t(a | m)``,
plus the type probabilities (:class:`Behaviour`). Everything else is common and lives here:
prediction tables and welfare, simulation in the long format, the precomputed indices of
observed decisions, and the likelihood components.

Response noise is the same for every family (docs/models.md, section 4): logit choice with a precision
per role on payoffs normalized to a unit range per role,

    sigma(m | s) = exp(lambda_S U(s, m)) / sum_m' exp(lambda_S U(s, m')),
    U(s, m) = sum_a rho(a | m) u_S(s, m, a) / range(u_S),

    rho(a | m) = exp(lambda_R V(m, a)) / sum_a' exp(lambda_R V(m, a')),
    V(m, a) = sum_s mu(s | m) u_R(s, m, a) / range(u_R),

where ``rho`` is whatever the sender expects of the receiver and ``mu`` whatever the
receiver believes; the families differ only in those expectations and beliefs.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import DataValueError, ModelError
from .._jax import jax, jnp
from .base import Model, Option, Parameter, Prediction, RoleComponents
from .likelihood import split_roles
from .noise import ERROR_MODELS, TIE_TOL, best_response, choice_log_probabilities, error_parameters
from ..data.validation import shown_value

__all__ = ["Behaviour", "FiniteModel", "FinitePrepared", "normalized_payoffs", "best_response", "sender_utility", "receiver_utility", "posterior_beliefs", "literal_beliefs",
           "truth_utility", "stick_breaking_log_weights", "combine_behaviours", "TIE_TOL"]

_FLOOR = 1e-12


class Behaviour(NamedTuple):
    """Type-conditional strategies of one treatment (``jax.numpy`` or numpy arrays).

    ``sender_log_strategy[t, s, m] = log sigma_t(m | s)``,
    ``receiver_log_strategy[t, m, a] = log rho_t(a | m)``, and the log type probabilities.
    """

    sender_log_strategy: object
    receiver_log_strategy: object
    sender_log_weights: object
    receiver_log_weights: object


# --- building blocks (work on numpy and jax arrays alike) ---------------------------------------

def normalized_payoffs(game) -> tuple[np.ndarray, np.ndarray]:
    """``(u_S / range(u_S), u_R / range(u_R))``, each ``(S, M, A)``."""
    return (game.sender_payoff / game.payoff_range("sender"),
            game.receiver_payoff / game.payoff_range("receiver"))


def precisions(values: dict):
    """``(lambda_S, lambda_R)`` from parameter values, tied or not."""
    if "precision" in values:
        return values["precision"], values["precision"]
    return values["precision_sender"], values["precision_receiver"]


def sender_utility(u_sender, receiver_strategy, xp=np):
    """``U[s, m] = sum_a rho(a | m) u_S(s, m, a)``; ``receiver_strategy`` is ``(M, A)``."""
    return xp.einsum("ma,sma->sm", receiver_strategy, u_sender)


def receiver_utility(u_receiver, beliefs, xp=np):
    """``V[m, a] = sum_s mu(s | m) u_R(s, m, a)``; ``beliefs`` is ``(M, S)``."""
    return xp.einsum("ms,sma->ma", beliefs, u_receiver)


def literal_beliefs(game) -> np.ndarray:
    """``(M, S)`` point beliefs on each message's literal meaning ``l(m)``."""
    out = np.zeros((game.n_messages, game.n_states))
    out[np.arange(game.n_messages), game.meanings] = 1.0
    return out


def posterior_beliefs(prior, sender_strategy, fallback, xp=np):
    """Bayes' rule ``mu(s | m) ∝ pi(s) sigma(m | s)``, ``(M, S)``; messages that are never
    sent (zero probability) get the ``fallback`` belief of that message."""
    joint = (prior[:, None] * sender_strategy).T          # (M, S)
    total = joint.sum(axis=1, keepdims=True)
    on_path = total > 1e-300
    safe = xp.where(on_path, total, 1.0)
    return xp.where(on_path, joint / safe, fallback)


def truth_utility(game, exponent: float = 1.0) -> np.ndarray:
    """``-(|l(m) - s| / range(states)) ** exponent``, ``(S, M)``: the unit-range payoff of
    telling the truth that a level-0 sender maximizes (and that the lying cost of the trust
    model charges, scaled by trustworthiness)."""
    span = float(game.states.max() - game.states.min()) or 1.0
    dist = np.abs(game.message_values[None, :] - game.states[:, None]) / span
    return -dist ** exponent


def stick_breaking_log_weights(shares):
    """Log probabilities of ``len(shares) + 1`` types from continuation shares
    ``q_k = P(type k | type >= k)``: ``w_k = q_k prod_{j<k} (1 - q_j)``, last type the rest.
    Bounded in [0, 1] each and identifiable as long as earlier shares are below 1."""
    log_q = [jnp.log(_FLOOR + (1 - 2 * _FLOOR) * q) for q in shares]
    log_not = [jnp.log(_FLOOR + (1 - 2 * _FLOOR) * (1 - q)) for q in shares]
    out, rest = [], 0.0
    for lq, ln in zip(log_q, log_not):
        out.append(rest + lq)
        rest = rest + ln
    out.append(rest)
    return jnp.stack([jnp.asarray(v, dtype=jnp.float64) for v in out])


def combine_behaviours(parts, sender_log_shares, receiver_log_shares) -> Behaviour:
    """One :class:`Behaviour` from several families' (a finite mixture): types are stacked
    family by family, and each family's type weights are multiplied by its share
    (``log_shares``: one log share per family and role)."""
    return Behaviour(
        jnp.concatenate([jnp.asarray(p.sender_log_strategy) for p in parts], axis=0),
        jnp.concatenate([jnp.asarray(p.receiver_log_strategy) for p in parts], axis=0),
        jnp.concatenate([s + jnp.asarray(p.sender_log_weights) for s, p in zip(sender_log_shares, parts)]),
        jnp.concatenate([s + jnp.asarray(p.receiver_log_weights) for s, p in zip(receiver_log_shares, parts)]))


# --- prepared data -------------------------------------------------------------------------------

@dataclass
class FinitePrepared:
    """Observed decisions of a finite game, decoded once.

    ``index[role]`` points each decision into the concatenation over treatments of the
    flattened type-conditional tables (``(S*M)`` per treatment for senders, ``(M*A)`` for
    receivers), so that ``logf = table[:, index].T`` is one gather for all decisions.
    """

    roles: dict
    index: dict = field(default_factory=dict)
    treatments: list = field(default_factory=list)


# --- the shared model class ----------------------------------------------------------------------

class FiniteModel(Model):
    """Base of the G2 models: subclasses define :meth:`family_parameters`, :meth:`behaviour`
    and :meth:`type_labels`; the error model (:mod:`cheaptalk.models.noise`), prediction,
    simulation and the likelihood are shared."""

    game_kind = "finite"
    compile_behaviour = True        # jit behaviour() for predict and simulate
    error_models = ERROR_MODELS     # the error models this family is defined under

    @classmethod
    def option_specs(cls) -> list[Option]:
        return [Option("errors", "logit", "choice",
                       "error model: logit (every type by the logit of its payoffs), tremble (every type "
                       "its best response or, with probability e, uniform), mixed (rule-following types "
                       "tremble, optimizing types logit); see docs/models.md", allowed=cls.error_models),
                Option("tie_precision", False, "bool", "one logit precision for both roles"),
                Option("per_type_precision", False, "bool",
                       "a logit precision for each type (or group of types, see docs/models.md) of each role "
                       "instead of one per role")]

    @property
    def errors(self) -> str:
        return self.options.get("errors", "logit")

    def rule_types(self) -> dict:
        """``{role: boolean array over types}``: the rule-following types (truthful sender,
        credulous receiver) that tremble under the ``mixed`` error model."""
        return {}

    def family_parameters(self) -> list[Parameter]:
        """The family's own parameters (type shares, trust, ...), without the noise."""
        return []

    def precision_groups(self) -> dict:
        """``{role: group name of each type}``: the types that share a precision under
        ``per_type_precision`` (by default each type its own)."""
        return {role: [re.sub(r"\W+", "_", label) for label in labels]
                for role, labels in self.type_labels().items()}

    def _type_groups(self) -> dict | None:
        """The precision groups that have a precision: all but the rule types' under ``mixed``."""
        if not self.options.get("per_type_precision", False):
            return None
        if self.options.get("tie_precision", False):
            raise ModelError("per_type_precision and tie_precision cannot both be set")
        groups = self.precision_groups()
        rules = self.rule_types() if self.errors == "mixed" else {}
        return {role: [g for t, g in enumerate(groups[role])
                       if not (role in rules and np.asarray(rules[role], bool)[t])] for role in groups}

    def parameters(self) -> list[Parameter]:
        rules = [role for role, mask in self.rule_types().items() if np.any(mask)]
        return self.family_parameters() + error_parameters(self.errors, rules, self.options.get("tie_precision", False),
                                                           type_groups=self._type_groups())

    def choose(self, values: dict, role: str, utility, rule_utility=None, noiseless=None):
        """Log choice probabilities ``(T, X, Y)`` of every type under the model's error model
        (:func:`~cheaptalk.models.noise.choice_log_probabilities`)."""
        precision = None
        if self.options.get("per_type_precision", False) and self.errors != "tremble":
            # a rule type under `mixed` has no precision: 0 stands in, unused
            precision = jnp.stack([jnp.asarray(values.get(f"precision_{role}_{g}", 0.0), dtype=jnp.float64)
                                   for g in self.precision_groups()[role]])
        return choice_log_probabilities(self.errors, values, role, utility, self.rule_types().get(role),
                                        rule_utility, noiseless, precision)

    @property
    def treatment_names(self) -> list[str]:
        return list(self.game.treatments)

    @abstractmethod
    def behaviour(self, values: dict, treatment: str) -> Behaviour:
        """Type-conditional log strategies and log type weights in one treatment
        (``values``: parameter name -> number or traced jax scalar)."""

    def type_labels(self) -> dict:
        """``{"sender": [...], "receiver": [...]}`` names of the types, in order."""
        return {"sender": ["all"], "receiver": ["all"]}

    # --- helpers -------------------------------------------------------------------------
    def _values(self, theta) -> dict:
        theta = jnp.asarray(theta, dtype=jnp.float64)
        return {name: theta[i] for i, name in enumerate(self.param_names)}

    def _numpy_behaviour(self, params: dict | None, treatment: str):
        theta = jnp.asarray(self.to_vector(params))
        if self.compile_behaviour:
            # compiled once per treatment: eager jax dispatches every small operation separately
            cache = self.__dict__.setdefault("_compiled_behaviour", {})
            if treatment not in cache:
                cache[treatment] = jax.jit(lambda theta: self.behaviour(self._values(theta), treatment))
            b = cache[treatment](theta)
        else:
            b = self.behaviour(self._values(theta), treatment)
        sig = np.exp(np.asarray(b.sender_log_strategy, float))
        rho = np.exp(np.asarray(b.receiver_log_strategy, float))
        ws = np.exp(np.asarray(b.sender_log_weights, float))
        wr = np.exp(np.asarray(b.receiver_log_weights, float))
        # renormalize away rounding so that these are exact probability tables
        sig /= sig.sum(-1, keepdims=True)
        rho /= rho.sum(-1, keepdims=True)
        return sig, rho, ws / ws.sum(), wr / wr.sum()

    # --- predict -------------------------------------------------------------------------
    def predict(self, params: dict | None = None) -> Prediction:
        """Strategies, conditional means and welfare by treatment.

        Welfare: expected payoffs of each party when a random sender meets a random
        receiver (types independent), and efficiency = (sender + receiver payoff) /
        first-best total, where the *first best* is the action a fully informed receiver
        takes in each state (``FiniteGame.first_best``: his payoff-maximizing action given
        the state, paired with the truthful message).
        """
        full = self.resolve(params)
        labels = self.type_labels()
        rows = {k: [] for k in ("sender_strategy", "receiver_strategy", "mean_message", "mean_action",
                                "mean_message_by_type", "mean_action_by_type", "type_shares")}
        summary = {}
        for tname in self.treatment_names:
            game = self.game.game(tname)
            sig, rho, ws, wr = self._numpy_behaviour(full, tname)
            sig_bar = np.einsum("t,tsm->sm", ws, sig)
            rho_bar = np.einsum("t,tma->ma", wr, rho)
            mv, av = game.message_values, game.actions
            for si, s in enumerate(game.states):
                for mi in range(game.n_messages):
                    rows["sender_strategy"].append((tname, s, mv[mi], sig_bar[si, mi]))
                rows["mean_message"].append((tname, s, float(sig_bar[si] @ mv)))
                for t, lab in enumerate(labels["sender"]):
                    rows["mean_message_by_type"].append((tname, lab, s, float(sig[t, si] @ mv)))
            for mi in range(game.n_messages):
                for ai in range(game.n_actions):
                    rows["receiver_strategy"].append((tname, mv[mi], av[ai], rho_bar[mi, ai]))
                rows["mean_action"].append((tname, mv[mi], float(rho_bar[mi] @ av)))
                for t, lab in enumerate(labels["receiver"]):
                    rows["mean_action_by_type"].append((tname, lab, mv[mi], float(rho[t, mi] @ av)))
            for role, w in (("sender", ws), ("receiver", wr)):
                for lab, v in zip(labels[role], w):
                    rows["type_shares"].append((tname, role, lab, float(v)))
            summary[tname] = self._welfare(game, sig_bar, rho_bar)
        columns = {"sender_strategy": ["treatment", "state", "message", "probability"],
                   "receiver_strategy": ["treatment", "message", "action", "probability"],
                   "mean_message": ["treatment", "state", "mean_message"],
                   "mean_action": ["treatment", "message", "mean_action"],
                   "mean_message_by_type": ["treatment", "type", "state", "mean_message"],
                   "mean_action_by_type": ["treatment", "type", "message", "mean_action"],
                   "type_shares": ["treatment", "role", "type", "share"]}
        tables = {k: pd.DataFrame(v, columns=columns[k]) for k, v in rows.items()}
        return Prediction(model=self.name, game=self.game.name, params=full, tables=tables, summary=summary,
                          options=self.recorded_options())

    @staticmethod
    def _welfare(game, sig_bar, rho_bar) -> dict:
        us, ur = game.expected_payoffs(sig_bar, rho_bar)
        fb = game.first_best()
        truthful = np.array([int(np.argmax(game.meanings == s)) if np.any(game.meanings == s) else 0
                             for s in range(game.n_states)])
        idx = np.arange(game.n_states)
        fs = float(game.prior @ game.sender_payoff[idx, truthful, fb])
        fr = float(game.prior @ game.receiver_payoff[idx, truthful, fb])
        total, first = us + ur, fs + fr
        return {"sender_payoff": us, "receiver_payoff": ur, "total_payoff": total,
                "first_best_sender_payoff": fs, "first_best_receiver_payoff": fr,
                "first_best_total_payoff": first,
                "efficiency": total / first if first != 0 else float("nan")}

    # --- simulate ------------------------------------------------------------------------
    def simulate(self, params: dict | None, n_subjects: int, n_rounds: int,
                 seed: int | None = None, treatments: list[str] | None = None) -> pd.DataFrame:
        """Synthetic decisions in the long format.

        ``n_subjects`` senders and as many receivers per treatment (one session per
        treatment); each subject's type is drawn once and kept for all rounds; every round
        receivers are randomly re-matched to senders, each sender draws a state from the
        prior and sends a message, and her partner responds to it. Messages are recorded
        as the state value they literally claim, actions as action values; receiver rows
        carry the true state.
        """
        if n_subjects < 1 or n_rounds < 1:
            raise ModelError("simulate needs at least one subject per role and one round")
        full = self.resolve(params)
        rng = np.random.default_rng(seed)
        names = treatments or self.treatment_names
        frames, true_types = [], {}
        for tname in names:
            game = self.game.game(tname)
            sig, rho, ws, wr = self._numpy_behaviour(full, tname)
            sender_type = rng.choice(len(ws), size=n_subjects, p=ws)
            receiver_type = rng.choice(len(wr), size=n_subjects, p=wr)
            senders = np.array([f"S{i + 1}" for i in range(n_subjects)], dtype=object)
            receivers = np.array([f"R{i + 1}" for i in range(n_subjects)], dtype=object)
            for i in range(n_subjects):
                true_types[(tname, senders[i])] = int(sender_type[i])
                true_types[(tname, receivers[i])] = int(receiver_type[i])
            for rnd in range(1, n_rounds + 1):
                partner = rng.permutation(n_subjects)          # sender i meets receiver partner[i]
                state = rng.choice(game.n_states, size=n_subjects, p=game.prior)
                message = _draw(rng, sig[sender_type, state])
                action = _draw(rng, rho[receiver_type[partner], message])
                pair = np.arange(1, n_subjects + 1)
                frames.append(pd.DataFrame({"subject": senders, "role": "sender", "round": rnd,
                                            "state": game.states[state], "message": game.message_values[message],
                                            "action": np.nan, "session": tname, "pair": pair,
                                            "treatment": tname}))
                frames.append(pd.DataFrame({"subject": receivers[partner], "role": "receiver",
                                            "round": rnd, "state": game.states[state],
                                            "message": game.message_values[message],
                                            "action": game.actions[action], "session": tname, "pair": pair,
                                            "treatment": tname}))
        out = pd.concat(frames, ignore_index=True)
        out = out.sort_values(["treatment", "round", "pair", "role"], ignore_index=True,
                              key=lambda c: c.map({"sender": 0, "receiver": 1}) if c.name == "role" else c)
        out.attrs.update({"synthetic": True, "model": self.name, "game": self.game.name,
                          "options": self.recorded_options(),
                          "params": full, "seed": seed})
        out.attrs["true_types"] = {f"{t}/{s}": v for (t, s), v in true_types.items()}
        return out

    # --- likelihood ----------------------------------------------------------------------
    def prepare(self, data: pd.DataFrame) -> FinitePrepared:
        """Decode states, messages and actions to indices of each treatment's game.

        Values that are not states, messages or actions of the game raise an error naming
        the row (1-based data row) and column.
        """
        source = data.attrs.get("source", "data")
        names = self.treatment_names
        work = data.assign(_row=np.arange(1, len(data) + 1))
        if "treatment" in work.columns:
            given = work["treatment"].astype(str)
            unknown = ~given.isin(names)
            if unknown.any():
                r = int(work["_row"][unknown].iloc[0])
                raise DataValueError(f"{source}: row {r}, column 'treatment': {shown_value(given[unknown].iloc[0])} "
                                     f"is not a treatment of game {self.game.name!r} ({names}); "
                                     f"{int(unknown.sum())} such row(s)")
            roles = split_roles(work, treatments=names)
        else:
            if len(names) > 1:
                raise DataValueError(f"{source}: no 'treatment' column, but game {self.game.name!r} "
                                     f"has treatments {names}; say which treatment each row belongs to")
            roles = split_roles(work)
            for rd in roles.values():
                rd.treatments = list(names)
        sizes = {"sender": [], "receiver": []}
        for tname in names:
            g = self.game.game(tname)
            sizes["sender"].append(g.n_states * g.n_messages)
            sizes["receiver"].append(g.n_messages * g.n_actions)
        index = {}
        for role, rd in roles.items():
            offsets = np.concatenate([[0], np.cumsum(sizes[role])[:-1]])
            idx = np.empty(rd.n_decisions, dtype=np.int64)
            first, second = ("state", "message") if role == "sender" else ("message", "action")
            for t, tname in enumerate(names):
                rows = np.flatnonzero(rd.treatment_codes == t)
                if rows.size == 0:
                    continue
                g = self.game.game(tname)
                part = rd.frame.iloc[rows]
                i1 = _decode(g, first, part, source, tname)
                i2 = _decode(g, second, part, source, tname)
                width = g.n_messages if role == "sender" else g.n_actions
                idx[rows] = offsets[t] + i1 * width + i2
            index[role] = idx
        return FinitePrepared(roles=roles, index=index, treatments=names)

    def components(self, theta, prepared: FinitePrepared) -> dict:
        values = self._values(theta)
        tables = {"sender": [], "receiver": []}
        weights = None
        for tname in prepared.treatments:
            b = self.behaviour(values, tname)
            tables["sender"].append(b.sender_log_strategy.reshape(b.sender_log_strategy.shape[0], -1))
            tables["receiver"].append(b.receiver_log_strategy.reshape(b.receiver_log_strategy.shape[0], -1))
            if weights is None:
                weights = {"sender": b.sender_log_weights, "receiver": b.receiver_log_weights}
        out = {}
        for role in prepared.roles:
            table = jnp.concatenate(tables[role], axis=1)          # (T, sum of table sizes)
            out[role] = RoleComponents(log_weights=weights[role], logf=table[:, prepared.index[role]].T)
        return out


def _draw(rng, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (inverse cdf, vectorized)."""
    cum = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] > cum).sum(-1), probs.shape[-1] - 1)


def _decode(game, column: str, part: pd.DataFrame, source: str, treatment: str) -> np.ndarray:
    grid = {"state": game.states, "message": game.message_values, "action": game.actions}[column]
    values = pd.to_numeric(part[column], errors="coerce").to_numpy(float)
    match = np.isclose(values[:, None], grid[None, :], rtol=0, atol=1e-9)
    ok = match.any(1)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        r = int(part["_row"].iloc[bad[0]])
        raw = part[column].iloc[bad[0]]
        raw = raw.item() if hasattr(raw, "item") else raw
        raise DataValueError(f"{source}: row {r}, column {column!r}: {raw!r} is not a {column} of game "
                             f"{game.name!r} (treatment {treatment!r}); valid values are {grid.tolist()}; "
                             f"{bad.size} such row(s) among the {part['role'].iloc[0]} decisions")
    return match.argmax(1)
